"""Scale-out: partner-days staged on a local multi-process Dask cluster give the same result."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines.run.core import run_plain
from pipelines.settings import Settings
from pipelines.synthetic import generate
from tests.test_runs import published

START, END = date(2024, 1, 28), date(2024, 2, 1)

pytestmark = pytest.mark.slow


def test_backfill_on_a_local_dask_cluster_publishes_the_same_values(
    prefect_harness: None, env_settings: Settings, tmp_path: Path
) -> None:
    """It stages partner-days on two Dask worker processes, loads them in the flow, and publishes what a plain run does."""
    from prefect_dask import DaskTaskRunner

    from flows.runs import backfill

    generate(env_settings.landing, START, END, merchants=300, seed=13)
    on_dask = backfill.with_options(
        task_runner=DaskTaskRunner(
            cluster_kwargs={"n_workers": 2, "processes": True, "threads_per_worker": 1}
        )
    )
    result = on_dask(start=START, end=END)
    # four daily partners over five days, lkpp-ekatalog's Monday, lapakdesa's month end
    assert (result["failed"], result["loaded"]) == (0, 4 * 5 + 2)
    plain = Settings(landing=env_settings.landing, warehouse=tmp_path / "plain" / "w.duckdb",
                     publish=tmp_path / "plain" / "p.duckdb", pii_key=env_settings.pii_key)  # fmt: skip
    run_plain(plain, START, END)
    got, want = published(env_settings), published(plain)
    got.pop("partner_loads"), want.pop("partner_loads")
    assert got == want
