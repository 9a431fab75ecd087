"""`umkm status`: the latest national figure, each partner's last delivery and its freshness.

Reads only the published file (aggregates, ../shared/metrics.md), opened read-only: it never
touches the warehouse, so it is safe to run while a load is in progress. Plain text in aligned
columns; colour only on a terminal (and never with NO_COLOR set), so piped output stays clean.
"""

from __future__ import annotations

import math
import os
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TextIO

import duckdb
import polars as pl

NOTHING_PUBLISHED = "nothing published yet: run `umkm backfill` or `umkm demo` first"
PROGRAMME_START = "2020-05-14"


class NotPublished(Exception):
    """The published file is missing or unreadable: a configuration error (exit status 2)."""


@dataclass(frozen=True)
class Published:
    """The published tables a report needs, read in one short read-only session."""

    path: Path
    national: pl.DataFrame  # national_progress, by as_of_date
    loads: pl.DataFrame  # partner_loads, by partner, export_date
    freshness: pl.DataFrame  # partner_freshness, by partner
    provinces: pl.DataFrame  # progress_by_province on the latest day only

    @property
    def latest(self) -> dict[str, object] | None:
        return self.national.row(-1, named=True) if self.national.height else None


def publish_path() -> Path:
    from pipelines.settings import Settings

    return Settings().publish


def read_published(path: Path | None = None) -> Published:
    """Read the published file read-only; NotPublished when it does not exist or is not one."""
    path = publish_path() if path is None else path
    if not path.is_file():
        raise NotPublished(f"{NOTHING_PUBLISHED} (no published file at {path})")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise NotPublished(f"cannot open the published file {path}: {exc}") from None
    try:
        return Published(
            path=path,
            national=con.sql("SELECT * FROM national_progress ORDER BY as_of_date").pl(),
            loads=con.sql("SELECT * FROM partner_loads ORDER BY partner, export_date").pl(),
            freshness=con.sql("SELECT * FROM partner_freshness ORDER BY partner").pl(),
            provinces=con.sql(
                """SELECT province_code, province_name, umkm_onboarded, umkm_new
                   FROM progress_by_province
                   WHERE as_of_date = (SELECT max(as_of_date) FROM progress_by_province)
                   ORDER BY province_code IS NULL, umkm_onboarded DESC, province_name"""
            ).pl(),
        )
    except duckdb.Error as exc:
        raise NotPublished(f"{path} is not a complete published file: {exc}") from None
    finally:
        con.close()


def pct_text(ratio: float | None) -> str:
    """A share of target as a percentage with two significant digits below 1%: 0.0098%."""
    if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)):
        return "n/a"
    value = ratio * 100
    if value == 0:
        return "0%"
    if abs(value) >= 10:
        return f"{value:,.0f}%"
    if abs(value) >= 1:
        return f"{value:.1f}%"
    decimals = 1 - math.floor(math.log10(abs(value)))
    return f"{value:.{decimals}f}%"


def num(value: object) -> str:
    """Thousands separators; a dash for a missing value."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    """Plain aligned columns (two spaces apart); columns in `right` are right-aligned."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


class _Style:
    def __init__(self, stream: TextIO) -> None:
        isatty = getattr(stream, "isatty", lambda: False)
        self.on = (
            bool(isatty()) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        )

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.on else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def bad(self, text: str) -> str:
        return self._wrap("1;31", text)


def render(pub: Published, style: _Style | None = None) -> list[str]:
    """The status report as lines of text."""
    s = style or _Style(sys.stdout)
    out: list[str] = []
    latest = pub.latest
    ref = latest["as_of_date"] if latest else None
    out.append(s.bold(f"UMKM onboarding status  (published file {pub.path})"))
    out.append("")

    # national
    if latest is None:
        out.append(s.bold("National progress: no day published yet (no partner-day loaded)"))
    else:
        out.append(s.bold(f"National progress as of {latest['as_of_date']}"))
        pairs = [
            (f"UMKM onboarded since {PROGRAMME_START}", num(latest["umkm_onboarded"])),
            ("new that day", num(latest["umkm_new"])),
            ("online in all (incl. before the programme)", num(latest["umkm_online_total"])),
            ("marketplace listings", num(latest["listings"])),
            ("target on the trajectory", num(latest["target"])),
            ("share of target", pct_text(latest["pct_of_target"])),
        ]
        label_w = max(len(k) for k, _ in pairs)
        value_w = max(len(v) for _, v in pairs)
        out += [f"  {k.ljust(label_w)}  {v.rjust(value_w)}" for k, v in pairs]
    out.append("")

    # partner deliveries
    partners = sorted(set(pub.loads["partner"].to_list()) | set(pub.freshness["partner"].to_list()))
    out.append(s.bold("Partner deliveries (latest export date delivered with _SUCCESS)"))
    rows: list[list[str]] = []
    failures: list[str] = []
    notes: list[str] = []
    for partner in partners:
        mine = pub.loads.filter(pl.col("partner") == partner)
        if mine.height == 0:
            rows.append([partner, "never", "-", "-", "-", "-", "-", "-"])
            continue
        last = mine.row(-1, named=True)
        failed = mine.filter(pl.col("status") == "failed")
        last_failure = failed.row(-1, named=True) if failed.height else None
        status = last["status"]
        rows.append(
            [
                partner,
                str(last["export_date"]),
                status,
                num(last["rows_read"]),
                num(last["rows_loaded"]),
                num(last["rows_quarantined"]),
                num(last["warnings"]),
                str(last_failure["export_date"]) if last_failure else "none",
            ]
        )
        if last_failure:
            failures.append(
                f"{partner} {last_failure['export_date']}: {last_failure['detail'] or '(no detail)'}"
            )
        if status != "failed" and last["detail"]:
            notes.append(f"{partner} {last['export_date']}: {last['detail']}")
    headers = [
        "partner",
        "last delivery",
        "status",
        "read",
        "loaded",
        "quarantined",
        "warnings",
        "last failure",
    ]
    if rows:
        out += _painted(
            table(headers, rows, right={3, 4, 5, 6}), [r[2] == "failed" for r in rows], s
        )
    else:
        out.append("  (no partner-day delivered yet)")
    if failures:
        out.append("")
        out.append(s.bold("Last failure per partner"))
        out += _wrapped(failures, s.bad)
    if notes:
        out.append("")
        out.append("Notes on the last delivery")
        out += _wrapped(notes, str)
    out.append("")

    # freshness
    ref_day = pub.loads.filter(pl.col("status") == "loaded")["export_date"].max()
    out.append(s.bold(f"Freshness (against the reference day {ref_day or ref or '-'})"))
    frows: list[list[str]] = []
    behind: list[str] = []
    for f in pub.freshness.iter_rows(named=True):
        state = freshness_state(f)
        if state != "ok":
            behind.append(f["partner"])
        days = f["days_behind"]
        frows.append(
            [
                f["partner"],
                _day(f["latest_export_date"]),
                _day(f["expected_export_date"]),
                num(days),
                num(f["missing_days"]),
                state,
            ]
        )
    headers = ["partner", "latest", "expected", "days behind", "missing days", "state"]
    if frows:
        out += _painted(table(headers, frows, right={3, 4}), [r[-1] != "ok" for r in frows], s)
    else:
        out.append("  (no partner has delivered yet)")
    out.append("")
    if behind:
        out.append(s.bad(f"{len(behind)} partner(s) behind or with gaps: {', '.join(behind)}"))
    elif frows:
        out.append("All partners up to date.")
    return out


def freshness_state(row: dict[str, object]) -> str:
    """'ok', or why a partner_freshness row needs attention: behind, or deliveries missing."""
    days = row["days_behind"]
    missing = row["missing_days"]
    parts = []
    if row["latest_export_date"] is None:
        parts.append("BEHIND: nothing loaded")
    elif isinstance(days, int) and days > 0:
        parts.append(f"BEHIND by {days} day{'s' if days != 1 else ''}")
    if isinstance(missing, int) and missing > 0:
        parts.append(f"{missing} scheduled deliver{'ies' if missing != 1 else 'y'} missing")
    return "; ".join(parts) or "ok"


def _painted(lines: list[str], bad: list[bool], s: _Style) -> list[str]:
    """Indent a table; rows flagged bad in bold red on a terminal (header and rule are 2 lines)."""
    return ["  " + (s.bad(line) if i >= 2 and bad[i - 2] else line) for i, line in enumerate(lines)]


def _day(value: date | None) -> str:
    return "-" if value is None else str(value)


def _wrapped(items: list[str], paint) -> list[str]:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    for item in items:
        wrapped = textwrap.wrap(item, width=96, subsequent_indent="      ") or [item]
        lines += ["  " + paint(w) for w in wrapped]
    return lines


def show(stream: TextIO | None = None) -> int:
    """Print the status report; 0, or 2 when nothing is published yet."""
    stream = sys.stdout if stream is None else stream
    try:
        pub = read_published()
    except NotPublished as exc:
        print(f"umkm status: {exc}", file=sys.stderr)
        return 2
    for line in render(pub, _Style(stream)):
        print(line, file=stream)
    return 0
