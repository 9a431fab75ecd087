"""The run artifact: every failure in full, links a Prefect UI user can open."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines.reporting.summary import markdown, validation_rows
from pipelines.run.core import RunSummary
from pipelines.run.step import Step

LONG = ("file 'tokoraya/2024-03-01/TOKORAYA_MERCHANT_01032024.csv': columns missing or renamed: "
        + ", ".join(f"'Kolom_{i} | *{i}*'" for i in range(40)) + "; no <header> row [sic]")  # fmt: skip


def _run() -> RunSummary:
    failed = Step("tokoraya", date(2024, 3, 1), "pending").fail(LONG)
    loaded = Step("pasarnusa", date(2024, 3, 1), "loaded", rows_read=3, rows_loaded=2,
                  rows_quarantined=1, notes=("quarantined: 1 no valid identifier",))  # fmt: skip
    return RunSummary("r1", (loaded, failed), (), None, None)


def test_each_failed_partner_day_has_a_section_with_its_whole_reason(tmp_path: Path) -> None:
    """The reason is a paragraph of its own, whole and with markup escaped, not a table cell."""
    text = markdown(_run(), tmp_path / "none.duckdb", "nightly", "http://ui/artifacts/artifact/1")
    section = text.split("### tokoraya 2024-03-01\n\n", 1)[1].split("\n\n", 1)[0]
    assert section.replace("\\", "") == LONG
    assert "*" not in section.replace("\\*", "") and "|" not in section.replace("\\|", "")
    assert "- **pasarnusa 2024-03-01:** quarantined: 1 no valid identifier" in text
    assert "[validation summary](http://ui/artifacts/artifact/1)" in text


def test_the_data_docs_folder_is_named_not_linked_by_a_file_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gx" / "data_docs").mkdir(parents=True)
    text = markdown(_run(), Path("p.duckdb"), "backfill", None, Path("gx/data_docs"))
    assert "file://" not in text and f"`{tmp_path / 'gx' / 'data_docs'}`" in text


def test_the_validation_table_lists_failures_first_with_their_reasons() -> None:
    rows = validation_rows(_run())
    assert [r["status"] for r in rows] == ["failed", "loaded"]
    assert rows[0]["detail"] == LONG and rows[1]["rows_quarantined"] == 1
