"""Kill `umkm backfill` with SIGKILL, as the OOM killer or a lost worker would, at named points in
every stage of staging and while it holds the writer lock for its first loads, in a Dask worker's
staging, and at random moments; then run it again with the same Prefect home, as production
does. The next run always completes, promptly, and publishes exactly what a clean run publishes.
tests/test_kills_writing.py kills it while it writes and publishes (21 named points in all).
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipelines.run.lock import holder, lock_path
from pipelines.settings import Settings
from tests.conftest import TEST_KEY, THREE_DAYS
from tests.processes import start_umkm, umkm, umkm_env
from tests.test_concurrent_runs import no_duplicates
from tests.test_runs import published

pytestmark = pytest.mark.slow

START, END = THREE_DAYS
RANGE = ("backfill", "--start", START.isoformat(), "--end", END.isoformat())
RECOVERY_SECONDS = 240  # the bound on "the next run completes"

# (point, which pass): every stage of a partner-day and the writer lock with its first loads
# here; inside and after load transactions, identity resolution and every step of publishing in
# tests/test_kills_writing.py (the two modules run on different workers)
STAGING_POINTS = [
    "inspect-done#2", "read-done#1", "read-done#6", "transform-done#3", "validate-done#2",
    "validate-done#10", "writer-lock-held#1", "writer-lock-held#2", "load-mid-transaction#1",
    "load-mid-transaction#4",
]  # fmt: skip
WRITING_POINTS = [
    "load-before-commit#2", "load-before-commit#9", "load-after-commit#1", "load-after-commit#12",
    "resolve-before-commit#1", "after-resolve#1", "publish-built#1", "publish-before-swap#1",
    "publish-swapped#1", "docs-written#1", "after-publish#1",
]  # fmt: skip


def settings_in(base: Path, landing: Path) -> Settings:
    return Settings(landing=landing, warehouse=base / "w" / "umkm.duckdb",
                    publish=base / "p" / "umkm.duckdb", pii_key=TEST_KEY)  # fmt: skip


def values(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    tables = published(settings)
    # when a partner-day was loaded is bookkeeping, not a value; its content and outcome are values
    return tables


@pytest.fixture(scope="module")
def world(three_days, shared_prefect_server):  # type: ignore[no-untyped-def]
    """The generated landing, the values a clean run publishes from it, and one Prefect home with
    a real server on loopback, shared by every killed run and the run after it."""
    landing, clean = three_days
    return landing, values(clean), shared_prefect_server


def assert_recovered(settings: Settings, want: dict[str, list[tuple[object, ...]]], env: dict[str, str], what: str) -> None:  # fmt: skip
    """The next run completes within the bound and publishes exactly what a clean run does."""
    started = time.monotonic()
    after = umkm(*RANGE, env=env, timeout=RECOVERY_SECONDS)
    assert after.returncode == 0, f"{what}: the next run failed: {after.stdout[-1500:]} {after.stderr[-3000:]}"  # fmt: skip
    assert values(settings) == want, what
    assert time.monotonic() - started < RECOVERY_SECONDS
    no_duplicates(settings)
    leftovers = [
        p.name for p in settings.publish.parent.iterdir() if p.name != settings.publish.name
    ]
    assert leftovers == [], f"{what}: {leftovers}"
    assert not lock_path(settings.warehouse).read_text(), f"{what}: the lock file still names a holder"  # fmt: skip


def kill_then_recover(world, base: Path, point: str, **extra: str) -> str:  # type: ignore[no-untyped-def]
    landing, want, server = world
    settings = settings_in(base, landing)
    env = umkm_env(settings, TEST_KEY, **server.env())
    killed = umkm(*RANGE, env=umkm_env(settings, TEST_KEY, **server.env(), UMKM_CRASH_AT=point, **extra), timeout=RECOVERY_SECONDS)  # fmt: skip
    if not extra:  # in the flow's own process the point kills the run itself
        assert killed.returncode == -signal.SIGKILL, f"{point}: not killed ({killed.returncode}): {killed.stderr[-2000:]}"  # fmt: skip
    assert_recovered(settings, want, env, point)
    return point


def kill_at_each(world, base: Path, points: list[str]) -> None:  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(lambda p: kill_then_recover(world, base / p.replace("#", "_"), p), points))  # fmt: skip
    assert done == points


def test_a_run_killed_at_any_named_point_while_staging_never_stops_the_next(
    world, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """After SIGKILL at each named point of staging, and while holding the writer lock before and
    during the first loads, the next `umkm backfill` (same Prefect home) completes and publishes
    what a clean run publishes."""
    kill_at_each(world, tmp_path, STAGING_POINTS)


def test_a_dask_worker_killed_while_staging_never_stops_the_next_run(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A Dask worker process killed in the middle of staging ends that run (it is not left
    hanging); the next run completes and publishes what a clean run publishes."""
    # every restarted worker passes the point anew and is killed again: Dask gives up on the
    # partner-day after its allowed failures (default 3, four worker starts that on a loaded
    # machine outlast the bound); one retry shows the same thing sooner (alone: 90 s, not 127)
    kill_then_recover(world, tmp_path, "read-done#1", UMKM_TASK_RUNNER="dask",
                      DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1")  # fmt: skip


def test_a_run_killed_at_random_moments_never_stops_the_next(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL from outside at three random moments of a run; each time the next run recovers."""
    landing, want, server = world
    rng = random.Random(20261201)
    for i in range(3):
        settings = settings_in(tmp_path / f"r{i}", landing)
        env = umkm_env(settings, TEST_KEY, **server.env())
        run = start_umkm(*RANGE, env=env)
        time.sleep(rng.uniform(2.0, 9.0))
        run.send_signal(signal.SIGKILL)
        run.communicate()
        assert_recovered(settings, want, env, f"random kill {i}")


def no_process_uses(prefect_home: str, within: float = 20) -> bool:
    """Whether, within a few seconds, no process runs with this Prefect home (a temporary server
    outliving its killed run would hold the home's database)."""
    deadline = time.monotonic() + within
    wanted = f"PREFECT_HOME={prefect_home}".encode()
    while time.monotonic() < deadline:
        users = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and wanted in (proc / "environ").read_bytes().split(b"\0"):
                    users.append(proc.name)
            except OSError:
                continue
        if not users:
            return True
        time.sleep(0.5)
    return False


def wait_for_holder(settings: Settings, run: subprocess.Popen[str], timeout: float = 120) -> dict[str, object]:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        who = holder(lock_path(settings.warehouse))
        if who and who.get("pid") == run.pid:
            return who
        assert run.poll() is None, f"the run ended before taking the lock: {run.communicate()[0][-2000:]}"  # fmt: skip
        time.sleep(0.2)
    raise TimeoutError("the run never took the writer lock")
