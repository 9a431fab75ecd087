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
query per metric, no copy to pandas); the delivery suite on a pandas frame of a few rows.
Results carry counts only (BASIC, no unexpected values), except the refusal reason, which is
the operator's message (already in `partner_loads.detail`) and holds no record value.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipelines import reference
from pipelines.contracts import Contract
from pipelines.reference import EARLIEST_JOINED

SITE = "umkm"  # the Data Docs site's name
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


def _import_gx() -> None:
    import great_expectations
    import great_expectations.expectations  # noqa: F401


def warm_up() -> None:
    """Start importing Great Expectations (about 4 s here) in a background thread, so that it
    overlaps the first partner-day's read. Called only once a partner-day has work to do: a run
    where nothing changed never imports it. Python's import lock makes a concurrent import wait."""
    if not _warm_up_started.is_set():
        _warm_up_started.set()
        thread = threading.Thread(target=_import_gx, name="gx-import", daemon=True)
        _warm_up_thread.append(thread)
        thread.start()


def _imported() -> None:
    """Wait for the warm-up import: two threads importing GX at once can meet its circular
    imports half done."""
    warm_up()
    _warm_up_thread[0].join()


@cache
def context(gx_dir: Path) -> Any:
    """The GX project of a warehouse: suites, validation definitions, checkpoints and results
    in files under `gx_dir`, the Data Docs site in `gx_dir/data_docs`. Data sources live in
    memory only (each partner-day's is its staging connection)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        FilesystemStoreBackendDefaults,
        ProgressBarsConfig,
    )

    gx_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = DataContextConfig(
        store_backend_defaults=FilesystemStoreBackendDefaults(root_directory=str(gx_dir)),
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
                    section: {"view": _view("OfflinePageView")}
                    for section in ("expectations", "validations", "profiling")
                },
            }
        },
        analytics_enabled=False,
    )
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return ctx


def _view(name: str) -> dict[str, str]:
    return {"module_name": "pipelines.quality.gx_views", "class_name": name}


# --- the suites ------------------------------------------------------------------------------


def _described(expectation: Any, rule: str) -> Any:
    """An expectation tagged with its rule's name (kept in `meta`, shown as its notes): GX's own
    rendering stays on the page, with the columns, sets, dates and row conditions it checks."""
    expectation.notes = rule
    expectation.meta = {"umkm_rule": rule}
    return expectation


def record_expectations(contract: Contract) -> list[Any]:
    """The records suite's expectations, from the contract. The export date is a suite parameter
    (`export_date`): one suite per partner, shown with each day's date in its results."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column, OrCondition

    parsed = Column("malformed").is_null() & (Column("is_deletion") == False)  # noqa: E712
    keyed = parsed & Column("listing_key").is_not_null()
    valid: Any = keyed  # the records that reach the joined-date rules
    if contract.requires_identifier:
        # keyed with at least one valid identifier (an OR of AND groups: the form GX allows)
        valid = OrCondition(
            conditions=[keyed & Column(c).is_not_null() for c in ("nib", "nik_ps", "phone_ps")]
        )
    rules = [
        _described(gxe.ExpectColumnValuesToBeNull(column="malformed"), WELL_FORMED),
        _described(
            gxe.ExpectColumnValuesToNotBeNull(column="listing_key", row_condition=parsed),
            LISTING_KEY,
        ),
    ]
    if contract.requires_identifier:
        no_other = keyed & Column("nik_ps").is_null() & Column("phone_ps").is_null()
        rules.append(
            _described(
                gxe.ExpectColumnValuesToNotBeNull(column="nib", row_condition=no_other), IDENTIFIER
            )
        )
    rules += [
        _described(
            gxe.ExpectColumnValuesToNotBeNull(column="joined_date", row_condition=valid), JOINED
        ),
        _described(
            gxe.ExpectColumnValuesToBeBetween(
                column="joined_date",
                min_value=EARLIEST_JOINED,
                max_value={"$PARAMETER": "export_date"},
                row_condition=valid,
            ),
            JOINED_RANGE,
        ),
        _described(
            gxe.ExpectColumnValuesToBeNull(
                column="quarantine_rule", mostly=1 - contract.quarantine_threshold
            ),
            GATE,
        ),
    ]
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
    if contract.region.regency or contract.region.province:
        out.append(
            _described(
                gxe.ExpectColumnValuesToBeInSet(
                    column="province_code", value_set=reference.provinces()["code"].to_list()
                ),
                "province codes known",
            )
        )
    if contract.region.regency:
        out.append(
            _described(
                gxe.ExpectColumnValuesToBeInSet(
                    column="regency_code", value_set=reference.regencies()["code"].to_list()
                ),
                "regency codes known",
            )
        )
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
    _imported()
    with _gx_lock:
        _run_delivery(gx_dir, contract, export_date, files, None)
        result = _run_records(gx_dir, con, database, contract, export_date)
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
        unexpected = r.result.get("unexpected_count") or 0  # None when no record reached it
        by_rule[rule] = (bool(r.success), r.result.get("element_count"), unexpected)
        rows.append(
            (_class_name(config.type), config.kwargs.get("column"), bool(r.success),
             r.result.get("element_count"), unexpected, rule)
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
    """The stored suite `name`, written again only when the contract changed it."""
    import great_expectations as gx

    wanted = gx.ExpectationSuite(name=name, expectations=expectations)
    try:
        stored = ctx.suites.get(name)
    except Exception:
        try:
            return ctx.suites.add(wanted)
        except Exception:  # another process (a Dask worker) stored it meanwhile
            stored = ctx.suites.get(name)
    if _signature(stored.expectations) == _signature(wanted.expectations):
        return stored
    ctx.suites.delete(name)
    return ctx.suites.add(wanted)


def _signature(expectations: list[Any]) -> str:
    """What a suite checks (its expectations' configurations without the ids a store assigns)."""
    import json

    configs = [{k: v for k, v in e.configuration.to_json_dict().items() if k != "id"}
               for e in expectations]  # fmt: skip
    return json.dumps(configs, sort_keys=True, default=str)


def _checkpoint(
    ctx: Any, name: str, batch_definition: Any, suite: Any, result_format: dict[str, Any]
) -> Any:
    """The Checkpoint `name` validating `suite` on `batch_definition`; running it stores the
    results. Its pages are rendered once per run for all new results (`build_site`): GX's
    UpdateDataDocsAction here cost 1.5 s per partner-day (templates compiled again and the
    index rebuilt from every stored result each time)."""
    import great_expectations as gx

    definition = ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
    )
    return ctx.checkpoints.add_or_update(
        gx.Checkpoint(
            name=name,
            validation_definitions=[definition],
            actions=[],
            result_format=result_format,
        )
    )


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
    """The Checkpoint `name` (made, and its suite stored, on first use in this process or when
    the contract changed the suite); `add_batch(ctx, name, target)` adds its data source."""
    import json

    signature = json.dumps(
        [e.configuration.to_json_dict() for e in expectations], sort_keys=True, default=str
    )
    known = _prepared.get((gx_dir, name))
    if known and known[0] == signature:
        return known[1]
    ctx = context(gx_dir)
    target = _targets.setdefault(name, _Target())
    for source in [s for s in ctx.data_sources.all() if s == name]:
        ctx.data_sources.delete(source)
    batch = add_batch(ctx, name, target)
    try:
        checkpoint = _checkpoint(ctx, name, batch, _suite(ctx, name, expectations), result_format)
    except Exception:
        # a run killed while GX wrote one of them leaves a file that does not parse: written
        # again from the contract (they hold nothing else)
        for store in ("expectations", "validation_definitions", "checkpoints"):
            (gx_dir / store / f"{name}.json").unlink(missing_ok=True)
        checkpoint = _checkpoint(ctx, name, batch, _suite(ctx, name, expectations), result_format)
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
    result = _fresh_run(
        gx_dir, name, delivery_expectations(contract), _frame_batch, REFUSAL_FORMAT,
        batch_parameters={"dataframe": frame}, run_id=_run_id(export_date),
    )  # fmt: skip
    return _only(gx_dir, result, f"{contract.partner} {export_date.isoformat()} delivered files")


def _run_records(gx_dir: Path, con: duckdb.DuckDBPyConnection, database: str,
                 contract: Contract, export_date: date) -> Any:  # fmt: skip
    name = f"{contract.partner}_records"
    target = _targets.setdefault(name, _Target())
    target.con, target.database = con, database
    try:
        result = _fresh_run(
            gx_dir, name, record_expectations(contract), _records_batch, RESULT_FORMAT,
            expectation_parameters={"export_date": export_date}, run_id=_run_id(export_date),
        )  # fmt: skip
    finally:
        target.con = None
    return _only(gx_dir, result, f"{contract.partner} {export_date.isoformat()} records")


def _fresh_run(gx_dir: Path, name: str, expectations: list[Any], add_batch: Any,
               result_format: dict[str, Any], **run: Any) -> Any:  # fmt: skip
    """Run the Checkpoint `name`; once more, made again from the stores, when another process
    (a Dask worker) stored its suite, definition or Checkpoint since this one made it."""
    from great_expectations.exceptions import CheckpointRelatedResourcesFreshnessError

    try:
        return _prepared_checkpoint(gx_dir, name, expectations, add_batch, result_format).run(**run)
    except CheckpointRelatedResourcesFreshnessError:
        _prepared.pop((gx_dir, name), None)
        return _prepared_checkpoint(gx_dir, name, expectations, add_batch, result_format).run(**run)


def _only(gx_dir: Path, checkpoint_result: Any, asset: str) -> Any:
    """The one validation result of a Checkpoint run, stored again with the partner-day named
    as its data asset (GX's pages show the data asset from `batch_kwargs`, which a fluent data
    source leaves empty: "Data asset: None")."""
    ((key, result),) = checkpoint_result.run_results.items()
    result.meta["batch_kwargs"] = {"data_asset_name": asset}
    context(gx_dir).validation_results_store.set(key, result)
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


def build_site(gx_dir: Path) -> Path:
    """Build the Data Docs site: the pages of results that have none yet (a run renders only its
    own), every suite, and the index of every stored result. Its index page."""
    _imported()
    with _gx_lock:
        ctx = context(gx_dir)
        for store in ("uncommitted/validations", "expectations", "validation_definitions", "checkpoints"):  # fmt: skip
            _drop_unreadable(gx_dir / store)
        site = gx_dir / "data_docs" / "validations"
        new = [
            key for key in ctx.validation_results_store.list_keys()
            if not Path(str(site.joinpath(*map(str, key.to_tuple()))) + ".html").exists()
        ]  # fmt: skip
        suites = ctx.expectations_store.list_keys()
        ctx.build_data_docs(site_names=[SITE], resource_identifiers=[*new, *suites])
    return gx_dir / "data_docs" / "index.html"


def _drop_unreadable(store: Path) -> None:
    """Remove a store's files that do not parse (a run killed while GX wrote them), which would
    stop the site's build: a result's partner-day is validated again by the next run, and a
    suite, definition or Checkpoint is written again from the contract when next used."""
    import json

    for path in store.rglob("*.json"):
        try:
            json.loads(path.read_bytes())
        except ValueError:
            path.unlink()
