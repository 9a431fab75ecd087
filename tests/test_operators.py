"""What operators see of `umkm backfill`: a clean first run prints no ERROR line and no
traceback (the temporary server stopped after the run's events are sent); a failed partner-day
is logged at WARNING and ends the run with status 1, still without a traceback."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from pipelines.settings import Settings
from pipelines.synthetic import generate
from tests.processes import umkm, umkm_env

pytestmark = pytest.mark.slow

START, END = date(2024, 1, 1), date(2024, 1, 3)
NOISE = re.compile(r"\bERROR\b|Traceback|Error flushing|CancelledError")


def test_a_first_backfill_prints_no_error_and_a_failed_day_only_warnings(tmp_path: Path) -> None:
    settings = Settings(landing=tmp_path / "landing", warehouse=tmp_path / "w" / "umkm.duckdb",
                        publish=tmp_path / "p" / "umkm.duckdb")  # fmt: skip
    generate(settings.landing, START, END, merchants=60, seed=3)
    # a first run: a new Prefect home, the temporary server, logs shipped to it (the default)
    env = umkm_env(settings, "ops-key", PREFECT_HOME=str(tmp_path / "prefect"),
                   PREFECT_LOGGING_TO_API_ENABLED="true")  # fmt: skip
    first = umkm("backfill", "--start", str(START), "--end", str(END), env=env)
    out = first.stdout + first.stderr
    assert first.returncode == 0, out
    assert not NOISE.findall(out), out
    assert "Finished in state Completed()" in out and "━" not in out  # no bar when piped

    # a corrected-looking delivery that is not what its manifest says: that day fails
    part = next((settings.landing / "pasarnusa" / str(END)).glob("*.csv*"))
    part.write_bytes(part.read_bytes()[:-40])
    second = umkm("backfill", "--start", str(START), "--end", str(END), env=env)
    out = second.stdout + second.stderr
    assert second.returncode == 1, out
    assert "Traceback" not in out, out
    logged = [line for line in out.splitlines() if f"pasarnusa {END}: failed" in line]
    assert logged and all(re.search(r"\| (WARNING|ERROR) +\|", line) for line in logged), logged
    assert f"  failed: pasarnusa {END}: " in second.stdout
