"""Prefect flows: the nightly run (one export date) and backfills (a date range).

The run itself is pipelines/run/core.py: it plans the run and executes it through the
orchestrator below, which makes each partner-day's staging a Prefect task (on the flow's task
runner: threads, or a Dask cluster) and each load a task in the flow's own process, the
warehouse's single writer. Settings are read once, in the flow, and reach tasks as parameters.
Nothing personal is a task parameter or result: steps carry counts, hashes and table names;
the pseudonymisation key travels masked.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone
from typing import Any

import duckdb

from flows import env

env.apply()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact, create_table_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.states import Failed  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402

from flows.landing_blocks import read_block  # noqa: E402
from pipelines.contracts import Contract, load_contracts  # noqa: E402
from pipelines.intake import remote  # noqa: E402
from pipelines.reporting import summary  # noqa: E402
from pipelines.run import core  # noqa: E402
from pipelines.run.step import Step  # noqa: E402
from pipelines.settings import Settings  # noqa: E402

JAKARTA = timezone(timedelta(hours=7))
TASK_OPTIONS: dict[str, Any] = {"cache_policy": NO_CACHE, "persist_result": False}


def task_runner() -> Any:
    """Threads of the flow process by default; a Dask cluster (local processes, or the one at
    UMKM_DASK_ADDRESS) with UMKM_TASK_RUNNER=dask. A stage on another process hands over a
    DuckDB file in the staging area; the single warehouse writer stays in the flow process."""
    settings = Settings()
    if settings.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if settings.dask_address:
            return DaskTaskRunner(address=settings.dask_address)
        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": settings.workers,
                "threads_per_worker": 1,
                "processes": True,
            }
        )
    return ThreadPoolTaskRunner(max_workers=settings.workers)


def yesterday_in_jakarta() -> date:
    return datetime.now(JAKARTA).date() - timedelta(days=1)


def pii_key(settings: Settings) -> bytes:
    """The pseudonymisation key: UMKM_PII_KEY, else the Prefect Secret block `umkm-pii-key`."""
    if settings.pii_key is not None:
        return settings.key_bytes()
    try:
        from prefect.blocks.system import Secret

        secret = Secret.load("umkm-pii-key")  # type: ignore[union-attr]
        settings = settings.model_copy(update={"pii_key": secret.get()})
    except (ValueError, ImportError):
        pass
    return settings.key_bytes()


@task(name="stage", task_run_name="stage {job.label}", **TASK_OPTIONS)
def stage_task(job: core.StageJob) -> Step:
    """Inspect, read, pseudonymise, normalise and validate one partner-day."""
    return core.stage_job(job)


@task(name="load", task_run_name="load {step.partner} {step.export_date}", **TASK_OPTIONS)
def load_task(con: Any, step: Step, contract: Contract, run_id: str) -> Step:
    return core.load(con, step, contract, run_id)


@task(name="resolve-and-publish", **TASK_OPTIONS)
def publish_task(
    con: Any, config: core.RunConfig, contracts: dict[str, Contract]
) -> core.Published:
    """Resolve identities and publish, when anything changed since the last publish."""
    return core.publish_if_needed(con, config, contracts)


class PrefectOrchestrator:
    """The core's orchestrator as Prefect tasks; an unchanged partner-day costs no task run."""

    def __init__(self, to_files: bool) -> None:
        self.stages_to_files = to_files

    def submit(self, job: core.StageJob) -> Any:
        return stage_task.submit(job)

    def load(self, con: duckdb.DuckDBPyConnection, step: Step, contract: Contract, run_id: str) -> Step:  # fmt: skip
        if step.status == "unchanged" or step.standing:
            return core.load(con, step, contract, run_id)  # only the attempt is recorded
        return load_task(con, step, contract, run_id)

    def publish(self, con: duckdb.DuckDBPyConnection, config: core.RunConfig, contracts: dict[str, Contract]) -> core.Published:  # fmt: skip
        return publish_task(con, config, contracts)

    def wait(self, handles: list[Any]) -> None:
        for handle in handles:
            handle.wait()


def process_range(
    start: date, end: date, partners: list[str] | None, run_id: str
) -> core.RunSummary:
    """Every delivered partner-day in [start, end] through the run core, as Prefect tasks."""
    logger = get_run_logger()
    settings = Settings()
    # a stage on another process (Dask) hands over a file; threads of this process, tables
    orchestrator = PrefectOrchestrator(
        to_files=not isinstance(_task_runner(), ThreadPoolTaskRunner)
    )

    def log(line: str) -> None:
        bad = any(w in line for w in (": failed", "waiting for", "not delivered", "not pulled"))
        (logger.warning if bad else logger.info)(line)

    # refuses without a key; a remote landing area is mirrored first (remote.py), with the
    # credentials its Prefect block may hold
    return core.run(settings, pii_key(settings), start, end, partners, orchestrator, log, run_id,
                    blocks=read_block)  # fmt: skip


def _task_runner() -> Any:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return context.task_runner if context else None


class PartnerDaysFailed(Exception):
    """Some partner-days failed (the rest were loaded and published): the flow run ends Failed,
    which an automation can alert on; `result` holds the run's summary."""

    def __init__(self, result: dict[str, Any]):
        super().__init__(
            f"{result['failed']} partner-day(s) failed: " + "; ".join(result["failures"])
        )
        self.result = result


@task(name="freshness-check", **TASK_OPTIONS)
def freshness_task(published: Any, contracts: dict[str, Contract]) -> Any:
    """Fails (visibly, as its own task run) when a partner is further behind than its contract
    allows: an outcome to alert on, so a Failed state with the reason, not a traceback."""
    late = summary.overdue_partners(published, contracts)
    if late:
        return Failed(message="partners behind schedule: " + "; ".join(late))
    return None


def artifact_url(artifact_id: Any) -> str:
    """The artifact's page in the Prefect UI (absolute when the UI's address is known)."""
    from prefect.settings import get_current_settings

    base = (get_current_settings().ui_url or "").rstrip("/")
    return f"{base}/artifacts/artifact/{artifact_id}"


def _finish(run: core.RunSummary, kind: str) -> dict[str, Any]:
    """Report the run (artifact, freshness check), then end Failed if any partner-day failed."""
    settings = Settings()
    table = create_table_artifact(
        key=f"umkm-{kind}-validation",
        table=summary.validation_rows(run),
        description=f"UMKM {kind}: each partner-day's validation outcome (rows read, loaded, "
        "quarantined, warnings, and why)",
    )
    create_markdown_artifact(
        key=f"umkm-{kind}-run",
        markdown=summary.markdown(
            run, settings.publish, kind, artifact_url(table), settings.gx_dir / "data_docs"
        ),
        description=f"UMKM {kind}: partner-day outcomes and national progress against target",
    )
    freshness = freshness_task(settings.publish, load_contracts(), return_state=True)
    if freshness.is_failed():
        get_run_logger().warning("freshness check failed: %s", freshness.message)
    result = {
        "run_id": run.run_id,
        "loaded": run.count("loaded"),
        "unchanged": run.count("unchanged"),
        "failed": run.count("failed") + len(run.landing_failures),
        "missing": len(run.missing),
        "failures": [f"{s.label}: {s.detail}" for s in run.steps if s.status == "failed"]
        + [f"not pulled: {line}" for line in run.landing_failures],
        "warnings": list(run.warnings),
        "exit_status": run.exit_status,
        "seconds": run.seconds,
        "publication": run.published.publication_id if run.published else None,
        "moved": summary.moved_line(run),
    }
    get_run_logger().info("%s", result["moved"])
    for line in run.warnings:
        get_run_logger().warning("%s", line)
    if run.exit_status:
        for line in result["failures"]:
            get_run_logger().error("failed: %s", line)
        # the flow run ends Failed and the caller gets PartnerDaysFailed, without Prefect
        # logging a traceback of what is an outcome, not a crash
        failed = PartnerDaysFailed(result)
        return Failed(message=str(failed), data=failed)  # type: ignore[return-value]
    return result


@flow(name="umkm-nightly", task_runner=task_runner(), persist_result=False)
def nightly(export_date: date | None = None, partners: list[str] | None = None) -> dict[str, Any]:
    """The nightly job: every partner's export for one date (default: yesterday, Asia/Jakarta)."""
    from prefect.runtime import flow_run

    day = export_date or yesterday_in_jakarta()
    run = process_range(day, day, partners, str(flow_run.id or "local"))
    warning = remote.nothing_due_delivered(load_contracts(), partners, day, list(run.steps), str(Settings().landing))  # fmt: skip
    if warning:
        run = dataclasses.replace(run, warnings=(*run.warnings, warning))
    return _finish(run, "nightly")


@flow(name="umkm-backfill", task_runner=task_runner(), persist_result=False)
def backfill(start: date, end: date, partners: list[str] | None = None) -> dict[str, Any]:
    """Every delivered partner-day in [start, end], loaded in date order, then one publish."""
    from prefect.runtime import flow_run

    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return _finish(process_range(start, end, partners, str(flow_run.id or "local")), "backfill")
