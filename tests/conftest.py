"""Shared fixtures: settings on a temporary directory, a test key, one Prefect test harness, one
real Prefect server and one generated three-day landing with its clean run (per worker)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from flows import env

env.apply()
TEST_KEY = "test-pseudonymisation-key"
THREE_DAYS = (date(2024, 1, 29), date(2024, 1, 31))  # a Monday and a month end: all six partners


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    from pipelines.settings import Settings

    return Settings(
        landing=tmp_path / "landing",
        warehouse=tmp_path / "warehouse" / "umkm.duckdb",
        publish=tmp_path / "published" / "umkm.duckdb",
        pii_key=TEST_KEY,
    )


@pytest.fixture
def env_settings(settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The same settings exported as UMKM_* variables, for code that reads the environment."""
    for name in ("landing", "warehouse", "publish"):
        monkeypatch.setenv(f"UMKM_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.setenv("UMKM_PII_KEY", TEST_KEY)
    return settings


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One temporary Prefect server for the whole session (it takes 10-20 s to start)."""
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def shared_prefect_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One `prefect server start` on loopback for the session (10 s to start), shared by the
    modules whose `umkm` processes need a real server: their runs share its Prefect home."""
    from tests.processes import prefect_server as started

    with started(tmp_path_factory.mktemp("prefect-server") / "prefect-home") as server:
        yield server


@pytest.fixture(scope="session")
def three_days(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A generated landing of THREE_DAYS (120 businesses) and the settings of a clean plain run
    over it: read, never written, by the modules that kill, starve or pull runs of it."""
    from pipelines.run.core import run_plain
    from pipelines.settings import Settings
    from pipelines.synthetic import generate

    base = tmp_path_factory.mktemp("three-days")
    generate(base / "landing", *THREE_DAYS, merchants=120, seed=17)
    clean = Settings(landing=base / "landing", warehouse=base / "clean" / "w.duckdb",
                     publish=base / "clean" / "p.duckdb", pii_key=TEST_KEY)  # fmt: skip
    assert run_plain(clean, *THREE_DAYS).exit_status == 0
    return base / "landing", clean
