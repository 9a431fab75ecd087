"""Stage one partner-day in-process, the way a run does, for tests (no warehouse)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from pipelines.contracts import load_contracts
from pipelines.intake.landing import PartnerDay
from pipelines.run import engine
from pipelines.run.core import RunConfig
from pipelines.run.stage import inspect
from pipelines.run.stage import stage as stage_day
from pipelines.run.step import Step
from pipelines.settings import Settings


def stage(settings: Settings, partner: str, day: date | str, to_files: bool = False) -> Step:
    """Inspect, read, normalise and validate one delivered partner-day into its staged tables."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    contract = load_contracts()[partner].on(day)  # the version in force that day
    folder = Path(settings.landing) / partner / day.isoformat()
    pd = PartnerDay(partner, day, folder, (folder / "_SUCCESS").exists())
    config = RunConfig.from_settings(settings, settings.key_bytes()).stage_config("tests", to_files)
    step, delivery = inspect(pd, contract, config, None)
    return stage_day(step, delivery, contract, config)


def records(step: Step) -> pl.DataFrame:
    """The staged canonical records of a step, in file order."""
    assert step.staged is not None
    con = engine.cursor()
    try:
        return con.sql(
            f"SELECT * FROM {step.staged.database}.records ORDER BY file_index, row_number"
        ).pl()
    finally:
        con.close()
