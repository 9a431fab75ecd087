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

import duckdb
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


def validate(
    con: duckdb.DuckDBPyConnection, records: str, contract: Contract, export_date: date
) -> Validation:
    """Run the partner's suite on a partner-day's canonical records (the DuckDB table `records`)."""
    # booleans and a day number only: cheap to hand to pandas, and no values worth hiding. A
    # deleted event is not validated as a record (partners.md, belanjaku): it passes the record
    # expectations by construction, and counts as loaded.
    frame = con.sql(
        f"""SELECT quarantine_rule IS NOT NULL AS quarantined,
                   (listing_key IS NOT NULL OR is_deletion) AS has_listing_key,
                   -- days since 1970; a missing date becomes 1900-01-01 so that the range counts it
                   CAST(CASE WHEN is_deletion THEN DATE '{export_date.isoformat()}'
                             ELSE coalesce(joined_date, DATE '1900-01-01') END - DATE '1970-01-01' AS INTEGER) AS joined_day,
                   (nib IS NOT NULL OR nik_ps IS NOT NULL OR phone_ps IS NOT NULL OR is_deletion) AS has_identifier
            FROM {records}"""
    ).df()
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
        [pl.DataFrame(rows, schema=RESULT_SCHEMA, orient="row"), rule_counts(con, records)]
    )
    return Validation(results, gate_passed, gate_detail, result)


def rule_counts(con: duckdb.DuckDBPyConnection, records: str) -> pl.DataFrame:
    """How many records broke each record rule (quarantined) or drew each warning, counted in
    DuckDB; stored beside the GX results."""
    frame = con.sql(
        f"""WITH total AS (SELECT count(*) AS n FROM {records}),
                 q AS (SELECT 'record rule: quarantined' AS expectation, quarantine_column AS column_name,
                              count(*) AS unexpected_count, quarantine_rule AS description
                       FROM {records} WHERE quarantine_rule IS NOT NULL GROUP BY ALL),
                 w AS (SELECT 'attribute rule: warning' AS expectation, split_part(w, ': ', 1) AS column_name,
                              count(*) AS unexpected_count,
                              substr(w, length(split_part(w, ': ', 1)) + 3) AS description
                       FROM (SELECT unnest(warnings) AS w FROM {records}) GROUP BY w)
            SELECT expectation, column_name, false AS success, (SELECT n FROM total) AS element_count,
                   unexpected_count, description
            FROM (SELECT * FROM q UNION ALL SELECT * FROM w)
            ORDER BY expectation, description, column_name NULLS FIRST"""
    ).pl()
    return frame.cast(RESULT_SCHEMA)  # type: ignore[arg-type]


def _run_suite(
    frame: Any, contract: Contract, export_date: date
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
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
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
