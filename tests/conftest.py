"""Shared fixtures: settings on a temporary directory, a test key, one Prefect test harness."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows import env

env.apply()
TEST_KEY = "test-pseudonymisation-key"


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
