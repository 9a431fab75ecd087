"""Identifier rules (partners.md "Identifiers") and keyed pseudonyms for personal data.

NIK and phone numbers are judged on their raw text, then replaced by HMAC-SHA256 pseudonyms
before anything leaves the read step. All rules are Polars expressions (column-wise); the HMAC
runs inside DuckDB (SQL sha256 over the standard HMAC construction), vectorised as well.
"""

from __future__ import annotations

import hashlib
import hmac

import polars as pl

from pipelines import reference, scratch

# Why an identifier is not valid; `None` in the status column means "valid", "absent" means empty.
ABSENT = "absent"

_DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def clean_text(expr: pl.Expr) -> pl.Expr:
    """Trim, and turn empty strings into null."""
    stripped = expr.cast(pl.String).str.strip_chars()
    return pl.when(stripped == "").then(None).otherwise(stripped)


def nik_problem(
    nik: pl.Expr, numeric_cell: pl.Expr | None = None, cleaned: bool = False
) -> pl.Expr:
    """Why a raw NIK is invalid (`absent`, `not 16 digits`, ...), or null when it is valid.

    Digits 1-2 must be a province code; digits 7-12 a DDMMYY birth date with 40 added to the
    day for women; 29 February only when YY is divisible by 4. A NIK that was a numeric
    spreadsheet cell lost precision and is invalid whatever it looks like.
    """
    s = nik if cleaned else clean_text(nik)  # pass a materialised clean column on big frames
    dd = s.str.slice(6, 2).cast(pl.Int32, strict=False)
    mm = s.str.slice(8, 2).cast(pl.Int32, strict=False)
    yy = s.str.slice(10, 2).cast(pl.Int32, strict=False)
    day = pl.when(dd > 40).then(dd - 40).otherwise(dd)
    max_day = (
        pl.when(mm == 2)
        .then(pl.when(yy % 4 == 0).then(29).otherwise(28))
        .otherwise(pl.lit(pl.Series(_DAYS_IN_MONTH)).get((mm - 1).clip(0, 11)))
    )
    day_ok = ((dd.is_between(1, 31)) | (dd.is_between(41, 71))) & (day <= max_day)
    province_ok = s.str.slice(0, 2).is_in(reference.provinces()["code"].implode())
    problem = (
        pl.when(s.is_null())
        .then(pl.lit(ABSENT))
        .when(s.str.contains(r"(?i)^[0-9]+([.,][0-9]+)?e\+?[0-9]+$"))
        .then(pl.lit("scientific notation (spreadsheet damage)"))
        .when(~s.str.contains(r"^[0-9]{16}$"))
        .then(pl.lit("not 16 digits"))
        .when(~province_ok)
        .then(pl.lit("first two digits are not a province code"))
        .when(~mm.is_between(1, 12) | ~day_ok)
        .then(pl.lit("birth date digits are not a real date"))
        .otherwise(None)
    )
    if numeric_cell is not None:
        problem = (
            pl.when(s.is_not_null() & numeric_cell)
            .then(pl.lit("numeric spreadsheet cell (precision lost)"))
            .otherwise(problem)
        )
    return problem


def normalise_phone(phone: pl.Expr) -> pl.Expr:
    """Remove spaces, dots, dashes, parentheses; `+62`/`62` stay `62`, `0` and `8` become `62`/`628`."""
    s = clean_text(phone).str.replace_all(r"[\s.\-()]", "")
    # one rewrite after another (each refers to the previous once): +62 -> 62, 0 -> 62, 8 -> 628
    return s.str.replace(r"^\+62", "62").str.replace(r"^0", "62").str.replace(r"^8", "628")


def phone_problem(phone: pl.Expr) -> pl.Expr:
    """Why a raw phone is invalid, or null when its normalised form is `62` + 9-12 digits from `8`."""
    return phone_verdict(clean_text(phone).is_null(), normalise_phone(phone))


def phone_verdict(absent: pl.Expr, normalised: pl.Expr) -> pl.Expr:
    """`phone_problem` from already computed parts (no recomputation on big frames)."""
    return (
        pl.when(absent)
        .then(pl.lit(ABSENT))
        .when(~normalised.str.contains(r"^628[0-9]{8,11}$"))
        .then(pl.lit("not an Indonesian mobile number"))
        .otherwise(None)
    )


def nib_problem(nib: pl.Expr) -> pl.Expr:
    """Why a NIB is invalid (13 digits expected), or null when valid."""
    s = clean_text(nib)
    return (
        pl.when(s.is_null())
        .then(pl.lit(ABSENT))
        .when(~s.str.contains(r"^[0-9]{13}$"))
        .then(pl.lit("not 13 digits"))
        .otherwise(None)
    )


def _pads(key: bytes) -> tuple[bytes, bytes]:
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def hmac_hex(key: bytes, kind: str, value: str) -> str:
    """The pseudonym of one value (reference implementation; the pipeline uses `pseudonymise`)."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def pseudonymise(frame: pl.DataFrame, columns: dict[str, str], key: bytes) -> pl.DataFrame:
    """Replace each text column by HMAC-SHA256(key, "<kind>:<value>") in hex (nulls stay null).

    `columns` maps column name to kind ("nik", "phone"); the kind separates the namespaces.
    Runs as one vectorised DuckDB query over the Arrow data; the key travels as a parameter.
    """
    if not columns or frame.height == 0:
        return frame.with_columns(pl.col(c).cast(pl.String) for c in columns)
    ipad, opad = _pads(key)
    con = scratch.cursor()
    try:
        con.register("frame", frame.select(list(columns)).to_arrow())
        exprs = ", ".join(
            f'sha256($opad || unhex(sha256($ipad || encode(\'{kind}:\' || "{col}")))) AS "{col}"'
            for col, kind in columns.items()
        )
        hashed = pl.from_arrow(
            con.sql(
                f"SELECT {exprs} FROM frame", params={"ipad": ipad, "opad": opad}
            ).to_arrow_table()
        )
    finally:
        con.close()
    assert isinstance(hashed, pl.DataFrame)
    return frame.with_columns(hashed.get_column(c) for c in columns)
