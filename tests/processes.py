"""The `umkm` command and Prefect servers as separate processes, as production runs them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
UMKM = str(BIN / "umkm")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"prefect server exited with {server.returncode}")
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("prefect server did not become healthy")


@dataclass
class Server:
    """A `prefect server start` on loopback, its home kept across restarts."""

    home: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def env(self) -> dict[str, str]:
        return {"PREFECT_HOME": str(self.home), "PREFECT_API_URL": self.api,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}  # fmt: skip

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env={**os.environ, **self.env()}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        wait_healthy(self.api, self.process)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@contextmanager
def prefect_server(home: Path) -> Iterator[Server]:
    server = Server(home, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def umkm_env(settings: object, key: str, **extra: str) -> dict[str, str]:
    """The environment of an `umkm` process for these settings (no crash points inherited)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UMKM_", "PREFECT_API"))}
    env.update(
        UMKM_LANDING=str(settings.landing),  # type: ignore[attr-defined]
        UMKM_WAREHOUSE=str(settings.warehouse),  # type: ignore[attr-defined]
        UMKM_PUBLISH=str(settings.publish),  # type: ignore[attr-defined]
        UMKM_PII_KEY=key,
        PREFECT_LOGGING_TO_API_ENABLED="false",
    )
    env.update(extra)
    return env


def umkm(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `umkm ARGS` to its end (a TimeoutExpired is a hung run)."""
    return subprocess.run(
        [UMKM, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def start_umkm(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [UMKM, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
