"""Identifier rules of partners.md and keyed pseudonyms."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.quality.identifiers import (
    hmac_hex,
    nib_problem,
    nik_problem,
    normalise_phone,
    phone_problem,
    pseudonymise,
)


def _nik(values: list[str | None], numeric: list[bool] | None = None) -> list[str | None]:
    frame = pl.DataFrame(
        {"v": values, "n": numeric or [False] * len(values)},
        schema={"v": pl.String, "n": pl.Boolean},
    )
    return (
        frame.select(nik_problem(pl.col("v"), pl.col("n") if numeric else None))
        .to_series()
        .to_list()
    )


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
    frame = pl.DataFrame({"p": [raw]})
    got = frame.select(
        normalise_phone(pl.col("p")).alias("n"), phone_problem(pl.col("p")).alias("x")
    ).row(0)
    assert got[0] == normalised
    assert (got[1] is None) == valid


def test_nib_needs_13_digits() -> None:
    """It accepts a 13-digit NIB only."""
    got = pl.DataFrame({"n": ["1234567890123", "123456789012", "12345678901234", "", None]}).select(
        nib_problem(pl.col("n"))
    )
    assert got.to_series().to_list() == [None, "not 13 digits", "not 13 digits", "absent", "absent"]


def test_pseudonyms_are_hmac_sha256_of_kind_and_value() -> None:
    """It replaces values by HMAC-SHA256(key, "kind:value"), vectorised, nulls kept null."""
    frame = pl.DataFrame(
        {"nik_ps": ["3273010101900001", None], "phone_ps": ["6281234567890", "6281234567890"]}
    )
    out = pseudonymise(frame, {"nik_ps": "nik", "phone_ps": "phone"}, b"k3y")
    assert out["nik_ps"].to_list() == [hmac_hex(b"k3y", "nik", "3273010101900001"), None]
    assert out["phone_ps"][0] == out["phone_ps"][1] == hmac_hex(b"k3y", "phone", "6281234567890")
    assert pseudonymise(frame, {"nik_ps": "nik"}, b"other")["nik_ps"][0] != out["nik_ps"][0]
