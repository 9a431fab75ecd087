"""Great Expectations: a suite per partner, derived from its contract, run on every partner-day.

The suite checks the canonical records of a partner-day (pseudonymised, so no personal value
can reach a result). Its expectations are the record rules of metrics.md plus attribute
checks; the table-level one, "at most `quarantine_threshold` of the records quarantined", is
the gate that fails a partner-day. Results are kept per expectation (how many failed) and
never carry failing values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from typing import Any

import polars as pl

from pipelines import reference
from pipelines.contracts import Contract
from pipelines.reference import EARLIEST_JOINED

RESULT_FORMAT = {
    "result_format": "BASIC",
    "partial_unexpected_count": 0,
    "include_unexpected_rows": False,
}
GATE = "quarantined share within threshold"


@dataclass(frozen=True)
class Validation:
    results: (
        pl.DataFrame
    )  # expectation, column_name, success, element_count, unexpected_count, description
    gate_passed: bool
    gate_detail: str


@cache
def _context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def suite_for(contract: Contract, export_date: date) -> list[tuple[str, Any]]:
    """(description, expectation) pairs derived from the contract, for one export date."""
    import great_expectations.expectations as gxe

    # a deleted event is not validated as a record (partners.md, belanjaku); it counts as loaded
    from great_expectations.expectations.row_conditions import Column as GxColumn

    records_only = {"row_condition": GxColumn("is_deletion") == 0}
    provinces = reference.provinces()["code"].to_list()
    letters = sorted(set(reference.kbli_divisions()["category"].to_list()))
    suite: list[tuple[str, Any]] = [
        (
            GATE,
            gxe.ExpectColumnValuesToBeNull(
                column="quarantine_rule", mostly=1 - contract.quarantine_threshold
            ),
        ),
        (
            "every record has a listing key",
            gxe.ExpectColumnValuesToNotBeNull(column="listing_key", **records_only),
        ),
        (
            "every record has a joined date",
            gxe.ExpectColumnValuesToNotBeNull(column="joined_date", **records_only),
        ),
        (
            "joined dates lie in [2009-01-01, export date]",
            gxe.ExpectColumnValuesToBeBetween(
                column="joined_date",
                min_value=datetime.combine(EARLIEST_JOINED, time()),
                max_value=datetime.combine(export_date, time()),
                **records_only,
            ),
        ),
        (
            "NIBs have 13 digits",
            gxe.ExpectColumnValuesToMatchRegex(column="nib", regex=r"^\d{13}$", **records_only),
        ),
        (
            "province codes are Kemendagri provinces",
            gxe.ExpectColumnValuesToBeInSet(
                column="province_code", value_set=provinces, **records_only
            ),
        ),
        (
            "KBLI categories are A-U",
            gxe.ExpectColumnValuesToBeInSet(
                column="kbli_category", value_set=letters, **records_only
            ),
        ),
        (
            "records carry no warning",
            gxe.ExpectColumnValuesToBeInSet(column="warning_count", value_set=[0], **records_only),
        ),
    ]
    if contract.requires_identifier:
        suite.insert(
            2,
            (
                "every record has a valid identifier",
                gxe.ExpectColumnValuesToBeInSet(
                    column="has_identifier", value_set=[True], **records_only
                ),
            ),
        )
    return suite


def validate(records: pl.DataFrame, contract: Contract, export_date: date) -> Validation:
    """Run the partner's suite on its canonical records for one partner-day."""
    import great_expectations as gx

    frame = records.select(
        "quarantine_rule",
        "listing_key",
        pl.col("joined_date").cast(pl.Datetime("us")),
        "nib",
        "province_code",
        "kbli_category",
        (
            pl.col("nib").is_not_null()
            | pl.col("nik_ps").is_not_null()
            | pl.col("phone_ps").is_not_null()
            | pl.col("is_deletion")
        ).alias("has_identifier"),
        pl.col("warnings").list.len().alias("warning_count"),
        pl.col("is_deletion").cast(pl.Int8).alias("is_deletion"),
    )
    context = _context()
    name = f"{contract.partner}"
    try:
        asset = context.data_sources.get(name).get_asset("records")
    except (KeyError, ValueError, LookupError):
        asset = context.data_sources.add_pandas(name).add_dataframe_asset("records")
    try:
        batch_definition = asset.get_batch_definition("whole")
    except (KeyError, ValueError, LookupError):
        batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    pandas_frame = frame.to_pandas()
    batch = batch_definition.get_batch(batch_parameters={"dataframe": pandas_frame})
    pairs = suite_for(contract, export_date)
    suite = gx.ExpectationSuite(name=f"{contract.partner}_{export_date.isoformat()}")
    for index, (_, expectation) in enumerate(pairs):
        # ephemeral suites give expectations no id: tag each to find its result
        expectation.meta = {"umkm_index": index}
        suite.add_expectation(expectation)
    result = batch.validate(suite, result_format=RESULT_FORMAT)
    by_index = {r.expectation_config.meta["umkm_index"]: r for r in result.results}
    rows = []
    gate_passed, gate_detail = True, ""
    for index, (description, expectation) in enumerate(pairs):
        r = by_index[index]
        if r.exception_info and any(
            isinstance(v, dict) and v.get("raised_exception", True) for v in r.exception_info.values()
        ) | bool(r.exception_info.get("raised_exception")):
            raise RuntimeError(f"Great Expectations could not evaluate {description!r} for {contract.partner}")
        element_count = r.result.get("element_count")
        unexpected = r.result.get("unexpected_count")
        rows.append(
            (
                type(expectation).__name__,
                getattr(expectation, "column", None),
                bool(r.success),
                element_count,
                unexpected,
                description,
            )
        )
        if description == GATE and not r.success:
            gate_passed = False
            gate_detail = (
                f"{unexpected} of {element_count} records quarantined, more than the contract's "
                f"{contract.quarantine_threshold:.0%} threshold"
            )
    results = pl.DataFrame(
        rows,
        schema={
            "expectation": pl.String,
            "column_name": pl.String,
            "success": pl.Boolean,
            "element_count": pl.Int64,
            "unexpected_count": pl.Int64,
            "description": pl.String,
        },
        orient="row",
    )
    return Validation(results, gate_passed, gate_detail)
