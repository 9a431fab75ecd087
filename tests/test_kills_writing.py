"""Kill `umkm backfill` with SIGKILL while it writes: inside and after load transactions, in
identity resolution, around publishing's fsync and swap, three times in a row while holding the
writer lock (temporary server), while another run waits for the lock, and with a real server
restarted under it. The next run, same Prefect home, completes and publishes what a clean run
publishes. (tests/test_kills.py kills it while staging; the modules run on different workers.)
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY
from tests.processes import prefect_server, start_umkm, umkm, umkm_env
from tests.test_kills import (
    RANGE,
    RECOVERY_SECONDS,
    WRITING_POINTS,
    assert_recovered,
    kill_at_each,
    no_process_uses,
    settings_in,
    values,
    wait_for_holder,
    world,
)

pytestmark = pytest.mark.slow
__all__ = ["world"]  # the module-scoped fixture: one landing, clean values and server per module


def test_a_run_killed_at_any_named_point_while_writing_never_stops_the_next(
    world, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """After SIGKILL at each named point inside and after load transactions, in identity
    resolution and in every step of publishing, the next `umkm backfill` completes and publishes
    what a clean run publishes."""
    kill_at_each(world, tmp_path, WRITING_POINTS)


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
