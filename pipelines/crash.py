"""Named crash points for fault-injection tests: `UMKM_CRASH_AT=<name>[#<n>]` makes the process
kill itself with SIGKILL the n-th time (default first) it passes that point, and
`UMKM_STALL_AT=<name>[#<n>]` makes it stop there (sleep until killed), so a test can act while
the run sits at that point (restart a server, start a second run). Costs one dict lookup when
unset; never set in production."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

_passed: Counter[tuple[str, str]] = Counter()


def _due(variable: str, name: str) -> bool:
    target = os.environ.get(variable)
    if not target:
        return False
    wanted, _, nth = target.partition("#")
    if wanted != name:
        return False
    _passed[variable, name] += 1
    return _passed[variable, name] == int(nth or 1)


def point(name: str) -> None:
    if _due("UMKM_CRASH_AT", name):
        os.kill(os.getpid(), signal.SIGKILL)
    if _due("UMKM_STALL_AT", name):
        while True:
            time.sleep(3600)
