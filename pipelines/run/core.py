"""The one run core: plan a run, stage its partner-days, load them in order, publish.

A run over [start, end] is planned here (scan the landing area, read the ledger, find what is
unchanged or a standing failure, decide what to stage and the load order), then executed
through an `Orchestrator`: something that stages partner-days (in this process's threads, on a
Dask cluster as Prefect tasks, ...) and runs the loads and the publish. The Prefect flows
(flows/runs.py) and the plain runner below are its two implementations; neither plans or
loads anything itself.

Loads take the warehouse's writer lock (lock.py) and attach the warehouse to the run's DuckDB
instance, where the staged partner-days already are: loading is SQL from staged tables into
warehouse tables. Partner-days load in (export date, partner) order, so the volume warning
sees the same history however a backfill is split or interrupted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

import duckdb
from pydantic import SecretStr

from pipelines import crash, progress
from pipelines.contracts import Contract, load_contracts
from pipelines.intake import remote
from pipelines.intake.landing import Delivery, PartnerDay, scan
from pipelines.publish import build as publish
from pipelines.publish import history
from pipelines.quality import data_docs
from pipelines.run import engine
from pipelines.run.gate import GATE
from pipelines.run.lock import writer_lock
from pipelines.run.stage import (
    RunAborted,
    StageConfig,
    inspect,
    machine_failure,
    machine_reason,
    refusal_results,
    release_staged,
    stage,
)
from pipelines.run.step import Step, delivered_bytes
from pipelines.settings import Settings
from pipelines.warehouse import load as loading
from pipelines.warehouse import resolve
from pipelines.warehouse import store as warehouse

Log = Callable[[str], None]


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs from the settings, read once where the run starts."""

    landing: Path
    warehouse: Path
    publish: Path
    staging_dir: Path
    gx_dir: Path
    max_file_bytes: int
    max_day_bytes: int
    max_uncompressed_bytes: int
    memory_limit: str
    writer_wait_seconds: float
    large_day_bytes: int
    workers: int
    key: SecretStr
    key_check: str
    publish_mode: int = 0o644

    @classmethod
    def from_settings(
        cls, settings: Settings, key: bytes, landing: Path | None = None
    ) -> RunConfig:
        """The run's config; `landing` is the local landing area the run scans (the cache of a
        remote one, see pipelines/intake/remote.py), by default the settings' folder."""
        checked = settings.model_copy(update={"pii_key": SecretStr(key.decode("utf-8"))})
        return cls(
            landing or Path(settings.landing), settings.warehouse, settings.publish, settings.staging_dir,
            settings.gx_dir, settings.max_file_bytes, settings.max_day_bytes,
            settings.max_uncompressed_bytes, settings.memory_limit, settings.writer_wait_seconds,
            settings.large_day_bytes, settings.workers, SecretStr(key.decode("utf-8")), checked.key_check(),
            int(settings.publish_mode, 8),
        )  # fmt: skip

    def stage_config(self, run_id: str, to_files: bool = False) -> StageConfig:
        return StageConfig(self.staging_dir / run_id, self.gx_dir, self.max_file_bytes,
                           self.max_day_bytes, self.max_uncompressed_bytes, self.memory_limit,
                           self.key, to_files)  # fmt: skip


@dataclass(frozen=True)
class StageJob:
    """One partner-day to stage: what a stage task receives (nothing personal; the key masked)."""

    day: PartnerDay
    contract: Contract
    ledger: warehouse.LedgerEntry | None
    inspected: tuple[Step, Delivery] | None
    config: StageConfig
    large_day_bytes: int

    @property
    def label(self) -> str:
        return self.day.label


def stage_job(job: StageJob) -> Step:
    """Inspect (unless the plan did) and stage one partner-day, a large one alone (gate.py)."""
    step, delivery = job.inspected or inspect(job.day, job.contract, job.config, job.ledger)
    if step.status == "failed":
        return refusal_results(step, job.contract, job.config, delivery)
    if step.status != "pending":
        return step
    with GATE.hold(delivered_bytes(step) > job.large_day_bytes):
        return stage(step, delivery, job.contract, job.config)


class Handle(Protocol):
    def result(self) -> Step: ...


class Orchestrator(Protocol):
    """What executes a planned run: stages partner-days, runs the loads and the publish."""

    stages_to_files: bool

    def submit(self, job: StageJob) -> Handle: ...

    def load(self, con: duckdb.DuckDBPyConnection, step: Step, contract: Contract, run_id: str) -> Step: ...  # fmt: skip

    def publish(self, con: duckdb.DuckDBPyConnection, config: RunConfig, contracts: dict[str, Contract]) -> Published: ...  # fmt: skip

    def wait(self, handles: list[Handle]) -> None: ...


@dataclass(frozen=True)
class Published:
    resolve: resolve.ResolveStats | None
    summary: publish.PublishSummary | None
    seconds: dict[str, float] = field(default_factory=dict)  # resolve, publish, docs


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    steps: tuple[Step, ...]
    missing: tuple[PartnerDay, ...]  # folders without _SUCCESS: not delivered
    published: publish.PublishSummary | None
    resolve: resolve.ResolveStats | None
    publish_seconds: dict[str, float] = field(default_factory=dict)
    plan_seconds: float = 0.0
    # partners or partner-days that could not be pulled from their landing area (remote.py)
    landing_failures: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # run-level, e.g. a nightly run that found no delivery

    @property
    def seconds(self) -> dict[str, float]:
        """Seconds by stage over the whole run (stages summed over partner-days; staging runs
        in parallel, so their sum can exceed the run's own time)."""
        totals: dict[str, float] = {"plan": round(self.plan_seconds, 3)}
        for step in self.steps:
            for stage_name, secs in step.seconds.items():
                totals[stage_name] = round(totals.get(stage_name, 0.0) + secs, 3)
        return {**totals, **self.publish_seconds}

    def count(self, status: str) -> int:
        return sum(1 for s in self.steps if s.status == status)

    @property
    def exit_status(self) -> int:
        return 1 if self.count("failed") or self.landing_failures else 0


@dataclass(frozen=True)
class Plan:
    run_id: str
    jobs: tuple[StageJob, ...]  # delivered partner-days, in load order
    missing: tuple[PartnerDay, ...]
    seconds: float = 0.0
    landing_failures: tuple[str, ...] = ()

    def settled(self, job: StageJob) -> Step | None:
        """The outcome already known at planning (unchanged, standing failure), if any."""
        if job.inspected and (job.inspected[0].status == "unchanged" or job.inspected[0].standing):
            return job.inspected[0]
        return None


# --- the warehouse under the writer lock ---------------------------------------------------


@contextmanager
def warehouse_writer(config: RunConfig, run_id: str, log: Log | None = None) -> Iterator[duckdb.DuckDBPyConnection]:  # fmt: skip
    """The warehouse attached to this process's DuckDB instance, for writing, under the writer
    lock (waiting while another run holds it), its key checked; detached on leaving."""
    with writer_lock(config.warehouse, run_id, config.writer_wait_seconds, log):
        crash.point("writer-lock-held")
        con = engine.cursor(config.memory_limit, spill_dir(config))
        warehouse.attach(con, config.warehouse, config.writer_wait_seconds, log)
        try:
            warehouse.check_key(con, config.key_check)
            yield con
        except BaseException:
            # leaving on an error: the error is the news, not a checkpoint that fails after it
            # (on a full disk DuckDB's detach fails too; the WAL still holds every commit)
            with contextlib.suppress(duckdb.Error):
                warehouse.detach(con)
            raise
        else:
            try:
                warehouse.detach(con)  # checkpoints the WAL into the file
            except duckdb.Error as exc:
                if machine_failure(exc):
                    raise RunAborted(f"the warehouse could not be checkpointed: {machine_reason(exc)} "
                                     "(every load committed is kept in its WAL)") from exc  # fmt: skip
                raise
        finally:
            con.close()


def spill_dir(config: RunConfig) -> Path:
    """Where this process's DuckDB instance spills (pseudonymised data only), swept with the
    staging area when the process is gone."""
    return config.staging_dir / f"process-{os.getpid()}" / "spill"


def staging_area(config: RunConfig, run_id: str) -> Path:
    """This run's staging folder; folders of runs or processes that are gone are removed first."""
    root = config.staging_dir
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder in root.iterdir():
        try:
            pid = int((folder / "pid").read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            shutil.rmtree(folder, ignore_errors=True)  # a crashed run's leftovers (pseudonymised)
    for mine in (root / run_id, spill_dir(config).parent):
        mine.mkdir(parents=True, exist_ok=True, mode=0o700)
        (mine / "pid").write_text(str(os.getpid()))
    return root / run_id


# --- planning --------------------------------------------------------------------------------


def plan(config: RunConfig, contracts: dict[str, Contract], start: date, end: date,
         partners: list[str] | None, run_id: str, log: Log, to_files: bool = False,
         intake: remote.Intake | None = None) -> Plan:  # fmt: skip
    """Scan the landing area, read the ledger (briefly, under the writer lock), and inspect the
    partner-days it holds (file stats only when nothing changed): an unchanged day or a standing
    failure needs no staging. Everything delivered is in the plan, in load order."""
    started = time.perf_counter()
    unknown = sorted(set(partners or []) - set(contracts))
    if unknown:
        raise ValueError(f"unknown partner(s) {unknown}; known: {sorted(contracts)}")
    # a remote landing area was mirrored into a local cache first (`intake`, remote.py)
    days = (
        intake.scan(start, end, partners)
        if intake
        else scan(config.landing, contracts, start, end, partners)
    )
    delivered = [d for d in days if d.delivered]
    missing = tuple(d for d in days if not d.delivered)
    for d in missing:
        log(f"{d.label}: no _SUCCESS marker; not delivered, skipped")
    with warehouse_writer(config, run_id, log) as con:
        known = warehouse.ledger(con, [(d.partner, d.export_date) for d in delivered])
    stage_config = config.stage_config(run_id, to_files)
    jobs = []
    for day in delivered:
        ledger = known.get((day.partner, day.export_date))
        contract = contracts[day.partner].on(day.export_date)  # the version in force that day
        inspected = inspect(day, contract, stage_config, ledger) if ledger else None
        jobs.append(
            StageJob(day, contract, ledger, inspected, stage_config, config.large_day_bytes)
        )
    failures = intake.failures if intake else ()
    return Plan(run_id, tuple(jobs), missing, time.perf_counter() - started, failures)


# --- executing -------------------------------------------------------------------------------


def execute(plan: Plan, config: RunConfig, contracts: dict[str, Contract], orchestrator: Orchestrator, log: Log) -> RunSummary:  # fmt: skip
    """Stage the plan's partner-days (at most a few ahead of the loads, so staged days never
    pile up in memory), load each in order as it is ready, then publish."""
    staging_area(config, plan.run_id)
    window = config.workers + 2
    queue = deque(plan.jobs)
    pending: deque[tuple[StageJob, Handle | Step]] = deque()
    handles: list[Handle] = []
    steps: list[Step] = []

    def top_up() -> None:
        while queue and sum(1 for _, h in pending if not isinstance(h, Step)) < window:
            job = queue.popleft()
            settled = plan.settled(job)
            if settled is not None:
                pending.append((job, settled))
                continue
            handle = orchestrator.submit(job)
            handles.append(handle)
            pending.append((job, handle))

    published = Published(None, None)
    progress.report(0, len(plan.jobs), "planned")
    try:
        top_up()
        with warehouse_writer(config, plan.run_id, log) as con:
            while pending:
                job, handle = pending.popleft()
                top_up()
                staged = handle if isinstance(handle, Step) else handle.result()
                step = orchestrator.load(con, staged, job.contract, plan.run_id)
                steps.append(step)
                counts = f"read {step.rows_read}, loaded {step.rows_loaded}, quarantined {step.rows_quarantined}, warnings {step.warnings}"  # fmt: skip
                log(
                    f"{step.label}: {step.status} ({counts}){': ' + step.detail if step.detail else ''}"
                )
                progress.report(len(steps), len(plan.jobs), step.label)
                if len(steps) % 25 == 0 or not pending:
                    log(f"progress: {len(steps)} of {len(plan.jobs)} partner-days done")
            progress.report(len(steps), len(plan.jobs), "resolving identities and publishing")
            published = orchestrator.publish(con, config, contracts)
    finally:
        # never remove staged data under a partner-day still being staged; free what a stopped
        # run staged but never loaded
        orchestrator.wait(handles)
        loaded = {(s.partner, s.export_date) for s in steps}
        for _, handle in pending:
            left = handle if isinstance(handle, Step) else _done(handle)
            if left is not None and left.staged and (left.partner, left.export_date) not in loaded:
                with _closing(engine.cursor()) as con:
                    release_staged(con, left.staged)
        shutil.rmtree(config.staging_dir / plan.run_id, ignore_errors=True)
    return RunSummary(plan.run_id, tuple(steps), plan.missing, published.summary, published.resolve,
                      published.seconds, plan.seconds, plan.landing_failures)  # fmt: skip


def _done(handle: Handle) -> Step | None:
    try:
        return handle.result()
    except BaseException:
        return None


@contextmanager
def _closing(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    try:
        yield con
    finally:
        con.close()


def load(con: duckdb.DuckDBPyConnection, step: Step, contract: Contract, run_id: str) -> Step:
    """Load one staged partner-day (or record its failure, or that it was unchanged); a machine
    failure (disk full) stops the run with the partner-day left as it was."""
    try:
        return _load(con, step, contract, run_id)
    except Exception as exc:
        if machine_failure(exc):
            raise RunAborted(f"{step.label}: load stopped: {machine_reason(exc)}") from exc
        raise
    finally:
        if step.staged is not None:
            release_staged(con, step.staged)


def _load(con: duckdb.DuckDBPyConnection, step: Step, contract: Contract, run_id: str) -> Step:
    at, started = datetime.now(UTC), time.perf_counter()
    if not step.standing and step.status != "unchanged":
        # another run may have loaded this very content while this one was staging it
        current = warehouse.ledger_entry(con, step.partner, step.export_date)
        if current and (current.content_sha256, current.contract_sha256) == (step.content_sha256, step.contract_sha256):  # fmt: skip
            if current.status == "failed":
                step = replace(step.fail(current.detail or "refused (see partner_loads)", current.rows_read), standing=True)  # fmt: skip
            else:
                step = replace(step, status="unchanged", staged=None)
    if step.standing or step.status == "unchanged":
        attempt = "failed" if step.standing else "unchanged"
        loading.record_attempt(con, run_id, step.partner, step.export_date, attempt, step.content_sha256, step.detail, at)  # fmt: skip
        return step
    if step.status != "failed" and step.rows_read is not None:
        warning = volume_warning(
            step.rows_read, warehouse.volume_history(con, step.partner, step.export_date)
        )
        if warning:
            step = replace(step, notes=(*step.notes, warning))
    outcome = step.outcome()
    if step.status == "failed":
        loading.save_failure(con, outcome, at)
    else:
        assert step.staged is not None
        if step.rows_read != step.rows_loaded + step.rows_quarantined:
            raise AssertionError(
                f"{step.label}: rows read {step.rows_read} != loaded + quarantined"
            )
        if step.staged.path is not None:  # staged by another process: attach its file
            con.execute(f"ATTACH '{step.staged.path}' AS {step.staged.database} (READ_ONLY)")
        loading.load_partner_day(con, outcome, step.staged.database, contract.channel,
                                 contract.delivery == "snapshot", at)  # fmt: skip
        step = replace(step, status="loaded")
        crash.point("load-after-commit")
    loading.record_attempt(con, run_id, step.partner, step.export_date, outcome.status, step.content_sha256, outcome.detail, at)  # fmt: skip
    return step.timed("load", started)


def volume_warning(rows_read: int, history: list[int]) -> str | None:
    """The warning for a volume under a tenth or over ten times the recent median, else None.

    partners.md read literally: the median is the statistical one (the mean of the two middle
    values for an even count), and a median of 0 makes any non-empty day "over ten times" it.
    """
    import statistics

    if not history:
        return None
    median = statistics.median(history)
    if median / 10 <= rows_read <= median * 10:
        return None
    shown = int(median) if median == int(median) else median
    return f"volume warning: {rows_read} records against a recent median of {shown}"


def delivered_days(landing: Path, contracts: dict[str, Contract]) -> dict[str, set[date]]:
    """Every partner-day folder with `_SUCCESS` in the landing area, by partner."""
    out: dict[str, set[date]] = {}
    for day in scan(landing, contracts, date.min, date.max):
        if day.delivered:
            out.setdefault(day.partner, set()).add(day.export_date)
    return out


def publish_if_needed(con: duckdb.DuckDBPyConnection, config: RunConfig, contracts: dict[str, Contract]) -> Published:  # fmt: skip
    """Settle a publication a crash left pending (publish/history.py), then, unless the
    published file already shows the warehouse's current state: refresh touched listings and
    resolve identities (one transaction), write Data Docs, and publish (a new publication only
    when a published value changed)."""
    try:
        history.reconcile(con, config.publish)
        version = warehouse.state_version(con)
        if warehouse.published_version(con) == version and config.publish.exists():
            return Published(None, None)
        snapshots = [p for p, c in contracts.items() if c.delivery == "snapshot" and c.channel == "marketplace"]  # fmt: skip
        events = [p for p, c in contracts.items() if c.events]
        started = time.perf_counter()
        with warehouse.transaction(con):
            resolve.refresh_listings(con, snapshots, events)
            stats = resolve.resolve_identities(con)
            crash.point("resolve-before-commit")
        seconds = {"resolve": round(time.perf_counter() - started, 3)}
        crash.point("after-resolve")
        started = time.perf_counter()
        data_docs.write_site(config.gx_dir, contracts)
        seconds["docs"] = round(time.perf_counter() - started, 3)
        crash.point("docs-written")
        started = time.perf_counter()
        summary = publish.publish(
            con,
            config.publish,
            contracts,
            delivered_days(config.landing, contracts),
            config.publish_mode,
            version,
        )
        seconds["publish"] = round(time.perf_counter() - started, 3)
        crash.point("after-publish")
        return Published(stats, summary, seconds)
    except Exception as exc:
        if machine_failure(exc):
            raise RunAborted(f"publishing stopped: {machine_reason(exc)}") from exc
        raise


# --- the plain orchestrator ------------------------------------------------------------------


class Plain:
    """Stages in this process's threads and loads and publishes directly: no orchestrator."""

    stages_to_files = False

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stage")

    def submit(self, job: StageJob) -> Handle:
        return self._pool.submit(stage_job, job)

    def load(self, con: duckdb.DuckDBPyConnection, step: Step, contract: Contract, run_id: str) -> Step:  # fmt: skip
        return load(con, step, contract, run_id)

    def publish(self, con: duckdb.DuckDBPyConnection, config: RunConfig, contracts: dict[str, Contract]) -> Published:  # fmt: skip
        return publish_if_needed(con, config, contracts)

    def wait(self, handles: list[Handle]) -> None:
        self._pool.shutdown(wait=True)


def run(settings: Settings, key: bytes, start: date, end: date, partners: list[str] | None = None,
        orchestrator: Orchestrator | None = None, log: Log | None = None,
        run_id: str | None = None, blocks: remote.BlockReader | None = None) -> RunSummary:  # fmt: skip
    """A whole run: its landing area made local (a remote one mirrored; one that is not there
    raises LandingUnavailable), then planned, then executed through `orchestrator` (plainly by
    default)."""
    # the warehouse, staging, spill, Data Docs and landing cache hold pseudonymised listing-level
    # data (still personal data, UU 27/2022): everything the run creates is its user's only,
    # whatever umask it was started with; the published file is opened up on purpose (publish)
    previous = os.umask(0o077)
    try:
        return _run(settings, key, start, end, partners, orchestrator, log, run_id, blocks)
    except RunAborted:
        raise
    except Exception as exc:
        # a full disk (or memory) wherever the run met it (the lock file, the staging area):
        # one clear message, nothing half written
        if machine_failure(exc):
            raise RunAborted(f"the run stopped: {machine_reason(exc)}") from exc
        raise
    finally:
        os.umask(previous)


def _run(settings: Settings, key: bytes, start: date, end: date, partners: list[str] | None,
         orchestrator: Orchestrator | None, log: Log | None, run_id: str | None,
         blocks: remote.BlockReader | None) -> RunSummary:  # fmt: skip
    contracts = load_contracts()
    run_id = run_id or uuid.uuid4().hex
    say = log or (lambda _: None)
    orchestrator = orchestrator or Plain(settings.workers)
    intake = remote.prepare_landing(settings, contracts, start, end, partners, blocks=blocks,
                                    logger=remote.CallbackLogger(say))  # fmt: skip
    config = RunConfig.from_settings(settings, key, intake.root)
    planned = plan(config, contracts, start, end, partners, run_id, say,
                   orchestrator.stages_to_files, intake)  # fmt: skip
    return execute(planned, config, contracts, orchestrator, say)


def run_plain(settings: Settings, start: date, end: date, partners: list[str] | None = None) -> RunSummary:  # fmt: skip
    """A run without Prefect, settings given (tests, the benchmark's Prefect share)."""
    return run(settings, settings.key_bytes(), start, end, partners)


def main(argv: list[str] | None = None) -> int:
    """`python -m pipelines.run.core START END [PARTNER ...]`: a run without Prefect, settings from
    the environment (the benchmark's plain steps)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    summary = run_plain(Settings(), date.fromisoformat(args[0]), date.fromisoformat(args[1]), args[2:] or None)  # fmt: skip
    print(f"loaded={summary.count('loaded')} unchanged={summary.count('unchanged')} "
          f"failed={summary.count('failed')} missing={len(summary.missing)}")  # fmt: skip
    return summary.exit_status


if __name__ == "__main__":
    raise SystemExit(main())
