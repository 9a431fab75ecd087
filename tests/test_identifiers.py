"""Identifier rules of partners.md and keyed pseudonyms."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.quality.identifiers import (
    hmac_hex,
    nib_problem,
    nik_problem,
    normalise_phone,
    pads,
    phone_problem,
    pseudonym,
)
from tests.sql_eval import values


def _nik(niks: list[str | None], numeric: list[bool] | None = None) -> list[object]:
    if numeric:
        return values(lambda v, n: nik_problem(v, n), niks, numeric)
    return values(nik_problem, niks)


@pytest.mark.parametrize(
    ("nik", "problem"),
    [
        ("3273014101900001", None),  # a woman born 1 January 1990 (day 41 = 1 + 40)
        ("3273010101900001", None),
        ("3273017101900001", None),  # day 71 = 31 for a woman
        ("3273012902000001", None),  # 29 February 2000: YY 00 is divisible by 4
        ("3273016902040001", None),  # 29 February 2004 for a woman
        ("3273012902010001", "birth date digits are not a real date"),
        ("3273013102900001", "birth date digits are not a real date"),  # 31 February
        ("3273013204900001", "birth date digits are not a real date"),  # 32nd
        ("3273010113900001", "birth date digits are not a real date"),  # month 13
        (
            "3273013704900001",
            "birth date digits are not a real date",
        ),  # day 37: neither man nor woman
        ("9973010101900001", "first two digits are not a province code"),
        ("3299990101900001", None),  # district digits are not checked
        ("327301010190000", "not 16 digits"),  # cut to 15 digits
        ("3.27301E+15", "scientific notation (spreadsheet damage)"),
        ("3,27301E+15", "scientific notation (spreadsheet damage)"),
        (" 3273010101900001 ", None),
        ("", "absent"),
        (None, "absent"),
    ],
)
def test_nik_rules(nik: str | None, problem: str | None) -> None:
    """It judges a NIK by its province prefix and its encoded birth date, per partners.md."""
    assert _nik([nik]) == [problem]


def test_nik_from_a_numeric_cell_is_invalid_whatever_its_digits() -> None:
    """It refuses a NIK that was a numeric spreadsheet cell, even one with 16 valid digits."""
    assert _nik(["3273010101900001"], [True]) == ["numeric spreadsheet cell (precision lost)"]


@pytest.mark.parametrize(
    ("raw", "normalised", "valid"),
    [
        ("0812-3456-7890", "6281234567890", True),
        ("+62 812 3456 7890", "6281234567890", True),
        ("(0812) 3456.7890", "6281234567890", True),
        ("62812345678", "62812345678", True),  # 62 + 9 digits
        ("81234567890", "6281234567890", True),  # lost its leading 0
        ("081234567890123", "6281234567890123", False),  # 13 digits after 62
        ("0712345678", "62712345678", False),  # not a mobile number
        ("+6312345678", "+6312345678", False),
        ("0812 ABC", "62812ABC", False),
    ],
)
def test_phone_normalisation(raw: str, normalised: str, valid: bool) -> None:
    """It normalises a phone as partners.md says and accepts only 62 + 9-12 digits from 8."""
    assert values(normalise_phone, [raw]) == [normalised]
    assert (values(lambda p: phone_problem(p, normalise_phone(p)), [raw]) == [None]) == valid


def test_nib_needs_13_digits() -> None:
    """It accepts a 13-digit NIB only."""
    got = values(nib_problem, ["1234567890123", "123456789012", "12345678901234", "", None])
    assert got == [None, "not 13 digits", "not 13 digits", "absent", "absent"]


def test_pseudonyms_are_hmac_sha256_of_kind_and_value() -> None:
    """It replaces values by HMAC-SHA256(key, "kind:value") inside DuckDB, nulls kept null; the
    key reaches the query as parameters (its pads), never as text."""

    def run(key: bytes, kind: str, vals: list[str | None]) -> list[object]:
        ipad, opad = pads(key)
        con = duckdb.connect()
        sql = f"SELECT {pseudonym(kind, 'v')} FROM (SELECT unnest($vals::VARCHAR[]) AS v)"
        assert key.decode() not in sql
        return [
            r[0] for r in con.execute(sql, {"vals": vals, "ipad": ipad, "opad": opad}).fetchall()
        ]

    assert run(b"k3y", "nik", ["3273010101900001", None]) == [
        hmac_hex(b"k3y", "nik", "3273010101900001"),
        None,
    ]
    assert run(b"k3y", "phone", ["6281234567890"]) == [hmac_hex(b"k3y", "phone", "6281234567890")]
    assert run(b"other", "nik", ["3273010101900001"]) != run(b"k3y", "nik", ["3273010101900001"])
    long_key = b"x" * 100  # longer than a block: hashed first, as RFC 2104 says
    assert run(long_key, "nik", ["1"]) == [hmac_hex(long_key, "nik", "1")]
