"""Identifier rules (partners.md "Identifiers") and keyed pseudonyms for personal data, as SQL.

NIK and phone numbers are judged on their raw text, then replaced by HMAC-SHA256 pseudonyms in
the same pass that reads them, so no raw value is ever stored, not even in a scratch table.
Each function takes SQL expressions of already cleaned text (see `sql.clean`) and returns one.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cache

from pipelines import reference
from pipelines.quality.sql import WHITESPACE_CLASS, case, lit, text_list

# Why an identifier is not valid; NULL means "valid", `absent` means empty.
ABSENT = "absent"
_DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


@cache
def _province_codes() -> str:
    return text_list(reference.provinces()["code"].to_list())


def nik_problem(nik: str, numeric_cell: str | None = None) -> str:
    """Why a cleaned NIK is invalid (`absent`, `not 16 digits`, ...), NULL when it is valid.

    Digits 1-2 must be a province code; digits 7-12 a DDMMYY birth date with 40 added to the
    day for women; 29 February only when YY is divisible by 4. A NIK that was a numeric
    spreadsheet cell lost precision and is invalid whatever it looks like.
    """
    dd = f"TRY_CAST(substr({nik}, 7, 2) AS INTEGER)"
    mm = f"TRY_CAST(substr({nik}, 9, 2) AS INTEGER)"
    yy = f"TRY_CAST(substr({nik}, 11, 2) AS INTEGER)"
    day = f"(CASE WHEN {dd} > 40 THEN {dd} - 40 ELSE {dd} END)"
    max_day = (
        f"(CASE WHEN {mm} = 2 THEN (CASE WHEN {yy} % 4 = 0 THEN 29 ELSE 28 END) "
        f"ELSE {_DAYS_IN_MONTH}[greatest(least({mm}, 12), 1)] END)"
    )
    day_ok = f"(({dd} BETWEEN 1 AND 31 OR {dd} BETWEEN 41 AND 71) AND {day} <= {max_day})"
    branches = [
        (f"{nik} IS NULL", lit(ABSENT)),
        (f"regexp_full_match({nik}, '(?i)[0-9]+([.,][0-9]+)?e\\+?[0-9]+')",
         lit("scientific notation (spreadsheet damage)")),
        (f"NOT regexp_full_match({nik}, '[0-9]{{16}}')", lit("not 16 digits")),
        (f"NOT list_contains({_province_codes()}, substr({nik}, 1, 2))",
         lit("first two digits are not a province code")),
        (f"NOT ({mm} BETWEEN 1 AND 12) OR NOT {day_ok}", lit("birth date digits are not a real date")),
    ]  # fmt: skip
    if numeric_cell is not None:
        branches.insert(1, (f"{numeric_cell}", lit("numeric spreadsheet cell (precision lost)")))
    return case(*branches)


def normalise_phone(phone: str) -> str:
    """Remove spaces, dots, dashes, parentheses; `+62`/`62` stay `62`, `0` and `8` become `62`/`628`."""
    s = f"regexp_replace({phone}, '[{WHITESPACE_CLASS}.\\-()]', '', 'g')"
    # one rewrite after another: +62 -> 62, then 0 -> 62, then 8 -> 628
    return f"regexp_replace(regexp_replace(regexp_replace({s}, '^\\+62', '62'), '^0', '62'), '^8', '628')"


def phone_problem(phone: str, normalised: str, numeric_cell: str | None = None) -> str:
    """Why a phone is invalid, NULL when its normalised form is `62` + 9-12 digits from `8`
    (and it was no numeric spreadsheet cell that lost precision)."""
    branches = [
        (f"{phone} IS NULL", lit(ABSENT)),
        (f"NOT regexp_full_match({normalised}, '628[0-9]{{8,11}}')", lit("not an Indonesian mobile number")),
    ]  # fmt: skip
    if numeric_cell is not None:
        branches.insert(1, (f"{numeric_cell}", lit("numeric spreadsheet cell (precision lost)")))
    return case(*branches)


def nib_problem(nib: str) -> str:
    """Why a cleaned NIB is invalid (13 digits expected), NULL when valid."""
    return case(
        (f"{nib} IS NULL", lit(ABSENT)),
        (f"NOT regexp_full_match({nib}, '[0-9]{{13}}')", lit("not 13 digits")),
    )


def pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer pads for `key` (RFC 2104), passed to SQL as parameters."""
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def pseudonym(kind: str, value: str) -> str:
    """HMAC-SHA256(key, "<kind>:<value>") in hex, in SQL (NULL stays NULL); the key's pads come
    as the parameters $ipad and $opad, never as text in the query."""
    return f"sha256($opad || unhex(sha256($ipad || encode({lit(kind + ':')} || {value}))))"


def hmac_hex(key: bytes, kind: str, value: str) -> str:
    """The pseudonym of one value (reference implementation; the pipeline uses `pseudonym`)."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
