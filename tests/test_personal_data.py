"""No NIK or phone number of a case survives anywhere the commands write (UU 27/2022)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from pipelines.synthetic import generate
from tests.pii_scan import needles_from_landing, scan

ROOT = Path(__file__).resolve().parent.parent
START, END = date(2024, 1, 24), date(2024, 2, 12)


@pytest.mark.slow
def test_no_personal_data_in_anything_a_faulty_backfill_writes(tmp_path: Path) -> None:
    """It finds none of the case's NIKs or phones in the warehouse, published file, Prefect home
    and database, validation results, temporary files or logs of every command."""
    landing = tmp_path / "landing"
    generate(landing, START, END, merchants=400, seed=11, faults=True)
    needles = needles_from_landing(landing)
    assert scan([landing], needles), "the scanner must see the personal data the landing area holds"

    written = tmp_path / "written"
    env = {
        **os.environ,
        "UMKM_LANDING": str(landing),
        "UMKM_WAREHOUSE": str(written / "warehouse" / "umkm.duckdb"),
        "UMKM_PUBLISH": str(written / "published" / "umkm.duckdb"),
        "UMKM_PII_KEY": "scan-test-key",
        "PREFECT_HOME": str(written / "prefect-home"),
        "TMPDIR": str(written / "tmp"),  # temporary files of every library land where we scan
        "PYTHONPATH": str(ROOT),
    }
    (written / "tmp").mkdir(parents=True)
    umkm = [sys.executable, "-m", "flows.cli"]
    commands = [
        [*umkm, "backfill", "--start", START.isoformat(), "--end", END.isoformat()],
        [*umkm, "run", "--date", END.isoformat()],
        [*umkm, "status"],
        [*umkm, "report", "--out", str(written / "report" / "progress.png")],
    ]
    logs = written / "logs"
    logs.mkdir()
    for i, command in enumerate(commands):
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=900
        )
        (logs / f"{i}-{command[3]}.out").write_text(result.stdout)
        (logs / f"{i}-{command[3]}.err").write_text(result.stderr)
        assert result.returncode in (0, 1), (
            f"{command[3]} exited {result.returncode}: {result.stderr[-2000:]}"
        )
    assert (written / "published" / "umkm.duckdb").exists()
    assert list((written / "prefect-home").rglob("*.db")), (
        "the Prefect database was written and is scanned"
    )
    assert scan([written], needles) == []
