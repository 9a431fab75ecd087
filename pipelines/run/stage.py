"""Staging one partner-day: inspect its delivery, then read, pseudonymise, normalise, aggregate
per listing and validate it, all inside DuckDB, into a staged database the loader attaches.

Each data file's bytes are read once to hash (streamed, at inspection) and once to parse
(streamed into DuckDB, decompressed and decoded on the way). Nothing here writes the warehouse,
so partner-days stage in parallel, in threads or on Dask workers, while one run loads.
"""

from __future__ import annotations

import errno
import functools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
from pydantic import SecretStr

from pipelines import crash, release
from pipelines.contracts import Contract
from pipelines.intake.landing import Delivery, DeliveryRefused, PartnerDay, inspect_delivery
from pipelines.intake.read import create_raw, read_delivery
from pipelines.quality.normalise import canonical_records, listing_day_sql
from pipelines.quality.validate import RESULT_SCHEMA, record_refusal, validate, warm_up
from pipelines.run import engine
from pipelines.run.step import Staged, Step
from pipelines.warehouse import store as warehouse


@dataclass(frozen=True)
class StageConfig:
    """What staging needs from the settings, handed to every stage as a parameter."""

    staging_dir: Path
    gx_dir: Path  # the Great Expectations project: suites, checkpoints, results, Data Docs
    max_file_bytes: int
    max_day_bytes: int
    max_uncompressed_bytes: int
    memory_limit: str
    key: SecretStr  # the pseudonymisation key; its repr is masked
    to_files: bool = False  # a stage in another process (Dask) hands over a DuckDB file

    def key_bytes(self) -> bytes:
        return self.key.get_secret_value().encode("utf-8")


class RunAborted(RuntimeError):
    """The machine, not the partner's delivery, failed a stage (disk full, out of memory, an
    I/O error): the run stops, and no partner-day is marked failed for it."""


_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ENOMEM}
_MACHINE_WORDS = ("no space left on device", "disk quota exceeded", "out of memory",
                  "read-only file system", "input/output error", "could not allocate")  # fmt: skip


def machine_failure(exc: BaseException) -> bool:
    """Whether an exception says the machine failed (then the run stops) rather than the data."""
    if isinstance(exc, MemoryError | RunAborted):
        return True
    if isinstance(exc, OSError) and exc.errno in _MACHINE_ERRNOS:
        return True
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error | OSError) and any(w in text for w in _MACHINE_WORDS)


def machine_reason(exc: BaseException) -> str:
    """What failed on the machine, in one line: the line of the error naming it (DuckDB puts
    "No space left on device" on a later line of a failed checkpoint), else its first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if any(w in line.lower() for w in _MACHINE_WORDS)]
    if not named:
        return first_line(exc)
    line = named[-1]
    _, marker, original = line.partition("Original error: ")  # past "Checkpoint failed for ..."
    return (original if marker else line)[-500:]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def isolated(stage: str) -> Callable[[Callable[..., Step]], Callable[..., Step]]:
    """Run a stage so that whatever a partner's files do to it fails only that partner-day,
    with a reason, never the run; a machine failure stops the run with a clear message."""

    def wrap(fn: Callable[..., Step]) -> Callable[..., Step]:
        @functools.wraps(fn)
        def run(step: Step, *args: Any, **kwargs: Any) -> Step:
            try:
                return fn(step, *args, **kwargs)
            except Exception as exc:
                if machine_failure(exc):
                    raise RunAborted(
                        f"{step.label}: {stage} stopped: {machine_reason(exc)}"
                    ) from exc
                return step.fail(
                    f"could not {stage} the delivery: unexpected {type(exc).__name__}: {first_line(exc)}",
                    step.rows_read,
                )

        return run

    return wrap


def inspect(
    day: PartnerDay, contract: Contract, config: StageConfig, ledger: warehouse.LedgerEntry | None
) -> tuple[Step, Delivery]:
    """Hash the delivery; `unchanged` when the ledger holds this content under this contract, a
    standing failure when the ledger refused this very content (by this release)."""
    started = time.perf_counter()
    known = ledger.known_files() if ledger else None
    delivery = inspect_delivery(day, contract, config.max_file_bytes, config.max_day_bytes, known)
    step = Step(day.partner, day.export_date, "pending", delivery.content_sha256, contract.sha256,
                tuple(f.stamp() for f in delivery.files), notes=delivery.warnings)  # fmt: skip
    if ledger and (ledger.content_sha256, ledger.contract_sha256) == (step.content_sha256, step.contract_sha256):  # fmt: skip
        if ledger.status != "failed":
            return step.timed("inspect", started, status="unchanged"), delivery
        if ledger.pipeline_version == release():
            # a refusal stays a failure until a corrected delivery (or a new release) re-judges it
            failed = step.fail(ledger.detail or "refused (see partner_loads)", ledger.rows_read)
            return replace(failed, standing=True).timed("inspect", started), delivery
    crash.point("inspect-done")
    if delivery.refusal:
        return step.timed("inspect", started).fail(delivery.refusal), delivery
    return step.timed("inspect", started), delivery


@isolated("stage")
def stage(step: Step, delivery: Delivery, contract: Contract, config: StageConfig) -> Step:
    """Read, pseudonymise, normalise, aggregate per listing and validate a pending partner-day
    into its own staged database; a refusal fails it with the reason."""
    if step.status != "pending":
        return step
    warm_up()  # validation needs Great Expectations: import it while this reads
    database = f"sd_{uuid.uuid4().hex[:12]}"
    path = None
    if config.to_files:
        path = (
            config.staging_dir / f"{step.partner}-{step.export_date.isoformat()}-{database}.duckdb"
        )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    con = engine.cursor(config.memory_limit, config.staging_dir / "spill")
    con.execute(f"ATTACH {_sql_text(str(path) if path else ':memory:')} AS {database}")
    staged = Staged(database, path)
    try:
        step = _stage_into(con, step, delivery, contract, config, staged)
    except BaseException:
        _drop(con, staged)
        raise
    if step.status == "failed":
        _drop(con, staged)
    elif path is not None:
        con.execute(f"DETACH {database}")  # complete on disk for the loader, in another process
    con.close()
    return step


def _stage_into(con: duckdb.DuckDBPyConnection, step: Step, delivery: Delivery, contract: Contract,
                config: StageConfig, staged: Staged) -> Step:  # fmt: skip
    db = staged.database
    started = time.perf_counter()
    create_raw(con, f"{db}.raw", contract)
    try:
        read = read_delivery(con, f"{db}.raw", delivery, contract, config.key_bytes(), config.max_uncompressed_bytes)  # fmt: skip
    except DeliveryRefused as exc:
        refused = step.timed("read", started).fail(exc.reason, exc.rows_read)
        return refusal_results(refused, contract, config, delivery)
    rows = {f.name: f.rows for f in read.files}
    files = tuple({**f, "rows": rows.get(str(f["name"]))} for f in step.files)
    step = step.timed("read", started, files=files, rows_read=read.rows_read,
                      notes=tuple(dict.fromkeys((*step.notes, *read.warnings))))  # fmt: skip
    crash.point("read-done")

    started = time.perf_counter()
    select = canonical_records(
        con, contract, step.export_date, f"{db}.raw", [f.row_base for f in read.files]
    )
    con.execute(f"CREATE TABLE {db}.records AS {select}")
    con.execute(f"DROP TABLE {db}.raw")
    if contract.channel == "marketplace":
        con.execute(f"CREATE TABLE {db}.listings AS {listing_day_sql(contract, f'{db}.records')}")
    total, quarantined, warned = con.execute(
        f"SELECT count(*), count(quarantine_rule), count(*) FILTER (WHERE len(warnings) > 0) FROM {db}.records"
    ).fetchall()[0]
    assert total == step.rows_read, (
        f"{step.label}: read {step.rows_read} records, normalised {total}"
    )
    step = step.timed("transform", started, rows_loaded=total - quarantined,
                      rows_quarantined=quarantined, warnings=warned)  # fmt: skip
    crash.point("transform-done")

    started = time.perf_counter()
    result = validate(config.gx_dir, con, db, contract, step.export_date, _files(step, delivery))
    columns = ", ".join(f"{name} {_duck(dtype)}" for name, dtype in RESULT_SCHEMA.items())
    con.execute(f"CREATE TABLE {db}.validation ({columns})")
    con.register("validation_in", result.results.to_arrow())
    con.execute(f"INSERT INTO {db}.validation SELECT * FROM validation_in")
    con.unregister("validation_in")
    summary = describe_rule_counts(result.results)
    step = step.timed("validate", started, notes=step.notes + ((summary,) if summary else ()))
    crash.point("validate-done")
    if not result.gate_passed:
        return step.fail(result.gate_detail, step.rows_read)
    return replace(step, staged=staged)


def _files(step: Step, delivery: Delivery | None) -> list[dict[str, Any]]:
    """The delivery's files for its results: name, records read (when read), manifest rows."""
    manifest = (delivery.manifest_rows if delivery else None) or {}
    return [
        {"name": f["name"], "rows": f.get("rows"), "manifest_rows": manifest.get(str(f["name"]))}
        for f in step.files
    ]


def refusal_results(step: Step, contract: Contract, config: StageConfig,
                    delivery: Delivery | None) -> Step:  # fmt: skip
    """Store the delivery suite's results of a refused partner-day (its Data Docs page). A
    refusal that stands (the same content again) keeps the page it already has."""
    if step.status == "failed" and not step.standing:
        record_refusal(config.gx_dir, contract, step.export_date, _files(step, delivery),
                       step.detail or "refused")  # fmt: skip
    return step


def _duck(dtype: Any) -> str:
    return {"String": "VARCHAR", "Boolean": "BOOLEAN", "Int64": "BIGINT"}[str(dtype)]


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _drop(con: duckdb.DuckDBPyConnection, staged: Staged) -> None:
    try:
        con.execute(f"DETACH DATABASE IF EXISTS {staged.database}")
    finally:
        if staged.path is not None:
            for leftover in (staged.path, staged.path.with_name(staged.path.name + ".wal")):
                leftover.unlink(missing_ok=True)


def release_staged(con: duckdb.DuckDBPyConnection, staged: Staged) -> None:
    """Free a loaded (or abandoned) partner-day's staged database."""
    _drop(con, staged)


def describe_rule_counts(results: Any) -> str:
    """Quarantine and warning counts in words, e.g. "quarantined: 2 no valid identifier (...)"."""
    import polars as pl

    parts = []
    for kind, label in (("record rule: quarantined", "quarantined"), ("attribute rule: warning", "warnings")):  # fmt: skip
        rows = results.filter(pl.col("expectation") == kind).sort(
            "unexpected_count", descending=True
        )
        if rows.height:
            items = [
                f"{n} {what} ({col})" if col else f"{n} {what}"
                for col, n, what in rows.select(
                    "column_name", "unexpected_count", "description"
                ).rows()
            ]
            parts.append(f"{label}: " + ", ".join(items))
    return "; ".join(parts)
