"""The staging gate: small partner-days stage side by side, a large one stages alone."""

from __future__ import annotations

import threading
import time

from pipelines.run.gate import StagingGate


def run_all(gate: StagingGate, kinds: list[bool]) -> list[tuple[int, bool]]:
    """Stage one partner-day per entry (True = large) in its own thread; what each saw inside."""
    seen: list[tuple[int, bool]] = []
    lock = threading.Lock()
    start = threading.Barrier(len(kinds))

    def stage(is_large: bool) -> None:
        start.wait()
        with gate.hold(is_large):
            time.sleep(0.05)
            with lock:
                seen.append((gate.state()[0], is_large))

    threads = [threading.Thread(target=stage, args=(k,)) for k in kinds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a partner-day never got through the gate"
    return seen


def test_a_large_partner_day_never_stages_beside_another() -> None:
    seen = run_all(StagingGate(), [True, True, False, False, True, False])
    assert len(seen) == 6
    assert all(running == 1 for running, is_large in seen if is_large)


def test_small_partner_days_stage_side_by_side() -> None:
    seen = run_all(StagingGate(), [False] * 4)
    assert max(running for running, _ in seen) > 1


def test_a_waiting_large_partner_day_goes_before_small_ones_arriving_later() -> None:
    gate = StagingGate()
    order: list[str] = []
    small_in = threading.Event()
    release = threading.Event()

    def first_small() -> None:
        with gate.hold(False):
            small_in.set()
            release.wait(10)
            order.append("small-1")

    def worker(name: str, is_large: bool) -> None:
        with gate.hold(is_large):
            order.append(name)

    a = threading.Thread(target=first_small)
    a.start()
    small_in.wait(10)
    big = threading.Thread(target=worker, args=("large", True))
    big.start()
    while gate._waiting_large == 0:  # the large one is queued behind the running small one
        time.sleep(0.01)
    late = threading.Thread(target=worker, args=("small-2", False))
    late.start()
    time.sleep(0.1)
    release.set()
    for t in (a, big, late):
        t.join(10)
    assert order == ["small-1", "large", "small-2"]
