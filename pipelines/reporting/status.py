"""`umkm status`: the latest national figure, each partner's last delivery and its freshness.

Reads only the published file (aggregates, ../shared/metrics.md), opened read-only: it never
touches the warehouse, so it is safe to run while a load is in progress. Aligned columns drawn
by rich; colour only on a terminal (and never with NO_COLOR set), so piped output stays clean.
Labels, numbers and dates in the language asked for (language.py; English by default).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TextIO

import duckdb
import polars as pl
from rich import box
from rich.console import Console
from rich.console import RenderableType as Renderable
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from pipelines.reporting.language import ENGLISH, Language

NOTHING_PUBLISHED = "nothing published yet: run `umkm backfill` or `umkm demo` first"
PROGRAMME_START = "2020-05-14"
BAD = "bold red"


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
    # each publication's latest day as first published and now (empty for a file without history)
    publications: pl.DataFrame = field(default_factory=pl.DataFrame)

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
            publications=_publications(con),
        )
    except duckdb.Error as exc:
        raise NotPublished(f"{path} is not a complete published file: {exc}") from None
    finally:
        con.close()


def _publications(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    has = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'publications'"
    ).fetchall()[0][0]
    if not has:  # a file published before the history existed
        return pl.DataFrame()
    return con.sql(
        """SELECT p.publication_id, p.published_at, p.latest_export_date,
                  p.umkm_onboarded AS first_published, n.umkm_onboarded AS now
           FROM publications p LEFT JOIN national_progress n ON n.as_of_date = p.latest_export_date
           ORDER BY p.publication_id"""
    ).pl()


def pct_text(ratio: float | None, lang: Language = ENGLISH) -> str:
    """A share of target as a percentage with two significant digits below 1%: 0.0098%."""
    return lang.pct(ratio)


def num(value: object, lang: Language = ENGLISH) -> str:
    """Thousands separators; a dash for a missing value."""
    return lang.num(value)


def render(pub: Published, lang: Language = ENGLISH) -> list[Renderable]:
    """The status report: lines of text and tables (rich renders them on a console)."""
    t = lang.t
    out: list[Renderable] = []
    latest = pub.latest
    ref = latest["as_of_date"] if latest else None
    out.append(Text(t("status_title", path=pub.path), style="bold"))
    out.append("")

    # national
    if latest is None:
        out.append(Text(t("no_day_published"), style="bold"))
    else:
        out.append(Text(t("national_as_of", day=lang.day(latest["as_of_date"])), style="bold"))
        pairs = [
            (t("onboarded_since", start=lang.day(date.fromisoformat(PROGRAMME_START))), lang.num(latest["umkm_onboarded"])),
            (t("new_that_day"), lang.num(latest["umkm_new"])),
            (t("online_in_all"), lang.num(latest["umkm_online_total"])),
            (t("listings"), lang.num(latest["listings"])),
            (t("target_on_trajectory"), lang.num(latest["target"])),
            (t("share_of_target"), lang.pct(latest["pct_of_target"])),
        ]  # fmt: skip
        grid = Table.grid(padding=(0, 2, 0, 0))
        grid.add_column()
        grid.add_column(justify="right")
        for label, value in pairs:
            grid.add_row(label, value)
        out.append(_indent(grid, (0, 0, 0, 2)))
    out.append("")

    # partner deliveries
    partners = sorted(set(pub.loads["partner"].to_list()) | set(pub.freshness["partner"].to_list()))
    out.append(Text(t("deliveries"), style="bold"))
    rows: list[list[str]] = []
    failures: list[str] = []
    notes: list[str] = []
    for partner in partners:
        mine = pub.loads.filter(pl.col("partner") == partner)
        if mine.height == 0:
            rows.append([partner, t("never"), "-", "-", "-", "-", "-", "-"])
            continue
        last = mine.row(-1, named=True)
        failed = mine.filter(pl.col("status") == "failed")
        last_failure = failed.row(-1, named=True) if failed.height else None
        status = last["status"]
        rows.append(
            [
                partner,
                lang.day(last["export_date"]),
                t(status) if status in ("loaded", "failed") else status,
                lang.num(last["rows_read"]),
                lang.num(last["rows_loaded"]),
                lang.num(last["rows_quarantined"]),
                lang.num(last["warnings"]),
                lang.day(last_failure["export_date"]) if last_failure else t("none"),
            ]
        )
        if last_failure:
            failures.append(
                f"{partner} {lang.day(last_failure['export_date'])}: {last_failure['detail'] or t('no_detail')}"
            )
        if status != "failed" and last["detail"]:
            notes.append(f"{partner} {lang.day(last['export_date'])}: {last['detail']}")
    headers = ["col_partner", "col_last_delivery", "col_status", "col_read", "col_loaded",
               "col_quarantined", "col_warnings", "col_last_failure"]  # fmt: skip
    if rows:
        bad = [r[2] == t("failed") for r in rows]
        out.append(table([t(h) for h in headers], rows, right={3, 4, 5, 6}, bad=bad))
    else:
        out.append("  " + t("nothing_delivered"))
    if failures:
        out.append("")
        out.append(Text(t("last_failures"), style="bold"))
        out += [_indent(Text(f, style=BAD), (0, 0, 0, 2)) for f in failures]
    if notes:
        out.append("")
        out.append(t("notes_last_delivery"))
        out += [_indent(Text(n), (0, 0, 0, 2)) for n in notes]
    out.append("")

    # freshness
    ref_day = pub.loads.filter(pl.col("status") == "loaded")["export_date"].max()
    shown_ref = ref_day or ref
    out.append(Text(t("freshness", day=lang.day(shown_ref) if isinstance(shown_ref, date) else "-"), style="bold"))  # fmt: skip
    frows: list[list[str]] = []
    behind: list[str] = []
    flags: list[bool] = []
    for f in pub.freshness.iter_rows(named=True):
        state = freshness_state(f, lang)
        flags.append(needs_attention(f))
        if flags[-1]:
            behind.append(f["partner"])
        frows.append(
            [
                f["partner"],
                lang.day(f["latest_export_date"]),
                lang.day(f["expected_export_date"]),
                lang.num(f["days_behind"]),
                lang.num(f["missing_days"]),
                state,
            ]
        )
    headers = ["col_partner", "col_latest", "col_expected", "col_days_behind", "col_missing_days", "col_state"]  # fmt: skip
    if frows:
        out.append(table([t(h) for h in headers], frows, right={3, 4}, bad=flags))
    else:
        out.append("  " + t("no_partner_delivered"))
    out.append("")
    if behind:
        out.append(Text(t("behind_list", n=len(behind), partners=", ".join(behind)), style=BAD))
    elif frows:
        out.append(t("all_up_to_date"))
    return out


def _indent(part: Renderable, pad: tuple[int, int, int, int]) -> Renderable:
    return Padding(part, pad, expand=False)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int],
          bad: Sequence[bool]) -> Renderable:  # fmt: skip
    """Aligned columns two spaces apart, indented; rows flagged bad in bold red (on a terminal)."""
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                 header_style="", expand=False)  # fmt: skip
    for i, h in enumerate(headers):
        grid.add_column(h, justify="right" if i in right else "left", no_wrap=True)
    for row, flagged in zip(rows, bad, strict=True):
        grid.add_row(*row, style=BAD if flagged else None)
    return _indent(grid, (0, 0, 0, 2))


def needs_attention(row: dict[str, object]) -> bool:
    """Whether a partner_freshness row is behind or has scheduled deliveries missing."""
    days, missing = row["days_behind"], row["missing_days"]
    return (
        row["latest_export_date"] is None
        or (isinstance(days, int) and days > 0)
        or (isinstance(missing, int) and missing > 0)
    )


def freshness_state(row: dict[str, object], lang: Language = ENGLISH) -> str:
    """'ok', or why a partner_freshness row needs attention: behind, or deliveries missing."""
    days = row["days_behind"]
    missing = row["missing_days"]
    parts = []
    if row["latest_export_date"] is None:
        parts.append(lang.t("behind_nothing_loaded"))
    elif isinstance(days, int) and days > 0:
        parts.append(lang.t("behind_by", n=days))
    if isinstance(missing, int) and missing > 0:
        parts.append(lang.t("deliveries_missing", n=missing))
    return "; ".join(parts) or lang.t("ok")


def console(stream: TextIO) -> Console:
    """A console on `stream`: colour only on a terminal (rich honours NO_COLOR and TERM=dumb);
    piped, wide enough that no table is cut or wrapped."""
    isatty = getattr(stream, "isatty", lambda: False)
    terminal = bool(isatty())
    return Console(file=stream, force_terminal=terminal, width=None if terminal else 200,
                   highlight=False, markup=False, soft_wrap=not terminal)  # fmt: skip


def show(stream: TextIO | None = None, lang: Language = ENGLISH) -> int:
    """Print the status report; 0, or 2 when nothing is published yet."""
    stream = sys.stdout if stream is None else stream
    try:
        pub = read_published()
    except NotPublished as exc:
        print(f"umkm status: {exc}", file=sys.stderr)
        return 2
    out = console(stream)
    with out.capture() as captured:
        for part in render(pub, lang):
            out.print(part)
    text = captured.get()
    if not out.is_terminal:  # piped: no padding after the last column
        text = "".join(line.rstrip() + "\n" for line in text.splitlines())
    stream.write(text)
    return 0
