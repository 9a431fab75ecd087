"""Great Expectations, the engine of record: two suites per partner, written from its contract,
run by a Checkpoint on every partner-day, results stored and rendered as Data Docs.

- `<partner>_delivery` (every delivered partner-day, refused ones too): one row per data file
  (name, records read, the manifest's row count) plus the refusal reason, if any. Expectations:
  the delivery is not refused; each file holds the records its manifest says.
- `<partner>_records` (every staged partner-day): the contract's record rules on the canonical
  columns, in the order the SQL rules apply them (pipelines/quality/normalise.py), so that each
  expectation counts exactly the records quarantined for its reason: well formed, a listing key,
  at least one valid identifier, a joined date, the joined date in [2009-01-01, export date];
  the gate (at most the contract's threshold quarantined); and the attribute domains (scale,
  KBLI category, province and regency codes in the reference).

The quarantine decisions are made in SQL; GX checks the same rules on the canonical columns and
must agree: a count that differs stops the partner-day (`Disagreement`). The records suite runs
where the records are, in DuckDB, through a SQL data source on the staging connection (one
query per metric, no copy to pandas); the delivery suite on a pandas frame of a few rows. The
record rules are GX's SQL expectations (`UnexpectedRowsExpectation`, the rule's WHERE clause on
the canonical columns): the same rules as column expectations with row conditions cost three
times as much, all of it in GX's Python (0.36 s against 0.10 s a partner-day, measured), and
a set of the 514 regency codes alone 0.14 s, so the region codes are checked against the
reference table instead.

Suites, validation definitions and Checkpoints are made from the contracts in each process's
memory (they hold nothing else); only results are files, one per partner-day under
`uncommitted/validations`, filed by the Checkpoint's action and rendered under a lock on the project (`.gx.lock`): runs,
and a run's Dask workers, share the project without meeting each other's half-written files.
Results carry counts only (BASIC, no unexpected values), except the refusal reason, which is
the operator's message (already in `partner_loads.detail`) and holds no record value.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipelines import reference
from pipelines.contracts import Contract
from pipelines.quality.regions import REFERENCE, ensure_reference
from pipelines.reference import EARLIEST_JOINED

SITE = "umkm"  # the Data Docs site's name
RESULTS = "umkm_results"  # the store of results (files); GX's own results store is in memory
PLUGINS = Path(__file__).resolve().parent / "gx_plugins"  # Data Docs views, vendored scripts
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
# the delivery frame holds file names, counts and the refusal reason: shown in full
REFUSAL_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 3}

RESULT_SCHEMA = {
    "expectation": pl.String,
    "column_name": pl.String,
    "success": pl.Boolean,
    "element_count": pl.Int64,
    "unexpected_count": pl.Int64,
    "description": pl.String,
}
_gx_lock = threading.Lock()  # one GX validation at a time: its context is not thread-safe

# the record rules: GX expectation -> the SQL quarantine reasons (prefixes) it counts
WELL_FORMED = "every record is well formed"
LISTING_KEY = "every record has a listing key"
IDENTIFIER = "every record has a valid identifier (NIB, NIK or phone)"
JOINED = "every record has a joined date"
JOINED_RANGE = "joined dates within [2009-01-01, export date]"
GATE = "quarantined share within threshold"
REASONS = {
    WELL_FORMED: ("malformed record",),
    LISTING_KEY: ("no listing key",),
    IDENTIFIER: ("no valid identifier",),
    JOINED: ("joined date missing", "joined date unparseable"),
    JOINED_RANGE: ("joined date after the export date", "joined date before 2009-01-01"),
}


class Disagreement(RuntimeError):
    """Great Expectations and the SQL rules counted a rule differently: a bug, never data."""


@dataclass(frozen=True)
class Validation:
    results: pl.DataFrame  # RESULT_SCHEMA: GX expectations, then the record-rule counts
    gate_passed: bool
    gate_detail: str

    @property
    def clean(self) -> bool:
        """Every expectation met and no record quarantined or warned."""
        return bool(self.results["success"].all()) if self.results.height else True


_warm_up_started = threading.Event()
_warm_up_thread: list[threading.Thread] = []


def import_gx() -> None:
    """Import Great Expectations now, in this thread: a process with nothing else to do (its
    temporary Prefect server starting) does it here rather than at its first partner-day."""
    import great_expectations
    import great_expectations.expectations  # noqa: F401


def warm_up() -> None:
    """Start importing Great Expectations (about 4 s here) in a background thread, so that it
    overlaps the first partner-day's read. Called only once a partner-day has work to do: a run
    where nothing changed never imports it. Python's import lock makes a concurrent import wait."""
    if not _warm_up_started.is_set():
        _warm_up_started.set()
        thread = threading.Thread(target=import_gx, name="gx-import", daemon=True)
        _warm_up_thread.append(thread)
        thread.start()


def _imported() -> None:
    """Wait for the warm-up import: two threads importing GX at once can meet its circular
    imports half done."""
    warm_up()
    _warm_up_thread[0].join()


@cache
def context(gx_dir: Path) -> Any:
    """The GX project of a warehouse, in this process: suites, validation definitions and
    Checkpoints in memory, results in files under `gx_dir/uncommitted/validations` (store
    `RESULTS`), the Data Docs site in `gx_dir/data_docs`. Data sources live in memory only (each
    partner-day's is its staging connection)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    gx_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    defaults = InMemoryStoreBackendDefaults()
    defaults.stores[RESULTS] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(gx_dir / "uncommitted" / "validations"),
        },
    }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        plugins_directory=str(PLUGINS),
        data_docs_sites={
            SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(gx_dir / "data_docs"),
                },
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "view": _view("OfflineIndexPageView"),
                },
                "site_section_builders": {
                    "expectations": {"view": _view("OfflinePageView")},
                    **{
                        section: {"view": _view("OfflinePageView"), "source_store_name": RESULTS}
                        for section in ("validations", "profiling")
                    },
                },
            }
        },
        analytics_enabled=False,
    )
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return ctx


@contextmanager
def project_lock(gx_dir: Path) -> Iterator[None]:
    """Hold the project's lock (a flock, released by the kernel if its holder dies): results are
    written and the site is built by one process at a time."""
    gx_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(gx_dir / ".gx.lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _view(name: str) -> dict[str, str]:
    return {"module_name": "pipelines.quality.gx_views", "class_name": name}


# --- the suites ------------------------------------------------------------------------------


def _described(expectation: Any, rule: str, column: str | None = None) -> Any:
    """An expectation tagged with its rule's name (kept in `meta`, shown as its notes) and, for
    a SQL rule, the canonical column it judges: GX's own rendering stays on the page, with the
    columns, sets and queries it checks."""
    expectation.notes = rule
    expectation.meta = {"umkm_rule": rule, **({"column": column} if column else {})}
    return expectation


def _rule(rule: str, column: str, where: str) -> Any:
    """The records breaking `rule`: those `where` selects (on the canonical columns), named by
    file and row (GX fetches some of them even when its result keeps only the count)."""
    import great_expectations.expectations as gxe

    return _described(
        gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=f"SELECT file, row_number FROM {{batch}} WHERE {where}",
            description=rule,
        ),
        rule,
        column,
    )


def record_expectations(contract: Contract) -> list[Any]:
    """The records suite's expectations, from the contract: each rule selects the records it
    quarantines among those the rules before it let through (one suite per partner; the export
    date is the records' `export_date`)."""
    import great_expectations.expectations as gxe

    parsed = "malformed IS NULL AND NOT is_deletion"
    keyed = f"{parsed} AND listing_key IS NOT NULL"
    valid = keyed  # the records that reach the joined-date rules
    rules = [
        _rule(WELL_FORMED, "malformed", "malformed IS NOT NULL"),
        _rule(LISTING_KEY, "listing_key", f"{parsed} AND listing_key IS NULL"),
    ]
    if contract.requires_identifier:
        rules.append(
            _rule(IDENTIFIER, "nib",
                  f"{keyed} AND nib IS NULL AND nik_ps IS NULL AND phone_ps IS NULL")
        )  # fmt: skip
        valid = f"{keyed} AND (nib IS NOT NULL OR nik_ps IS NOT NULL OR phone_ps IS NOT NULL)"
    earliest = EARLIEST_JOINED.isoformat()
    rules += [
        _rule(JOINED, "joined_date", f"{valid} AND joined_date IS NULL"),
        _rule(JOINED_RANGE, "joined_date",
              f"{valid} AND (joined_date < DATE '{earliest}' OR joined_date > export_date)"),
        _described(
            gxe.ExpectColumnValuesToBeNull(
                column="quarantine_rule", mostly=1 - contract.quarantine_threshold
            ),
            GATE,
        ),
    ]  # fmt: skip
    rules += _attribute_expectations(contract)
    return rules


def _attribute_expectations(contract: Contract) -> list[Any]:
    """The canonical attributes' domains: an unknown value is blanked (a warning), never kept."""
    import great_expectations.expectations as gxe

    out = []
    scale = contract.column_for("scale")
    if scale and scale.values:
        out.append(
            _described(
                gxe.ExpectColumnValuesToBeInSet(
                    column="scale", value_set=sorted(set(scale.values.values()))
                ),
                "scale one of the contract's values",
            )
        )
    if contract.column_for("kbli"):
        letters = sorted(set(reference.kbli_divisions()["category"].to_list()))
        out.append(
            _described(
                gxe.ExpectColumnValuesToBeInSet(column="kbli_category", value_set=letters),
                "KBLI category a letter of the reference",
            )
        )
    for level, table, present in (("province", "provinces", contract.region.regency or contract.region.province),
                                  ("regency", "regencies", contract.region.regency)):  # fmt: skip
        if present:
            column = f"{level}_code"
            out.append(
                _rule(f"{level} codes known", column,
                      f"{column} IS NOT NULL AND {column} NOT IN (SELECT code FROM {REFERENCE}.{table})")
            )  # fmt: skip
    return out


def delivery_expectations(contract: Contract) -> list[Any]:
    """The delivery suite's expectations: not refused; each file's records match its manifest."""
    import great_expectations.expectations as gxe

    out = [
        _described(
            gxe.ExpectColumnValuesToBeNull(column="refusal"),
            "the delivery is accepted",
        )
    ]
    if contract.manifest == "required":
        out.append(
            _described(
                gxe.ExpectColumnPairValuesToBeEqual(
                    column_A="records",
                    column_B="manifest_rows",
                    ignore_row_if="either_value_is_missing",
                ),
                "each file holds the records its manifest says",
            )
        )
    return out


# --- running them ----------------------------------------------------------------------------


def validate(
    gx_dir: Path,
    con: duckdb.DuckDBPyConnection,
    database: str,
    contract: Contract,
    export_date: date,
    files: list[dict[str, Any]],
) -> Validation:
    """Run the partner's Checkpoints on a staged partner-day (the table `records` of the
    attached DuckDB database `database`; `files` the delivery's files with their records) and
    check that GX's counts are the SQL rules' counts."""
    counts = rule_counts(con, f"{database}.records")
    ensure_reference(con)
    _imported()
    with _gx_lock:
        _run_delivery(gx_dir, contract, export_date, files, None)
        result = _run_records(gx_dir, con, database, contract, export_date)
    gate = next(r for r in result.results if r.expectation_config.meta["umkm_rule"] == GATE)
    total = gate.result.get("element_count")
    rows, by_rule = [], {}
    for r in result.results:
        config = r.expectation_config
        rule = config.meta["umkm_rule"]
        info = r.exception_info or {}
        if info.get("raised_exception") or any(
            isinstance(v, dict) and v.get("raised_exception") for v in info.values()
        ):
            raise RuntimeError(
                f"Great Expectations could not evaluate {rule!r} for {contract.partner}"
            )
        if "unexpected_rows_query" in config.kwargs:  # a SQL rule: the rows it selects
            unexpected, column = r.result.get("observed_value") or 0, config.meta.get("column")
        else:  # None when no record reached it
            unexpected, column = r.result.get("unexpected_count") or 0, config.kwargs.get("column")
        by_rule[rule] = (bool(r.success), total, unexpected)
        rows.append(
            (_class_name(config.type), column, bool(r.success), total, unexpected, rule)
        )  # fmt: skip
    _check_agreement(contract, counts, by_rule)
    gate_passed, total, quarantined = by_rule[GATE]
    detail = ""
    if not gate_passed:
        detail = (
            f"{quarantined} of {total} records quarantined, more than the contract's "
            f"{contract.quarantine_threshold:.0%} threshold"
        )
    results = pl.concat([pl.DataFrame(rows, schema=RESULT_SCHEMA, orient="row"), counts])
    return Validation(results, gate_passed, detail)


def record_refusal(
    gx_dir: Path, contract: Contract, export_date: date, files: list[dict[str, Any]], reason: str
) -> None:
    """Run the delivery Checkpoint on a refused partner-day, so that it has a results page."""
    _imported()
    with _gx_lock:
        _run_delivery(gx_dir, contract, export_date, files, reason)


def _class_name(snake: str) -> str:
    return "".join(part.title() for part in snake.split("_"))


def _check_agreement(contract: Contract, counts: pl.DataFrame, by_rule: dict[str, Any]) -> None:
    quarantined = counts.filter(pl.col("expectation") == "record rule: quarantined")
    sql = dict(quarantined.group_by("description").agg(pl.col("unexpected_count").sum()).rows())
    for rule, reasons in REASONS.items():
        if rule not in by_rule:
            continue
        wanted = sum(n for why, n in sql.items() if why.startswith(reasons))
        if by_rule[rule][2] != wanted:
            raise Disagreement(
                f"{contract.partner}: Great Expectations counts {by_rule[rule][2]} records breaking "
                f"{rule!r}, the SQL rules quarantined {wanted} for it"
            )
    if by_rule[GATE][2] != sum(sql.values()):
        raise Disagreement(f"{contract.partner}: quarantined records counted differently")


def _suite(ctx: Any, name: str, expectations: list[Any]) -> Any:
    """The suite `name` in this process's project, made again only when the contract changed it."""
    import great_expectations as gx

    wanted = gx.ExpectationSuite(name=name, expectations=expectations)
    if ctx.expectations_store.has_key(ctx.expectations_store.get_key(name=name)):
        stored = ctx.suites.get(name)
        if _signature(stored.expectations) == _signature(wanted.expectations):
            return stored
        ctx.suites.delete(name)
        # a Checkpoint made on the suite just replaced is made again at its next use
        for known in [k for k in _prepared if k[1] == name]:
            del _prepared[known]
    return ctx.suites.add(wanted)


def _signature(expectations: list[Any]) -> str:
    """What a suite checks (its expectations' configurations without the ids a store assigns)."""
    import json

    configs = [{k: v for k, v in e.configuration.to_json_dict().items() if k != "id"}
               for e in expectations]  # fmt: skip
    return json.dumps(configs, sort_keys=True, default=str)


def _checkpoint(ctx: Any, gx_dir: Path, name: str, batch_definition: Any, suite: Any,
                result_format: dict[str, Any]) -> Any:  # fmt: skip
    """The Checkpoint `name` validating `suite` on `batch_definition`, with the action that files
    each result (`_file_result_action`). Pages are rendered once per run for all new results
    (`build_site`): GX's UpdateDataDocsAction here cost 1.5 s per partner-day (templates
    compiled again and the index rebuilt from every stored result each time)."""
    import great_expectations as gx

    definition = ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
    )
    partner, kind = name.rsplit("_", 1)
    file_result = _file_result_action()(
        name="file the result", gx_dir=str(gx_dir), partner=partner,
        what="records" if kind == "records" else "delivered files",
    )  # fmt: skip
    return ctx.checkpoints.add_or_update(
        gx.Checkpoint(
            name=name,
            validation_definitions=[definition],
            actions=[file_result],
            result_format=result_format,
        )
    )


@cache
def _file_result_action() -> type:
    """The Checkpoint action that moves each result from GX's results store (memory) to the
    project's files, under the project lock, with the partner-day named as its data asset (GX's
    pages show the data asset from `batch_kwargs`, which a fluent data source leaves empty:
    "Data asset: None"). Made on first use: GX is imported lazily (`warm_up`)."""
    from typing import Literal

    from great_expectations.checkpoint import ValidationAction

    class FileResult(ValidationAction):  # type: ignore[misc]
        type: Literal["umkm_file_result"] = "umkm_file_result"
        gx_dir: str
        partner: str
        what: str

        def run(self, checkpoint_result: Any, action_context: Any = None) -> dict[str, Any]:
            ctx = context(Path(self.gx_dir))
            for key, result in checkpoint_result.run_results.items():
                day = key.run_id.run_name
                result.meta["batch_kwargs"] = {"data_asset_name": f"{self.partner} {day} {self.what}"}  # fmt: skip
                try:
                    with project_lock(Path(self.gx_dir)):
                        ctx.stores[RESULTS].set(key, result)
                finally:  # a long-lived process (a Dask worker) keeps none of them in memory
                    ctx.validation_results_store.remove_key(key)
            return {}

    FileResult.update_forward_refs(Literal=Literal)  # this module's annotations are text
    return FileResult


class _Target:
    """The staging connection and database a partner's records data source reads now (set
    under the GX lock before each run): data source, suites and Checkpoints are made once per
    process, not per partner-day."""

    con: duckdb.DuckDBPyConnection | None = None
    database: str = ""


_prepared: dict[tuple[Path, str], tuple[str, Any]] = {}
_targets: dict[str, _Target] = {}


def _prepared_checkpoint(gx_dir: Path, name: str, expectations: list[Any], add_batch: Any,
                         result_format: dict[str, Any] = RESULT_FORMAT) -> Any:  # fmt: skip
    """The Checkpoint `name` (made, with its suite, on first use in this process or when the
    contract changed the suite); `add_batch(ctx, name, target)` adds its data source."""
    signature = _signature(expectations)
    known = _prepared.get((gx_dir, name))
    if known and known[0] == signature:
        return known[1]
    ctx = context(gx_dir)
    target = _targets.setdefault(name, _Target())
    for source in [s for s in ctx.data_sources.all() if s == name]:
        ctx.data_sources.delete(source)
    batch = add_batch(ctx, name, target)
    checkpoint = _checkpoint(
        ctx, gx_dir, name, batch, _suite(ctx, name, expectations), result_format
    )
    _prepared[(gx_dir, name)] = (signature, checkpoint)
    return checkpoint


def _frame_batch(ctx: Any, name: str, target: _Target) -> Any:
    source = ctx.data_sources.add_pandas(name)
    return source.add_dataframe_asset("files").add_batch_definition_whole_dataframe("partner-day")


def _records_batch(ctx: Any, name: str, target: _Target) -> Any:
    source = ctx.data_sources.add_sql(
        name, connection_string="duckdb:///:memory:", kwargs=_engine_kwargs(target)
    )
    asset = source.add_table_asset("records", table_name="records")
    return asset.add_batch_definition_whole_table("partner-day")


def _run_delivery(gx_dir: Path, contract: Contract, export_date: date,
                  files: list[dict[str, Any]], refusal: str | None) -> Any:  # fmt: skip
    import pandas as pd

    rows = [
        {"file": str(f.get("name")), "records": f.get("rows"),
         "manifest_rows": f.get("manifest_rows"), "refusal": None}
        for f in files
    ] or [{"file": None, "records": None, "manifest_rows": None, "refusal": None}]  # fmt: skip
    rows[0]["refusal"] = refusal
    frame = pd.DataFrame(rows).astype(
        {"file": "object", "records": "Int64", "manifest_rows": "Int64", "refusal": "object"}
    )
    name = f"{contract.partner}_delivery"
    checkpoint = _prepared_checkpoint(
        gx_dir, name, delivery_expectations(contract), _frame_batch, REFUSAL_FORMAT
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=_run_id(export_date))
    return _only(result)


def _run_records(gx_dir: Path, con: duckdb.DuckDBPyConnection, database: str,
                 contract: Contract, export_date: date) -> Any:  # fmt: skip
    name = f"{contract.partner}_records"
    target = _targets.setdefault(name, _Target())
    target.con, target.database = con, database
    try:
        checkpoint = _prepared_checkpoint(
            gx_dir, name, record_expectations(contract), _records_batch, RESULT_FORMAT
        )
        result = checkpoint.run(run_id=_run_id(export_date))
    finally:
        target.con = None
    return _only(result)


def _only(checkpoint_result: Any) -> Any:
    """The one validation result of a Checkpoint run (filed by its action)."""
    ((_, result),) = checkpoint_result.run_results.items()
    return result


def _run_id(export_date: date) -> Any:
    """Results are filed under the partner-day (its export date as the run's name)."""
    from datetime import UTC, datetime

    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=export_date.isoformat(), run_time=datetime.now(UTC))


def _engine_kwargs(target: _Target) -> dict[str, Any]:
    """SQLAlchemy engine arguments that make GX query the staging connection's database the
    target names: each GX cursor is a cursor of that connection (so no result is lost when GX
    closes a connection; duckdb-engine's own cursors share one result set), and begin, commit,
    rollback and close touch nothing of the staging connection (GX only reads)."""
    import duckdb_engine
    import sqlalchemy as sa

    class Shared(duckdb_engine.ConnectionWrapper):  # type: ignore[misc]
        def cursor(self) -> duckdb_engine.CursorWrapper:
            assert target.con is not None, "no partner-day is being validated"
            cursor = target.con.cursor()
            cursor.execute(f"USE {target.database}")
            return duckdb_engine.CursorWrapper(cursor, self)

        def begin(self) -> None:
            pass

        def commit(self) -> None:
            pass

        def rollback(self) -> None:
            pass

        def close(self) -> None:
            pass

    return {"creator": lambda: Shared(duckdb.connect()), "poolclass": sa.pool.StaticPool}


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


def build_site(gx_dir: Path, contracts: dict[str, Contract]) -> Path:
    """Build the Data Docs site (the caller holds `project_lock`): the pages of results that have
    none yet (a run renders only its own), the suite of every partner with a stored result (made
    from the contract version in force on its newest result's day), and the index of every
    stored result. Its index page."""
    _imported()
    with _gx_lock:
        ctx = context(gx_dir)
        _drop_unreadable(gx_dir / "uncommitted" / "validations")
        results = ctx.stores[RESULTS].list_keys()
        newest: dict[str, str] = {}
        for key in results:
            name, day = key.expectation_suite_identifier.name, str(key.run_id.run_name)
            newest[name] = max(newest.get(name, day), day)
        for name, day in sorted(newest.items()):
            partner, kind = name.rsplit("_", 1)
            if partner in contracts:
                contract = contracts[partner].on(date.fromisoformat(day))
                _suite(ctx, name, (record_expectations if kind == "records" else delivery_expectations)(contract))  # fmt: skip
        site = gx_dir / "data_docs" / "validations"
        new = [
            key for key in results
            if not Path(str(site.joinpath(*map(str, key.to_tuple()))) + ".html").exists()
        ]  # fmt: skip
        ctx.build_data_docs(
            site_names=[SITE], resource_identifiers=[*new, *ctx.expectations_store.list_keys()]
        )
    return gx_dir / "data_docs" / "index.html"


def _drop_unreadable(store: Path) -> None:
    """Remove the stored results that do not parse (a process killed while it wrote one), which
    would stop the site's build; that partner-day's counts stay in the warehouse
    (`validation_results`), its page is lost."""
    import json

    for path in store.rglob("*.json"):
        try:
            json.loads(path.read_bytes())
        except ValueError:
            path.unlink()
