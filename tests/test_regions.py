"""Region names and codes to Kemendagri codes (partners.md, tokoraya; metrics.md "Region")."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from pipelines.quality.regions import by_codes, by_names, ensure_reference


def _resolve(sql: str, raw0: list[str | None], raw1: list[str | None]) -> pl.DataFrame:
    """The resolution of these raw pairs, in their order."""
    con = duckdb.connect()
    ensure_reference(con)
    keys = pl.DataFrame({"raw0": raw0, "raw1": raw1, "i": range(len(raw0))},
                        schema={"raw0": pl.String, "raw1": pl.String, "i": pl.Int64})  # fmt: skip
    con.register("keys", keys.to_arrow())
    resolved = con.sql(sql).pl()
    return keys.join(resolved, on=["raw0", "raw1"], how="left", nulls_equal=True).sort("i")


def resolve_codes(regency: list[str | None], province: list[str | None]) -> pl.DataFrame:
    return _resolve(by_codes("c", "p"), regency, province)


def _names(province: str | None, regency: str | None) -> tuple[str | None, str | None]:
    row = _resolve(by_names("name"), [province], [regency]).row(0, named=True)
    return row["province_code"], row["regency_code"]


@pytest.mark.parametrize(
    "province",
    ["Jawa Barat", "JAWA BARAT", "jawa  barat", " Jawa Barat ", "Prov. Jawa Barat", "Provinsi Jawa Barat",
     "PROV JAWA BARAT", "Prov.Jawa Barat", "Jawa Barat, Provinsi"],
)  # fmt: skip
def test_province_spellings(province: str) -> None:
    """It matches a province name ignoring case, dots, extra spaces and a Prov./Provinsi prefix."""
    assert _names(province, None)[0] == "32"


@pytest.mark.parametrize(
    ("province", "code"),
    [("DKI Jakarta", "31"), ("D.K.I. Jakarta", "31"), ("Prov. DKI Jakarta", "31"),
     ("Daerah Khusus Ibukota Jakarta", "31"), ("DI Yogyakarta", "34"), ("D.I. Yogyakarta", "34"),
     ("Provinsi D.I. Yogyakarta", "34"), ("Daerah Istimewa Yogyakarta", "34")],
)  # fmt: skip
def test_dki_and_di_abbreviations(province: str, code: str) -> None:
    """It expands DKI/D.K.I. and DI/D.I. to Daerah Khusus Ibukota and Daerah Istimewa."""
    assert _names(province, None)[0] == code


@pytest.mark.parametrize(
    ("regency", "code"),
    [("Kabupaten Bogor", "32.01"), ("Kab. Bogor", "32.01"), ("KAB BOGOR", "32.01"), ("Bogor, Kabupaten", "32.01"),
     ("Bogor, Kab.", "32.01"), ("Kota Bogor", "32.71"), ("Bogor, Kota", "32.71"), ("kota  bogor", "32.71"),
     ("Kota Bandung", "32.73"), ("Bandung, Kota", "32.73"), ("Kab. Bandung", "32.04"), ("Bogor", None)],
)  # fmt: skip
def test_regency_spellings_within_province(regency: str, code: str | None) -> None:
    """It tells Kabupaten Bogor from Kota Bogor, accepts suffix forms, and leaves a bare Bogor unknown."""
    assert _names("Jawa Barat", regency) == ("32", code)


@pytest.mark.parametrize(
    ("regency", "code"),
    [("Kota Jakarta Pusat", "31.71"), ("Kota Administrasi Jakarta Pusat", "31.71"), ("Jakarta Pusat, Kota", "31.71"),
     ("Kab. Kepulauan Seribu", "31.01"), ("Kabupaten Administrasi Kepulauan Seribu", "31.01")],
)  # fmt: skip
def test_administrasi_may_be_left_out(regency: str, code: str) -> None:
    """It matches Jakarta's administrative cities with or without `Administrasi`."""
    assert _names("DKI Jakarta", regency) == ("31", code)


def test_a_bare_name_unique_in_its_province_matches() -> None:
    """It accepts a bare regency name when only one regency of the province has it."""
    assert _names("DI Yogyakarta", "Sleman") == ("34", "34.04")


def test_regency_is_matched_within_its_province_only() -> None:
    """It does not match a regency of another province, nor one without a province."""
    assert _names("Jawa Tengah", "Kota Bandung") == ("33", None)
    assert _names(None, "Kota Bandung") == (None, None)
    assert _names("Atlantis", "Kota Bandung") == (None, None)


def test_codes_resolve_to_regency_and_province() -> None:
    """It reads `32.73` and `3273`, falls back to a code's first two digits for the province."""
    out = resolve_codes(["32.73", "3273", "32.99", "99.01", "32", "x", None, None],
                        [None, None, None, None, None, None, "32", "99"])  # fmt: skip
    assert out["regency_code"].to_list() == ["32.73", "32.73", None, None, None, None, None, None]
    assert out["province_code"].to_list() == ["32", "32", "32", None, "32", None, "32", None]
    assert out["region_problem"].to_list() == [
        None, None, "regency code not in reference", "regency code not in reference", None,
        "regency code not in reference", None, "province code not in reference",
    ]  # fmt: skip


def test_province_field_wins_over_the_regency_code() -> None:
    """It takes the province from the record's province field when that names a province."""
    assert resolve_codes(["3273"], ["33"])["province_code"].to_list() == ["33"]
