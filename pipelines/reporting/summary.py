"""What a run did, in words and tables: for the CLI, logs and the Prefect run artifact."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.contracts import Contract
from pipelines.run.core import RunSummary


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


def markdown(summary: RunSummary, published: Path, kind: str, data_docs: Path | None = None) -> str:
    """The run's report: national figure, per-partner-day outcomes, what was not delivered."""
    lines = [f"# UMKM {kind} run", ""]
    lines.append(national_line(published) or "Nothing published yet.")
    lines += [
        "",
        f"**{summary.count('loaded')} loaded, {summary.count('unchanged')} unchanged, "
        f"{summary.count('failed')} failed, {len(summary.missing)} not delivered** (no `_SUCCESS`).",
        "",
        *[f"**Warning:** {_cell(line)}\n" for line in summary.warnings],
        *[
            f"**Not pulled from its landing area:** {_cell(line)}\n"
            for line in summary.landing_failures
        ],
        "| partner | export date | status | rows read | loaded | quarantined | warnings | detail |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for s in sorted(summary.steps, key=lambda s: (s.status != "failed", s.export_date, s.partner)):
        lines.append(
            f"| {s.partner} | {s.export_date} | {s.status} | {_cell(s.rows_read)} | {s.rows_loaded} | "
            f"{s.rows_quarantined} | {s.warnings} | {_cell(s.detail)} |"
        )
    for d in summary.missing:
        lines.append(
            f"| {d.partner} | {d.export_date} | not delivered | | | | | no `_SUCCESS` marker |"
        )
    if data_docs is not None and data_docs.exists():
        lines += [
            "",
            f"Validation results (Data Docs): [{data_docs}]({data_docs.resolve().as_uri()})",
        ]
    return "\n".join(lines) + "\n"
