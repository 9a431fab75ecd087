"""A `--faults` generated backfill: everything good loads, every defect gets partners.md's outcome."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest

from pipelines.run.core import run_plain
from pipelines.settings import Settings
from pipelines.synthetic import generate

START, END = date(2024, 1, 1), date(2024, 3, 10)  # seventy days: every fault kind appears

pytestmark = pytest.mark.slow


def test_every_injected_fault_gets_its_contractual_outcome(settings: Settings) -> None:
    """It loads the good, quarantines or refuses the rest with reasons, and every partner-day balances."""
    generate(settings.landing, START, END, merchants=500, seed=3, faults=True)
    faults = [
        json.loads(line)
        for line in (settings.landing / "_generator" / "faults.jsonl").read_text().splitlines()
    ]
    summary = run_plain(settings, START, END)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        loads = {(p, d.isoformat()): (s, r, lo, q, detail) for p, d, s, r, lo, q, detail in con.execute(
            "SELECT partner, export_date, status, rows_read, rows_loaded, rows_quarantined, coalesce(detail, '') FROM partner_loads"
        ).fetchall()}  # fmt: skip
        quarantined = {(p, d.isoformat(), f, n) for p, d, f, n in con.execute(
            "SELECT partner, export_date, file, row_number FROM quarantine").fetchall()}  # fmt: skip
        warned = {(p, d.isoformat(), f, n) for p, d, f, n in con.execute(
            "SELECT partner, export_date, file, row_number FROM record_warnings").fetchall()}  # fmt: skip
    finally:
        con.close()
    assert summary.count("failed") == sum(1 for f in faults if f["expected_outcome"] == "failed")
    for status, read, loaded, quarantine, _ in loads.values():
        if status == "loaded":
            assert read == loaded + quarantine
    for fault in faults:
        key = (fault["partner"], fault["export_date"])
        row = fault["row"]
        if row is not None and fault["partner"] == "lapakdesa":
            row += 4  # the quarantine names the spreadsheet row: the header is on row 4
        where = (*key, fault["file"], row)
        outcome = fault["expected_outcome"]
        label = f"{fault['kind']} {key}"
        if outcome == "skipped_missing":
            assert key not in loads, label
            assert key in {(d.partner, d.export_date.isoformat()) for d in summary.missing}, label
            continue
        status, _, _, _, detail = loads[key]
        if outcome == "failed":
            assert status == "failed" and detail, label
            continue
        assert status == "loaded", f"{label}: {detail}"
        if outcome == "quarantined":
            assert where in quarantined, label
        elif outcome == "identifier_invalid":
            assert where in warned and where not in quarantined, label
        elif outcome == "loaded_with_warning":
            assert (
                where in warned
                if row is not None
                else "warning" in detail or "extra columns" in detail
            ), label
        elif outcome in ("loaded", "last_wins") and row is not None:
            assert where not in quarantined, label
