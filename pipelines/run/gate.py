"""A per-process gate on staging: small partner-days share the worker threads, a large one
stages alone, so two national snapshots are never parsed side by side (peak memory is that of
the largest partner-day, not the sum of the two largest).

Waiting large partner-days go first: small ones arriving meanwhile wait, so a large one is not
starved. Each process has its own gate (a Dask worker process stages one partner-day at a time).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class StagingGate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._running = 0
        self._exclusive = False
        self._waiting_large = 0

    @contextmanager
    def hold(self, large: bool) -> Iterator[None]:
        with self._cond:
            if large:
                self._waiting_large += 1
                try:
                    self._cond.wait_for(lambda: self._running == 0 and not self._exclusive)
                finally:
                    self._waiting_large -= 1
                self._exclusive = True
            else:
                self._cond.wait_for(lambda: not self._exclusive and self._waiting_large == 0)
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                if large:
                    self._exclusive = False
                self._cond.notify_all()

    def state(self) -> tuple[int, bool]:
        """(partner-days staging now, whether a large one holds the gate): for tests."""
        with self._cond:
            return self._running, self._exclusive


GATE = StagingGate()
