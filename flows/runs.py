"""Prefect flows: the nightly run (one export date) and backfills (a date range).

Tasks are thin wrappers around pipelines/ functions. Partner-days are staged (inspect, read,
transform, validate) concurrently by the task runner; the loads then run one at a time, in
date order, in the flow's own process, which is the warehouse's single writer. Nothing
personal is a task parameter or result: steps hand over paths and counts.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta, timezone
from typing import Any

from flows import env

env.apply()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402

from pipelines.contracts import load_contracts  # noqa: E402
from pipelines.intake.landing import Delivery, PartnerDay, scan  # noqa: E402
from pipelines.reporting import summary  # noqa: E402
from pipelines.run import core as runner  # noqa: E402
from pipelines.run import gate, partner_day  # noqa: E402
from pipelines.settings import Settings  # noqa: E402
from pipelines.warehouse import store as warehouse  # noqa: E402

JAKARTA = timezone(timedelta(hours=7))


def task_runner() -> Any:
    """Threads of the flow process by default; a Dask cluster (local processes, or the one at
    UMKM_DASK_ADDRESS) with UMKM_TASK_RUNNER=dask. Stages hand over files, so they run anywhere
    the staging folder is shared; the single warehouse writer stays in the flow process."""
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


TASK_OPTIONS: dict[str, Any] = {"cache_policy": NO_CACHE, "persist_result": False}


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


@task(name="read", task_run_name="read {day.partner} {day.export_date}", **TASK_OPTIONS)
def read_task(
    day: PartnerDay,
    ledger: warehouse.LedgerEntry | None,
    run_id: str,
    inspected: tuple[partner_day.Step, Delivery] | None = None,
) -> partner_day.Step:
    """Inspect the delivery (hashes, manifest, sizes; `unchanged` stops here), unless the flow
    already did (`inspected`), then read it."""
    settings = Settings()
    contract = load_contracts()[day.partner]
    step, delivery = inspected or partner_day.inspect(day, contract, settings, ledger, run_id)
    if step.status != "pending":
        return step
    with gate.GATE.hold(large(step)):
        return partner_day.read(step, delivery, contract, pii_key(settings), settings)


def large(step: partner_day.Step) -> bool:
    """Whether this partner-day stages alone (see pipelines/gate.py)."""
    return partner_day.delivered_bytes(step) > Settings().large_day_bytes


@task(name="transform", task_run_name="transform {step.partner} {step.export_date}", **TASK_OPTIONS)
def transform_task(step: partner_day.Step) -> partner_day.Step:
    with gate.GATE.hold(large(step)):
        return partner_day.transform(step, load_contracts()[step.partner])


@task(name="validate", task_run_name="validate {step.partner} {step.export_date}", **TASK_OPTIONS)
def validate_task(step: partner_day.Step) -> partner_day.Step:
    with gate.GATE.hold(large(step)):
        return partner_day.run_validation(
            step, load_contracts()[step.partner], Settings().gx_dir / "data_docs"
        )


@task(name="load", task_run_name="load {step.partner} {step.export_date}", **TASK_OPTIONS)
def load_task(con: Any, step: partner_day.Step, run_id: str) -> partner_day.Step:
    return partner_day.load(con, step, load_contracts()[step.partner], run_id)


@task(name="resolve-and-publish", **TASK_OPTIONS)
def publish_task(con: Any) -> dict[str, Any]:
    """Resolve identities and publish, when anything changed since the last publish."""
    stats, summary = runner.publish_if_needed(con, Settings(), load_contracts())
    return {"resolve": stats, "published": summary}


def process_range(
    start: date, end: date, partners: list[str] | None, run_id: str
) -> runner.RunSummary:
    """Stage every delivered partner-day in [start, end] concurrently, load in order, publish.

    The warehouse is held only briefly to read the ledger, then while loading and publishing,
    under its writer lock (pipelines/writer_lock.py): a nightly run and a backfill can overlap,
    staging in parallel and taking turns to write.
    """
    logger = get_run_logger()
    settings = Settings()
    contracts = load_contracts()
    unknown = sorted(set(partners or []) - set(contracts))
    if unknown:
        raise ValueError(f"unknown partner(s) {unknown}; known: {sorted(contracts)}")
    pii_key(settings)  # refuse to start without a key
    days = scan(settings.landing, contracts, start, end, partners)
    delivered = [d for d in days if d.delivered]
    missing = [d for d in days if not d.delivered]
    for d in missing:
        logger.warning("%s: no _SUCCESS marker; not delivered, skipped", d.label)
    with runner.warehouse_writer(settings, run_id, on_wait=logger.warning) as con:
        known = {d: warehouse.ledger_entry(con, d.partner, d.export_date) for d in delivered}
    # a partner-day the ledger already holds is checked here (file stats, no read when unchanged):
    # an unchanged one costs no task runs, so a rerun of a long range stays quick
    inspected = {
        day: partner_day.inspect(day, contracts[day.partner], settings, known[day], run_id)
        for day in delivered
        if known[day] is not None
    }
    area = runner.staging_area(settings, run_id)
    steps: list[partner_day.Step] = []
    published = None
    try:
        futures: list[Any] = []
        for day in delivered:
            ledger = known[day]
            step_and_delivery = inspected.get(day)
            if step_and_delivery and (
                step_and_delivery[0].status == "unchanged" or step_and_delivery[0].standing
            ):
                futures.append(step_and_delivery[0])
                continue
            read = read_task.submit(day, ledger, run_id, step_and_delivery)
            futures.append(validate_task.submit(transform_task.submit(read)))
        try:
            with runner.warehouse_writer(settings, run_id, on_wait=logger.warning) as con:
                for i, future in enumerate(futures, start=1):
                    # an unchanged partner-day or a standing failure: only the attempt is recorded
                    if isinstance(future, partner_day.Step):  # no task run for these
                        step = partner_day.load(con, future, contracts[future.partner], run_id)
                    else:
                        step = load_task(con, future.result(), run_id)
                    steps.append(step)
                    log = logger.warning if step.status == "failed" else logger.info
                    log(
                        "%s: %s (read %s, loaded %s, quarantined %s, warnings %s)%s",
                        step.label, step.status, step.rows_read, step.rows_loaded, step.rows_quarantined,
                        step.warnings, f": {step.detail}" if step.detail else "",
                    )  # fmt: skip
                    if i % 25 == 0 or i == len(futures):
                        logger.info("progress: %d of %d partner-days done", i, len(futures))
                published = publish_task(con)
        finally:
            # never remove the staging area under a partner-day still being staged
            for future in futures:
                if not isinstance(future, partner_day.Step):
                    future.wait()
    finally:
        shutil.rmtree(area, ignore_errors=True)
    return runner.RunSummary(
        run_id, tuple(steps), tuple(missing), published["published"], published["resolve"]
    )


class PartnerDaysFailed(Exception):
    """Some partner-days failed (the rest were loaded and published): the flow run ends Failed,
    which an automation can alert on; `result` holds the run's summary."""

    def __init__(self, result: dict[str, Any]):
        super().__init__(
            f"{result['failed']} partner-day(s) failed: " + "; ".join(result["failures"])
        )
        self.result = result


@task(name="freshness-check", **TASK_OPTIONS)
def freshness_task() -> None:
    """Fails (visibly, as its own task run) when a partner is further behind than its contract allows."""
    late = summary.overdue_partners(Settings().publish, load_contracts())
    if late:
        raise RuntimeError("partners behind schedule: " + "; ".join(late))


def _finish(run: runner.RunSummary, kind: str) -> dict[str, Any]:
    """Report the run (artifact, freshness check), then end Failed if any partner-day failed."""
    settings = Settings()
    create_markdown_artifact(
        key=f"umkm-{kind}-run",
        markdown=summary.markdown(
            run, settings.publish, kind, settings.gx_dir / "data_docs" / "index.html"
        ),
        description=f"UMKM {kind}: partner-day outcomes and national progress against target",
    )
    freshness = freshness_task(return_state=True)
    if freshness.is_failed():
        get_run_logger().warning("freshness check failed: %s", freshness.message)
    result = {
        "run_id": run.run_id,
        "loaded": run.count("loaded"),
        "unchanged": run.count("unchanged"),
        "failed": run.count("failed"),
        "missing": len(run.missing),
        "failures": [f"{s.label}: {s.detail}" for s in run.steps if s.status == "failed"],
        "exit_status": run.exit_status,
    }
    if run.count("failed"):
        raise PartnerDaysFailed(result)
    return result


@flow(name="umkm-nightly", task_runner=task_runner(), persist_result=False)
def nightly(export_date: date | None = None, partners: list[str] | None = None) -> dict[str, Any]:
    """The nightly job: every partner's export for one date (default: yesterday, Asia/Jakarta)."""
    from prefect.runtime import flow_run

    day = export_date or yesterday_in_jakarta()
    return _finish(process_range(day, day, partners, str(flow_run.id or "local")), "nightly")


@flow(name="umkm-backfill", task_runner=task_runner(), persist_result=False)
def backfill(start: date, end: date, partners: list[str] | None = None) -> dict[str, Any]:
    """Every delivered partner-day in [start, end], loaded in date order, then one publish."""
    from prefect.runtime import flow_run

    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return _finish(process_range(start, end, partners, str(flow_run.id or "local")), "backfill")
