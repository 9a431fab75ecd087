"""Kill `umkm backfill` with SIGKILL, as the OOM killer or a lost worker would, at named points in
every stage, inside the writer lock, around publishing's fsync and swap, in a Dask worker's
staging, and at random moments; then run it again with the same Prefect home, as production
does. The next run always completes, promptly, and publishes exactly what a clean run publishes.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest

from pipelines.run.core import run_plain
from pipelines.run.lock import holder, lock_path
from pipelines.settings import Settings
from pipelines.synthetic import generate
from tests.conftest import TEST_KEY
from tests.processes import prefect_server, start_umkm, umkm, umkm_env
from tests.test_concurrent_runs import no_duplicates
from tests.test_runs import published

pytestmark = pytest.mark.slow

START, END = date(2024, 1, 29), date(2024, 1, 31)  # a Monday and a month end: all six partners
RANGE = ("backfill", "--start", START.isoformat(), "--end", END.isoformat())
RECOVERY_SECONDS = 240  # the bound on "the next run completes"

# (point, which pass): every stage of a partner-day, the writer lock (ledger read, then loads),
# inside and after load transactions, identity resolution, and every step of publishing
KILL_POINTS = [
    "inspect-done#2", "read-done#1", "read-done#6", "transform-done#3", "validate-done#2",
    "validate-done#10", "writer-lock-held#1", "writer-lock-held#2", "load-mid-transaction#1",
    "load-mid-transaction#4", "load-before-commit#2", "load-before-commit#9", "load-after-commit#1",
    "load-after-commit#12", "resolve-before-commit#1", "after-resolve#1", "publish-built#1",
    "publish-before-swap#1", "publish-swapped#1", "docs-written#1", "after-publish#1",
]  # fmt: skip


def settings_in(base: Path, landing: Path) -> Settings:
    return Settings(landing=landing, warehouse=base / "w" / "umkm.duckdb",
                    publish=base / "p" / "umkm.duckdb", pii_key=TEST_KEY)  # fmt: skip


def values(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    tables = published(settings)
    # when a partner-day was loaded is bookkeeping, not a value; its content and outcome are values
    return tables


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A generated landing, the values a clean run publishes from it, and one Prefect home with
    a real server on loopback, shared by every killed run and the run after it."""
    base = tmp_path_factory.mktemp("kills")
    landing = base / "landing"
    generate(landing, START, END, merchants=120, seed=17)
    clean = settings_in(base / "clean", landing)
    run_plain(clean, START, END)
    with prefect_server(base / "prefect-home") as server:
        yield landing, values(clean), server


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


def test_a_run_killed_at_any_named_point_never_stops_the_next(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """After SIGKILL at each of 21 named points, the next `umkm backfill` (same Prefect home)
    completes and publishes what a clean run publishes."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(lambda p: kill_then_recover(world, tmp_path / p.replace("#", "_"), p), KILL_POINTS))  # fmt: skip
    assert done == KILL_POINTS


def test_a_dask_worker_killed_while_staging_never_stops_the_next_run(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A Dask worker process killed in the middle of staging ends that run (it is not left
    hanging); the next run completes and publishes what a clean run publishes."""
    kill_then_recover(world, tmp_path, "read-done#1", UMKM_TASK_RUNNER="dask")


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


def test_three_kills_in_a_row_with_the_temporary_server_then_a_run_completes(
    world, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Without PREFECT_API_URL `umkm` starts its own temporary server in the shared Prefect home;
    killed three times while it holds the writer lock, the fourth run still completes."""
    landing, want, _ = world
    settings = settings_in(tmp_path, landing)
    home = {"PREFECT_HOME": str(tmp_path / "prefect-home")}
    (tmp_path / "prefect-home").mkdir()
    for nth in ("#2", "#2", "#1"):
        killed = umkm(*RANGE, env=umkm_env(settings, TEST_KEY, **home, UMKM_CRASH_AT=f"writer-lock-held{nth}"), timeout=RECOVERY_SECONDS)  # fmt: skip
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        assert no_process_uses(home["PREFECT_HOME"]), "the killed run's temporary server lives on"
    assert_recovered(settings, want, umkm_env(settings, TEST_KEY, **home), "three kills")


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


def test_a_waiting_run_says_who_holds_the_lock_and_goes_on_when_the_holder_dies(
    world, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A second run waits while the first holds the writer lock, logging the holder's run, pid
    and since when; when the holder is killed the second run completes at once."""
    landing, want, server = world
    settings = settings_in(tmp_path, landing)
    env = umkm_env(settings, TEST_KEY, **server.env())
    first = start_umkm(*RANGE, env={**env, "UMKM_STALL_AT": "writer-lock-held#2"})
    who = wait_for_holder(settings, first)
    second = start_umkm(*RANGE, env=env)
    time.sleep(8)
    assert second.poll() is None, "the second run did not wait for the lock"
    first.send_signal(signal.SIGKILL)
    first.communicate()
    out, _ = second.communicate(timeout=RECOVERY_SECONDS)
    assert second.returncode == 0, out[-3000:]
    waiting = [line for line in out.splitlines() if "waiting for the warehouse writer lock" in line]
    assert waiting and f"pid {first.pid} " in waiting[0] and str(who["run_id"]) in waiting[0]
    assert "since" in waiting[0] and "WARNING" in waiting[0]
    assert values(settings) == want


def test_a_server_restarted_while_a_run_held_the_lock_does_not_block_the_next_run(
    world, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A real Prefect server restarted while a run holds the writer lock, then the run killed:
    the next run does not wait for anything the server remembers."""
    landing, want, _ = world
    settings = settings_in(tmp_path, landing)
    with prefect_server(tmp_path / "prefect-home") as server:
        env = umkm_env(settings, TEST_KEY, **server.env())
        run = start_umkm(*RANGE, env={**env, "UMKM_STALL_AT": "writer-lock-held#2"})
        wait_for_holder(settings, run)
        server.stop()
        server.start()
        run.send_signal(signal.SIGKILL)
        run.communicate()
        assert_recovered(settings, want, env, "server restart")
