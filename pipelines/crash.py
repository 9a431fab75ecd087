"""Named crash points for fault-injection tests: `UMKM_CRASH_AT=<name>[#<n>]` makes the process
kill itself with SIGKILL the n-th time (default first) it passes that point. Costs one dict
lookup when unset; never set in production."""

from __future__ import annotations

import os
import signal
from collections import Counter

_passed: Counter[str] = Counter()


def point(name: str) -> None:
    target = os.environ.get("UMKM_CRASH_AT")
    if not target:
        return
    wanted, _, nth = target.partition("#")
    if wanted != name:
        return
    _passed[name] += 1
    if _passed[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
