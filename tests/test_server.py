"""Against a real Prefect server: deploy prefect.yaml, trigger `nightly` through the API, let a
process worker run it, and find the flow run completed and the published file changed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from pipelines.synthetic import generate
from tests.processes import free_port, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DAY = date(2024, 1, 22)

pytestmark = [pytest.mark.slow, pytest.mark.server]


def prefect(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [str(BIN / "prefect"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"prefect {' '.join(args)}: {result.stdout[-2000:]} {result.stderr[-2000:]}"
    )
    return result.stdout


def test_nightly_deployment_runs_on_a_worker_and_publishes(tmp_path: Path) -> None:
    """It deploys prefect.yaml to a real server, runs `nightly` for a generated day on a process worker, and publishes."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "UMKM_PROJECT_DIR": str(ROOT),
        "UMKM_LANDING": str(tmp_path / "landing"),
        "UMKM_WAREHOUSE": str(tmp_path / "warehouse" / "umkm.duckdb"),
        "UMKM_PUBLISH": str(tmp_path / "published" / "umkm.duckdb"),
        "UMKM_PII_KEY": "server-test-key",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    generate(tmp_path / "landing", DAY, DAY, merchants=200, seed=5)
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    worker = None
    try:
        wait_healthy(api, server)
        prefect("work-pool", "create", "umkm-process", "--type", "process", env=env)
        prefect("--no-prompt", "deploy", "--all", env=env)
        out = prefect(
            "deployment",
            "run",
            "umkm-nightly/nightly",
            "--param",
            f"export_date={DAY.isoformat()}",
            env=env,
        )
        flow_run_id = next(line.split()[-1] for line in out.splitlines() if "UUID" in line)
        worker = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "umkm-process", "--type", "process"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        state = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            state = prefect("flow-run", "inspect", flow_run_id, env=env)
            if any(
                f"'{s}'" in state or f"type=StateType.{s}" in state
                for s in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
            ):
                break
            time.sleep(3)
        assert state is not None and "COMPLETED" in state, state[-3000:] if state else state
        assert (tmp_path / "published" / "umkm.duckdb").exists()
        deployments = prefect("deployment", "ls", env=env)
        assert "umkm-nightly/nightly" in deployments and "umkm-backfill/backfill" in deployments
        schedule = prefect("deployment", "inspect", "umkm-nightly/nightly", env=env)
        assert "0 2 * * *" in schedule and "Asia/Jakarta" in schedule
    finally:
        for proc in (worker, server):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, 15)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)
