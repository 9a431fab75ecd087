"""The temporary Prefect server of a run started without PREFECT_API_URL, tied to that run.

Prefect's own temporary server is a child process that outlives a parent killed with SIGKILL:
each such kill left a server running on the Prefect home's database, and a few of them made
the next run wait forever. This one is the same server (Prefect's API app under uvicorn, UI
off) started with the parent-death signal set, so the kernel stops it when the run dies
however it dies; and it is stopped only after the run's events are flushed, so a finished run
prints no "Error flushing events" or CancelledError traceback.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux prctl)."""
    # not Linux: the server then ends with the run only when the run ends normally
    with suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prefect_dir() -> Path:
    spec = importlib.util.find_spec("prefect")  # without importing Prefect into this process
    assert spec and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


@contextmanager
def api_for_this_run(while_starting: Callable[[], None] | None = None) -> Iterator[str | None]:
    """PREFECT_API_URL for the run: the configured server, else a temporary one for this run
    only. Call before Prefect is imported (its settings are read from the environment).
    `while_starting` runs in this process while a temporary server starts (seconds it would
    otherwise spend waiting)."""
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1"}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(_prefect_dir().parent), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "error", "--lifespan", "on"],
        env=env, preexec_fn=_die_with_parent, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        if while_starting is not None:
            while_starting()
        _wait_healthy(url, server, float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")))  # fmt: skip
        os.environ["PREFECT_API_URL"] = url
        try:
            yield url
        finally:
            _flush_events()
            del os.environ["PREFECT_API_URL"]
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_healthy(url: str, server: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"the temporary Prefect server exited with status {server.returncode}"
            )
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the temporary Prefect server did not answer within {timeout:.0f} s")


def _flush_events() -> None:
    """Send what Prefect's background workers still hold while the server is up."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        with suppress(Exception):
            worker.drain_all(timeout=10)
