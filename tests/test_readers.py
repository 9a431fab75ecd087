"""Each partner's reader on a small delivery: records, record numbers, pseudonyms."""

from __future__ import annotations

import gzip
from datetime import date

import duckdb

from pipelines.quality.identifiers import hmac_hex
from tests import builders as b
from tests.conftest import TEST_KEY
from tests.partner_day_helpers import records, stage

KEY = TEST_KEY.encode()
NIK = "3273014101900001"
D = date(2024, 1, 1)


def pasarnusa_row(seller: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = dict(
        seller_id=seller, shop_name="Warung", owner_nik=NIK, owner_phone="0812-3456-7890", nib="1234567890123",
        regency_code="32.73", business_scale="micro", kbli="47911", joined_at="2021-03-04T10:22:00+07:00", status="active",
    )  # fmt: skip
    row.update(changes)
    return row


def test_pasarnusa_gzip_csv_with_quotes_and_newlines(settings) -> None:
    """It reads gzip CSV with quoted commas, quotes and newlines, record numbers excluding the header."""
    b.pasarnusa(settings.landing, D, [
        pasarnusa_row("PN1", shop_name='Warung "Bu Sri", Bandung\nCabang 2'),
        pasarnusa_row("PN2", regency_code="3273", joined_at="2021-03-04T17:30:00Z"),
    ])  # fmt: skip
    step = stage(settings, "pasarnusa", D)
    assert step.status == "pending" and step.rows_read == 2 and step.rows_loaded == 2
    out = records(step)
    assert out["row_number"].to_list() == [1, 2]
    assert out["listing_key"].to_list() == ["PN1", "PN2"]
    assert out["regency_code"].to_list() == ["32.73", "32.73"]
    assert out["joined_date"].to_list() == [date(2021, 3, 4), date(2021, 3, 5)]
    assert out["nik_ps"].to_list() == [hmac_hex(KEY, "nik", NIK)] * 2
    assert out["phone_ps"].to_list() == [hmac_hex(KEY, "phone", "6281234567890")] * 2


def test_pasarnusa_malformed_records_keep_their_place(settings) -> None:
    """It quarantines a short row, a repeated header and a truncated last line, numbering all records."""
    header = ",".join(b.PASARNUSA_COLUMNS)
    good = b.csv_text(b.PASARNUSA_COLUMNS, [pasarnusa_row("PN1")]).splitlines()[1]
    more = "\n".join(good.replace("PN1", f"PN{i}") for i in (5, 6, 7))
    text = f'{header}\n{good}\nPN2,short row\n{header}\n{good.replace("PN1", "PN3")}\n{more}\nPN4,"cut off'
    b.pasarnusa(settings.landing, D, [], text=text, rows_in_manifest=8)
    step = stage(settings, "pasarnusa", D)
    out = records(step).select("row_number", "listing_key", "quarantine_rule")
    assert out.rows() == [
        (1, "PN1", None),
        (2, None, "malformed record: too few fields (malformed or truncated row)"),
        (3, "seller_id", "malformed record: repeated header row"),
        (4, "PN3", None),
        (5, "PN5", None),
        (6, "PN6", None),
        (7, "PN7", None),
        (8, None, "malformed record: unterminated or stray quote (malformed or truncated row)"),
    ]
    assert (step.status, step.rows_read, step.rows_loaded, step.rows_quarantined) == (
        "pending",
        8,
        5,
        3,
    )


def test_tokoraya_windows_1252_semicolon_crlf(settings) -> None:
    """It decodes Windows-1252, splits on `;`, and maps Indonesian headers to canonical fields."""
    b.tokoraya(settings.landing, D, [{
        "ID Toko": "T1", "Nama Toko": "Café Kopi – Bu’s", "NIK Pemilik": NIK, "No. HP": "0812 3456 7890", "NIB": "",
        "Provinsi": "Prov. Jawa Barat", "Kabupaten/Kota": "Bandung, Kota", "Skala Usaha": "KECIL",
        "Tanggal Bergabung": "5 Agustus 2021", "Omzet Bulanan (Rp)": "Rp 1.500.000",
    }])  # fmt: skip
    out = records(stage(settings, "tokoraya", D)).row(0, named=True)
    assert (out["listing_key"], out["province_code"], out["regency_code"], out["scale"]) == (
        "T1",
        "32",
        "32.73",
        "kecil",
    )
    assert out["joined_date"] == date(2021, 8, 5)
    assert str(out["turnover_idr"]) == "1500000.00"
    assert out["warnings"] == []


def test_belanjaku_json_lines_in_parts_keeps_big_ids_exact(settings) -> None:
    """It reads parts in name order, keeps merchant ids above 2^53 exact, and takes the first valid KBLI."""
    big = 2**64 - 1
    b.belanjaku(settings.landing, D, [
        [{"event": "created", "merchant": {"id": big, "name": "A"}, "owner": {"nik": NIK, "msisdn": "812345678901"},
          "legal": {"nib": None}, "location": {"kemendagri_code": "3273"}, "tier": "MICRO",
          "kbli": ["00000", "47911"], "onboarded_at": 1614877200000}],
        [{"event": "deleted", "merchant": {"id": 2**53 + 1}}],
    ])  # fmt: skip
    out = records(stage(settings, "belanjaku", D))
    assert out["listing_key"].to_list() == [str(big), str(2**53 + 1)]
    assert out["file"].to_list() == ["part-00000.jsonl.gz", "part-00001.jsonl.gz"]
    assert out["is_deletion"].to_list() == [False, True]
    assert out["kbli"].to_list()[0] == "47911"
    assert out["joined_date"].to_list()[0] == date(2021, 3, 5)


def test_kedaiantar_parquet_outlets(settings) -> None:
    """It reads typed Parquet outlet rows, one record each, with 1-based row numbers."""
    b.kedaiantar(settings.landing, D, [
        dict(outlet_id="O1", brand_id="B1", brand_name="Kedai", owner_nik=NIK, owner_phone=None, nib=None,
             province_code=32, regency_code=3273, category="Makanan & Minuman", registered_on=date(2022, 5, 1), is_active=True),
        dict(outlet_id="O2", brand_id="B1", brand_name="Kedai", owner_nik=None, owner_phone="081299990000", nib=None,
             province_code=33, regency_code=3374, category="Makanan & Minuman", registered_on=date(2021, 5, 1), is_active=False),
    ])  # fmt: skip
    out = records(stage(settings, "kedaiantar", D))
    assert out.select("row_number", "record_key", "listing_key", "province_code", "status").rows() == [
        (1, "O1", "B1", "32", "active"), (2, "O2", "B1", "33", "inactive"),
    ]  # fmt: skip


def test_lapakdesa_excel_title_rows_total_row_and_numeric_cells(settings) -> None:
    """It finds the header on row 4, skips the TOTAL row, and judges numeric NIK/phone cells."""
    b.lapakdesa(settings.landing, date(2024, 1, 31), [
        {"Nama Usaha": "Lapak  Bu Sri", "NIB": "1234567890123", "NIK": NIK, "Telepon": "081299998888",
         "Kode Provinsi": "33", "Kabupaten/Kota": "Kota Semarang", "Tanggal Daftar": date(2024, 1, 5), "Skala": "mikro"},
        {"Nama Usaha": "Lapak Dua", "NIB": 1234567890124, "NIK": 3273014101900002, "Telepon": 81277776666,
         "Kode Provinsi": 33, "Kabupaten/Kota": "Kab. Semarang", "Tanggal Daftar": "05-01-2024", "Skala": "KECIL"},
    ])  # fmt: skip
    step = stage(settings, "lapakdesa", date(2024, 1, 31))
    out = records(step)
    assert step.rows_read == 2  # the TOTAL row is not a record
    assert out["row_number"].to_list() == [5, 6]  # spreadsheet rows
    assert out["listing_key"].to_list() == [
        "nib:1234567890123|lapak bu sri",
        "nib:1234567890124|lapak dua",
    ]
    assert out["nik_ps"].to_list() == [
        hmac_hex(KEY, "nik", NIK),
        None,
    ]  # a numeric NIK cell is invalid
    assert out["phone_ps"].to_list()[1] == hmac_hex(
        KEY, "phone", "6281277776666"
    )  # lost its leading 0
    assert out["nib"].to_list() == [
        "1234567890123",
        "1234567890124",
    ]  # a numeric NIB keeps its digits
    assert out["warnings"].to_list()[1] == ["NIK: numeric spreadsheet cell (precision lost)"]
    assert out["province_code"].to_list() == ["33", "33"]
    assert out["regency_code"].to_list() == ["33.74", "33.22"]


def test_ekatalog_utf8_bom(settings) -> None:
    """It reads UTF-8 with a BOM; Non UMKM vendors load with their own qualification."""
    b.ekatalog(settings.landing, D, [
        dict(kode_penyedia="K1", nama_penyedia="CV Sinar", nib="1234567890123", npwp="01.234.567.8-901.000",
             kualifikasi_usaha="Usaha Kecil", kode_provinsi="31", jumlah_produk=12, tanggal_tayang="2023-05-01"),
        dict(kode_penyedia="K2", nama_penyedia="PT Besar", nib="", npwp="", kualifikasi_usaha="Non UMKM",
             kode_provinsi="31", jumlah_produk=100, tanggal_tayang="2023-05-01"),
    ])  # fmt: skip
    out = records(stage(settings, "lkpp-ekatalog", D))
    assert out.select("listing_key", "scale", "products", "quarantine_rule").rows() == [
        ("K1", "kecil", 12, None), ("K2", "non_umkm", 100, None),
    ]  # fmt: skip


def test_no_raw_personal_value_leaves_the_read_step(settings) -> None:
    """It stages only pseudonyms: no NIK or phone digits in any staged value or in the staged
    database file another process would load."""
    b.pasarnusa(settings.landing, D, [pasarnusa_row("PN1")])
    step = stage(settings, "pasarnusa", D, to_files=True)
    assert step.staged is not None and step.staged.path is not None
    data = step.staged.path.read_bytes()
    con = duckdb.connect(str(step.staged.path), read_only=True)
    try:
        values = []
        for table, column in con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal AND data_type IN ('VARCHAR', 'VARCHAR[]')"
        ).fetchall():
            values += [str(v) for (v,) in con.execute(f'SELECT "{column}" FROM {table}').fetchall()]
        columns = {
            c
            for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE NOT internal"
            ).fetchall()
        }
    finally:
        con.close()
    for secret in (NIK, "81234567890", "0812-3456-7890"):
        assert secret.encode() not in data
        assert not [v for v in values if secret in v]
    assert not {"nik", "phone", "owner_nik", "owner_phone"} & columns


def test_header_only_file_without_manifest_rows_loads_nothing(settings) -> None:
    """It loads a header-only file with no records when the manifest says 0 rows."""
    b.pasarnusa(settings.landing, D, [])
    step = stage(settings, "pasarnusa", D)
    assert (step.status, step.rows_read, step.rows_loaded) == ("pending", 0, 0)


def test_gzip_member_is_read_whole(settings) -> None:
    """It reads a gzip file written in several members (concatenated gzip streams)."""
    rows = [pasarnusa_row("PN1"), pasarnusa_row("PN2")]
    text = b.csv_text(b.PASARNUSA_COLUMNS, rows)
    head, tail = text[: len(text) // 2], text[len(text) // 2 :]
    path = b.pasarnusa(settings.landing, D, rows)
    (path / "sellers.csv.gz").write_bytes(
        gzip.compress(head.encode()) + gzip.compress(tail.encode())
    )
    b.manifest(path, {"sellers.csv.gz": 2})
    assert stage(settings, "pasarnusa", D).rows_loaded == 2


def test_mixed_line_ends_fail_the_day_saying_so(settings) -> None:
    """A CRLF file with one LF line end and a lone CR (a flipped bit) is refused in words a
    partner understands, not in the CSV parser's."""
    row = {"ID Toko": "T1", "Nama Toko": "Toko", "NIK Pemilik": NIK, "No. HP": "", "NIB": "",
           "Provinsi": "Prov. Jawa Barat", "Kabupaten/Kota": "Bandung, Kota", "Skala Usaha": "KECIL",
           "Tanggal Bergabung": "5/8/2021", "Omzet Bulanan (Rp)": "-"}  # fmt: skip
    text = b.csv_text(b.TOKORAYA_COLUMNS, [row, {**row, "ID Toko": "T2"}, {**row, "ID Toko": "T3"}], sep=";", line_end="\r\n")  # fmt: skip
    lines = text.encode("cp1252").split(b"\r\n")
    b.tokoraya(settings.landing, D, [], raw=lines[0] + b"\r\n" + lines[1] + b"\n" + lines[2] + b"\rX\r\n" + lines[3] + b"\r\n")  # fmt: skip
    step = stage(settings, "tokoraya", D)
    assert step.status == "failed"
    assert "line ends are mixed (CRLF and LF) or a lone carriage return" in str(step.detail), step.detail  # fmt: skip
