"""Regions: Kemendagri codes and partners' region names to reference codes (metrics.md "Region").

Worked out in DuckDB once per distinct pair of raw values of a partner-day (a few hundred at
most), then joined back to every record. Names are compared in a normalised form (lower case,
dots and extra spaces gone, `Prov.`/`Kab.`/`Kota` prefixes or `Bandung, Kota` suffixes,
`DKI`/`DI` spelled out, `Administrasi` optional), the reference's names the same way.
"""

from __future__ import annotations

import threading
from functools import cache

import duckdb

from pipelines import reference
from pipelines.quality.sql import WHITESPACE_CLASS, clean, lit

_S = f"[{WHITESPACE_CLASS}]"


def _squash(expr: str) -> str:
    """Lower case; `D.K.I.`/`D.I.` to `dki`/`di`; other dots to spaces; spaces collapsed."""
    s = f"lower({expr})"
    s = f"regexp_replace({s}, '\\bd{_S}*\\.{_S}*k{_S}*\\.{_S}*i\\b\\.?', ' dki ', 'g')"
    s = f"regexp_replace({s}, '\\bd{_S}*\\.{_S}*i\\b\\.?', ' di ', 'g')"
    s = f"replace({s}, '.', ' ')"
    return f"trim(regexp_replace({s}, '{_S}+', ' ', 'g'))"


def province_key(name: str) -> str:
    """Comparable form of a province name: `Prov. DKI Jakarta` -> `daerah khusus ibukota jakarta`."""
    s = _squash(name)
    s = f"regexp_replace({s}, '^(.*?) ?, ?(provinsi|prov)$', '\\1')"
    s = f"regexp_replace({s}, '^(provinsi|prov) +', '')"
    s = f"regexp_replace({s}, '^dki +', 'daerah khusus ibukota ')"
    return f"regexp_replace({s}, '^di +', 'daerah istimewa ')"


def regency_kind_and_base(name: str) -> tuple[str, str]:
    """(`kab`|`kota`|NULL, base name) of a regency name, prefix or `Bandung, Kota` suffix form."""
    s = f"regexp_replace({_squash(name)}, '^(.*?) ?, ?(kabupaten|kab|kota)$', '\\2 \\1')"
    kind = (
        f"(CASE WHEN regexp_matches({s}, '^(kabupaten|kab) ') THEN 'kab' "
        f"WHEN regexp_matches({s}, '^kota ') THEN 'kota' END)"
    )
    base = f"regexp_replace(regexp_replace({s}, '^(kabupaten|kab|kota) +', ''), '^(administrasi|adm) +', '')"
    return kind, base


REFERENCE = "umkm_reference"  # the in-memory database of the reference lookups
_reference_lock = threading.Lock()


def ensure_reference(con: duckdb.DuckDBPyConnection) -> None:
    """The reference lookups (`umkm_reference.provinces`, `.regencies`) in this DuckDB instance:
    an in-memory database attached once, which every connection of the instance sees (the
    staging cursors, and the cursors Great Expectations queries through)."""
    with _reference_lock:
        if con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'regencies'",
            [REFERENCE],
        ).fetchall()[0][0]:
            return
        con.register("provinces_in", reference.provinces().to_arrow())
        con.register("regencies_in", reference.regencies().to_arrow())
        kind, base = regency_kind_and_base("name")
        con.execute(
            f"""ATTACH IF NOT EXISTS ':memory:' AS {REFERENCE};
                CREATE OR REPLACE TABLE {REFERENCE}.provinces AS
                SELECT code, name, {province_key("name")} AS pkey FROM provinces_in;
                CREATE OR REPLACE TABLE {REFERENCE}.regencies AS
                SELECT code, province_code, name, {kind} AS rkind, {base} AS rbase FROM regencies_in;"""
        )
        con.unregister("provinces_in")
        con.unregister("regencies_in")


@cache
def _codes_sql() -> tuple[str, str]:
    provinces = ", ".join(lit(c) for c in reference.provinces()["code"].to_list())
    regencies = ", ".join(lit(c) for c in reference.regencies()["code"].to_list())
    return f"({provinces})", f"({regencies})"


def _two_digits(s: str) -> str:
    """A province code zero-padded to two digits (a spreadsheet number cell `32.0` reads `32`
    when its contract column says `excel_numeric: keeps_digits`, intake/read.py)."""
    return f"(CASE WHEN length({s}) < 2 THEN lpad({s}, 2, '0') ELSE {s} END)"


def by_codes(regency: str | None, province: str | None, keys: str = "keys") -> str:
    """SELECT over `keys(raw0, raw1)` (regency code text, province code text) giving
    raw0, raw1, regency_code (`32.73`), province_code (`32`), region_problem.

    Regency: a 4-digit code (`32.73`, `3273`, 3273) found in regencies.csv. Province: the
    record's province code when it is one, else the regency code's first two digits."""
    provinces, regencies = _codes_sql()
    reg = clean("raw0") if regency else "NULL::VARCHAR"
    prov = clean("raw1") if province else "NULL::VARCHAR"
    return f"""
    SELECT raw0, raw1, regency_code, province_code, region_problem FROM (
      SELECT *, CASE WHEN province IN {provinces} THEN province END AS province_code,
             CASE WHEN prov IS NOT NULL AND prov_code IS NULL THEN 'province code not in reference'
                  WHEN reg IS NOT NULL AND regency_code IS NULL AND digits NOT IN {provinces}
                  THEN 'regency code not in reference' END AS region_problem
      FROM (
        SELECT *, coalesce(prov_code, substr(regency_code, 1, 2),
                           CASE WHEN regexp_matches(digits, '^[0-9]{{2}}') THEN substr(digits, 1, 2) END) AS province
        FROM (
          SELECT *, CASE WHEN regexp_full_match(digits, '[0-9]{{4}}')
                          AND substr(digits, 1, 2) || '.' || substr(digits, 3, 2) IN {regencies}
                         THEN substr(digits, 1, 2) || '.' || substr(digits, 3, 2) END AS regency_code,
                    CASE WHEN {_two_digits("prov")} IN {provinces} THEN {_two_digits("prov")} END AS prov_code
          FROM (SELECT raw0, raw1, reg, prov, replace(reg, '.', '') AS digits
                FROM (SELECT raw0, raw1, {reg} AS reg, {prov} AS prov FROM {keys})))))"""


def by_names(province: str, keys: str = "keys") -> str:
    """SELECT over `keys(raw0, raw1)` (province field text, regency name text) giving raw0,
    raw1, regency_code, province_code, region_problem. The province field is a name
    (`province == "name"`) or a code (`"code"`); a regency name is matched within that
    province, with or without `Kabupaten`/`Kota` (a bare name counts only when it is the only
    regency of that name in the province)."""
    provinces, _ = _codes_sql()
    kind, base = regency_kind_and_base("rraw")
    if province == "code":
        pcode = f"CASE WHEN {_two_digits('praw')} IN {provinces} THEN {_two_digits('praw')} END"
        with_province = f"SELECT *, {pcode} AS pcode FROM named"
    else:
        with_province = f"""SELECT n.*, p.code AS pcode FROM named n
                            LEFT JOIN {REFERENCE}.provinces p ON p.pkey = {province_key("n.praw")}"""
    return f"""
    WITH named AS (SELECT raw0, raw1, {clean("raw0")} AS praw, {clean("raw1")} AS rraw FROM {keys}),
         placed AS ({with_province}),
         parts AS (SELECT *, {kind} AS rkind, {base} AS rbase FROM placed),
         bare AS (SELECT province_code, rbase, any_value(code) AS code FROM {REFERENCE}.regencies
                  GROUP BY ALL HAVING count(*) = 1),
         matched AS (
           SELECT parts.*, CASE WHEN parts.rkind IS NULL THEN b.code ELSE e.code END AS regency_code
           FROM parts
           LEFT JOIN {REFERENCE}.regencies e ON e.province_code = parts.pcode AND e.rkind = parts.rkind AND e.rbase = parts.rbase
           LEFT JOIN bare b ON b.province_code = parts.pcode AND b.rbase = parts.rbase)
    SELECT raw0, raw1, regency_code, pcode AS province_code,
           CASE WHEN praw IS NOT NULL AND pcode IS NULL THEN 'province not recognised'
                WHEN rraw IS NOT NULL AND regency_code IS NULL THEN 'regency not recognised in its province'
           END AS region_problem
    FROM matched"""
