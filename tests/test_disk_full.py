"""A full disk while staging, loading or publishing: `umkm backfill` stops with a clear message,
the warehouse and the published file stay as they were, and the next run, with space again,
completes and publishes what a clean run publishes.

For real: a small tmpfs is mounted for the staging area, the warehouse or the published file,
and filled with a filler file until only a few pages are free; then the filler goes and the
run is repeated. Skipped, with the reason, where mounting is not allowed (not root, a container
without the capability).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from pipelines.run.core import run_plain
from pipelines.settings import Settings
from tests.conftest import TEST_KEY, THREE_DAYS
from tests.processes import umkm, umkm_env
from tests.test_concurrent_runs import no_duplicates
from tests.test_runs import data_tables, published

pytestmark = pytest.mark.slow

START, END = THREE_DAYS
RANGE = ("backfill", "--start", START.isoformat(), "--end", END.isoformat())
TIMEOUT = 300


@contextmanager
def small_disk(path: Path, size: str = "64M") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` for the test (skips when mounting is not allowed)."""
    path.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("the disk-full tests mount a small tmpfs, which needs root")
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                                 capture_output=True, text=True)  # fmt: skip
    except FileNotFoundError:
        pytest.skip("the disk-full tests mount a small tmpfs: no `mount` command here")
    if mounted.returncode:
        pytest.skip(f"the disk-full tests mount a small tmpfs, not allowed here: {mounted.stderr.strip()}")  # fmt: skip
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(disk: Path, leave: int) -> Path:
    """A filler file taking all of the disk's space but `leave` bytes."""
    stats = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as out:
        out.truncate(0)
        out.write(b"\0" * (stats.f_bavail * stats.f_frsize - leave))
    return filler


def warehouse_values(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    """Every warehouse table's rows but the log of load attempts (a rerun's unchanged days
    are attempts too, whichever commit the full disk stopped)."""
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]  # fmt: skip
        return {
            t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in tables
            if t != "load_attempts"
        }
    finally:
        con.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def world(three_days, shared_prefect_server):  # type: ignore[no-untyped-def]
    """The generated landing, the data tables a clean run publishes from it, a real server."""
    landing, clean = three_days
    return landing, data_tables(published(clean)), shared_prefect_server


def stopped_by_a_full_disk(run: subprocess.CompletedProcess[str], stage: str) -> None:
    """The run exited 1, its last word naming the stage and the full disk."""
    assert run.returncode == 1, f"{stage}: {run.stdout[-2000:]} {run.stderr[-3000:]}"
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("umkm: the backfill stopped: "), run.stderr[-3000:]
    assert stage in last and "No space left on device" in last, last


def test_a_full_disk_while_staging_loading_or_publishing_stops_the_run_and_the_next_completes(
    world, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Staging, the warehouse and the published file each on a small disk of their own, a first
    day loaded and published. The backfill is run with the staging disk full (Dask workers hand
    staged partner-days over as DuckDB files there), then the warehouse's (its WAL cannot grow),
    then the published file's (the new file is built beside the old one), each disk emptied
    again after its turn. Each run stops with a clear message naming where, the published file
    untouched and nothing half built; staging and loading leave the warehouse as it was. The
    run after the last completes and publishes what a clean run publishes."""
    landing, want, server = world
    with small_disk(tmp_path / "s") as s, small_disk(tmp_path / "w") as w, small_disk(tmp_path / "p") as p:  # fmt: skip
        settings = Settings(landing=landing, warehouse=w / "umkm.duckdb", publish=p / "umkm.duckdb",
                            staging=s / "staging", pii_key=TEST_KEY)  # fmt: skip
        run_plain(settings, START, START)
        env = umkm_env(settings, TEST_KEY, **server.env(), UMKM_STAGING=str(settings.staging))

        def full(disk: Path, leave: int, stage: str, **extra: str) -> None:
            before, published_before = warehouse_values(settings), digest(settings.publish)
            filler = fill(disk, leave)
            stopped_by_a_full_disk(umkm(*RANGE, env={**env, **extra}, timeout=TIMEOUT), stage)
            assert digest(settings.publish) == published_before, f"{stage}: the published file changed"  # fmt: skip
            assert sorted(f.name for f in p.iterdir() if f != filler) == [settings.publish.name], stage  # fmt: skip
            if stage != "publishing stopped":
                assert warehouse_values(settings) == before, f"{stage}: the warehouse changed"
            filler.unlink()

        full(s, 64 << 10, "stage stopped", UMKM_TASK_RUNNER="dask")
        full(w, 4 << 10, "load stopped")
        full(p, 16 << 10, "publishing stopped")
        again = umkm(*RANGE, env=env, timeout=TIMEOUT)
        assert again.returncode == 0, f"{again.stdout[-2000:]} {again.stderr[-3000:]}"
        # the history differs: the runs stopped by a full disk published some days first
        assert data_tables(published(settings)) == want
        no_duplicates(settings)
        assert sorted(f.name for f in p.iterdir()) == [settings.publish.name]
