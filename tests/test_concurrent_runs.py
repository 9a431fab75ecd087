"""Runs beside readers and other runs: a BI reader holding the published file never blocks a
run and keeps a whole snapshot; two runs at once take turns at the warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.run.core import run_plain
from pipelines.settings import Settings
from tests import builders as b
from tests.conftest import TEST_KEY
from tests.test_runs import NIKS, data_tables, published, row

START, END = date(2024, 1, 1), date(2024, 1, 3)
ROOT = Path(__file__).resolve().parent.parent


def landing(path: Path) -> None:
    """Three days of two partners, with a quarantined record, a correction and a removal."""
    b.pasarnusa(
        path, "2024-01-01", [row("PN1", NIKS[0], "2023-06-01"), row("PN2", NIKS[1], "2023-07-01")]
    )
    b.pasarnusa(path, "2024-01-02", [row("PN1", NIKS[0], "2023-05-01"), row("PN2", NIKS[1], "2023-07-01"),
                                     row("PN3", NIKS[2], "2024-01-02"), row("PN4", "", "2024-01-02")])  # fmt: skip
    b.pasarnusa(
        path, "2024-01-03", [row("PN1", NIKS[0], "2023-05-01"), row("PN3", NIKS[2], "2024-01-02")]
    )
    for day in ("2024-01-01", "2024-01-03"):
        b.belanjaku(path, day, [[{"event": "created", "merchant": {"id": 2**60 + int(day[-1])}, "owner": {"nik": NIKS[3]},
                                  "legal": {"nib": "1234567890123"}, "onboarded_at": 1700000000000}]])  # fmt: skip


def settings_in(base: Path, landing_dir: Path) -> Settings:
    return Settings(
        landing=landing_dir,
        warehouse=base / "w" / "umkm.duckdb",
        publish=base / "p" / "umkm.duckdb",
        pii_key=TEST_KEY,
    )


def subprocess_env(s: Settings, crash_at: str | None = None) -> dict[str, str]:
    env = {**os.environ, "UMKM_LANDING": str(s.landing), "UMKM_WAREHOUSE": str(s.warehouse),
           "UMKM_PUBLISH": str(s.publish), "UMKM_PII_KEY": TEST_KEY, "PYTHONPATH": str(ROOT)}  # fmt: skip
    env.pop("UMKM_CRASH_AT", None)
    if crash_at:
        env["UMKM_CRASH_AT"] = crash_at
    return env


def no_duplicates(s: Settings) -> None:
    con = duckdb.connect(str(s.warehouse), read_only=True)
    try:
        for table, key in [
            ("partner_loads", "partner, export_date"), ("warehouse_days", "partner, export_date"),
            ("quarantine", "partner, export_date, file, row_number"), ("listings", "listing_id"),
            ("listing_keys", "partner, listing_key"), ("listing_runs", "listing_id, first_date"), ("umkm", "umkm_id"),
        ]:  # fmt: skip
            dups = con.execute(
                f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)"
            ).fetchall()[0][0]
            assert dups == 0, f"{table} has duplicate {key}"
    finally:
        con.close()


READER = r"""
import sys, time, duckdb
path, stop = sys.argv[1], sys.argv[2]
con = duckdb.connect(path, read_only=True)
seen = set()
import os
while not os.path.exists(stop):
    n = con.execute("SELECT count(*), max(as_of_date) FROM national_progress").fetchall()[0]
    seen.add(n)
    time.sleep(0.05)
print(sorted(seen, key=str))
"""


@pytest.mark.slow
def test_a_reader_holding_the_published_file_never_blocks_a_run(tmp_path: Path) -> None:
    """It publishes while a BI tool holds the published file open read-only; the reader keeps a whole snapshot."""
    landing(tmp_path / "landing")
    s = settings_in(tmp_path, tmp_path / "landing")
    run_plain(s, START, date(2024, 1, 2))
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(s.publish), str(stop)], stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(1.5)
        result = run_plain(s, START, END)  # publishes a new file over the one being read
        assert result.published is not None
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    assert reader.returncode == 0
    assert (
        out.strip()
        == "[("
        + str((date(2024, 1, 2) - date(2020, 5, 14)).days + 1)
        + ", datetime.date(2024, 1, 2))]"
    )
    con = duckdb.connect(str(s.publish), read_only=True)
    assert con.execute("SELECT max(as_of_date) FROM national_progress").fetchall()[0][0] == END
    con.close()


@pytest.mark.slow
def test_two_runs_at_once_take_turns_at_the_warehouse(tmp_path: Path) -> None:
    """It lets an overlapping second run wait for the warehouse instead of failing, with the same result."""
    landing(tmp_path / "landing")
    s = settings_in(tmp_path, tmp_path / "landing")
    first = subprocess.Popen([sys.executable, "-m", "pipelines.run.core", "2024-01-01", "2024-01-03"],
                             env=subprocess_env(s), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    second = subprocess.Popen([sys.executable, "-m", "pipelines.run.core", "2024-01-02", "2024-01-03"],
                              env=subprocess_env(s), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    out1, err1 = first.communicate(timeout=600)
    out2, err2 = second.communicate(timeout=600)
    if (first.returncode, second.returncode) != (0, 0):
        con = duckdb.connect(str(s.warehouse), read_only=True)
        failed = con.execute("SELECT partner, export_date, detail FROM partner_loads WHERE status = 'failed'").fetchall()  # fmt: skip
        con.close()
        pytest.fail(f"exit {first.returncode}: {out1} {err1}\nexit {second.returncode}: {out2} {err2}\nfailed: {failed}")  # fmt: skip
    clean = settings_in(tmp_path / "clean", tmp_path / "landing")
    run_plain(clean, START, END)
    assert data_tables(published(s)) == data_tables(published(clean))
    no_duplicates(s)
