"""Run one partner-day's stages in-process, the way the flows do, for tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from pipelines.contracts import load_contracts
from pipelines.intake.landing import PartnerDay
from pipelines.run import partner_day
from pipelines.settings import Settings


def stage(settings: Settings, partner: str, day: date | str) -> partner_day.Step:
    """Inspect, read, transform and validate one delivered partner-day (no warehouse)."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    contract = load_contracts()[partner]
    folder = Path(settings.landing) / partner / day.isoformat()
    pd = PartnerDay(partner, day, folder, (folder / "_SUCCESS").exists())
    step, delivery = partner_day.inspect(pd, contract, settings, None)
    step = partner_day.read(step, delivery, contract, settings.key_bytes(), settings)
    step = partner_day.transform(step, contract)
    return partner_day.run_validation(step, contract)


def records(step: partner_day.Step) -> pl.DataFrame:
    assert step.work_dir is not None
    return pl.read_ipc(step.work_dir / "records.arrow")
