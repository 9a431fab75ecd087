"""What a run did, in words and tables: for the CLI, logs and the Prefect run artifact."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.contracts import Contract
from pipelines.run.core import RunSummary
from pipelines.run.step import Step


def _query(published: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows from the published file, read-only; none when nothing is published yet."""
    if not published.exists():
        return []
    con = duckdb.connect(str(published), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def national_line(published: Path) -> str | None:
    """The latest national figure against target, from the published file."""
    rows = _query(published, "SELECT * FROM national_progress ORDER BY as_of_date DESC LIMIT 1")
    if not rows:
        return None
    as_of, onboarded, new, online, listings, target, pct = rows[0]
    share = f"{pct:.4%}" if pct is not None else "n/a"
    return (
        f"National progress as of {as_of}: {onboarded:,} UMKM onboarded since 2020-05-14 "
        f"({new:,} new that day; {online:,} online in all; {listings:,} marketplace listings) "
        f"against a target of {target:,} ({share} of target)"
    )


def overdue_partners(published: Path, contracts: dict[str, Contract]) -> list[str]:
    """Partners further behind schedule than their contract allows (partner_freshness)."""
    rows = _query(
        published,
        "SELECT partner, latest_export_date, expected_export_date, days_behind FROM partner_freshness",
    )
    late = []
    for partner, latest, expected, behind in rows:
        allowed = contracts[str(partner)].max_days_behind if partner in contracts else 0
        if latest is None or int(behind or 0) > allowed:  # type: ignore[call-overload]
            seen = f"latest loaded export {latest}" if latest else "nothing loaded yet"
            late.append(f"{partner}: {seen}, expected {expected} ({behind if behind is not None else '?'} days behind; "
                        f"its contract allows {allowed})")  # fmt: skip
    return late


def _cell(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|#"})


def _text(text: object) -> str:
    """Text shown as written in a markdown paragraph (no character read as markup)."""
    return str(text if text is not None else "").translate(_MARKDOWN)


def _reason(step: Step) -> str:
    return "; ".join(([step.detail] if step.detail else []) + list(step.notes))


def validation_rows(summary: RunSummary) -> list[dict[str, object]]:
    """Each partner-day's validation outcome, failures first: the run's table artifact."""
    rows: list[dict[str, object]] = [
        {
            "partner": s.partner,
            "export_date": s.export_date.isoformat(),
            "status": s.status,
            "rows_read": s.rows_read,
            "rows_loaded": s.rows_loaded,
            "rows_quarantined": s.rows_quarantined,
            "warnings": s.warnings,
            "detail": _reason(s),
        }
        for s in sorted(
            summary.steps, key=lambda s: (s.status != "failed", s.export_date, s.partner)
        )
    ]
    rows += [
        {
            "partner": d.partner,
            "export_date": d.export_date.isoformat(),
            "status": "not delivered",
            "rows_read": None,
            "rows_loaded": None,
            "rows_quarantined": None,
            "warnings": None,
            "detail": "no _SUCCESS marker",
        }
        for d in summary.missing
    ]
    return rows


def moved_line(summary: RunSummary) -> str:
    """One line: which publication this run made and how the national figure moved (or none)."""
    pub = summary.published
    if pub is None:
        return "No publication: nothing changed since the last one."
    if pub.moved is None:
        return f"No new publication: the values equal publication {pub.previous_id}'s."
    m = pub.moved
    day, after = m.latest
    head = f"Publication {m.publication_id}: {_num(after)} UMKM onboarded on {day}"
    if m.previous is None:
        return head + " (the first publication)."
    if m.latest_before is not None:
        head += f" (publication {m.publication_id - 1} had {_num(m.latest_before)} for that day)"
    else:
        head += f" (publication {m.publication_id - 1}: {_num(m.previous[1])} on {m.previous[0]})"
    return head + f"; {m.restated:,} past day(s) restated."


def moved_section(summary: RunSummary) -> list[str]:
    """Markdown: the national figure before and after this publication, the past days restated,
    the largest revisions and the partner-days that moved them."""
    lines = ["## What this publication moved", "", moved_line(summary), ""]
    m = summary.published.moved if summary.published else None
    if m is None or not m.largest:
        return lines
    lines += [
        "| day | before | after | revision | partner-days that moved it (UMKM moved) |",
        "|---|---:|---:|---:|---|",
    ]
    for r in m.largest:
        causes = "; ".join(
            f"{p or 'identity links alone'} {d or ''} {c} ({n:+,})".replace("  ", " ")
            for p, d, c, n in r.causes
        )
        lines.append(
            f"| {r.as_of_date} | {r.previous:,} | {r.umkm_onboarded:,} | "
            f"{r.umkm_onboarded - r.previous:+,} | {_cell(causes)} |"
        )
    lines += [
        "",
        "`umkm explain --date DAY` shows every publication of a day and its partner-days.",
        "",
    ]
    return lines


def _num(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def markdown(summary: RunSummary, published: Path, kind: str, results: str | None = None,
             data_docs: Path | None = None) -> str:  # fmt: skip
    """The run's report: national figure, a section per failed partner-day with its reason in
    full, the outcome of every partner-day, and a link to the validation results (`results`,
    a URL the Prefect UI opens: the run's table artifact)."""
    failed = [s for s in summary.steps if s.status == "failed"]
    lines = [f"# UMKM {kind} run", ""]
    lines.append(national_line(published) or "Nothing published yet.")
    lines += [
        "",
        f"**{summary.count('loaded')} loaded, {summary.count('unchanged')} unchanged, "
        f"{len(failed)} failed, {len(summary.missing)} not delivered** (no `_SUCCESS`).",
        "",
        *[f"**Warning:** {_cell(line)}\n" for line in summary.warnings],
    ]
    lines += moved_section(summary)
    if results:
        lines += [f"Validation results of every partner-day: [validation summary]({results})", ""]
    if failed or summary.landing_failures:
        lines += [f"## Failed: {len(failed) + len(summary.landing_failures)}", ""]
    for s in sorted(failed, key=lambda s: (s.export_date, s.partner)):
        read = "nothing read" if s.rows_read is None else f"{s.rows_read:,} records read"
        lines += [f"### {s.label}", "", _text(_reason(s) or "(no reason recorded)"), "",
                  f"{read}; nothing loaded from this delivery.", ""]  # fmt: skip
    for line in summary.landing_failures:
        lines += ["### Not pulled from its landing area", "", _text(line), ""]
    lines += [
        "## Every partner-day",
        "",
        "| partner | export date | status | rows read | loaded | quarantined | warnings |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for s in sorted(summary.steps, key=lambda s: (s.status != "failed", s.export_date, s.partner)):
        lines.append(
            f"| {s.partner} | {s.export_date} | {s.status} | {_cell(s.rows_read)} | {s.rows_loaded} | "
            f"{s.rows_quarantined} | {s.warnings} |"
        )
    for d in summary.missing:
        lines.append(f"| {d.partner} | {d.export_date} | not delivered (no `_SUCCESS`) | | | | |")
    noted = [s for s in summary.steps if s.status != "failed" and _reason(s)]
    if noted:
        lines += ["", "## Notes on loaded partner-days", ""]
        lines += [f"- **{s.label}:** {_text(_reason(s))}" for s in sorted(noted, key=lambda s: (s.export_date, s.partner))]  # fmt: skip
    if data_docs is not None and data_docs.exists():
        lines += ["", f"Data Docs on the run's host: `{data_docs.resolve()}`"]
    return "\n".join(lines) + "\n"
