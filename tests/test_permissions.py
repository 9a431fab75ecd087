"""Least privilege on disk: what a run writes holds pseudonymised listing-level data (personal
data under UU 27/2022), so it is owner-only whatever the umask; the published file (aggregates
only) is readable by BI users."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from pipelines.settings import Settings
from tests.conftest import TEST_KEY
from tests.processes import ROOT, UMKM, umkm_env
from tests.test_runs import three_days

pytestmark = pytest.mark.slow


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_run_under_a_permissive_umask_writes_owner_only_files_and_a_readable_published_file(tmp_path: Path) -> None:  # fmt: skip
    """It creates the warehouse, staging, Data Docs and their folders 0600/0700 under umask 000,
    and the published file 0644 in a folder BI users can enter."""
    settings = Settings(landing=tmp_path / "landing", warehouse=tmp_path / "w" / "umkm.duckdb",
                        publish=tmp_path / "p" / "umkm.duckdb", pii_key=TEST_KEY)  # fmt: skip
    three_days(settings.landing)
    env = umkm_env(settings, TEST_KEY, PREFECT_HOME=str(tmp_path / "prefect"))
    (tmp_path / "prefect").mkdir()
    run = subprocess.run(
        [UMKM, "backfill", "--start", "2024-01-01", "--end", "2024-01-03"], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=600, preexec_fn=lambda: os.umask(0),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    warehouse_dir = settings.warehouse.parent
    written = [p for p in warehouse_dir.rglob("*")]
    assert written, "the run wrote nothing beside the warehouse"
    loose = [(str(p.relative_to(tmp_path)), oct(mode(p))) for p in [warehouse_dir, *written]
             if mode(p) & 0o077]  # fmt: skip
    assert loose == []
    assert mode(settings.warehouse) == 0o600
    assert mode(settings.publish) == 0o644
    assert mode(settings.publish.parent) == 0o755
