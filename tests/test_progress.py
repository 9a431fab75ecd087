"""`umkm generate` and `umkm backfill` draw a progress bar on a terminal (a pseudo-terminal
here) and print plain lines, without a bar or terminal codes, when their output is piped."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from datetime import date
from pathlib import Path

import pytest

from pipelines.settings import Settings
from pipelines.synthetic import generate
from pipelines.synthetic.landing import schedule
from tests.processes import ROOT, UMKM, umkm, umkm_env

BAR = "━"  # rich's bar
START, END = "2024-01-01", "2024-01-04"


def in_terminal(*args: str, env: dict[str, str], timeout: float = 300) -> tuple[int, str]:
    """Run `umkm ARGS` with a pseudo-terminal as stdin, stdout and stderr; all it wrote."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # 120 columns
    process = subprocess.Popen([UMKM, *args], stdin=follower, stdout=follower, stderr=follower,
                               env={**env, "TERM": "xterm-256color"}, cwd=ROOT)  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 1 << 16)
        except OSError:  # EIO: every writer closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=timeout), b"".join(chunks).decode("utf-8", "replace")


def _total() -> int:
    from datetime import date

    return sum(
        len(d) for d in schedule(date.fromisoformat(START), date.fromisoformat(END)).values()
    )


def test_generate_draws_a_bar_on_a_terminal_and_plain_lines_when_piped(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    args = ["generate", "--start", START, "--end", END, "--merchants", "30"]
    status, shown = in_terminal(*args, "--out", str(tmp_path / "tty"), env=env)
    assert status == 0, shown
    assert BAR in shown and f"{_total()}/{_total()}" in shown and "generating partner-days" in shown

    piped = umkm(*args, "--out", str(tmp_path / "piped"), env=env)
    assert piped.returncode == 0, piped.stderr
    assert BAR not in piped.stdout and "\x1b[" not in piped.stdout
    lines = [line for line in piped.stdout.splitlines() if " records, " in line]
    assert len(lines) == _total()


@pytest.mark.slow
def test_backfill_draws_a_bar_on_a_terminal(tmp_path: Path) -> None:
    """(Piped, its output has no bar: tests/test_operators.py.)"""
    settings = Settings(landing=tmp_path / "landing", warehouse=tmp_path / "w" / "umkm.duckdb",
                        publish=tmp_path / "p" / "umkm.duckdb")  # fmt: skip
    summary = generate(settings.landing, date.fromisoformat(START), date.fromisoformat(END), merchants=30)  # fmt: skip
    env = umkm_env(settings, "bar-key", PREFECT_HOME=str(tmp_path / "prefect"))
    status, shown = in_terminal("backfill", "--start", START, "--end", END, env=env)
    assert status == 0, shown
    n = summary.partner_days
    assert BAR in shown and f"{n}/{n}" in shown and "backfill: partner-days" in shown
