"""Kill -9 at many points, readers holding the published file: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.run.core import run_plain
from pipelines.settings import Settings
from tests import builders as b
from tests.conftest import TEST_KEY
from tests.test_runs import NIKS, published, row

START, END = date(2024, 1, 1), date(2024, 1, 3)
ROOT = Path(__file__).resolve().parent.parent

# (crash point, which pass): every stage of a partner-day, inside and after the load
# transaction, inside and after the identity-resolution transaction, around the publish swap
KILL_POINTS = [
    "read-done#2",
    "load-mid-transaction#1",
    "load-mid-transaction#3",
    "load-before-commit#2",
    "load-after-commit#3",
    "resolve-before-commit#1",
    "after-resolve#1",
    "publish-before-swap#1",
    "after-publish#1",
]


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


def plain_run(s: Settings, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.run.core", START.isoformat(), END.isoformat()],
        env=subprocess_env(s, crash_at), capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip


def comparable(s: Settings) -> dict[str, list[tuple[object, ...]]]:
    tables = published(s)
    return tables


def no_duplicates(s: Settings) -> None:
    con = duckdb.connect(str(s.warehouse), read_only=True)
    try:
        for table, key in [
            ("partner_loads", "partner, export_date"), ("warehouse_days", "partner, export_date"),
            ("quarantine", "partner, export_date, file, row_number"), ("listings", "partner, listing_key"),
            ("listing_runs", "partner, listing_key, first_date"), ("umkm", "umkm_id"),
        ]:  # fmt: skip
            dups = con.execute(
                f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)"
            ).fetchall()[0][0]
            assert dups == 0, f"{table} has duplicate {key}"
    finally:
        con.close()


@pytest.fixture(scope="module")
def clean(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, list[tuple[object, ...]]]]:
    base = tmp_path_factory.mktemp("clean")
    landing(base / "landing")
    s = settings_in(base, base / "landing")
    run_plain(s, START, END)
    return base / "landing", comparable(s)


def _kill_then_recover(base: Path, landing_dir: Path, point: str) -> tuple[int, Settings]:
    s = settings_in(base, landing_dir)
    killed = plain_run(s, point)
    return killed.returncode, s


@pytest.mark.slow
def test_kill_at_every_point_then_rerun_equals_a_clean_run(clean, tmp_path: Path) -> None:
    """It recovers from SIGKILL at each crash point: the next run completes the work, with no duplicates."""
    landing_dir, want = clean
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda p: (p, *_kill_then_recover(tmp_path / p.replace("#", "_"), landing_dir, p)),
                KILL_POINTS,
            )
        )
    for point, code, s in results:
        assert code == -signal.SIGKILL, f"{point}: the run was not killed ({code})"
        run_plain(s, START, END)  # the next run, in this process
        assert comparable(s) == want, point
        no_duplicates(s)
        leftovers = [p.name for p in s.publish.parent.iterdir() if p.name != s.publish.name]
        assert not [n for n in leftovers if not n.endswith(".building")], leftovers
        assert not list(s.staging_dir.glob("*/*")) or all(
            (p / "pid").exists() for p in s.staging_dir.iterdir()
        )


@pytest.mark.slow
def test_kill_at_random_moments_then_rerun_equals_a_clean_run(clean, tmp_path: Path) -> None:
    """It recovers from SIGKILL sent from outside at random moments of a run."""
    landing_dir, want = clean
    rng = random.Random(20241128)
    for i in range(3):
        s = settings_in(tmp_path / f"r{i}", landing_dir)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.run.core", START.isoformat(), END.isoformat()],
            env=subprocess_env(s), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
        )  # fmt: skip
        time.sleep(rng.uniform(3.0, 16.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        run_plain(s, START, END)
        assert comparable(s) == want
        no_duplicates(s)


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
    _, err1 = first.communicate(timeout=600)
    _, err2 = second.communicate(timeout=600)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    clean = settings_in(tmp_path / "clean", tmp_path / "landing")
    run_plain(clean, START, END)
    assert comparable(s) == comparable(clean)
    no_duplicates(s)
