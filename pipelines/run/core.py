"""A whole run (a range of export dates) as plain function calls.

The Prefect flows in flows/ do the same steps as tasks; this plain version exists for the
benchmark ("Prefect's share") and for tools that must not start an orchestrator.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from pipelines import crash
from pipelines.contracts import Contract, load_contracts
from pipelines.intake.landing import PartnerDay, scan
from pipelines.publish import build as publish
from pipelines.quality import data_docs
from pipelines.run import partner_day
from pipelines.run.lock import writer_lock
from pipelines.settings import Settings
from pipelines.warehouse import resolve
from pipelines.warehouse import store as warehouse


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    steps: tuple[partner_day.Step, ...]
    missing: tuple[PartnerDay, ...]  # folders without _SUCCESS: not delivered
    published: publish.PublishSummary | None
    resolve: resolve.ResolveStats | None

    def count(self, status: str) -> int:
        return sum(1 for s in self.steps if s.status == status)

    @property
    def exit_status(self) -> int:
        return 1 if self.count("failed") else 0


def delivered_days(landing: Path, contracts: dict[str, Contract]) -> dict[str, set[date]]:
    """Every partner-day folder with `_SUCCESS` in the landing area, by partner."""
    out: dict[str, set[date]] = {}
    for day in scan(landing, contracts, date.min, date.max):
        if day.delivered:
            out.setdefault(day.partner, set()).add(day.export_date)
    return out


@contextmanager
def warehouse_writer(
    settings: Settings, run_id: str, on_wait: Callable[[str], None] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse, for writing, under the writer lock (waiting while another run holds it),
    its key checked; closed and the lock released on leaving."""
    with writer_lock(settings.warehouse, run_id, settings.writer_wait_seconds, on_wait):
        crash.point("writer-lock-held")
        con = warehouse.open_writer(settings.warehouse, on_wait=on_wait)
        try:
            warehouse.check_key(con, settings.key_check())
            yield con
        finally:
            con.close()


def publish_if_needed(
    con: duckdb.DuckDBPyConnection, settings: Settings, contracts: dict[str, Contract]
) -> tuple[resolve.ResolveStats | None, publish.PublishSummary | None]:
    """Refresh touched listings and resolve identities (one transaction), then publish, unless
    the published file already shows the warehouse's current state."""
    version = warehouse.state_version(con)
    if warehouse.published_version(con) == version and settings.publish.exists():
        return None, None
    snapshots = [
        p for p, c in contracts.items() if c.delivery == "snapshot" and c.channel == "marketplace"
    ]
    events = [p for p, c in contracts.items() if c.events]
    con.execute("BEGIN TRANSACTION")
    try:
        resolve.refresh_listings(con, snapshots, events)
        stats = resolve.resolve_identities(con)
        crash.point("resolve-before-commit")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    crash.point("after-resolve")
    summary = publish.publish(
        con, settings.publish, contracts, delivered_days(settings.landing, contracts)
    )
    crash.point("after-publish")
    data_docs.write_index(con, settings.gx_dir / "data_docs")
    crash.point("docs-written")
    warehouse.mark_published(con, version)
    return stats, summary


def staging_area(settings: Settings, run_id: str) -> Path:
    """This run's staging folder; folders of runs whose process is gone are removed first."""
    root = settings.staging_dir
    root.mkdir(parents=True, exist_ok=True)
    for folder in root.iterdir():
        owner = folder / "pid"
        try:
            pid = int(owner.read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            shutil.rmtree(folder, ignore_errors=True)  # a crashed run's leftovers (pseudonymised)
    mine = root / run_id
    mine.mkdir(parents=True, exist_ok=True)
    (mine / "pid").write_text(str(os.getpid()))
    return mine


def run_plain(
    settings: Settings, start: date, end: date, partners: list[str] | None = None
) -> RunSummary:
    """Every delivered partner-day in [start, end], in date order, then publish."""
    contracts = load_contracts()
    key = settings.key_bytes()
    run_id = uuid.uuid4().hex
    days = scan(settings.landing, contracts, start, end, partners)
    area = staging_area(settings, run_id)
    steps = []
    try:
        with warehouse_writer(settings, run_id) as con:
            for day in days:
                if not day.delivered:
                    continue
                contract = contracts[day.partner]
                ledger = warehouse.ledger_entry(con, day.partner, day.export_date)
                step, delivery = partner_day.inspect(day, contract, settings, ledger, run_id)
                step = partner_day.read(step, delivery, contract, key, settings)
                step = partner_day.transform(step, contract)
                step = partner_day.run_validation(step, contract, settings.gx_dir / "data_docs")
                steps.append(partner_day.load(con, step, contract, run_id))
            stats, summary = publish_if_needed(con, settings, contracts)
    finally:
        shutil.rmtree(area, ignore_errors=True)
    return RunSummary(
        run_id, tuple(steps), tuple(d for d in days if not d.delivered), summary, stats
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m pipelines.run.core START END [PARTNER ...]`: a run without Prefect, settings from
    the environment (used by the benchmark and the crash tests)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    settings = Settings()
    summary = run_plain(
        settings, date.fromisoformat(args[0]), date.fromisoformat(args[1]), args[2:] or None
    )
    print(
        f"loaded={summary.count('loaded')} unchanged={summary.count('unchanged')} "
        f"failed={summary.count('failed')} missing={len(summary.missing)}"
    )
    return summary.exit_status


if __name__ == "__main__":
    raise SystemExit(main())
