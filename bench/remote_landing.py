"""Backfill of a demo-sized landing (umkm demo's: 3,000 businesses, 2024-01-01 to 2024-02-29) from a
local folder, from S3 (moto's server) and from SFTP (OpenSSH's sshd), each through `umkm backfill`
against one Prefect server on loopback; then the unchanged rerun, with the bytes the servers sent
(counted by a relay in front of each). Last, reading in place against mirroring: the time and
bytes to fetch every data file once (the mirror) or twice (hash pass, then parse pass).

    .venv/bin/python -m bench.remote_landing [OUT_DIR]
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from pipelines.intake import remote
from pipelines.settings import Settings
from pipelines.synthetic import generate
from tests import servers
from tests.processes import prefect_server, umkm, umkm_env

START, END = date(2024, 1, 1), date(2024, 2, 29)
KEY = "bench-remote-landing-key"


def backfill(settings: Settings, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    run = umkm("backfill", "--start", START.isoformat(), "--end", END.isoformat(), env=env,
               timeout=3600)  # fmt: skip
    took = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"backfill failed: {run.stdout[-2000:]} {run.stderr[-3000:]}")
    pulled = re.findall(r"(\d+) file\(s\) pulled \(([\d,]+) bytes\)", run.stdout + run.stderr)
    return took, "; ".join(f"{f} files, {b} bytes" for f, b in pulled) or "-"


def read_all(fs: object, paths: list[str], passes: int) -> tuple[float, int]:
    """Stream every file `passes` times through the filesystem (hashing, as a reader would)."""
    started, total = time.perf_counter(), 0
    for _ in range(passes):
        for path in paths:
            digest = hashlib.sha256()
            with fs.open(path, "rb", block_size=1 << 20) as handle:  # type: ignore[attr-defined]
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
                    total += len(chunk)
    return time.perf_counter() - started, total


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="bench-remote-"))
    landing = out / "landing"
    if not landing.exists():
        generate(landing, START, END, merchants=3000, seed=2024, faults=False)
    files = [p for p in landing.rglob("*") if p.is_file() and "_generator" not in p.parts]
    size = sum(p.stat().st_size for p in files)
    rows = []
    with servers.sshd(out / "sshd") as sftp, servers.moto_s3(out / "moto") as s3, \
            prefect_server(out / "prefect") as prefect:  # fmt: skip
        with_s3 = not os.environ.get("BENCH_SKIP_S3")
        if with_s3:
            servers.s3_upload(s3, landing, "umkm-bench", "landing")
        with servers.relay(sftp.port) as sftp_relay, servers.relay(s3.port) as s3_relay:
            known = sftp.home / ".ssh" / "known_hosts"
            host_key = known.read_text().splitlines()[0].split(" ", 1)[1]
            known.write_text(known.read_text() + f"[127.0.0.1]:{sftp_relay.port} {host_key}\n")
            kinds = {
                "local": (str(landing), {}, None),
                "S3 (moto)": ("s3://umkm-bench/landing",
                              s3.env(AWS_ENDPOINT_URL=f"http://127.0.0.1:{s3_relay.port}"), s3_relay),
                "SFTP (sshd)": (f"sftp://{sftp.user}@127.0.0.1:{sftp_relay.port}{landing}",
                                {"HOME": str(sftp.home)}, sftp_relay),
            }  # fmt: skip
            if not with_s3:
                kinds.pop("S3 (moto)")
            for name, (url, extra, relay) in kinds.items():
                base = out / re.sub(r"\W+", "-", name)
                shutil.rmtree(base, ignore_errors=True)
                settings = Settings(landing=url, warehouse=base / "w" / "umkm.duckdb",
                                    publish=base / "p" / "umkm.duckdb")  # fmt: skip
                env = umkm_env(settings, KEY, **prefect.env(), **extra)
                if relay:
                    relay.reset()
                first, pulled = backfill(settings, env)
                sent_first = relay.received if relay else 0
                if relay:
                    relay.reset()
                again, pulled_again = backfill(settings, env)
                sent_again = relay.received if relay else 0
                rows.append((name, first, pulled, sent_first, again, pulled_again, sent_again))
                print(rows[-1], flush=True)
            # in place (two passes over every file) against the mirror (one pass)
            data = [p for p in files if p.name not in ("_SUCCESS", "manifest.json")]
            inplace = []
            os.environ["HOME"] = str(
                sftp.home
            )  # this process reads the server too: its known_hosts
            readers = [("SFTP (sshd)", remote.open_filesystem(remote.Source(sftp.url(landing))), str(landing))]  # fmt: skip
            if with_s3:
                os.environ.update(s3.env())  # this process reads the bucket too: its credentials
                readers.append(("S3 (moto)", remote.open_filesystem(remote.Source(
                    "s3://umkm-bench/landing", endpoint_url=s3.endpoint)), "umkm-bench/landing"))  # fmt: skip
            for name, fs, prefix in readers:
                paths = [f"{prefix}/{p.relative_to(landing).as_posix()}" for p in data]
                once = read_all(fs, paths, 1)
                twice = read_all(fs, paths, 2)
                inplace.append((name, once, twice))
    lines = [
        f"Demo-sized landing: {len(files)} files, {size:,} bytes; 2 cores; one Prefect server "
        "(its start excluded); servers on loopback behind a byte-counting relay.",
        "",
        "| landing | backfill s | files pulled | bytes sent by the server | unchanged rerun s "
        "| files pulled | bytes sent by the server |",
        "|---|---:|---|---:|---:|---|---:|",
    ]
    for name, first, pulled, sent, again, pulled_again, sent_again in rows:
        lines.append(f"| {name} | {first:.1f} | {pulled} | {sent:,} | {again:.1f} | {pulled_again} | {sent_again:,} |")  # fmt: skip
    lines += ["", "| reading every data file | once (mirror): s, bytes | twice (in place: hash, then parse): s, bytes |", "|---|---:|---:|"]  # fmt: skip
    for name, once, twice in inplace:
        lines.append(f"| {name} | {once[0]:.2f}, {once[1]:,} | {twice[0]:.2f}, {twice[1]:,} |")
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
