"""(Re)generate the bad-input corpus: one folder per case of partners.md's outcome table.

Each case folder holds `landing/<partner>/<YYYY-MM-DD>/<files>` exactly as the partner would
deliver it (a few rows, synthetic identifiers only), sometimes a second landing (`redelivery/`)
laid over the first before a second run, and `expected.json`: the contractual outcome of every
partner-day (tests/test_corpus.py checks it against a real run). The folders are committed;
this script documents how their bytes were made and rewrites them deterministically
(gzip mtime 0, fixed workbook dates):

    .venv/bin/python -m tests.corpus.make_corpus            # every case
    .venv/bin/python -m tests.corpus.make_corpus not_gzip   # some cases

Export dates sit in June 2020, just after the programme start (2020-05-14), so that each run
publishes a few dozen days rather than years (the corpus stays fast).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CORPUS = Path(__file__).resolve().parent
D1, D2, D3, D4 = "2020-06-01", "2020-06-02", "2020-06-03", "2020-06-04"

PASARNUSA = ["seller_id", "shop_name", "owner_nik", "owner_phone", "nib", "regency_code",
             "business_scale", "kbli", "joined_at", "status"]  # fmt: skip
TOKORAYA = ["ID Toko", "Nama Toko", "NIK Pemilik", "No. HP", "NIB", "Provinsi", "Kabupaten/Kota",
            "Skala Usaha", "Tanggal Bergabung", "Omzet Bulanan (Rp)"]  # fmt: skip
LAPAKDESA = ["No", "Nama Usaha", "NIB", "NIK", "Telepon", "Kode Provinsi", "Kabupaten/Kota",
             "Tanggal Daftar", "Skala"]  # fmt: skip
EKATALOG = ["kode_penyedia", "nama_penyedia", "nib", "npwp", "kualifikasi_usaha", "kode_provinsi",
            "jumlah_produk", "tanggal_tayang"]  # fmt: skip
KEDAIANTAR = pa.schema([
    ("outlet_id", pa.string()), ("brand_id", pa.string()), ("brand_name", pa.string()),
    ("owner_nik", pa.string()), ("owner_phone", pa.string()), ("nib", pa.string()),
    ("province_code", pa.int16()), ("regency_code", pa.int32()), ("category", pa.string()),
    ("registered_on", pa.date32()), ("is_active", pa.bool_()),
])  # fmt: skip

PASARNUSA_IDS = "nib/owner_nik/owner_phone"
TOKORAYA_IDS = "NIB/NIK Pemilik/No. HP"


# --- synthetic identifiers -------------------------------------------------------------------


def nik(i: int) -> str:
    """A valid synthetic NIK: Kota Bandung district 01, a woman born 1 January 1990, serial 9xxx."""
    return f"327301410190{9000 + i}"


def phone(i: int) -> str:
    return f"08123456{9000 + i}"


def nib(i: int) -> str:
    return f"91200000{i:05d}"


# --- rows ------------------------------------------------------------------------------------


def pn(i: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = dict(
        seller_id=f"PN{i}", shop_name=f"Toko Contoh {i}", owner_nik=nik(i), owner_phone=phone(i),
        nib=nib(i), regency_code="32.73", business_scale="micro", kbli="47911",
        joined_at="2019-03-04T10:22:00+07:00", status="active",
    )  # fmt: skip
    return row | changes


def tr(i: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "ID Toko": f"TR{i}", "Nama Toko": f"Toko Raya {i}", "NIK Pemilik": nik(i),
        "No. HP": phone(i), "NIB": nib(i), "Provinsi": "Prov. Jawa Barat",
        "Kabupaten/Kota": "Kota Bandung", "Skala Usaha": "Mikro", "Tanggal Bergabung": "4/3/2019",
        "Omzet Bulanan (Rp)": "Rp 1.500.000",
    }  # fmt: skip
    return row | {k.replace("_", " "): v for k, v in changes.items()}


def epoch_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp() * 1000)


def bj(i: int, event: str = "created", **changes: object) -> dict[str, object]:
    line: dict[str, object] = {
        "event": event,
        "merchant": {"id": 1000 + i, "name": f"Belanja {i}"},
        "owner": {"nik": nik(i), "msisdn": "62" + phone(i)[1:]},
        "legal": {"nib": nib(i)},
        "location": {"kemendagri_code": "3273"},
        "tier": "MICRO",
        "kbli": ["47911"],
        "onboarded_at": epoch_ms("2019-03-04T10:00:00+07:00"),
    }
    return line | changes


def ka(i: int, brand: int | None = None, **changes: object) -> dict[str, object]:
    row: dict[str, object] = dict(
        outlet_id=f"O{i}", brand_id=f"B{brand or i}", brand_name=f"Kedai {brand or i}",
        owner_nik=nik(i), owner_phone=phone(i), nib=None, province_code=32, regency_code=3273,
        category="Makanan & Minuman", registered_on=date(2019, 3, 4), is_active=True,
    )  # fmt: skip
    return row | changes


def ek(i: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = dict(
        kode_penyedia=f"K{i}", nama_penyedia=f"CV Penyedia {i}", nib=nib(i),
        npwp=f"01.234.567.8-901.{i:03d}", kualifikasi_usaha="Usaha Kecil", kode_provinsi="32",
        jumlah_produk=12, tanggal_tayang="2019-03-04",
    )  # fmt: skip
    return row | changes


def ld(i: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "Nama Usaha": f"Lapak Desa {i}", "NIB": nib(i), "NIK": nik(i), "Telepon": phone(i),
        "Kode Provinsi": "32", "Kabupaten/Kota": "Kab. Bandung", "Tanggal Daftar": date(2020, 5, 4),
        "Skala": "Mikro",
    }  # fmt: skip
    return row | changes


# --- writers ---------------------------------------------------------------------------------


def csv_text(
    columns: list[str], rows: list[dict[str, object]], sep: str = ",", eol: str = "\n"
) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator=eol, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return buffer.getvalue()


def day_folder(root: Path, partner: str, day: str) -> Path:
    path = root / partner / day
    path.mkdir(parents=True, exist_ok=True)
    return path


def success(path: Path) -> None:
    (path / "_SUCCESS").write_bytes(b"")


def manifest(path: Path, rows: dict[str, int], sha: dict[str, str] | None = None) -> None:
    """manifest.json for the named files, their real sha256 unless overridden."""
    entries = [
        {"name": name, "rows": n,
         "sha256": (sha or {}).get(name) or hashlib.sha256((path / name).read_bytes()).hexdigest()}
        for name, n in rows.items()
    ]  # fmt: skip
    (path / "manifest.json").write_text(json.dumps({"files": entries}, indent=1) + "\n")


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def pasarnusa(root: Path, day: str, rows: list[dict[str, object]] | None = None, *,
              text: str | None = None, raw: bytes | None = None, manifest_rows: int | None = None,
              gzip_it: bool = True, deliver: bool = True) -> Path:  # fmt: skip
    """sellers.csv.gz (+ manifest, _SUCCESS); manifest rows default to the number of rows."""
    path = day_folder(root, "pasarnusa", day)
    data = raw if raw is not None else (text or csv_text(PASARNUSA, rows or [])).encode("utf-8")
    (path / "sellers.csv.gz").write_bytes(gz(data) if gzip_it else data)
    manifest(path, {"sellers.csv.gz": len(rows or []) if manifest_rows is None else manifest_rows})
    if deliver:
        success(path)
    return path


def tokoraya(root: Path, day: str, rows: list[dict[str, object]] | None = None, *,
             raw: bytes | None = None, columns: list[str] = TOKORAYA, sep: str = ";",
             encoding: str = "cp1252") -> Path:  # fmt: skip
    path = day_folder(root, "tokoraya", day)
    d = date.fromisoformat(day)
    body = raw if raw is not None else csv_text(columns, rows or [], sep, "\r\n").encode(encoding)
    (path / f"TOKORAYA_MERCHANT_{d:%d%m%Y}.csv").write_bytes(body)
    success(path)
    return path


def belanjaku(root: Path, day: str, parts: list[list[dict[str, object] | str]], *,
              manifest_rows: dict[str, int] | None = None, sha: dict[str, str] | None = None,
              names: list[str] | None = None, cut_tail: str = "") -> Path:  # fmt: skip
    """Parts of JSON Lines; `cut_tail` ends the last part with a line cut off (no newline)."""
    path = day_folder(root, "belanjaku", day)
    counts = {}
    for i, lines in enumerate(parts):
        name = names[i] if names else f"part-{i:05d}.jsonl.gz"
        text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
        if cut_tail and i == len(parts) - 1:
            text += cut_tail
            lines = [*lines, cut_tail]
        (path / name).write_bytes(gz(text.encode("utf-8")))
        counts[name] = len(lines)
    manifest(path, counts | (manifest_rows or {}), sha)
    success(path)
    return path


def kedaiantar(root: Path, day: str, rows: list[dict[str, object]], *,
               schema: pa.Schema = KEDAIANTAR, raw: bytes | None = None) -> Path:  # fmt: skip
    path = day_folder(root, "kedaiantar", day)
    if raw is not None:
        (path / "outlets.parquet").write_bytes(raw)
    else:
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path / "outlets.parquet")
    manifest(path, {"outlets.parquet": len(rows)})
    success(path)
    return path


def lapakdesa(root: Path, month_end: str, rows: list[dict[str, object]], *,
              raw: bytes | None = None) -> Path:  # fmt: skip
    """The monthly report: title (merged cells), period, blank row, header on row 4, the rows
    (text values as text cells, numbers as numeric cells, dates as Excel dates), a TOTAL row,
    and a `Ringkasan` sheet placed first. `No` values may be overridden with "No"."""
    import xlsxwriter

    path = day_folder(root, "lapakdesa", month_end)
    end = date.fromisoformat(month_end)
    target = path / f"Laporan_UMKM_{end:%Y-%m}.xlsx"
    if raw is not None:
        target.write_bytes(raw)
        success(path)
        return path
    book = xlsxwriter.Workbook(str(target))
    book.set_properties({"created": datetime(end.year, end.month, end.day)})
    book.add_worksheet("Ringkasan").write_string(0, 0, "Ringkasan bulanan")
    sheet = book.add_worksheet("Merchant Baru")
    dmy = book.add_format({"num_format": "dd/mm/yyyy"})
    title = book.add_format({"bold": True, "align": "center"})
    sheet.merge_range(0, 0, 0, 8, "Laporan UMKM Baru - LapakDesa", title)
    sheet.merge_range(1, 0, 1, 3, f"Periode: {end:%Y-%m}")
    sheet.write_row(3, 0, LAPAKDESA)
    for i, row in enumerate(rows):
        r = 4 + i
        no = row.get("No", i + 1)
        if isinstance(no, int):
            sheet.write_number(r, 0, no)
        else:
            sheet.write_string(r, 0, str(no))
        for j, column in enumerate(LAPAKDESA[1:], start=1):
            value = row.get(column)
            if value is None:
                continue
            if isinstance(value, date):
                sheet.write_datetime(r, j, datetime(value.year, value.month, value.day), dmy)
            elif isinstance(value, int | float):
                sheet.write_number(r, j, value)
            else:
                sheet.write_string(r, j, str(value))
    sheet.write_string(4 + len(rows), 0, "TOTAL")
    sheet.write_number(4 + len(rows), 1, len(rows))
    book.close()
    success(path)
    return path


def ekatalog(root: Path, day: str, rows: list[dict[str, object]] | None = None, *,
             raw: bytes | None = None, columns: list[str] = EKATALOG) -> Path:  # fmt: skip
    path = day_folder(root, "lkpp-ekatalog", day)
    body = raw if raw is not None else b"\xef\xbb\xbf" + csv_text(columns, rows or []).encode()
    (path / "penyedia_umkm.csv").write_bytes(body)
    success(path)
    return path


# --- expectations ----------------------------------------------------------------------------


def loaded(partner: str, day: str, read: int, *, quarantined: list[tuple[str, int, str, str | None]] = (),  # type: ignore[assignment]
           warnings: list[tuple[str, int, str]] = (), warned: int | None = None,  # type: ignore[assignment]
           detail: list[str] = (), detail_null: bool = False) -> dict[str, Any]:  # type: ignore[assignment]  # fmt: skip
    """A loaded partner-day: `quarantined` rows are (file, row, rule, column), `warnings`
    record warnings (file, row, text); `warned` counts records with a warning."""
    rows_warned = warned if warned is not None else len({(f, r) for f, r, _ in warnings})
    out: dict[str, Any] = {
        "partner": partner, "export_date": day, "status": "loaded", "rows_read": read,
        "rows_loaded": read - len(quarantined), "rows_quarantined": len(quarantined),
        "warnings": rows_warned,
        "quarantined": [dict(file=f, row_number=r, rule=rule, column_name=col) for f, r, rule, col in quarantined],
        "record_warnings": [dict(file=f, row_number=r, warning=w) for f, r, w in warnings],
        "detail_contains": list(detail),
    }  # fmt: skip
    if detail_null:
        out["detail"] = None
    return out


def failed(
    partner: str, day: str, detail: list[str], rows_read: int | None = None
) -> dict[str, Any]:
    return {
        "partner": partner, "export_date": day, "status": "failed", "rows_read": rows_read,
        "rows_loaded": 0, "rows_quarantined": 0, "warnings": 0, "quarantined": [],
        "record_warnings": [], "detail_contains": detail,
    }  # fmt: skip


CaseFn = Callable[[Path], dict[str, Any]]
CASES: dict[str, CaseFn] = {}


def case(fn: CaseFn) -> CaseFn:
    CASES[fn.__name__] = fn
    return fn


PN_FILE = "sellers.csv.gz"


def tr_file(day: str) -> str:
    return f"TOKORAYA_MERCHANT_{date.fromisoformat(day):%d%m%Y}.csv"


# --- delivery-level cases ----------------------------------------------------------------------


@case
def missing_success_marker(c: Path) -> dict[str, Any]:
    land = c / "landing"
    pasarnusa(land, D1, [pn(1), pn(2)])
    pasarnusa(land, D2, [pn(1), pn(2), pn(3)], deliver=False)
    pasarnusa(land, D3, [pn(1), pn(2)])
    return {
        "contract": "folder without `_SUCCESS`: not delivered: skipped, no `partner_loads` row, "
        "counted in `partner_freshness.missing_days`",
        "description": "2020-06-02 has its data and manifest but no _SUCCESS: never half-loaded",
        "runs": [{"start": D1, "end": D3, "missing": [["pasarnusa", D2]]}],
        "published": True,
        "partner_days": [loaded("pasarnusa", D1, 2, detail_null=True),
                         loaded("pasarnusa", D3, 2, detail_null=True)],
        "freshness": [{"partner": "pasarnusa", "latest_export_date": D3,
                       "expected_export_date": D3, "days_behind": 0, "missing_days": 1}],
        "listings": [{"partner": "pasarnusa", "listing_key": "PN1"},
                     {"partner": "pasarnusa", "listing_key": "PN2"}],
    }  # fmt: skip


@case
def manifest_row_count_mismatch(c: Path) -> dict[str, Any]:
    pasarnusa(c / "landing", D1, [pn(1), pn(2), pn(3)], manifest_rows=4)
    return {
        "contract": "manifest row count mismatch (truncated or tampered file): failed",
        "description": "the manifest says 4 records, the file holds 3",
        "partner_days": [failed("pasarnusa", D1, ["'pasarnusa/2020-06-01/sellers.csv.gz' has 3 records but manifest.json says 4"], rows_read=3)],
    }  # fmt: skip


@case
def manifest_sha256_mismatch(c: Path) -> dict[str, Any]:
    original = "".join(json.dumps(x) + "\n" for x in [bj(1), bj(2)]).encode()
    belanjaku(c / "landing", D1, [[bj(1), bj(2, tier="SMALL")]],
              sha={"part-00000.jsonl.gz": hashlib.sha256(gz(original)).hexdigest()})  # fmt: skip
    return {
        "contract": "manifest sha256 mismatch (truncated or tampered file): failed",
        "description": "part-00000 was altered after the manifest was written",
        "partner_days": [failed("belanjaku", D1, ["'belanjaku/2020-06-01/part-00000.jsonl.gz': sha256 does not match manifest.json"])],
    }  # fmt: skip


@case
def manifest_lists_a_missing_part(c: Path) -> dict[str, Any]:
    path = belanjaku(c / "landing", D1, [[bj(1)], [bj(2)]])
    (path / "part-00001.jsonl.gz").unlink()
    return {
        "contract": "manifest mismatch (truncated delivery): failed",
        "description": "the manifest lists part-00001, which never arrived",
        "partner_days": [failed("belanjaku", D1, ["belanjaku/2020-06-01/manifest.json lists 'part-00001.jsonl.gz', which was not delivered"])],
    }  # fmt: skip


@case
def not_gzip(c: Path) -> dict[str, Any]:
    pasarnusa(c / "landing", D1, [pn(1), pn(2)], gzip_it=False)
    return {
        "contract": "a file that is not what its name says (gzip that is not gzip): failed",
        "description": "sellers.csv.gz is plain CSV; the manifest matches it",
        "partner_days": [failed("pasarnusa", D1, ["'pasarnusa/2020-06-01/sellers.csv.gz' is not gzip"])],
    }  # fmt: skip


@case
def gzip_truncated(c: Path) -> dict[str, Any]:
    data = gz(csv_text(PASARNUSA, [pn(i) for i in range(1, 6)]).encode())
    pasarnusa(c / "landing", D1, raw=data[: len(data) // 2], gzip_it=False, manifest_rows=5)
    return {
        "contract": "a file that is unreadable: failed",
        "description": "a gzip stream cut in the middle (the manifest was written for the cut file)",
        "partner_days": [failed("pasarnusa", D1, ["'pasarnusa/2020-06-01/sellers.csv.gz' is not a readable gzip file"])],
    }  # fmt: skip


@case
def not_parquet(c: Path) -> dict[str, Any]:
    kedaiantar(c / "landing", D1, [ka(1)], raw=b"outlet_id,brand_id\nO1,B1\n")
    return {
        "contract": "a file that is not what its name says (Parquet that is not Parquet): failed",
        "description": "outlets.parquet is CSV text; the manifest matches it",
        "partner_days": [failed("kedaiantar", D1, ["'kedaiantar/2020-06-01/outlets.parquet' is not Parquet"])],
    }  # fmt: skip


@case
def parquet_unreadable(c: Path) -> dict[str, Any]:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([ka(1), ka(2)], schema=KEDAIANTAR), buffer)
    data = buffer.getvalue()
    kedaiantar(c / "landing", D1, [ka(1), ka(2)], raw=data[: len(data) - 40])
    return {
        "contract": "a file that is unreadable: failed",
        "description": "a Parquet file that starts with PAR1 but lost its footer",
        "partner_days": [failed("kedaiantar", D1, ["'kedaiantar/2020-06-01/outlets.parquet' could not be read as Parquet"])],
    }  # fmt: skip


@case
def xlsx_not_a_workbook(c: Path) -> dict[str, Any]:
    lapakdesa(c / "landing", "2020-05-31", [], raw=b"No;Nama Usaha\n1;Lapak\n")
    return {
        "contract": "a file that is not what its name says, or unreadable: failed",
        "description": "Laporan_UMKM_2020-05.xlsx is a CSV text file",
        "partner_days": [failed("lapakdesa", "2020-05-31", ["'lapakdesa/2020-05-31/Laporan_UMKM_2020-05.xlsx' is not an Excel workbook"])],
    }  # fmt: skip


@case
def empty_file(c: Path) -> dict[str, Any]:
    land = c / "landing"
    tokoraya(land, D1, raw=b"")
    ekatalog(land, D1, raw=b"")
    path = day_folder(land, "pasarnusa", D1)
    (path / PN_FILE).write_bytes(b"")
    manifest(path, {PN_FILE: 0})
    success(path)
    return {
        "contract": "empty (0-byte) file: failed",
        "description": "a 0-byte file from three partners (with and without a manifest)",
        "partner_days": [
            failed("lkpp-ekatalog", D1, ["'lkpp-ekatalog/2020-06-01/penyedia_umkm.csv' is empty (0 bytes)"]),
            failed("pasarnusa", D1, ["'pasarnusa/2020-06-01/sellers.csv.gz' is empty (0 bytes)"]),
            failed("tokoraya", D1, [f"'tokoraya/2020-06-01/{tr_file(D1)}' is empty (0 bytes)"]),
        ],
    }  # fmt: skip


@case
def header_only_manifest_zero(c: Path) -> dict[str, Any]:
    pasarnusa(c / "landing", D1, [])
    belanjaku(c / "landing", D1, [[]])
    kedaiantar(c / "landing", D1, [])
    return {
        "contract": "header-only file: loaded with no records when the manifest says 0 rows",
        "description": "pasarnusa header only, belanjaku an empty part, kedaiantar a 0-row Parquet; manifests say 0",
        "note": "JSON Lines and Parquet have no header row: their 'header-only file' is a part without lines and a "
        "Parquet file with its schema and no rows",
        "partner_days": [loaded("belanjaku", D1, 0, detail_null=True),
                         loaded("kedaiantar", D1, 0, detail_null=True),
                         loaded("pasarnusa", D1, 0, detail_null=True)],
    }  # fmt: skip


@case
def header_only_manifest_positive(c: Path) -> dict[str, Any]:
    pasarnusa(c / "landing", D1, [], manifest_rows=2)
    return {
        "contract": "header-only file: loaded ... when there is no manifest or it says 0 rows; otherwise failed",
        "description": "a header-only sellers.csv.gz whose manifest says 2 records",
        "partner_days": [failed("pasarnusa", D1, ["'pasarnusa/2020-06-01/sellers.csv.gz' has 0 records but manifest.json says 2"], rows_read=0)],
    }  # fmt: skip


@case
def header_only_no_manifest(c: Path) -> dict[str, Any]:
    tokoraya(c / "landing", D1, [])
    lapakdesa(c / "landing", "2020-05-31", [])
    ekatalog(c / "landing", D1, [])
    return {
        "contract": "header-only file: loaded with no records when there is no manifest",
        "description": "tokoraya and lkpp-ekatalog header rows only; lapakdesa title, header and TOTAL row only",
        "partner_days": [loaded("lapakdesa", "2020-05-31", 0, detail_null=True),
                         loaded("lkpp-ekatalog", D1, 0, detail_null=True),
                         loaded("tokoraya", D1, 0, detail_null=True)],
    }  # fmt: skip


# --- encodings and separators -------------------------------------------------------------------


@case
def windows_1252_in_utf8_file(c: Path) -> dict[str, Any]:
    text = csv_text(PASARNUSA, [pn(1), pn(2, shop_name="Café Kopi Bu Sri"), pn(3)])
    pasarnusa(c / "landing", D1, [pn(1), pn(2), pn(3)], raw=text.encode("cp1252"))
    return {
        "contract": "a different encoding than the contract (never decoded lossily): failed",
        "description": "pasarnusa (UTF-8) sends one shop name in Windows-1252 (é as byte 0xE9)",
        "note": "rows_read is null: the file is refused as a whole before any record is kept "
        "(metrics.md: rows_read 'as far as the delivery could be read (NULL when not at all)')",
        "partner_days": [failed("pasarnusa", D1, ["'pasarnusa/2020-06-01/sellers.csv.gz'", "is not valid utf-8"])],
    }  # fmt: skip


@case
def utf8_in_windows_1252_file(c: Path) -> dict[str, Any]:
    tokoraya(
        c / "landing", D1, [tr(1), tr(2, Nama_Toko="Café Kopi – Bu’s"), tr(3)], encoding="utf-8"
    )
    return {
        "contract": "a different encoding than the contract (never decoded lossily): failed",
        "description": "tokoraya (Windows-1252) sends a UTF-8 file; its bytes would decode as Windows-1252 into mojibake",
        "partner_days": [failed("tokoraya", D1, [f"'tokoraya/2020-06-01/{tr_file(D1)}' is UTF-8 encoded; contract says Windows-1252"])],
    }  # fmt: skip


@case
def utf8_bom(c: Path) -> dict[str, Any]:
    land = c / "landing"
    pasarnusa(land, D1, [pn(1), pn(2)],
              raw=b"\xef\xbb\xbf" + csv_text(PASARNUSA, [pn(1), pn(2)]).encode())  # fmt: skip
    tokoraya(
        land, D1, raw=b"\xef\xbb\xbf" + csv_text(TOKORAYA, [tr(1)], ";", "\r\n").encode("cp1252")
    )
    ekatalog(land, D1, [ek(1), ek(2)])
    return {
        "contract": "a different encoding than the contract: failed (pasarnusa: UTF-8, a BOM is still UTF-8; "
        "tokoraya: Windows-1252 has no BOM; lkpp-ekatalog: UTF-8 with BOM is the contract)",
        "description": "a UTF-8 byte order mark on three partners' CSV files",
        "note": "partners.md says pasarnusa is 'UTF-8' without mentioning a BOM: a BOM is valid UTF-8, so "
        "the file is accepted and the BOM is not part of the first column name",
        "partner_days": [loaded("lkpp-ekatalog", D1, 2, detail_null=True),
                         loaded("pasarnusa", D1, 2, detail_null=True),
                         failed("tokoraya", D1, [f"'tokoraya/2020-06-01/{tr_file(D1)}' starts with a UTF-8 byte order mark; contract says Windows-1252"])],
        "listings": [{"partner": "pasarnusa", "listing_key": "PN1"}, {"partner": "pasarnusa", "listing_key": "PN2"}],
    }  # fmt: skip


@case
def wrong_separator(c: Path) -> dict[str, Any]:
    land = c / "landing"
    pasarnusa(land, D1, [pn(1), pn(2)], text=csv_text(PASARNUSA, [pn(1), pn(2)], ";"))
    tokoraya(land, D1, raw=csv_text(TOKORAYA, [tr(1), tr(2)], ",", "\r\n").encode("cp1252"))
    return {
        "contract": "a different separator than the contract: failed",
        "description": "pasarnusa separated by ';' (contract ','), tokoraya by ',' (contract ';')",
        "partner_days": [failed("pasarnusa", D1, ["'pasarnusa/2020-06-01/sellers.csv.gz' is separated by ';'; contract says ','"]),
                         failed("tokoraya", D1, [f"'tokoraya/2020-06-01/{tr_file(D1)}' is separated by ','; contract says ';'"])],
    }  # fmt: skip


# --- records ---------------------------------------------------------------------------------


@case
def quoted_newline_in_name(c: Path) -> dict[str, Any]:
    rows = [
        pn(1, shop_name='Warung "Bu Sri", Bandung\nCabang 2'),
        pn(2, shop_name="Toko\r\nDua"),
        pn(3),
    ]
    pasarnusa(c / "landing", D1, rows)
    return {
        "contract": "rows counts records: a quoted newline does not start a record",
        "description": "shop names with quoted commas, quotes, LF and CRLF; the manifest counts 3 records",
        "partner_days": [loaded("pasarnusa", D1, 3, detail_null=True)],
    }  # fmt: skip


@case
def truncated_last_line(c: Path) -> dict[str, Any]:
    land = c / "landing"
    body = csv_text(TOKORAYA, [tr(1), tr(2), tr(3)], ";", "\r\n") + f"TR4;Toko Raya 4;{nik(4)[:7]}"
    tokoraya(land, D1, raw=body.encode("cp1252"))
    text = csv_text(PASARNUSA, [pn(1), pn(2), pn(3)]) + 'PN4,"Toko Con'
    pasarnusa(land, D1, text=text, manifest_rows=4)
    return {
        "contract": "a truncated last line: that record quarantined",
        "description": "tokoraya's last line stops after 3 fields (no manifest); pasarnusa's inside a quoted name "
        "(its manifest was written for the cut file and counts 4 records)",
        "note": "for pasarnusa the partner's manifest must describe the file as delivered; a manifest written "
        "for the whole file would fail the day on its sha256 instead (case manifest_sha256_mismatch)",
        "partner_days": [
            loaded("pasarnusa", D1, 4, quarantined=[(PN_FILE, 4, "malformed record: unterminated or stray quote (malformed or truncated row)", None)],
                   detail=["quarantined: 1 malformed record: unterminated or stray quote"]),
            loaded("tokoraya", D1, 4, quarantined=[(tr_file(D1), 4, "malformed record: too few fields (malformed or truncated row)", None)]),
        ],
    }  # fmt: skip


@case
def repeated_header_row(c: Path) -> dict[str, Any]:
    rows = csv_text(TOKORAYA, [tr(1), tr(2)], ";", "\r\n") + csv_text(
        TOKORAYA, [tr(3)], ";", "\r\n"
    )
    tokoraya(c / "landing", D1, raw=rows.encode("cp1252"))
    return {
        "contract": "a repeated header row inside the file: that record quarantined",
        "description": "two exports pasted together: the header reappears as record 3",
        "note": "the repeated header line counts as a record (read and quarantined), as partners.md quarantines "
        "'that record'; a manifest, for a partner that has one, would have to count it too",
        "partner_days": [loaded("tokoraya", D1, 4, quarantined=[(tr_file(D1), 3, "malformed record: repeated header row", None)])],
    }  # fmt: skip


@case
def malformed_row_too_many_fields(c: Path) -> dict[str, Any]:
    lines = csv_text(PASARNUSA, [pn(1), pn(2), pn(3)]).splitlines()
    lines[2] = lines[2] + ",surplus"
    pasarnusa(c / "landing", D1, text="\n".join(lines) + "\n", manifest_rows=3)
    return {
        "contract": "a malformed row: that record quarantined",
        "description": "record 2 has 11 fields instead of 10",
        "partner_days": [loaded("pasarnusa", D1, 3, quarantined=[(PN_FILE, 2, "malformed record: too many fields (malformed row)", None)])],
    }  # fmt: skip


# --- columns ---------------------------------------------------------------------------------


@case
def extra_columns(c: Path) -> dict[str, Any]:
    land = c / "landing"
    cols = [*PASARNUSA, "referral_code"]
    pasarnusa(land, D1, [pn(1), pn(2)], text=csv_text(cols, [pn(1, referral_code="R1"), pn(2)]))
    schema = KEDAIANTAR.append(pa.field("rating", pa.float64()))
    kedaiantar(land, D1, [ka(1, rating=4.5), ka(2)], schema=schema)
    return {
        "contract": "extra columns: loaded; ignored and reported as a warning in `detail`",
        "description": "pasarnusa adds referral_code, kedaiantar a rating column",
        "partner_days": [
            loaded("kedaiantar", D1, 2, detail=["'kedaiantar/2020-06-01/outlets.parquet': extra columns ignored: ['rating']"]),
            loaded("pasarnusa", D1, 2, detail=["'pasarnusa/2020-06-01/sellers.csv.gz': extra columns ignored: ['referral_code']"]),
        ],
    }  # fmt: skip


@case
def missing_column(c: Path) -> dict[str, Any]:
    land = c / "landing"
    cols = [x for x in PASARNUSA if x != "kbli"]
    pasarnusa(land, D1, [pn(1)], text=csv_text(cols, [pn(1)]))
    ekatalog(land, D1, [ek(1)], columns=[x for x in EKATALOG if x != "jumlah_produk"])
    schema = pa.schema([f for f in KEDAIANTAR if f.name != "is_active"])
    kedaiantar(land, D1, [ka(1)], schema=schema)
    return {
        "contract": "a column of the partner's spec missing: failed",
        "description": "pasarnusa without kbli, lkpp-ekatalog without jumlah_produk, kedaiantar without is_active",
        "partner_days": [
            failed("kedaiantar", D1, ["'kedaiantar/2020-06-01/outlets.parquet': columns missing or renamed: ['is_active']"]),
            failed("lkpp-ekatalog", D1, ["'lkpp-ekatalog/2020-06-01/penyedia_umkm.csv': columns missing or renamed: ['jumlah_produk']"]),
            failed("pasarnusa", D1, ["'pasarnusa/2020-06-01/sellers.csv.gz': columns missing or renamed: ['kbli']"]),
        ],
    }  # fmt: skip


@case
def renamed_column(c: Path) -> dict[str, Any]:
    cols = [("No HP" if x == "No. HP" else x) for x in TOKORAYA]
    rows = [{("No HP" if k == "No. HP" else k): v for k, v in tr(i).items()} for i in (1, 2)]
    tokoraya(c / "landing", D1, raw=csv_text(cols, rows, ";", "\r\n").encode("cp1252"))
    return {
        "contract": "a column of the partner's spec renamed: failed",
        "description": "tokoraya's 'No. HP' arrives as 'No HP'",
        "partner_days": [failed("tokoraya", D1, [f"'tokoraya/2020-06-01/{tr_file(D1)}': columns missing or renamed: ['No. HP']; unexpected columns ['No HP']"])],
    }  # fmt: skip


@case
def reordered_columns(c: Path) -> dict[str, Any]:
    land = c / "landing"
    cols = list(reversed(PASARNUSA))
    rows = [pn(1, regency_code="33.74", business_scale="small"), pn(2)]
    pasarnusa(land, D1, rows, text=csv_text(cols, rows))
    ekatalog(land, D1, [ek(1), ek(2, kualifikasi_usaha="Non UMKM")], columns=sorted(EKATALOG))
    schema = pa.schema(sorted(KEDAIANTAR, key=lambda f: f.name))
    kedaiantar(land, D1, [ka(1, province_code=33, regency_code=3374)], schema=schema)
    return {
        "contract": "columns reordered: loaded (columns are matched by name, never by position)",
        "description": "pasarnusa's columns reversed, lkpp-ekatalog's and kedaiantar's sorted by name",
        "partner_days": [loaded("kedaiantar", D1, 1, detail_null=True),
                         loaded("lkpp-ekatalog", D1, 2, detail_null=True),
                         loaded("pasarnusa", D1, 2, detail_null=True)],
        "listings": [
            {"partner": "kedaiantar", "listing_key": "B1", "province_code": "33", "regency_code": "33.74", "joined_date": "2019-03-04"},
            {"partner": "pasarnusa", "listing_key": "PN1", "province_code": "33", "regency_code": "33.74", "scale": "kecil", "joined_date": "2019-03-04"},
            {"partner": "pasarnusa", "listing_key": "PN2", "province_code": "32", "regency_code": "32.73", "scale": "mikro", "joined_date": "2019-03-04"},
        ],
    }  # fmt: skip


@case
def parquet_column_wrong_type(c: Path) -> dict[str, Any]:
    schema = pa.schema(
        [
            pa.field("regency_code", pa.string()) if f.name == "regency_code" else f
            for f in KEDAIANTAR
        ]
    )
    kedaiantar(c / "landing", D1, [ka(1, regency_code="3273")], schema=schema)
    return {
        "contract": "a Parquet column of another type than the spec: failed",
        "description": "kedaiantar's regency_code arrives as a string column",
        "partner_days": [failed("kedaiantar", D1, ["'kedaiantar/2020-06-01/outlets.parquet': column types differ from the contract", "regency_code is VARCHAR, expected int32"])],
    }  # fmt: skip


# --- field values ----------------------------------------------------------------------------


@case
def turnover_formats(c: Path) -> dict[str, Any]:
    values = ["1.234.567,50", "Rp 1.500.000", "-", "", "Rp1.500.000,00", "1,5 juta", "12.34"]
    rows = [tr(i + 1, **{"Omzet Bulanan (Rp)": v}) for i, v in enumerate(values)]
    tokoraya(c / "landing", D1, rows)
    f = tr_file(D1)
    return {
        "contract": "bad turnover: record loaded, attribute unknown, a warning",
        "description": "Indonesian amounts with and without Rp, '-' and empty are fine; '1,5 juta' and '12.34' are not amounts",
        "partner_days": [loaded("tokoraya", D1, 7, warnings=[(f, 6, "Omzet Bulanan (Rp): bad turnover"),
                                                             (f, 7, "Omzet Bulanan (Rp): bad turnover")],
                                detail=["warnings: 2 bad turnover (Omzet Bulanan (Rp))"])],
    }  # fmt: skip


@case
def ambiguous_slash_date(c: Path) -> dict[str, Any]:
    day = "2024-09-02"
    rows = [tr(1, Tanggal_Bergabung="01/09/2024"), tr(2, Tanggal_Bergabung="1/9/2024"),
            tr(3, Tanggal_Bergabung="09/01/2024"), tr(4, Tanggal_Bergabung="13/1/2024"),
            tr(5, Tanggal_Bergabung="02/10/2024")]  # fmt: skip
    tokoraya(c / "landing", day, rows)
    return {
        "contract": "tokoraya `Tanggal Bergabung`: `D/M/YYYY` (day and month of one or two digits)",
        "description": "01/09/2024 is 1 September 2024 (not 9 January); 02/10/2024 is 2 October, after the export date",
        "partner_days": [loaded("tokoraya", day, 5, quarantined=[(tr_file(day), 5, "joined date after the export date", "Tanggal Bergabung")])],
        "listings": [
            {"partner": "tokoraya", "listing_key": "TR1", "joined_date": "2024-09-01"},
            {"partner": "tokoraya", "listing_key": "TR2", "joined_date": "2024-09-01"},
            {"partner": "tokoraya", "listing_key": "TR3", "joined_date": "2024-01-09"},
            {"partner": "tokoraya", "listing_key": "TR4", "joined_date": "2024-01-13"},
        ],
    }  # fmt: skip


@case
def indonesian_month_names(c: Path) -> dict[str, Any]:
    dates = {
        "5 Agustus 2019": "2019-08-05",
        "05 Agt 2019": "2019-08-05",
        "9 Ags 2019": "2019-08-09",
        "7 agu 2019": "2019-08-07",
        "5 Nopember 2019": "2019-11-05",
        "4 NOP 2019": "2019-11-04",
        "12 Peb 2020": "2020-02-12",
        "21 Pebruari 2020": "2020-02-21",
        "29 Feb 2020": "2020-02-29",
        "1 MEI 2020": "2020-05-01",
        "17 Sept 2019": "2019-09-17",
        "3 des 2019": "2019-12-03",
        "31 Okt 2019": "2019-10-31",
        "15 Maret 2020": "2020-03-15",
        "30 Jun 2019": "2019-06-30",
        "2 Juli 2019": "2019-07-02",
        "8 Jan 2020": "2020-01-08",
        "10 Apr 2020": "2020-04-10",
    }
    bad = ["31 Nopember 2019", "29 Peb 2019", "5 Agst 2019"]
    texts = [*dates, *bad]
    rows = [tr(i + 1, Tanggal_Bergabung=t) for i, t in enumerate(texts)]
    tokoraya(c / "landing", D1, rows)
    f = tr_file(D1)
    return {
        "contract": "tokoraya `Tanggal Bergabung`: a day, an Indonesian month name and a year; month names and "
        "abbreviations in any case; joined date unparseable: record quarantined",
        "description": "every spelling of partners.md's month list; 31 Nopember, 29 Peb 2019 and the unlisted 'Agst' are not dates",
        "partner_days": [loaded("tokoraya", D1, len(texts), quarantined=[
            (f, len(dates) + 1 + i, "joined date unparseable", "Tanggal Bergabung") for i in range(len(bad))])],
        "listings": [{"partner": "tokoraya", "listing_key": f"TR{i + 1}", "joined_date": d}
                     for i, d in enumerate(dates.values())],
    }  # fmt: skip


@case
def nik_spreadsheet_damage(c: Path) -> dict[str, Any]:
    rows = [
        tr(1, NIK_Pemilik="3.27301E+15"),
        tr(2, NIK_Pemilik="3,27301E+15", NIB="", **{"No. HP": ""}),
        tr(3, NIK_Pemilik=nik(3)[:15]),
        tr(4, NIK_Pemilik=nik(4)[:15], NIB="", **{"No. HP": ""}),
        tr(5),
        tr(6),
    ]
    tokoraya(c / "landing", D1, rows)
    f = tr_file(D1)
    return {
        "contract": "identifiers damaged by spreadsheets: that identifier invalid; the record is quarantined only "
        "if no valid identifier is left",
        "description": "NIKs in scientific notation (3.27301E+15, 3,27301E+15) and cut to 15 digits, with and without another identifier",
        "partner_days": [loaded("tokoraya", D1, 6,
            quarantined=[(f, 2, "no valid identifier", TOKORAYA_IDS), (f, 4, "no valid identifier", TOKORAYA_IDS)],
            warnings=[(f, 1, "NIK Pemilik: scientific notation (spreadsheet damage)"),
                      (f, 3, "NIK Pemilik: not 16 digits")])],
    }  # fmt: skip


@case
def nik_invalid_birth_date_or_province(c: Path) -> dict[str, Any]:
    rows = [
        pn(1, owner_nik="3273013102909001"),  # 31 February
        pn(2, owner_nik="9973014101909002", owner_phone="", nib=""),  # 99 is no province
        pn(3, owner_nik="3273017201909003"),  # day 72: a woman born on the 32nd
        pn(4, owner_nik="3273012902019004"),  # 29 February 2001 (YY 01 not divisible by 4)
        pn(5, owner_nik="3273016902009005", owner_phone="", nib=""),  # a woman born 29 Feb 2000
        pn(
            6, owner_nik="3299994101909006", owner_phone="", nib=""
        ),  # district digits are not checked
        pn(7, owner_nik="3273010113909007"),  # month 13
    ]
    pasarnusa(c / "landing", D1, rows)
    return {
        "contract": "a NIK whose first two digits are not a province code, or whose birth date is not a real date, "
        "is invalid; the district digits are not checked",
        "description": "impossible birth dates (31 Feb, day 72, 29 Feb 2001, month 13) and a 99 prefix; 29 Feb 2000 (women: 69) is valid",
        "partner_days": [loaded("pasarnusa", D1, 7,
            quarantined=[(PN_FILE, 2, "no valid identifier", PASARNUSA_IDS)],
            warnings=[(PN_FILE, r, "owner_nik: birth date digits are not a real date") for r in (1, 3, 4, 7)])],
    }  # fmt: skip


@case
def phone_lost_leading_zero(c: Path) -> dict[str, Any]:
    rows = [
        tr(1, NIK_Pemilik="", NIB="", **{"No. HP": "81234569001"}),
        tr(2, NIK_Pemilik="", NIB="", **{"No. HP": "812345690"}),
        tr(3, NIK_Pemilik="", NIB="", **{"No. HP": "+62 812-3456-9003"}),
        tr(4, NIK_Pemilik="", NIB="", **{"No. HP": "(0812) 3456.9004"}),
        tr(5, **{"No. HP": "628123456900512"}),
        tr(6, **{"No. HP": "0212345678"}),
    ]
    tokoraya(c / "landing", D1, rows)
    f = tr_file(D1)
    return {
        "contract": "Phone: a leading `8` (a number that lost its 0) becomes `628`; valid when `62` + 9-12 digits from `8`",
        "description": "phones without their leading 0 (the only identifier of their rows) are valid; a 15-digit and a landline number are not",
        "partner_days": [loaded("tokoraya", D1, 6, warnings=[(f, 5, "No. HP: not an Indonesian mobile number"),
                                                             (f, 6, "No. HP: not an Indonesian mobile number")])],
    }  # fmt: skip


@case
def json_big_and_float_ids(c: Path) -> dict[str, Any]:
    big = 2**64 - 1
    lines: list[dict[str, object] | str] = [
        bj(1, merchant={"id": big, "name": "Max"}),
        bj(2, merchant={"id": 2**53 + 1, "name": "Above 2^53"}),
        '{"event": "created", "merchant": {"id": 12345.0, "name": "Float"}, "legal": {"nib": "9120000000003"}, "onboarded_at": 1551668400000}',
        '{"event": "created", "merchant": {"id": 18446744073709551616, "name": "Over 2^64-1"}, "legal": {"nib": "9120000000004"}, "onboarded_at": 1551668400000}',
        bj(5, merchant={"id": 9007199254740993123, "name": "Nineteen digits"}),
    ]
    belanjaku(c / "landing", D1, [lines])
    f = "part-00000.jsonl.gz"
    return {
        "contract": "`merchant.id` must be read as exact text (ids above 2^53); at most 2^64-1; a record without a listing key is quarantined",
        "description": "ids 2^64-1, 2^53+1 and a 19-digit id kept exactly; 12345.0 (a float) and 2^64 are no key",
        "partner_days": [loaded("belanjaku", D1, 5, quarantined=[(f, 3, "no listing key", "merchant.id"), (f, 4, "no listing key", "merchant.id")])],
        "listings": [{"partner": "belanjaku", "listing_key": str(big)},
                     {"partner": "belanjaku", "listing_key": str(2**53 + 1)},
                     {"partner": "belanjaku", "listing_key": "9007199254740993123"}],
    }  # fmt: skip


@case
def excel_title_and_total_rows(c: Path) -> dict[str, Any]:
    rows = [ld(1), ld(2, Skala="Raksasa"), ld(3, **{"Tanggal Daftar": "15-05-2020"}),
            ld(4, **{"Tanggal Daftar": date(2020, 6, 2)}), ld(5, **{"Tanggal Daftar": "10-02-2020"})]  # fmt: skip
    lapakdesa(c / "landing", "2020-05-31", rows)
    f = "Laporan_UMKM_2020-05.xlsx"
    return {
        "contract": "lapakdesa: rows 1-3 title, period, blank; header on row 4; the last row is a TOTAL row, not a seller; "
        "other sheets ignored",
        "description": "merged title cells, a period line, a Ringkasan sheet first; record numbers are sheet rows (5-9); "
        "row 8 joined after the report's date, row 9 is a late report (February) and counts",
        "partner_days": [loaded("lapakdesa", "2020-05-31", 5,
            quarantined=[(f, 8, "joined date after the export date", "Tanggal Daftar")],
            warnings=[(f, 6, "Skala: scale not recognised")])],
        "listings": [
            {"partner": "lapakdesa", "listing_key": f"nib:{nib(1)}|lapak desa 1", "joined_date": "2020-05-04", "regency_code": "32.04"},
            {"partner": "lapakdesa", "listing_key": f"nib:{nib(2)}|lapak desa 2", "scale": None},
            {"partner": "lapakdesa", "listing_key": f"nib:{nib(3)}|lapak desa 3", "joined_date": "2020-05-15"},
            {"partner": "lapakdesa", "listing_key": f"nib:{nib(5)}|lapak desa 5", "joined_date": "2020-02-10"},
        ],
    }  # fmt: skip


@case
def excel_numeric_identifier_cells(c: Path) -> dict[str, Any]:
    rows = [
        ld(1, NIB=int(nib(1)), NIK=int(nik(1)), Telepon=int(phone(1))),
        ld(2, NIB="", NIK=int(nik(2)), Telepon=int(phone(2))),
        ld(3, NIB="", Telepon=int(phone(3)), **{"Kode Provinsi": 32}),
        ld(4),
        ld(5),
    ]
    lapakdesa(c / "landing", "2020-05-31", rows)
    f = "Laporan_UMKM_2020-05.xlsx"
    return {
        "contract": "lapakdesa: a numeric NIK cell has lost precision and is invalid; a numeric Telepon lost its leading 0 "
        "(valid once normalised); a numeric NIB keeps its 13 digits and is valid; the listing key is the valid NIB, else the valid NIK",
        "description": "numeric NIB/NIK/Telepon/Kode Provinsi cells; row 6 has no NIB and only a numeric NIK, so no listing key",
        "partner_days": [loaded("lapakdesa", "2020-05-31", 5,
            quarantined=[(f, 6, "no listing key (no valid NIB or NIK)", "NIB/NIK + Nama Usaha")],
            warnings=[(f, 5, "NIK: numeric spreadsheet cell (precision lost)")])],
        "listings": [
            {"partner": "lapakdesa", "listing_key": f"nib:{nib(1)}|lapak desa 1"},
            {"partner": "lapakdesa", "listing_key": f"nik:<pseudonym of {nik(3)}>|lapak desa 3", "province_code": "32"},
            {"partner": "lapakdesa", "listing_key": f"nib:{nib(4)}|lapak desa 4"},
            {"partner": "lapakdesa", "listing_key": f"nib:{nib(5)}|lapak desa 5"},
        ],
        "note": "a NIK listing key holds the NIK's pseudonym: '<pseudonym of N>' stands for it (the test computes it)",
    }  # fmt: skip


@case
def joined_date_out_of_range(c: Path) -> dict[str, Any]:
    rows = [
        pn(1),
        pn(2),
        pn(3, joined_at="2020-06-02T00:30:00+07:00"),  # the day after the export date
        pn(4, joined_at="2020-06-01T17:30:00Z"),  # 00:30 on 2 June in Jakarta
        pn(5, joined_at="2008-12-31T23:59:00+07:00"),
        pn(6, joined_at="2008-12-31T17:00:00Z"),  # 00:00 on 1 January 2009 in Jakarta: fine
        pn(7, joined_at="2020-06-01T23:59:59.999+07:00"),
        pn(8),
        pn(9),
    ]
    pasarnusa(c / "landing", D1, rows)
    rule = "joined date after the export date"
    return {
        "contract": "joined date in the future of the export date, or before 2009-01-01: record quarantined",
        "description": "dates judged on their Asia/Jakarta calendar date",
        "partner_days": [loaded("pasarnusa", D1, 9, quarantined=[
            (PN_FILE, 3, rule, "joined_at"), (PN_FILE, 4, rule, "joined_at"),
            (PN_FILE, 5, "joined date before 2009-01-01", "joined_at")])],
        "listings": [{"partner": "pasarnusa", "listing_key": f"PN{i}"} for i in (1, 2, 6, 7, 8, 9)],
    }  # fmt: skip


@case
def same_seller_twice(c: Path) -> dict[str, Any]:
    land = c / "landing"
    tokoraya(
        land,
        D1,
        [
            tr(1, Skala_Usaha="Mikro"),
            tr(2),
            tr(1, Skala_Usaha="Kecil", Tanggal_Bergabung="5/3/2019"),
        ],
    )
    belanjaku(land, D1, [[bj(1, tier="MICRO"), bj(2)], [bj(1, event="updated", tier="MEDIUM")]])
    pasarnusa(land, D1, [pn(1, business_scale="small"), pn(2), pn(1, business_scale="medium")])
    lapakdesa(
        land,
        "2020-05-31",
        [ld(1, Skala="Kecil"), ld(2), ld(1, **{"Nama Usaha": "  LAPAK  desa 1 "})],
    )
    return {
        "contract": "the same seller twice in one delivery: the last one wins; both rows count as loaded "
        "(lapakdesa: the same key twice in one report, the name trimmed, spaces collapsed, case folded)",
        "description": "tokoraya TR1 twice in one file; belanjaku merchant 1001 in part-00000 and again in part-00001; "
        "pasarnusa PN1 twice in one snapshot; lapakdesa NIB 1 with 'Lapak Desa 1' and '  LAPAK  desa 1 '",
        "partner_days": [loaded("belanjaku", D1, 3, detail_null=True), loaded("lapakdesa", "2020-05-31", 3, detail_null=True),
                         loaded("pasarnusa", D1, 3, detail_null=True), loaded("tokoraya", D1, 3, detail_null=True)],
        "listings": [
            {"partner": "belanjaku", "listing_key": "1001", "scale": "menengah"},
            {"partner": "belanjaku", "listing_key": "1002", "scale": "mikro"},
            {"partner": "lapakdesa", "listing_key": f"nib:{nib(1)}|lapak desa 1", "scale": "mikro"},
            {"partner": "lapakdesa", "listing_key": f"nib:{nib(2)}|lapak desa 2"},
            {"partner": "pasarnusa", "listing_key": "PN1", "scale": "menengah"},
            {"partner": "pasarnusa", "listing_key": "PN2", "scale": "mikro"},
            {"partner": "tokoraya", "listing_key": "TR1", "scale": "kecil", "joined_date": "2019-03-05"},
            {"partner": "tokoraya", "listing_key": "TR2", "scale": "mikro"},
        ],
    }  # fmt: skip


@case
def quarantine_threshold(c: Path) -> dict[str, Any]:
    land = c / "landing"
    gone = dict(owner_nik="", owner_phone="", nib="")
    pasarnusa(land, D1, [pn(1), pn(2), pn(3, **gone), pn(4, **gone)])
    pasarnusa(land, D2, [pn(1), pn(2, **gone), pn(3, **gone), pn(4, **gone)])
    rule = "no valid identifier"
    return {
        "contract": "more than 50% of the partner-day's records quarantined (contract default): failed",
        "description": "2 of 4 quarantined (exactly half) loads; 3 of 4 fails and loads nothing",
        "note": "'more than 50%' read literally: exactly half quarantined is not more than half, so the day loads",
        "partner_days": [
            loaded("pasarnusa", D1, 4, quarantined=[(PN_FILE, 3, rule, PASARNUSA_IDS), (PN_FILE, 4, rule, PASARNUSA_IDS)]),
            failed("pasarnusa", D2, ["3 of 4 records quarantined, more than the contract's 50% threshold"], rows_read=4),
        ],
        "listings": [{"partner": "pasarnusa", "listing_key": "PN1"}, {"partner": "pasarnusa", "listing_key": "PN2"}],
    }  # fmt: skip


@case
def unknown_region_scale_sector(c: Path) -> dict[str, Any]:
    land = c / "landing"
    pasarnusa(land, D1, [pn(1, regency_code="99.99"), pn(2, business_scale="huge"), pn(3, kbli="4791"),
                         pn(4, regency_code="", kbli="", business_scale=""), pn(5)])  # fmt: skip
    tokoraya(land, D1, [tr(1, **{"Kabupaten/Kota": "Bogor"}), tr(2, Provinsi="Provinsi Atlantis"),
                        tr(3, Skala_Usaha="Ultra"), tr(4, **{"Kabupaten/Kota": "Bogor, Kabupaten"})])  # fmt: skip
    kedaiantar(land, D1, [ka(1, province_code=99, regency_code=9999), ka(2)])
    f = tr_file(D1)
    return {
        "contract": "region that is no region, unknown scale or sector: record loaded, attribute unknown, a warning",
        "description": "pasarnusa region 99.99, scale 'huge', KBLI 4791 (4 digits) (empty ones are just unknown); tokoraya a bare "
        "'Bogor' (ambiguous), an unknown province, scale 'Ultra'; kedaiantar province 99 / regency 9999",
        "partner_days": [
            loaded("kedaiantar", D1, 2, warnings=[("outlets.parquet", 1, "region: province code not in reference")]),
            loaded("pasarnusa", D1, 5, warnings=[(PN_FILE, 1, "region: regency code not in reference"),
                                                 (PN_FILE, 2, "business_scale: scale not recognised"),
                                                 (PN_FILE, 3, "kbli: no valid KBLI code")]),
            loaded("tokoraya", D1, 4, warnings=[(f, 1, "region: regency not recognised in its province"),
                                                (f, 2, "region: province not recognised"),
                                                (f, 3, "Skala Usaha: scale not recognised")]),
        ],
        "listings": [
            {"partner": "kedaiantar", "listing_key": "B1", "province_code": None, "regency_code": None},
            {"partner": "kedaiantar", "listing_key": "B2", "province_code": "32", "regency_code": "32.73"},
            {"partner": "pasarnusa", "listing_key": "PN1", "province_code": None, "regency_code": None},
            {"partner": "pasarnusa", "listing_key": "PN2", "scale": None},
            {"partner": "pasarnusa", "listing_key": "PN3", "kbli_category": None},
            {"partner": "pasarnusa", "listing_key": "PN4", "province_code": None, "scale": None, "kbli_category": None},
            {"partner": "pasarnusa", "listing_key": "PN5", "province_code": "32", "scale": "mikro", "kbli_category": "G"},
            {"partner": "tokoraya", "listing_key": "TR1", "province_code": "32", "regency_code": None},
            {"partner": "tokoraya", "listing_key": "TR2", "province_code": None, "regency_code": None},
            {"partner": "tokoraya", "listing_key": "TR3", "scale": None},
            {"partner": "tokoraya", "listing_key": "TR4", "province_code": "32", "regency_code": "32.01"},
        ],
    }  # fmt: skip


@case
def belanjaku_deleted_event(c: Path) -> dict[str, Any]:
    land = c / "landing"
    belanjaku(land, D1, [[bj(1), bj(2)]])
    belanjaku(land, D2, [[{"event": "deleted", "merchant": {"id": 1001}}, bj(3, event="updated"),
                          {"event": "deleted", "merchant": {"id": 1004}},
                          {"event": "deleted", "merchant": {"id": 1002.0}}]])  # fmt: skip
    return {
        "contract": "a `deleted` line may carry only `merchant.id`; it is not validated as a record (it counts as read "
        "and loaded) and only marks the listing removed, if it exists; an `updated` line for a merchant never seen creates the listing",
        "description": "1001 deleted on 2020-06-02; 1004 was never seen; 1003 first appears as 'updated'; "
        "a deletion of 1002.0 (a float, so no id) removes nothing",
        "note": "a deleted line is 'not validated as a record (it counts as read and loaded)': read literally, this "
        "holds even when its merchant.id is no valid key; it then marks nothing removed",
        "partner_days": [loaded("belanjaku", D1, 2, detail_null=True), loaded("belanjaku", D2, 4, detail_null=True)],
        "listings": [
            {"partner": "belanjaku", "listing_key": "1001", "removed_as_of": D2},
            {"partner": "belanjaku", "listing_key": "1002", "removed_as_of": None},
            {"partner": "belanjaku", "listing_key": "1003", "removed_as_of": None},
        ],
    }  # fmt: skip


@case
def json_unknown_fields(c: Path) -> dict[str, Any]:
    lines: list[dict[str, object] | str] = [
        bj(1) | {"promo_code": "HEMAT"},
        bj(2, merchant={"id": 1002, "name": "Belanja 2", "badge": "star"}),
        bj(3),
    ]
    belanjaku(c / "landing", D1, [lines])
    return {
        "contract": "unknown extra fields may appear (ignore them, but report them)",
        "description": "a top-level promo_code and a nested merchant.badge",
        "partner_days": [loaded("belanjaku", D1, 3, detail=["'belanjaku/2020-06-01/part-00000.jsonl.gz': unknown fields ignored on 2 lines: ['merchant.badge', 'promo_code']"])],
    }  # fmt: skip


@case
def json_line_not_json(c: Path) -> dict[str, Any]:
    lines: list[dict[str, object] | str] = [
        bj(1), '{"event": "created", "merchant": {"id": 1002, "name": "Cut', bj(3),
        "this is not json", bj(5), "[1, 2, 3]", bj(7), bj(8),
    ]  # fmt: skip
    belanjaku(c / "landing", D1, [lines], cut_tail='{"event": "created", "merchant": {"id": 10')
    f = "part-00000.jsonl.gz"
    rule = "malformed record: invalid JSON line"
    return {
        "contract": "a malformed row: that record quarantined (a line of JSON Lines is a record)",
        "description": "a cut JSON object, plain text and a JSON array (not an object) among valid lines, and a "
        "last line cut off without its newline (the manifest counts 9 lines)",
        "partner_days": [loaded("belanjaku", D1, 9, quarantined=[(f, 2, rule, None), (f, 4, rule, None), (f, 6, rule, None),
                                                                 (f, 9, rule, None)])],
    }  # fmt: skip


@case
def volume_jump(c: Path) -> dict[str, Any]:
    land = c / "landing"
    for day in (D1, D2, D3):
        tokoraya(land, day, [tr(1), tr(2)])
    tokoraya(land, D4, [tr(i) for i in range(1, 22)])
    return {
        "contract": "volume under a tenth or over ten times the partner's recent median: loaded, with a warning in `detail`",
        "description": "three days of 2 records, then 21 (over ten times the median)",
        "partner_days": [loaded("tokoraya", d, 2, detail_null=True) for d in (D1, D2, D3)]
        + [loaded("tokoraya", D4, 21, detail=["volume warning: 21 records against a recent median of 2"])],
    }  # fmt: skip


@case
def volume_drop(c: Path) -> dict[str, Any]:
    land = c / "landing"
    for day in (D1, D2, D3):
        tokoraya(land, day, [tr(i) for i in range(1, 12)])
    tokoraya(land, D4, [tr(1)])
    return {
        "contract": "volume under a tenth or over ten times the partner's recent median: loaded, with a warning in `detail`",
        "description": "three days of 11 records, then 1 (under a tenth of the median)",
        "partner_days": [loaded("tokoraya", d, 11, detail_null=True) for d in (D1, D2, D3)]
        + [loaded("tokoraya", D4, 1, detail=["volume warning: 1 records against a recent median of 11"])],
    }  # fmt: skip


@case
def ekatalog_record_rules(c: Path) -> dict[str, Any]:
    rows = [ek(1), ek(2, kode_penyedia=""), ek(3, tanggal_tayang=""), ek(4, tanggal_tayang="04/03/2019"),
            ek(5, tanggal_tayang="2020-06-02"), ek(6, kualifikasi_usaha="Non UMKM", nib=""), ek(7, nib="", npwp=""),
            ek(8, jumlah_produk="12,5"), ek(9), ek(10), ek(11)]  # fmt: skip
    ekatalog(c / "landing", D1, rows)
    f, col = "penyedia_umkm.csv", "tanggal_tayang"
    return {
        "contract": "lkpp-ekatalog: a row without `kode_penyedia`, or whose `tanggal_tayang` is missing, unparseable or after "
        "the export date, is quarantined; Non UMKM vendors are loaded; no identifier is required",
        "description": "the e-catalogue's own record rules; a non-integer jumlah_produk is a warning",
        "partner_days": [loaded("lkpp-ekatalog", D1, 11, quarantined=[
            (f, 2, "no listing key", "kode_penyedia"), (f, 3, "joined date missing", col),
            (f, 4, "joined date unparseable", col), (f, 5, "joined date after the export date", col)],
            warnings=[(f, 8, "jumlah_produk: not a whole number")])],
    }  # fmt: skip


# --- re-deliveries and order ---------------------------------------------------------------------


@case
def corrected_redelivery(c: Path) -> dict[str, Any]:
    land, again = c / "landing", c / "redelivery"
    pasarnusa(land, D1, [pn(1), pn(2)])
    pasarnusa(land, D2, [pn(1), pn(2, joined_at="2019-07-01T09:00:00+07:00"), pn(3)])
    pasarnusa(land, D3, [pn(1), pn(2), pn(3)])
    pasarnusa(again, D2, [pn(1), pn(2), pn(3, business_scale="medium"), pn(4)])
    return {
        "contract": "a corrected re-delivery of a past day (same folder, new content): that partner-day replaced, nothing else",
        "description": "2020-06-02 is delivered again with PN2's date corrected, PN3 medium and a new PN4",
        "runs": [
            {"landing": "landing", "start": D1, "end": D3,
             "steps": [["pasarnusa", D1, "loaded"], ["pasarnusa", D2, "loaded"], ["pasarnusa", D3, "loaded"]]},
            {"landing": "redelivery", "start": D1, "end": D3,
             "steps": [["pasarnusa", D1, "unchanged"], ["pasarnusa", D2, "loaded"], ["pasarnusa", D3, "unchanged"]]},
        ],
        "partner_days": [loaded("pasarnusa", D1, 2, detail_null=True), loaded("pasarnusa", D2, 4, detail_null=True),
                         loaded("pasarnusa", D3, 3, detail_null=True)],
        "listings": [
            {"partner": "pasarnusa", "listing_key": "PN1", "removed_as_of": None},
            {"partner": "pasarnusa", "listing_key": "PN2", "joined_date": "2019-03-04"},
            {"partner": "pasarnusa", "listing_key": "PN3", "scale": "mikro"},
            {"partner": "pasarnusa", "listing_key": "PN4", "removed_as_of": D3},
        ],
    }  # fmt: skip


@case
def refused_redelivery(c: Path) -> dict[str, Any]:
    land, again = c / "landing", c / "redelivery"
    pasarnusa(land, D1, [pn(1), pn(2)])
    pasarnusa(again, D1, [pn(1), pn(2), pn(3)], gzip_it=False)
    return {
        "contract": "a refused partner-day loads nothing and leaves what was loaded before untouched",
        "description": "2020-06-01 loads, then comes again as plain text named .gz: failed, the first content still counts",
        "runs": [
            {"landing": "landing", "start": D1, "end": D1, "steps": [["pasarnusa", D1, "loaded"]]},
            {"landing": "redelivery", "start": D1, "end": D1, "steps": [["pasarnusa", D1, "failed"]]},
        ],
        "partner_days": [failed("pasarnusa", D1, ["'pasarnusa/2020-06-01/sellers.csv.gz' is not gzip"])],
        "listings": [{"partner": "pasarnusa", "listing_key": "PN1"}, {"partner": "pasarnusa", "listing_key": "PN2"}],
    }  # fmt: skip


@case
def same_content_new_names(c: Path) -> dict[str, Any]:
    land, again = c / "landing", c / "redelivery"
    belanjaku(land, D1, [[bj(1), bj(2)], [bj(3)]])
    belanjaku(
        again, D1, [[bj(3)], [bj(1), bj(2)]], names=["part-00007.jsonl.gz", "part-00009.jsonl.gz"]
    )
    return {
        "contract": "the same content delivered again, under any file names: nothing changes",
        "description": "the same two parts delivered again, renamed and swapped in name order",
        "note": "the content hash ignores names and order, so the delivery is 'unchanged' even though the parts "
        "would now be read in another order (partners.md: 'under any file names: nothing changes')",
        "runs": [
            {"landing": "landing", "start": D1, "end": D1, "steps": [["belanjaku", D1, "loaded"]]},
            {"landing": "redelivery", "start": D1, "end": D1, "steps": [["belanjaku", D1, "unchanged"]]},
        ],
        "partner_days": [loaded("belanjaku", D1, 3, detail_null=True)],
    }  # fmt: skip


@case
def out_of_order_delivery(c: Path) -> dict[str, Any]:
    land = c / "landing"
    pasarnusa(land, D1, [pn(1), pn(2)])
    pasarnusa(land, D2, [pn(1), pn(2, business_scale="small"), pn(3)])
    pasarnusa(land, D3, [pn(1), pn(3)])
    return {
        "contract": "folders delivered late or loaded out of order: the same result as in order",
        "description": "2020-06-03 is loaded first, then 2020-06-01 and 2020-06-02",
        "runs": [
            {"landing": "landing", "start": D3, "end": D3, "steps": [["pasarnusa", D3, "loaded"]]},
            {"landing": "landing", "start": D1, "end": D2, "steps": [["pasarnusa", D1, "loaded"], ["pasarnusa", D2, "loaded"]]},
        ],
        "partner_days": [loaded("pasarnusa", D1, 2, detail_null=True), loaded("pasarnusa", D2, 3, detail_null=True),
                         loaded("pasarnusa", D3, 2, detail_null=True)],
        "listings": [
            {"partner": "pasarnusa", "listing_key": "PN1", "removed_as_of": None, "latest_export_date": D3},
            {"partner": "pasarnusa", "listing_key": "PN2", "removed_as_of": D3, "scale": "kecil", "latest_export_date": D2},
            {"partner": "pasarnusa", "listing_key": "PN3", "removed_as_of": None},
        ],
        "same_as_in_order": True,
        "published": True,
    }  # fmt: skip


def write_case(name: str) -> None:
    folder = CORPUS / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    expected = {"case": name} | CASES[name](folder)
    (folder / "expected.json").write_text(
        json.dumps(expected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def main(names: list[str]) -> None:
    for name in names or list(CASES):
        write_case(name)
    print(f"wrote {len(names or CASES)} cases under {CORPUS}")


if __name__ == "__main__":
    main(sys.argv[1:])
