"""Validation results surface as Data Docs that open offline and hold no personal values."""

from __future__ import annotations

import re
from datetime import date

import duckdb

from pipelines.run.core import run_plain
from pipelines.settings import Settings
from tests import builders as b
from tests.test_runs import NIKS, row


def test_data_docs_index_and_pages_work_offline_without_personal_values(settings: Settings) -> None:
    """It writes an index of every partner-day and a GX page for each unclean one, with no network reference."""
    b.pasarnusa(
        settings.landing,
        "2024-01-01",
        [row("PN1", NIKS[0], "2023-06-01"), row("PN2", NIKS[1], "2023-07-01")],
    )
    b.pasarnusa(settings.landing, "2024-01-02", [
        row("PN1", NIKS[0], "2023-06-01"), row("PN2", NIKS[1], "2023-07-01", owner_phone="0812-3456-7890"),
        row("PN3", "", "2024-01-02"),  # no identifier: quarantined
        row("PN4", NIKS[2], "2031-01-01"),  # joined in the future: quarantined
        row("PN5", NIKS[3], "2023-01-01", regency_code="99.99"),  # unknown region: warning
    ])  # fmt: skip
    run_plain(settings, date(2024, 1, 1), date(2024, 1, 2))
    docs = settings.gx_dir / "data_docs"
    index = (docs / "index.html").read_text()
    assert "pasarnusa/2024-01-02.html" in index and "pasarnusa/2024-01-01.html" not in index
    page = (docs / "pasarnusa" / "2024-01-02.html").read_text()
    for text in (index, page):
        assert not re.findall(r"(?:src|href)=\"https?://", text), "no CDN or remote reference"
        for secret in [*NIKS, "81234567890", "0812-3456-7890"]:
            assert secret not in text
    assert "quarantined" in page and "joined_day" in page  # the expectations, by column
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    stored = con.execute(
        "SELECT description, unexpected_count FROM validation_results WHERE export_date = '2024-01-02' "
        "AND expectation LIKE 'record rule%' ORDER BY 1"
    ).fetchall()
    con.close()
    assert stored == [("joined date after the export date", 1), ("no valid identifier", 1)]
