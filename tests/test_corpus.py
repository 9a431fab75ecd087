"""The bad-input corpus: every case of partners.md's outcome table, as files a partner delivers.

Each folder under tests/corpus/ is a tiny landing area plus `expected.json` (written by
tests/corpus/make_corpus.py). A case runs through the plain runner on fresh settings, and its
recorded outcome must be exactly the expected one: each partner-day's status and counts in
`partner_loads`, the reason in `detail`, every quarantined record (file, row, rule, column) and
every record warning in the warehouse, and where given the resulting listings.

Writing the published file is most of a tiny run's time and says nothing about a bad input, so
it is skipped unless a case checks published tables (`"published": true`); the warehouse,
listings and identity resolution are always brought up to date as in a real run.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.contracts import load_contracts
from pipelines.intake.landing import delivered_range
from pipelines.publish import build as publish
from pipelines.quality.identifiers import hmac_hex
from pipelines.run.core import run_plain
from pipelines.settings import Settings
from tests.conftest import TEST_KEY
from tests.test_runs import HISTORY

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.json").is_file())
_PSEUDONYM = re.compile(r"<pseudonym of (\d+)>")
# a NIK (or one cut to 15 digits) or a mobile number, as a run of digits on its own
_PERSONAL = re.compile(r"(?<![0-9A-Za-z])(\d{15,16}|(?:\+?62|0)?8\d{8,11})(?![0-9A-Za-z])")


def fresh_settings(root: Path) -> Settings:
    return Settings(
        landing=root / "landing",
        warehouse=root / "warehouse" / "umkm.duckdb",
        publish=root / "published" / "umkm.duckdb",
        pii_key=TEST_KEY,
    )


def lay_over(source: Path, landing: Path) -> None:
    """Put each partner-day folder of `source` into the landing area, replacing it whole."""
    for day in sorted(source.glob("*/*")):
        target = landing / day.relative_to(source)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(day, target, symlinks=True)


def run_case(case: Path, expected: dict[str, Any], settings: Settings) -> None:
    for index, run in enumerate(expected.get("runs") or [{}]):
        lay_over(case / run.get("landing", "landing"), settings.landing)
        span = delivered_range(settings.landing, load_contracts())
        assert span is not None
        start = date.fromisoformat(run["start"]) if "start" in run else span[0]
        end = date.fromisoformat(run["end"]) if "end" in run else span[1]
        summary = run_plain(settings, start, end)
        if "steps" in run:
            got = [[s.partner, s.export_date.isoformat(), s.status] for s in summary.steps]
            assert got == run["steps"], f"run {index + 1}: step statuses"
        missing = [[d.partner, d.export_date.isoformat()] for d in summary.missing]
        assert missing == run.get("missing", []), f"run {index + 1}: not delivered"


def query(path: Path, sql: str, params: list[object] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def iso(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def published_tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every published table's rows that depend on the data alone, without load timestamps."""
    out = {}
    for (table,) in query(path, "SELECT table_name FROM duckdb_tables() ORDER BY 1"):
        if table in HISTORY:  # depends on when runs happened
            continue
        cols = [c for (c,) in query(path, f"SELECT column_name FROM (DESCRIBE {table})")]
        keep = ", ".join(c for c in cols if c != "loaded_at")
        out[table] = query(path, f"SELECT {keep} FROM {table} ORDER BY ALL")
    return out


@pytest.mark.parametrize("name", CASES)
def test_corpus_case(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It records exactly the outcome partners.md gives for the case's delivery."""
    case = CORPUS / name
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    if not expected.get("published"):
        monkeypatch.setattr(publish, "publish", lambda *args, **kwargs: None)
    settings = fresh_settings(tmp_path)
    run_case(case, expected, settings)
    wh = settings.warehouse

    loads = query(wh, """SELECT partner, export_date, status, rows_read, rows_loaded, rows_quarantined,
                                warnings, detail, files FROM partner_loads ORDER BY partner, export_date""")  # fmt: skip
    want_days = sorted(expected["partner_days"], key=lambda d: (d["partner"], d["export_date"]))
    assert [(p, iso(d)) for p, d, *_ in loads] == [
        (d["partner"], d["export_date"]) for d in want_days
    ], "partner-days in partner_loads"

    for row, want in zip(loads, want_days, strict=True):
        partner, day, status, read, n_loaded, n_quarantined, n_warned, detail, files = row
        label = f"{partner} {iso(day)}"
        assert (status, read, n_loaded, n_quarantined, n_warned) == (
            want["status"], want["rows_read"], want["rows_loaded"], want["rows_quarantined"], want["warnings"],
        ), f"{label}: status and counts (detail: {detail})"  # fmt: skip
        for part in want["detail_contains"]:
            assert detail is not None and part in detail, f"{label}: {part!r} not in {detail!r}"
        if "detail" in want:
            assert detail == want["detail"], f"{label}: detail"

        quarantined = query(wh, """SELECT file, row_number, rule, column_name FROM quarantine
                                   WHERE partner = ? AND export_date = ? ORDER BY ALL""", [partner, day])  # fmt: skip
        assert [dict(zip(["file", "row_number", "rule", "column_name"], q, strict=True)) for q in quarantined] == sorted(
            want["quarantined"], key=lambda q: (q["file"], q["row_number"], q["rule"], q["column_name"] or "")
        ), f"{label}: quarantined records"  # fmt: skip
        warned = query(wh, """SELECT file, row_number, warning FROM record_warnings
                              WHERE partner = ? AND export_date = ? ORDER BY ALL""", [partner, day])  # fmt: skip
        assert [dict(zip(["file", "row_number", "warning"], w, strict=True)) for w in warned] == sorted(
            want["record_warnings"], key=lambda w: (w["file"], w["row_number"], w["warning"])
        ), f"{label}: record warnings"  # fmt: skip

        if status == "loaded":
            # metrics.md's invariant, and every quarantined record points back to its file and row
            assert read == n_loaded + n_quarantined, label
            assert len(quarantined) == n_quarantined, label
            names = {f["name"] for f in json.loads(files)}
            assert all(f in names and r >= 1 for f, r, *_ in quarantined), label
            assert len({(f, r) for f, r, _ in warned}) == n_warned, label
        else:
            assert (n_loaded, n_quarantined) == (0, 0), label

    # no raw NIK or phone number in what the warehouse says about records (metrics.md)
    texts = query(wh, """SELECT detail FROM partner_loads UNION ALL SELECT excerpt FROM quarantine
                         UNION ALL SELECT warning FROM record_warnings""")  # fmt: skip
    assert [t for (t,) in texts if t and _PERSONAL.search(t)] == []

    if "listings" in expected:
        check_listings(wh, expected["listings"])
    if "freshness" in expected:
        rows = query(settings.publish, "SELECT * FROM partner_freshness ORDER BY partner")
        cols = [
            c
            for (c,) in query(
                settings.publish, "SELECT column_name FROM (DESCRIBE partner_freshness)"
            )
        ]
        assert [{c: iso(v) for c, v in zip(cols, r, strict=True)} for r in rows] == expected[
            "freshness"
        ]
    if expected.get("same_as_in_order"):
        in_order = fresh_settings(tmp_path / "in_order")
        shutil.copytree(settings.landing, in_order.landing)
        run_plain(in_order, *delivered_range(in_order.landing, load_contracts()))  # type: ignore[misc]
        assert published_tables(settings.publish) == published_tables(in_order.publish)


def check_listings(warehouse: Path, want: list[dict[str, Any]]) -> None:
    """The warehouse holds exactly these listings, with these attribute values."""
    key = TEST_KEY.encode()

    def real_key(text: str) -> str:
        return _PSEUDONYM.sub(lambda m: hmac_hex(key, "nik", m.group(1)), text)

    cols = [c for (c,) in query(warehouse, "SELECT column_name FROM (DESCRIBE listings)")]
    named = [
        {c: iso(v) for c, v in zip(cols, r, strict=True)}
        for r in query(warehouse, "SELECT * FROM listings")
    ]
    rows = {(r["partner"], r["listing_key"]): r for r in named}
    wanted = {(w["partner"], real_key(w["listing_key"])): w for w in want}
    assert sorted(rows) == sorted(wanted), "listings"
    for ident, w in wanted.items():
        for column, value in w.items():
            if column not in ("partner", "listing_key"):
                assert rows[ident][column] == value, f"listing {ident}: {column}"
