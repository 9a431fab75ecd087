"""Transform: raw partner records (pseudonymised text) to canonical listing records.

Grain in, grain out: one row per record read, in file order. Everything partner-specific comes
from the contract; the rules are metrics.md's ("Quarantined record", attribute warnings).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from pipelines.contracts import Contract
from pipelines.quality.fields import (
    DATE_PARSERS,
    kbli_category,
    map_values,
    parse_count,
    parse_rupiah,
)
from pipelines.quality.identifiers import ABSENT, clean_text, nib_problem
from pipelines.quality.regions import resolve_codes, resolve_names
from pipelines.reference import EARLIEST_JOINED

CANONICAL_COLUMNS = [
    "partner", "export_date", "file", "file_index", "row_number", "listing_key", "record_key",
    "tie_name", "tie_nib", "is_deletion", "nib", "nik_ps", "phone_ps", "province_code",
    "regency_code", "scale", "kbli", "kbli_category", "joined_date", "status", "turnover_idr",
    "products", "quarantine_rule", "quarantine_column", "excerpt", "warnings",
]  # fmt: skip


def _col(contract: Contract, field: str) -> str:
    column = contract.column_for(field)
    return column.name if column else field


def _has(frame: pl.LazyFrame, name: str) -> bool:
    return name in frame.collect_schema().names()


def _text(frame: pl.LazyFrame, name: str) -> pl.Expr:
    return clean_text(pl.col(name)) if _has(frame, name) else pl.lit(None, pl.String)


def _warn(condition: pl.Expr, column: str, message: str | pl.Expr) -> pl.Expr:
    text = pl.lit(f"{column}: ") + (pl.lit(message) if isinstance(message, str) else message)
    return pl.when(condition.fill_null(False)).then(text)


def normalise(raw: pl.LazyFrame, contract: Contract, export_date: date) -> pl.LazyFrame:
    """Canonical records with typed fields, a quarantine rule (or null) and warnings.

    Input: the read step's frame (`_file`, `_file_index`, `_row`, `_malformed`, canonical text
    fields, `nik_ps`/`nik_problem`, `phone_ps`/`phone_problem`). Output columns: CANONICAL_COLUMNS.
    """
    f = raw
    # --- typed attributes -------------------------------------------------------------------
    nib_text = _text(f, "nib").str.replace(
        r"\.0+$", ""
    )  # a numeric spreadsheet cell keeps its digits
    f = f.with_columns(
        nib_text.alias("_nib_text"),
        nib_problem(nib_text).alias("nib_problem"),
    ).with_columns(pl.when(pl.col("nib_problem").is_null()).then(pl.col("_nib_text")).alias("nib"))

    joined_col = contract.column_for("joined")
    assert joined_col is not None and joined_col.parse is not None
    f = f.with_columns(DATE_PARSERS[joined_col.parse](pl.col("joined")).alias("joined_date"))

    if _has(f, "province_name") or _has(f, "regency_name"):
        f = resolve_names(
            f,
            "province_name" if _has(f, "province_name") else None,
            "regency_name",
            province_code="province_code"
            if not _has(f, "province_name") and _has(f, "province_code")
            else None,
        )
    else:
        f = resolve_codes(f, "region_code", "province_code")

    warnings: list[pl.Expr] = [
        _warn(pl.col("region_problem").is_not_null(), "region", pl.col("region_problem")),
    ]
    scale_col = contract.column_for("scale")
    if scale_col and scale_col.values:
        scale, problem = map_values(pl.col("scale"), scale_col.values)
        f = f.with_columns(scale.alias("scale"), problem.alias("_scale_problem"))
        warnings.append(
            _warn(pl.col("_scale_problem").is_not_null(), scale_col.name, "scale not recognised")
        )
    else:
        f = f.with_columns(pl.lit(None, pl.String).alias("scale"))

    status_col = contract.column_for("status")
    if status_col and status_col.values:
        status, problem = map_values(pl.col("status"), status_col.values)
        f = f.with_columns(status.alias("status"), problem.alias("_status_problem"))
        warnings.append(
            _warn(pl.col("_status_problem").is_not_null(), status_col.name, "status not recognised")
        )
    else:
        f = f.with_columns(pl.lit(None, pl.String).alias("status"))

    if _has(f, "kbli"):
        codes = _text(f, "kbli").str.split("|")
        first_valid = codes.list.eval(
            pl.element().filter(kbli_category(pl.element()).is_not_null()).first()
        ).list.first()
        f = f.with_columns(
            first_valid.alias("kbli"),
            (codes.is_not_null() & first_valid.is_null()).alias("_kbli_problem"),
        ).with_columns(kbli_category(pl.col("kbli")).alias("kbli_category"))
        warnings.append(
            _warn(pl.col("_kbli_problem"), _col(contract, "kbli"), "no valid KBLI code")
        )
    else:
        f = f.with_columns(
            pl.lit(None, pl.String).alias("kbli"), pl.lit(None, pl.String).alias("kbli_category")
        )

    numbers = (
        ("turnover", parse_rupiah, "turnover_idr", pl.Decimal(18, 2), "bad turnover"),
        ("products", parse_count, "products", pl.Int64, "not a whole number"),
    )
    for field, parse, out, dtype, message in numbers:
        if _has(f, field):
            value, problem = parse(pl.col(field))
            f = f.with_columns(value.alias(out), problem.alias(f"_{field}_problem"))
            warnings.append(
                _warn(pl.col(f"_{field}_problem").is_not_null(), _col(contract, field), message)
            )
        else:
            f = f.with_columns(pl.lit(None, dtype).alias(out))

    for kind, field in (("nik", "nik"), ("phone", "phone"), ("nib", "nib")):
        problem = pl.col(f"{kind}_problem")
        warnings.append(
            _warn(problem.is_not_null() & (problem != ABSENT), _col(contract, field), problem)
        )

    # --- events and listing key -------------------------------------------------------------
    if contract.events:
        event = _text(f, "event").str.to_lowercase()
        is_deletion = event.is_in(contract.events.delete)
        warnings.append(
            _warn(
                ~event.is_in(contract.events.upsert + contract.events.delete),
                contract.events.column,
                "unknown event",
            )
        )
    else:
        is_deletion = pl.lit(False)
    f = f.with_columns(is_deletion.alias("is_deletion"))

    key = contract.listing_key
    if key.first_valid_of:
        name_norm = _text(f, "name").str.to_lowercase().str.replace_all(r"\s+", " ")
        firsts = [
            pl.when(pl.col("nib").is_not_null()).then(pl.lit("nib:") + pl.col("nib"))
            if k == "nib"
            else pl.when(pl.col("nik_ps").is_not_null()).then(pl.lit("nik:") + pl.col("nik_ps"))
            for k in key.first_valid_of
        ]
        ident = pl.coalesce(firsts)
        listing_key = pl.when(name_norm.is_not_null()).then(ident + pl.lit("|") + name_norm)
        f = f.with_columns(
            listing_key.alias("listing_key"),
            name_norm.alias("tie_name"),
            pl.col("nib").alias("tie_nib"),
            ident.is_null().alias("_key_no_ident"),
        )
        key_column = (
            "/".join(_col(contract, k) for k in key.first_valid_of) + " + " + _col(contract, "name")
        )
    else:
        f = f.with_columns(
            _text(f, "listing_key").alias("listing_key"),
            pl.lit(None, pl.String).alias("tie_name"),
            pl.lit(None, pl.String).alias("tie_nib"),
            pl.lit(False).alias("_key_no_ident"),
        )
        key_column = _col(contract, "listing_key")

    # --- quarantine rules, first that applies ----------------------------------------------
    ids = [_col(contract, x) for x in ("nib", "nik", "phone") if contract.column_for(x)]
    no_identifier = (
        pl.col("nib").is_null() & pl.col("nik_ps").is_null() & pl.col("phone_ps").is_null()
    )
    joined_name = joined_col.name
    rule = (
        pl.when(pl.col("_malformed").is_not_null())
        .then(
            pl.struct(
                rule=pl.lit("malformed record: ") + pl.col("_malformed"),
                column=pl.lit(None, pl.String),
            )
        )
        .when(pl.col("is_deletion"))
        .then(pl.lit(None, pl.Struct({"rule": pl.String, "column": pl.String})))
        .when(pl.col("listing_key").is_null())
        .then(
            pl.struct(
                rule=pl.when(pl.col("_key_no_ident"))
                .then(pl.lit("no listing key (no valid NIB or NIK)"))
                .otherwise(pl.lit("no listing key")),
                column=pl.lit(key_column),
            )
        )
        .when(no_identifier & pl.lit(contract.requires_identifier))
        .then(pl.struct(rule=pl.lit("no valid identifier"), column=pl.lit("/".join(ids))))
        .when(_text(f, "joined").is_null())
        .then(pl.struct(rule=pl.lit("joined date missing"), column=pl.lit(joined_name)))
        .when(pl.col("joined_date").is_null())
        .then(pl.struct(rule=pl.lit("joined date unparseable"), column=pl.lit(joined_name)))
        .when(pl.col("joined_date") > pl.lit(export_date))
        .then(
            pl.struct(rule=pl.lit("joined date after the export date"), column=pl.lit(joined_name))
        )
        .when(pl.col("joined_date") < pl.lit(EARLIEST_JOINED))
        .then(pl.struct(rule=pl.lit("joined date before 2009-01-01"), column=pl.lit(joined_name)))
    )
    f = f.with_columns(rule.alias("_q"))
    quarantined = pl.col("_q").is_not_null()
    excerpt = pl.concat_str(
        [
            pl.lit(f"{key_column}="),
            pl.col("listing_key").fill_null("∅")
            if not key.first_valid_of
            else pl.col("tie_name").fill_null("∅"),
            pl.lit(f"; {joined_name}="),
            _text(f, "joined").fill_null("∅").str.slice(0, 40),
        ]
    )
    record_warnings = pl.concat_list([w.cast(pl.String) for w in warnings]).list.drop_nulls()
    deletion_only = pl.col("is_deletion") & pl.col("_malformed").is_null()
    return f.select(
        pl.lit(contract.partner).alias("partner"),
        pl.lit(export_date).alias("export_date"),
        pl.col("_file").alias("file"),
        pl.col("_file_index").cast(pl.Int32).alias("file_index"),
        pl.col("_row").alias("row_number"),
        pl.col("listing_key"),
        (_text(f, "record_key") if _has(f, "record_key") else pl.lit(None, pl.String)).alias(
            "record_key"
        ),
        pl.col("tie_name"),
        pl.col("tie_nib"),
        deletion_only.alias("is_deletion"),
        pl.col("nib"),
        pl.col("nik_ps"),
        pl.col("phone_ps"),
        pl.col("province_code"),
        pl.col("regency_code"),
        pl.col("scale"),
        pl.col("kbli"),
        pl.col("kbli_category"),
        pl.col("joined_date"),
        pl.col("status"),
        pl.col("turnover_idr"),
        pl.col("products"),
        pl.col("_q").struct.field("rule").alias("quarantine_rule"),
        pl.col("_q").struct.field("column").alias("quarantine_column"),
        pl.when(quarantined)
        .then(pl.when(pl.col("_malformed").is_null()).then(excerpt))
        .alias("excerpt"),
        pl.when(quarantined | deletion_only)
        .then(pl.lit([], pl.List(pl.String)))
        .otherwise(record_warnings)
        .alias("warnings"),
    )


LISTING_ATTRIBUTES = [
    "joined_date", "province_code", "regency_code", "scale", "kbli", "kbli_category",
    "tie_name", "tie_nib", "status",
]  # fmt: skip


def listing_day_records(records: pl.LazyFrame, contract: Contract) -> pl.LazyFrame:
    """One row per listing of the partner-day (grain: listing_key).

    Attributes come from the day's winning valid record: the last in file order, or for a
    grouped partner (kedaiantar brands) the earliest joined (ties: record key ascending).
    Identifiers are every valid record's, sorted and distinct.
    """
    valid = records.filter(
        pl.col("quarantine_rule").is_null()
        & ~pl.col("is_deletion")
        & pl.col("listing_key").is_not_null()
    )
    if contract.grouping:
        order = ["joined_date", "record_key", "file_index", "row_number"]
        valid = valid.sort(order, descending=True, nulls_last=False)
    else:
        valid = valid.sort(["file_index", "row_number"])
    return valid.group_by("listing_key", maintain_order=True).agg(
        *[pl.col(c).last() for c in LISTING_ATTRIBUTES],
        pl.col("nib").drop_nulls().unique().sort().alias("nibs"),
        pl.col("nik_ps").drop_nulls().unique().sort().alias("nik_ps"),
        pl.col("phone_ps").drop_nulls().unique().sort().alias("phone_ps"),
    )
