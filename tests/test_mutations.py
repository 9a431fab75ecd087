"""Mutation test: valid deliveries of every format damaged many ways (tests/mutations.py), the
manifests' hashes kept true, run through `umkm backfill` in batches. Each damaged partner-day
ends `loaded` with its records balanced or `failed` with a reason in `partner_loads.detail`;
never a crash caught as "unexpected", a stopped or hung run, or a change to any undamaged
partner-day of the same run (its `partner_loads` row is what an undamaged run records).

`make test` runs two seeded batches (a few dozen damaged partner-days); `make mutate` runs
UMKM_MUTATIONS of them (seed UMKM_MUTATION_SEED) and prints the outcomes.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.contracts import load_contracts
from pipelines.run.core import run_plain
from pipelines.settings import Settings
from pipelines.synthetic import generate
from tests import mutations
from tests.conftest import TEST_KEY
from tests.processes import umkm, umkm_env

pytestmark = pytest.mark.slow

# a valid delivery of each partner (each format) from a generated month: the deltas' first day
# (their backlog), the snapshots' and the monthly report's last
TEMPLATES = {"pasarnusa": date(2024, 1, 31), "tokoraya": date(2024, 1, 1), "belanjaku": date(2024, 1, 1),
             "kedaiantar": date(2024, 1, 31), "lapakdesa": date(2024, 1, 31), "lkpp-ekatalog": date(2024, 1, 29)}  # fmt: skip
FIRST = date(2024, 2, 1)  # batches deliver the templates again on days from here
DAYS = 6  # days per batch: every partner delivers on each
DAMAGED_SHARE = 0.6
RUN_SECONDS = 420  # a run still going after this is hung
COLUMNS = ("status", "rows_read", "rows_loaded", "rows_quarantined", "warnings", "content_sha256",
           "contract_sha256", "detail", "files")  # fmt: skip


def loads(warehouse: Path) -> dict[tuple[str, str], dict[str, object]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            f"SELECT partner, export_date::VARCHAR, {', '.join(COLUMNS)} FROM partner_loads"
        ).fetchall()
    finally:
        con.close()
    out = {}
    for partner, day, *values in rows:
        row = dict(zip(COLUMNS, values, strict=True))
        # which files, their sizes, hashes and record counts; not where they sat on disk
        row["files"] = [{k: v for k, v in f.items() if k not in ("inode", "ctime_ns", "mtime_ns")}
                        for f in json.loads(str(row["files"] or "[]"))]  # fmt: skip
        out[partner, day] = row
    return out


def without_volume_warning(row: dict[str, object]) -> dict[str, object]:
    notes = [n for n in str(row["detail"] or "").split("; ") if n and not n.startswith("volume warning: ")]  # fmt: skip
    return {**row, "detail": "; ".join(notes) or None}


def deliver(landing: Path, templates: Path, days: list[date]) -> None:
    """Every partner's template delivered on each of `days` (same files, another folder)."""
    for partner, source in TEMPLATES.items():
        for day in days:
            shutil.copytree(templates / partner / source.isoformat(), landing / partner / day.isoformat())  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, shared_prefect_server):  # type: ignore[no-untyped-def]
    """The templates, the `partner_loads` rows an undamaged batch records, and one Prefect
    server shared by the batches' runs."""
    base = tmp_path_factory.mktemp("mutations")
    generate(base / "generated", date(2024, 1, 1), date(2024, 1, 31), merchants=300, seed=5)
    days = [FIRST + timedelta(days=i) for i in range(DAYS)]
    deliver(base / "clean" / "landing", base / "generated", days)
    clean = Settings(landing=base / "clean" / "landing", warehouse=base / "clean" / "w.duckdb",
                     publish=base / "clean" / "p.duckdb", pii_key=TEST_KEY)  # fmt: skip
    run_plain(clean, days[0], days[-1])
    want = loads(clean.warehouse)
    assert len(want) == DAYS * len(TEMPLATES) and all(r["status"] == "loaded" for r in want.values())  # fmt: skip
    return base / "generated", days, want, shared_prefect_server


def tracebacks(output: str) -> list[str]:
    """The tracebacks in a run's log but the freshness check's: it fails on purpose when a
    partner's damaged days leave it behind schedule (flows/runs.py), and Prefect logs that."""
    found = []
    for trace in re.findall(r"Traceback \(most recent call last\):\n(?:(?!\d\d:\d\d:\d\d\.\d+ \|).*\n?)*", output):  # fmt: skip
        if not re.search(r"^RuntimeError: partners behind schedule: ", trace, re.MULTILINE):
            found.append(trace)
    return found


def outcome(row: dict[str, object] | None) -> str:
    """The damaged partner-day's outcome in a few words (a problem starts with "PROBLEM")."""
    if row is None:
        return "PROBLEM: no partner_loads row"
    detail = str(row["detail"] or "")
    if row["status"] == "loaded":
        if row["rows_read"] != row["rows_loaded"] + row["rows_quarantined"]:  # type: ignore[operator]
            return "PROBLEM: loaded but unbalanced"
        return "loaded, some quarantined" if row["rows_quarantined"] else "loaded"
    if row["status"] != "failed" or not detail.strip():
        return f"PROBLEM: {row['status']} without a reason"
    if "could not stage the delivery: unexpected" in detail:  # stage.isolated caught a crash
        return f"PROBLEM: a crash caught: {detail[:300]}"
    for words, kind in ((r"manifest", "failed: manifest mismatch"), (r"gzip", "failed: damaged gzip"),
                        (r"parquet", "failed: damaged Parquet"), (r"zip|xlsx|workbook|sheet|excel", "failed: damaged workbook"),
                        (r"line ends", "failed: mixed line ends"),
                        (r"windows-1252|utf-8|encod|byte order mark", "failed: encoding"),
                        (r"column|header", "failed: columns or header"), (r"quarantin", "failed: over the quarantine threshold"),
                        (r"empty", "failed: empty file")):  # fmt: skip
        if re.search(words, detail, re.IGNORECASE):
            return kind
    return "failed: other reason"


def run_batch(
    world, base: Path, seed: int
) -> tuple[list[tuple[mutations.Mutation, str]], list[str]]:  # type: ignore[no-untyped-def]
    """One `umkm backfill` over a batch with some partner-days damaged: their outcomes, and the
    problems found (in the run, or in undamaged partner-days)."""
    templates, days, want, server = world
    rng = random.Random(seed)
    landing = base / "landing"
    deliver(landing, templates, days)
    contracts = load_contracts()
    damaged: dict[tuple[str, str], mutations.Mutation] = {}
    for partner in TEMPLATES:
        csv = contracts[partner].csv
        windows = csv is not None and csv.encoding == "windows-1252"
        for day in days:
            if rng.random() < DAMAGED_SHARE:
                damaged[partner, day.isoformat()] = mutations.damage(landing / partner / day.isoformat(), partner, rng, windows)  # fmt: skip
    settings = Settings(landing=landing, warehouse=base / "w" / "umkm.duckdb",
                        publish=base / "p" / "umkm.duckdb", pii_key=TEST_KEY)  # fmt: skip
    problems = []
    try:
        run = umkm("backfill", "--start", days[0].isoformat(), "--end", days[-1].isoformat(),
                   env=umkm_env(settings, TEST_KEY, **server.env()), timeout=RUN_SECONDS)  # fmt: skip
    except Exception as exc:  # subprocess.TimeoutExpired: a hung run
        return [(m, "PROBLEM: the run hung") for m in damaged.values()], [f"seed {seed}: {exc}"]
    if run.returncode not in (0, 1) or "backfill stopped" in run.stderr or not settings.warehouse.exists():  # fmt: skip
        problems.append(f"seed {seed}: the run ended {run.returncode}: {run.stderr[-3000:]}")
    for trace in tracebacks(run.stdout + run.stderr):
        problems.append(f"seed {seed}: a traceback in the run's output: {trace[:2500]}")
    got = loads(settings.warehouse) if settings.warehouse.exists() else {}
    for key, row in want.items():
        if key in damaged:
            continue
        mine = got.get(key)
        # a damaged day that loaded fewer records is history for the volume warning of the
        # partner's days after it (partners.md): only after one may an undamaged day warn
        if mine is not None and any(p == key[0] and d < key[1] for p, d in damaged):
            mine = without_volume_warning(mine)
        if mine != row:
            problems.append(f"seed {seed}: undamaged {key} recorded {got.get(key)}, an undamaged run {row}")  # fmt: skip
    results = [(m, outcome(got.get(key))) for key, m in damaged.items()]
    for m, what in results:
        if what.startswith("failed: other"):
            print(f"  {m.operator} {m.partner} {m.export_date}: {str(got[m.partner, m.export_date]['detail'])[:240]}")  # fmt: skip
    problems += [f"seed {seed}: {m}: {what}" for m, what in results if what.startswith("PROBLEM")]
    return results, problems


def batches(world, tmp_path: Path, count: int, seed: int) -> list[tuple[mutations.Mutation, str]]:  # type: ignore[no-untyped-def]
    results, problems = [], []
    for i in range(count):
        got, found = run_batch(world, tmp_path / f"b{i}", seed + i)
        results += got
        problems += found
        shutil.rmtree(tmp_path / f"b{i}", ignore_errors=True)
    by_outcome = Counter(
        what.split(":")[0] if what.startswith("PROBLEM") else what for _, what in results
    )
    print(f"\n{len(results)} damaged partner-days in {count} runs (seed {seed}):")
    for what, n in by_outcome.most_common():
        print(f"  {n:5d}  {what}")
    by_operator = Counter(m.operator for m, _ in results)
    print("  by operator: " + ", ".join(f"{op} {n}" for op, n in sorted(by_operator.items())))
    assert not problems, "\n".join(p[:600] for p in problems[:40])
    return results


def test_damaged_deliveries_fail_only_their_own_partner_day(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Two seeded batches (a few dozen damaged partner-days of every format): each is loaded
    balanced or failed with a reason; the undamaged ones are recorded as in an undamaged run."""
    results = batches(world, tmp_path, 2, seed=20261202)
    assert len(results) >= 30
    assert {m.partner for m, _ in results} == set(TEMPLATES)


@pytest.mark.skipif(not os.environ.get("UMKM_MUTATIONS"), reason="the long run: make mutate (UMKM_MUTATIONS=N)")  # fmt: skip
def test_many_damaged_deliveries(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    wanted = int(os.environ["UMKM_MUTATIONS"])
    per_batch = DAYS * len(TEMPLATES) * DAMAGED_SHARE
    count = max(1, round(wanted / per_batch))
    results = batches(world, tmp_path, count, seed=int(os.environ.get("UMKM_MUTATION_SEED", "1")))
    assert results
