"""The Data Docs index: every partner-day's validation at a glance, linking to the Great
Expectations page of each partner-day that was not clean. Self-contained HTML (inline CSS, no
script, nothing fetched): it opens offline. Counts and rule names only, never values."""

from __future__ import annotations

import html
from pathlib import Path

import duckdb

from pipelines.quality.validate import OFFLINE_CSS


def write_index(con: duckdb.DuckDBPyConnection, docs_dir: Path) -> Path:
    """Write `docs_dir/index.html` from the ledger and the stored validation results."""
    rows = con.execute(
        """SELECT l.partner, l.export_date, l.status, l.rows_read, l.rows_loaded, l.rows_quarantined, l.warnings,
                  coalesce(sum(CASE WHEN NOT v.success AND v.expectation LIKE 'Expect%' THEN 1 ELSE 0 END), 0) AS failed_expectations,
                  l.detail
           FROM partner_loads l LEFT JOIN validation_results v USING (partner, export_date)
           GROUP BY ALL ORDER BY l.export_date DESC, l.partner"""
    ).fetchall()
    body = [
        "<h1>UMKM validation results (Data Docs)</h1>",
        "<p>One row per delivered partner-day, newest first. Expectations run by Great Expectations on the "
        "canonical records; record and attribute rules counted by the vectorised rule pass. A partner-day that "
        "was not clean links to its Great Expectations page.</p>",
        "<table><tr><th>partner</th><th>export date</th><th>status</th><th>read</th><th>loaded</th>"
        "<th>quarantined</th><th>warnings</th><th>failed expectations</th><th>detail</th></tr>",
    ]
    for partner, day, status, read, loaded, quarantined, warned, failed, detail in rows:
        page = docs_dir / partner / f"{day.isoformat()}.html"
        label = html.escape(partner)
        cell = f'<a href="{partner}/{day.isoformat()}.html">{label}</a>' if page.exists() else label
        css = ' class="text-danger"' if status == "failed" else ""
        body.append(
            f"<tr{css}><td>{cell}</td><td>{day}</td><td>{status}</td><td>{'' if read is None else read}</td>"
            f"<td>{loaded}</td><td>{quarantined}</td><td>{warned}</td><td>{failed}</td>"
            f"<td>{html.escape(detail or '')}</td></tr>"
        )
    body.append("</table>")
    docs_dir.mkdir(parents=True, exist_ok=True)
    index = docs_dir / "index.html"
    tmp = index.with_suffix(".tmp")
    tmp.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>UMKM Data Docs</title>{OFFLINE_CSS}</head>"
        f"<body>{''.join(body)}</body></html>",
        encoding="utf-8",
    )
    tmp.replace(index)
    return index
