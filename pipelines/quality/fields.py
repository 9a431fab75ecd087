"""Field parsers: partner text to typed canonical values, each as a Polars expression.

Every parser returns a value expression that is null when the text is empty or not
understood; `*_problem` helpers say why, in words an operator understands.
"""

from __future__ import annotations

import polars as pl

from pipelines import reference
from pipelines.quality.identifiers import clean_text

JAKARTA_OFFSET_MINUTES = 7 * 60  # Asia/Jakarta is UTC+7 with no daylight saving since 1964

# Indonesian month names and abbreviations (partners.md, tokoraya), any case
MONTHS = {
    "januari": 1, "jan": 1,
    "februari": 2, "pebruari": 2, "feb": 2, "peb": 2,
    "maret": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mei": 5,
    "juni": 6, "jun": 6,
    "juli": 7, "jul": 7,
    "agustus": 8, "agu": 8, "agt": 8, "ags": 8,
    "september": 9, "sep": 9, "sept": 9,
    "oktober": 10, "okt": 10,
    "november": 11, "nopember": 11, "nov": 11, "nop": 11,
    "desember": 12, "des": 12,
}  # fmt: skip


def _ymd(year: pl.Expr, month: pl.Expr, day: pl.Expr) -> pl.Expr:
    """A date from integer parts; null when they do not make a real date."""
    text = pl.format(
        "{}-{}-{}",
        year.cast(pl.String).str.zfill(4),
        month.cast(pl.String).str.zfill(2),
        day.cast(pl.String).str.zfill(2),
    )
    return text.str.to_date("%Y-%m-%d", strict=False)


def parse_iso8601_jakarta(text: pl.Expr) -> pl.Expr:
    """ISO 8601 timestamp (offset, `Z`, fractional seconds, or none = Jakarta time) or date,
    to its Asia/Jakarta calendar date.

    Every form is first rewritten to one (`YYYY-MM-DDTHH:MM:SS[.f]+HH:MM`, Jakarta's offset where
    none is written) and parsed once, natively. Each rewrite refers to the previous one once:
    an expression used twice in a chain is evaluated twice, and the cost compounds."""
    s = clean_text(text).str.replace(" ", "T", literal=True).str.replace(",", ".", literal=True)
    s = s.str.replace("Z", "+00:00", literal=True)
    s = s.str.replace(r"^(\d{4}-\d{2}-\d{2})$", "${1}T00:00:00")  # a date alone
    s = s.str.replace(r"(T\d{2}:\d{2})([+-]|$)", "${1}:00${2}")  # no seconds
    s = s.str.replace(r"([+-]\d{2}):?(\d{2})$", "${1}:${2}").str.replace(
        r"(T[\d:.]+[+-]\d{2})$", "${1}:00"
    )
    s = s.str.replace(r"(T[\d:.]+)$", "${1}+07:00")  # no offset: Jakarta time
    instant = s.str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False)
    return (
        instant.dt.replace_time_zone(None) + pl.duration(minutes=JAKARTA_OFFSET_MINUTES)
    ).dt.date()


def parse_dmy_or_indonesian(text: pl.Expr) -> pl.Expr:
    """`D/M/YYYY` (one or two digits) or `5 Agustus 2021` / `05 Agt 2021` / `12 Peb 2022`."""
    s = clean_text(text).str.to_lowercase()
    slash = s.str.extract_groups(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
    named = s.str.extract_groups(r"^(\d{1,2})\s+([a-z]+)\.?\s+(\d{4})$")
    month_no = named.struct.field("2").replace_strict(MONTHS, default=None, return_dtype=pl.Int32)
    from_slash = _ymd(
        slash.struct.field("3").cast(pl.Int32),
        slash.struct.field("2").cast(pl.Int32),
        slash.struct.field("1").cast(pl.Int32),
    )
    from_named = _ymd(
        named.struct.field("3").cast(pl.Int32), month_no, named.struct.field("1").cast(pl.Int32)
    )
    return pl.coalesce(from_slash, from_named)


def parse_epoch_ms_utc(text: pl.Expr) -> pl.Expr:
    """Epoch milliseconds (UTC) to the Asia/Jakarta calendar date."""
    ms = clean_text(text).cast(pl.Int64, strict=False)
    shifted = ms + JAKARTA_OFFSET_MINUTES * 60_000
    return pl.from_epoch(shifted, time_unit="ms").dt.date()


def parse_ymd(text: pl.Expr) -> pl.Expr:
    """Strict `YYYY-MM-DD`."""
    s = clean_text(text)
    return pl.when(s.str.contains(r"^\d{4}-\d{2}-\d{2}$")).then(
        s.str.to_date("%Y-%m-%d", strict=False)
    )


def parse_dmy_dash_or_excel(text: pl.Expr) -> pl.Expr:
    """`DD-MM-YYYY` text, or an Excel date cell (read as `YYYY-MM-DD[ hh:mm:ss]`, or a serial)."""
    s = clean_text(text)
    dash = s.str.extract_groups(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")
    from_dash = _ymd(
        dash.struct.field("3").cast(pl.Int32),
        dash.struct.field("2").cast(pl.Int32),
        dash.struct.field("1").cast(pl.Int32),
    )
    cell = s.str.extract(r"^(\d{4}-\d{2}-\d{2})(?:[ T]00:00:00(?:\.0+)?)?$", 1).str.to_date(
        "%Y-%m-%d", strict=False
    )
    # an unformatted date cell: days since 1899-12-30 (Excel's 1900 date system)
    serial = s.str.extract(r"^(\d{4,5})(?:\.0+)?$", 1).cast(pl.Int64, strict=False)
    from_serial = (pl.lit(-25569) + serial).cast(pl.Date)
    return pl.coalesce(from_dash, cell, from_serial)


DATE_PARSERS = {
    "iso8601": parse_iso8601_jakarta,
    "dmy_or_indonesian": parse_dmy_or_indonesian,
    "epoch_ms_utc": parse_epoch_ms_utc,
    "date": parse_ymd,
    "ymd": parse_ymd,
    "dmy_dash_or_excel": parse_dmy_dash_or_excel,
}


def parse_rupiah(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(amount as Decimal(18,2), problem) from `1.234.567,00`, `Rp 1.234.567`, `-` or empty."""
    s = clean_text(text)
    bare = s.str.replace(r"(?i)^rp\.?\s*", "").str.strip_chars()
    blank = s.is_null() | (bare == "-") | (bare == "")
    grouped = bare.str.contains(r"^\d{1,3}(\.\d{3})*(,\d{1,2})?$") | bare.str.contains(
        r"^\d+(,\d{1,2})?$"
    )
    amount = (
        bare.str.replace_all(r"\.", "").str.replace(",", ".").cast(pl.Decimal(18, 2), strict=False)
    )
    value = pl.when(~blank & grouped).then(amount)
    problem = pl.when(~blank & ~grouped).then(pl.lit("turnover not a rupiah amount"))
    return value, problem


def parse_count(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(non-negative integer, problem)."""
    s = clean_text(text)
    ok = s.str.contains(r"^\d{1,15}$")
    return pl.when(ok).then(s.cast(pl.Int64, strict=False)), pl.when(s.is_not_null() & ~ok).then(
        pl.lit("not a whole number")
    )


def map_values(text: pl.Expr, values: dict[str, str]) -> tuple[pl.Expr, pl.Expr]:
    """(canonical value, problem): case-insensitive, trimmed, spaces collapsed lookup."""
    s = clean_text(text).str.to_lowercase().str.replace_all(r"\s+", " ")
    lowered = {k.lower(): v for k, v in values.items()}
    value = s.replace_strict(lowered, default=None, return_dtype=pl.String)
    return value, pl.when(s.is_not_null() & value.is_null()).then(pl.lit("value not recognised"))


def kbli_category(code: pl.Expr) -> pl.Expr:
    """The KBLI category letter of a valid 5-digit code, else null."""
    divisions = dict(reference.kbli_divisions().iter_rows())
    s = clean_text(code)
    return pl.when(s.str.contains(r"^\d{5}$")).then(
        s.str.slice(0, 2).replace_strict(divisions, default=None, return_dtype=pl.String)
    )
