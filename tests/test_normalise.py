"""Record rules (quarantine), attribute warnings, listing keys and day records, on inline frames."""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from pipelines import canonical
from pipelines.contracts import Contract, load_contracts
from pipelines.quality.normalise import canonical_records, listing_day_sql

CANONICAL_COLUMNS = canonical.names(canonical.record_columns())

EXPORT = date(2024, 1, 10)
PS = "a" * 64  # a pseudonym stands in for a valid NIK or phone


def raw(partner: str, rows: list[dict[str, object]]) -> pl.LazyFrame:
    """A read-step frame: text fields named by canonical field, verdicts and pseudonyms."""
    contract = load_contracts()[partner]
    fields = [c.field for c in contract.columns if not c.pii]
    base: dict[str, object] = {f: None for f in fields} | {
        "_file": "f", "_file_index": 0, "_malformed": None, "nik_ps": None, "nik_problem": "absent",
        "phone_ps": None, "phone_problem": "absent",
    }  # fmt: skip
    data = [base | {"_row": i + 1} | row for i, row in enumerate(rows)]
    schema = {k: pl.String for k in data[0]} | {"_row": pl.Int64, "_file_index": pl.Int32}
    return pl.DataFrame(data, schema=schema).lazy()


def run(partner: str, rows: list[dict[str, object]]) -> pl.DataFrame:
    """The canonical records DuckDB makes of these raw rows."""
    con = duckdb.connect()
    con.register("raw_in", raw(partner, rows).collect().to_arrow())
    con.execute("CREATE TABLE raw AS SELECT * FROM raw_in")
    return con.sql(canonical_records(con, load_contracts()[partner], EXPORT, "raw", [0])).pl()


def listing_day_records(records: pl.DataFrame, contract: Contract) -> pl.DataFrame:
    """The day's one row per listing, from canonical records."""
    con = duckdb.connect()
    con.register("records", records.to_arrow())
    # idents as text: Arrow has no 128-bit unsigned integer
    day = listing_day_sql(contract, "records")
    return con.sql(
        f"SELECT * REPLACE (list_transform(idents, lambda x: x::VARCHAR) AS idents) FROM ({day})"
    ).pl()


def ident(kind: int, value: int) -> str:
    """An identifier's integer key (pipelines/canonical.py), its kind in the top two bits, as text."""
    return str((kind << 126) | value)


PS_KEY = int(PS[:32], 16) & ((1 << 126) - 1)  # the key of the pseudonym PS


def test_output_has_the_canonical_columns() -> None:
    """It produces exactly the canonical columns, in order."""
    assert (
        run(
            "pasarnusa", [{"listing_key": "PN1", "nib": "1234567890123", "joined": "2021-01-01"}]
        ).columns
        == CANONICAL_COLUMNS
    )


def test_quarantine_rules_in_order() -> None:
    """It quarantines for no key, no valid identifier, and a missing, bad, future or pre-2009 date."""
    ok = {"nib": "1234567890123"}
    out = run("pasarnusa", [
        {"listing_key": None, "joined": "2021-01-01", **ok},
        {"listing_key": "PN2", "joined": "2021-01-01"},
        {"listing_key": "PN3", "joined": None, **ok},
        {"listing_key": "PN4", "joined": "yesterday", **ok},
        {"listing_key": "PN5", "joined": "2024-01-11T00:00:00+07:00", **ok},
        {"listing_key": "PN6", "joined": "2008-12-31", **ok},
        {"listing_key": "PN7", "joined": "2009-01-01", **ok},
        {"listing_key": "PN8", "joined": "2024-01-10T23:59:59+07:00", **ok},
        {"listing_key": "PN9", "joined": "2024-01-10T17:00:00Z", **ok},  # 00:00 on the 11th in Jakarta
        {"listing_key": "PN10", "joined": "2021-01-01", "_malformed": "too many fields"},
    ])  # fmt: skip
    assert out["quarantine_rule"].to_list() == [
        "no listing key", "no valid identifier", "joined date missing", "joined date unparseable",
        "joined date after the export date", "joined date before 2009-01-01", None, None,
        "joined date after the export date", "malformed record: too many fields",
    ]  # fmt: skip
    assert out["quarantine_column"].to_list()[:4] == [
        "seller_id",
        "nib/owner_nik/owner_phone",
        "joined_at",
        "joined_at",
    ]


def test_an_invalid_identifier_is_a_warning_when_another_is_valid() -> None:
    """It keeps a record with one valid identifier and warns about the damaged one."""
    out = run("pasarnusa", [{"listing_key": "PN1", "joined": "2021-01-01", "phone_ps": PS, "phone_problem": None,
                             "nik_problem": "scientific notation (spreadsheet damage)", "nib": "12345"}])  # fmt: skip
    row = out.row(0, named=True)
    assert row["quarantine_rule"] is None
    assert row["warnings"] == [
        "owner_nik: scientific notation (spreadsheet damage)",
        "nib: not 13 digits",
    ]
    assert row["nib"] is None and row["phone_ps"] == PS


def test_attribute_defects_blank_the_attribute_and_warn() -> None:
    """It blanks an unknown region, scale, sector or bad turnover, warns, and still loads the record."""
    out = run("tokoraya", [
        {"listing_key": "T1", "nib": "1234567890123", "joined": "1/2/2021", "province_name": "Atlantis",
         "regency_name": "Kota X", "scale": "Raksasa", "turnover": "satu juta"},
        {"listing_key": "T2", "nib": "1234567890123", "joined": "1/2/2021", "province_name": "Jawa Barat",
         "regency_name": "Bogor", "scale": "mikro", "turnover": "-"},
    ])  # fmt: skip
    first, second = out.rows(named=True)
    assert first["quarantine_rule"] is None
    assert (first["province_code"], first["scale"], first["turnover_idr"]) == (None, None, None)
    assert first["warnings"] == ["region: province not recognised", "Skala Usaha: scale not recognised",
                                 "Omzet Bulanan (Rp): bad turnover"]  # fmt: skip
    assert (second["province_code"], second["regency_code"]) == ("32", None)
    assert second["warnings"] == ["region: regency not recognised in its province"]


def test_empty_optional_fields_are_not_warnings() -> None:
    """It does not warn about an attribute the partner left empty."""
    out = run("pasarnusa", [{"listing_key": "PN1", "nib": "1234567890123", "joined": "2021-01-01", "kbli": "",
                             "region_code": None, "scale": None}])  # fmt: skip
    assert out["warnings"].to_list() == [[]]


def test_lapakdesa_key_is_nib_else_nik_with_normalised_name() -> None:
    """It keys a lapakdesa seller by valid NIB, else NIK pseudonym, with the name trimmed, collapsed, folded."""
    out = run("lapakdesa", [
        {"name": "  Lapak   BU Sri ", "nib": "1234567890123", "nik_ps": PS, "nik_problem": None, "joined": "05-01-2024"},
        {"name": "Lapak Dua", "nib": "12", "nik_ps": PS, "nik_problem": None, "joined": "05-01-2024"},
        {"name": "Lapak Tiga", "nib": None, "phone_ps": PS, "phone_problem": None, "joined": "05-01-2024"},
        {"name": None, "nib": "1234567890123", "joined": "05-01-2024"},
    ])  # fmt: skip
    assert out["listing_key"].to_list() == [
        "nib:1234567890123|lapak bu sri",
        f"nik:{PS}|lapak dua",
        None,
        None,
    ]
    assert out["tie_name"].to_list() == ["lapak bu sri", "lapak dua", "lapak tiga", None]
    assert out["quarantine_rule"].to_list() == [
        None,
        None,
        "no listing key (no valid NIB or NIK)",
        "no listing key",
    ]


def test_belanjaku_deleted_event_is_loaded_without_validation() -> None:
    """It loads a `deleted` line carrying only merchant.id, without record rules or warnings."""
    out = run(
        "belanjaku",
        [
            {"event": "deleted", "listing_key": "9007199254740993"},
            {"event": "Deleted", "listing_key": None},
        ],
    )
    assert out.select("is_deletion", "quarantine_rule", "warnings").rows() == [
        (True, None, []),
        (True, None, []),
    ]


def test_same_seller_twice_last_row_wins_but_both_load() -> None:
    """It counts both rows of a seller as loaded; the day's record is the last, with both rows' identifiers."""
    contract = load_contracts()["tokoraya"]
    records = run("tokoraya", [
        {"listing_key": "T1", "nib": "1234567890123", "joined": "1/2/2021", "scale": "mikro"},
        {"listing_key": "T1", "phone_ps": PS, "phone_problem": None, "joined": "3/2/2021", "scale": "kecil"},
    ])  # fmt: skip
    assert records["quarantine_rule"].null_count() == 2
    day = listing_day_records(records, contract).row(0, named=True)
    assert (day["joined_date"], day["scale"]) == (date(2021, 2, 3), "kecil")
    assert sorted(day["idents"], key=int) == sorted(
        [ident(1, 1234567890123), ident(3, PS_KEY)], key=int
    )


def test_kedaiantar_brand_takes_its_earliest_valid_outlet() -> None:
    """It makes a brand's record from its valid outlets: earliest date, that outlet's region, all identifiers."""
    contract = load_contracts()["kedaiantar"]
    records = run("kedaiantar", [
        {"record_key": "O3", "listing_key": "B1", "nib": "1234567890123", "joined": "2022-05-01", "province_code": "32", "region_code": "3273"},
        {"record_key": "O2", "listing_key": "B1", "phone_ps": PS, "phone_problem": None, "joined": "2021-05-01", "province_code": "33", "region_code": "3374"},
        {"record_key": "O1", "listing_key": "B1", "nik_ps": PS, "nik_problem": None, "joined": "2021-05-01", "province_code": "34", "region_code": "3471"},
        {"record_key": "O0", "listing_key": "B1", "joined": "2020-01-01", "province_code": "35"},  # no identifier: quarantined
    ])  # fmt: skip
    day = listing_day_records(records, contract).row(0, named=True)
    assert (day["joined_date"], day["province_code"], day["regency_code"]) == (
        date(2021, 5, 1),
        "34",
        "34.71",
    )
    assert sorted(day["idents"], key=int) == sorted(
        [ident(1, 1234567890123), ident(2, PS_KEY), ident(3, PS_KEY)], key=int
    )


def test_ekatalog_needs_no_identifier() -> None:
    """It quarantines an e-catalogue vendor only for a missing code or a bad listing date."""
    out = run("lkpp-ekatalog", [
        {"listing_key": "K1", "joined": "2023-01-01", "scale": "Non UMKM", "products": "5"},
        {"listing_key": None, "joined": "2023-01-01"},
        {"listing_key": "K3", "joined": "2024-01-11"},
        {"listing_key": "K4", "joined": "2023-01-01", "products": "lima"},
    ])  # fmt: skip
    assert out["quarantine_rule"].to_list() == [
        None,
        "no listing key",
        "joined date after the export date",
        None,
    ]
    assert out["scale"].to_list()[0] == "non_umkm"
    assert out["warnings"].to_list()[3] == ["jumlah_produk: not a whole number"]
