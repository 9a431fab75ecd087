"""The warehouse's single-writer lock: an advisory lock (flock) on a file beside the warehouse.

Why not Prefect's global concurrency limit: Prefect keeps a slot's lease in the server process's
memory, so a run killed while it holds the slot (OOM killer, kill -9, a lost worker) leaves
`active_slots = 1` behind; with the temporary server `umkm` starts, nobody ever gives it back and
every later run waits forever. The kernel releases a flock the moment its holder dies, whatever
happens to any server, so a killed run never blocks the next one. The lock file also says who
holds it (run, process, host, since when), which a waiting run logs.

flock is per machine (and per NFS server on NFS v4); runs on several machines sharing one
warehouse need a lock service instead (see README, "Beyond one machine").
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


class WarehouseBusy(RuntimeError):
    """Another run held the warehouse for longer than this run was willing to wait."""


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


def holder(path: Path) -> dict[str, object] | None:
    """Who holds (or last held) the lock, as the lock file says; None when it says nothing."""
    try:
        text = path.read_text(encoding="utf-8")
        found = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def describe(who: dict[str, object] | None) -> str:
    if not who:
        return "held by another process (it has not said who it is yet)"
    since = str(who.get("since", "?"))
    try:
        held = int((datetime.now(UTC) - datetime.fromisoformat(since)).total_seconds())
        since = f"{since} ({held} s ago)"
    except ValueError:
        pass
    return (
        f"held by run {who.get('run_id', '?')} (pid {who.get('pid', '?')} on "
        f"{who.get('host', '?')}) since {since}"
    )


@contextmanager
def writer_lock(
    warehouse: Path,
    run_id: str,
    wait_seconds: float,
    on_wait: Callable[[str], None] | None = None,
    say_every: float = 30.0,
) -> Iterator[None]:
    """Hold the warehouse's writer lock; wait (saying who holds it every `say_every` seconds)
    while another run does, at most `wait_seconds`, then raise WarehouseBusy."""
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        started = time.monotonic()
        last_said = None
        delay = 0.05
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                who = holder(path)
                if waited > wait_seconds:
                    raise WarehouseBusy(
                        f"the warehouse {warehouse} is still being written after {waited:.0f} s of "
                        f"waiting: its writer lock {path} is {describe(who)}"
                    ) from None
                if on_wait and (last_said is None or time.monotonic() - last_said >= say_every):
                    on_wait(f"waiting for the warehouse writer lock {path}: {describe(who)}")
                    last_said = time.monotonic()
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        me = {
            "run_id": run_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode("utf-8"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # nobody holds it now; a killed holder's note is overwritten
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
