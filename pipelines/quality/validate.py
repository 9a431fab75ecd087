"""Great Expectations: a suite per partner, derived from its contract, run on every partner-day.

The suite checks the canonical records of a partner-day (pseudonymised, so no personal value
can reach a result). Its expectations are the record rules of metrics.md plus attribute
checks; the table-level one, "at most `quarantine_threshold` of the records quarantined", is
the gate that fails a partner-day. Results are kept per expectation (how many failed) and
never carry failing values.
"""

from __future__ import annotations

import html
import re
import threading
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import polars as pl

from pipelines.contracts import Contract
from pipelines.reference import EARLIEST_JOINED

RESULT_FORMAT = {
    "result_format": "BASIC",
    "partial_unexpected_count": 0,
    "include_unexpected_rows": False,
}
GATE = "quarantined share within threshold"


RESULT_SCHEMA = {
    "expectation": pl.String,
    "column_name": pl.String,
    "success": pl.Boolean,
    "element_count": pl.Int64,
    "unexpected_count": pl.Int64,
    "description": pl.String,
}
_gx_lock = threading.Lock()  # one GX validation at a time: its context is not thread-safe


@dataclass(frozen=True)
class Validation:
    results: pl.DataFrame  # RESULT_SCHEMA: GX expectations, then the record-rule counts
    gate_passed: bool
    gate_detail: str
    gx_result: Any = None  # the GX suite validation result (counts only, no values)

    @property
    def clean(self) -> bool:
        """Every expectation met and no record quarantined or warned."""
        return bool(self.results["success"].all()) if self.results.height else True


_warm_up_started = threading.Event()


def _import_gx() -> None:
    import great_expectations
    import great_expectations.expectations  # noqa: F401


def warm_up() -> None:
    """Start importing Great Expectations (about 4 s here) in a background thread, so that it
    overlaps the first partner-day's read. Called only once a partner-day has work to do: a run
    where nothing changed never imports it. Python's import lock makes a concurrent import wait."""
    if not _warm_up_started.is_set():
        _warm_up_started.set()
        threading.Thread(target=_import_gx, name="gx-import", daemon=True).start()


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

    suite: list[tuple[str, Any]] = [
        (
            GATE,
            gxe.ExpectColumnValuesToBeInSet(
                column="quarantined", value_set=[False], mostly=1 - contract.quarantine_threshold
            ),
        ),
        (
            "every record has a listing key",
            gxe.ExpectColumnValuesToBeInSet(column="has_listing_key", value_set=[True]),
        ),
        (
            "joined dates present and in [2009-01-01, export date]",
            gxe.ExpectColumnValuesToBeBetween(
                column="joined_day",
                min_value=_day_number(EARLIEST_JOINED),
                max_value=_day_number(export_date),
            ),
        ),
    ]
    if contract.requires_identifier:
        suite.insert(
            2,
            (
                "every record has a valid identifier",
                gxe.ExpectColumnValuesToBeInSet(column="has_identifier", value_set=[True]),
            ),
        )
    return suite


def _day_number(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def validate(records: pl.DataFrame, contract: Contract, export_date: date) -> Validation:
    """Run the partner's suite on its canonical records for one partner-day."""
    # booleans and a date column only: cheap to hand to pandas, and no values worth hiding. A
    # deleted event is not validated as a record (partners.md, belanjaku): it passes the record
    # expectations by construction, and counts as loaded.
    deleted = pl.col("is_deletion")
    frame = records.select(
        pl.col("quarantine_rule").is_not_null().alias("quarantined"),
        (pl.col("listing_key").is_not_null() | deleted).alias("has_listing_key"),
        # days since 1970 (GX compares datetimes one Python object at a time; integers at once);
        # a missing date becomes 1900-01-01 so that the range expectation counts it too
        pl.when(deleted)
        .then(pl.lit(export_date))
        .otherwise(pl.col("joined_date").fill_null(date(1900, 1, 1)))
        .cast(pl.Int32)
        .alias("joined_day"),
        (
            pl.col("nib").is_not_null()
            | pl.col("nik_ps").is_not_null()
            | pl.col("phone_ps").is_not_null()
            | deleted
        ).alias("has_identifier"),
    )
    with _gx_lock:
        result, pairs = _run_suite(frame, contract, export_date)
    by_index = {r.expectation_config.meta["umkm_index"]: r for r in result.results}
    rows = []
    gate_passed, gate_detail = True, ""
    for index, (description, expectation) in enumerate(pairs):
        r = by_index[index]
        info = r.exception_info or {}
        if info.get("raised_exception") or any(
            isinstance(v, dict) and v.get("exception_traceback") for v in info.values()
        ):
            raise RuntimeError(
                f"Great Expectations could not evaluate {description!r} for {contract.partner}"
            )
        element_count = r.result.get("element_count")
        unexpected = r.result.get("unexpected_count")
        column = getattr(expectation, "column", None)
        rows.append(
            (
                type(expectation).__name__,
                column,
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
    results = pl.concat(
        [pl.DataFrame(rows, schema=RESULT_SCHEMA, orient="row"), rule_counts(records)]
    )
    return Validation(results, gate_passed, gate_detail, result)


def rule_counts(records: pl.DataFrame) -> pl.DataFrame:
    """How many records broke each record rule (quarantined) or drew each warning, from the
    vectorised rule pass; stored beside the GX results."""
    total = records.height
    quarantined = (
        records.filter(pl.col("quarantine_rule").is_not_null())
        .group_by("quarantine_rule", "quarantine_column")
        .len()
        .select(
            pl.lit("record rule: quarantined").alias("expectation"),
            pl.col("quarantine_column").alias("column_name"),
            pl.lit(False).alias("success"),
            pl.lit(total, pl.Int64).alias("element_count"),
            pl.col("len").cast(pl.Int64).alias("unexpected_count"),
            pl.col("quarantine_rule").alias("description"),
        )
    )
    warned = (
        records.select(pl.col("warnings").explode().drop_nulls())
        .group_by("warnings")
        .len()
        .select(
            pl.lit("attribute rule: warning").alias("expectation"),
            pl.col("warnings").str.split(": ").list.first().alias("column_name"),
            pl.lit(False).alias("success"),
            pl.lit(total, pl.Int64).alias("element_count"),
            pl.col("len").cast(pl.Int64).alias("unexpected_count"),
            pl.col("warnings").str.splitn(": ", 2).struct.field("field_1").alias("description"),
        )
    )
    return pl.concat([quarantined, warned]).sort("expectation", "description", "column_name")


def _run_suite(
    frame: pl.DataFrame, contract: Contract, export_date: date
) -> tuple[Any, list[tuple[str, Any]]]:
    import great_expectations as gx

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
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame.to_pandas()})
    pairs = suite_for(contract, export_date)
    suite = gx.ExpectationSuite(name=f"{contract.partner}_{export_date.isoformat()}")
    for index, (_, expectation) in enumerate(pairs):
        # ephemeral suites give expectations no id: tag each to find its result
        expectation.meta = {"umkm_index": index}
        suite.add_expectation(expectation)
    return batch.validate(suite, result_format=RESULT_FORMAT), pairs


_EXTERNAL = re.compile(
    r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>|<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>"
    r"|<img[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>|<a[^>]*\bhref=\"https?://[^\"]*\"[^>]*>.*?</a>",
    re.DOTALL,
)
OFFLINE_CSS = """<style>body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}
.text-danger,.text-danger *{color:#b00020}.text-success{color:#1b7f3b}.d-none{display:none}</style>"""


def data_docs_page(validation: Validation, title: str) -> str:
    """Great Expectations' own Data Docs page for one partner-day, made to work offline: its
    CDN scripts, stylesheets, logo and links are removed and a small inline stylesheet added.
    The results carry counts only (result format BASIC, no unexpected values)."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    with _gx_lock:
        document = ValidationResultsPageRenderer().render(validation.gx_result)
        page = DefaultJinjaPageView().render(document)
    page = _EXTERNAL.sub("", page)
    page = page.replace("<head>", f"<head>{OFFLINE_CSS}", 1)
    return page.replace("<title>", f"<title>{html.escape(title)} - ", 1)
