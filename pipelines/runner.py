"""A whole run (a range of export dates) as plain function calls.

The Prefect flows in flows/ do the same steps as tasks; this plain version exists for the
benchmark ("Prefect's share") and for tools that must not start an orchestrator.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from pipelines import partner_day, publish, resolve, warehouse
from pipelines.contracts import Contract, load_contracts
from pipelines.landing import PartnerDay, scan
from pipelines.settings import Settings


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


def volume_history(
    con: duckdb.DuckDBPyConnection, partner: str, before: date, n: int = 7
) -> list[int]:
    """rows_read of the partner's last `n` loaded days before `before` (for the volume warning)."""
    rows = con.execute(
        """SELECT rows_read FROM partner_loads WHERE partner = ? AND export_date < ? AND status = 'loaded'
           AND rows_read IS NOT NULL ORDER BY export_date DESC LIMIT ?""",
        [partner, before, n],
    ).fetchall()
    return [r[0] for r in rows]


def open_warehouse(settings: Settings) -> duckdb.DuckDBPyConnection:
    con = warehouse.connect(settings.warehouse)
    warehouse.check_key(con, settings.key_check())
    return con


def publish_step(
    con: duckdb.DuckDBPyConnection, settings: Settings, contracts: dict[str, Contract]
) -> tuple[resolve.ResolveStats, publish.PublishSummary]:
    """Refresh touched listings, resolve identities incrementally, and publish all tables."""
    snapshots = [
        p for p, c in contracts.items() if c.delivery == "snapshot" and c.channel == "marketplace"
    ]
    events = [p for p, c in contracts.items() if c.events]
    resolve.refresh_listings(con, snapshots, events)
    stats = resolve.resolve_identities(con)
    summary = publish.publish(
        con, settings.publish, contracts, delivered_days(settings.landing, contracts)
    )
    return stats, summary


def run_plain(
    settings: Settings, start: date, end: date, partners: list[str] | None = None
) -> RunSummary:
    """Every delivered partner-day in [start, end], in date order, then publish."""
    contracts = load_contracts()
    key = settings.key_bytes()
    run_id = uuid.uuid4().hex
    days = scan(settings.landing, contracts, start, end, partners)
    con = open_warehouse(settings)
    steps = []
    try:
        for day in days:
            if not day.delivered:
                continue
            contract = contracts[day.partner]
            step, delivery = partner_day.inspect(
                day, contract, settings, warehouse.ledger_entry(con, day.partner, day.export_date)
            )
            step = partner_day.read(step, delivery, contract, key, settings)
            step = partner_day.transform(step, contract)
            step = partner_day.run_validation(
                step, contract, volume_history(con, day.partner, day.export_date)
            )
            steps.append(partner_day.load(con, step, contract, run_id))
        stats, summary = (None, None)
        if any(s.status != "unchanged" for s in steps) or not settings.publish.exists():
            stats, summary = publish_step(con, settings, contracts)
    finally:
        con.close()
    return RunSummary(
        run_id, tuple(steps), tuple(d for d in days if not d.delivered), summary, stats
    )
