"""End to end through the real Prefect flows, on generated exports of all six partners."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.generate import generate
from pipelines.runner import run_plain
from pipelines.settings import Settings
from tests.test_runs import published

START, END = date(2024, 1, 22), date(2024, 2, 2)  # two Mondays and a month end

pytestmark = pytest.mark.slow


@pytest.fixture
def landing(env_settings: Settings) -> Path:
    generate(env_settings.landing, START, END, merchants=300, seed=7)
    return env_settings.landing


def test_backfill_flow_publishes_all_tables_and_a_rerun_changes_nothing(
    prefect_harness: None, landing: Path, env_settings: Settings, tmp_path: Path
) -> None:
    """It loads every delivered partner-day, publishes the eight tables, and a rerun is a no-op."""
    from flows.runs import backfill, nightly

    first = backfill(start=START, end=END)
    assert first["failed"] == 0 and first["missing"] == 0
    assert first["loaded"] == 4 * 12 + 2 + 1  # four daily partners, two Mondays, one month end
    tables = published(env_settings)
    assert sorted(tables) == sorted([
        "national_progress", "progress_by_province", "progress_by_partner", "progress_by_scale",
        "progress_by_sector", "ekatalog_progress", "partner_loads", "partner_freshness",
    ])  # fmt: skip
    assert tables["national_progress"][-1][0] == END
    assert len(tables["national_progress"]) == (END - date(2020, 5, 14)).days + 1

    second = backfill(start=START, end=END)
    assert (second["loaded"], second["unchanged"]) == (0, first["loaded"])
    assert published(env_settings) == tables

    one_day = nightly(export_date=END)
    assert one_day["unchanged"] == 4 and one_day["loaded"] == 0

    # the flows and the plain runner make the same numbers
    plain = Settings(landing=landing, warehouse=tmp_path / "plain" / "w.duckdb",
                     publish=tmp_path / "plain" / "p.duckdb", pii_key=env_settings.pii_key)  # fmt: skip
    run_plain(plain, START, END)
    want, got = published(plain), dict(tables)
    want.pop("partner_loads"), got.pop("partner_loads")
    assert got == want


def test_published_file_holds_only_aggregates_with_comments(
    prefect_harness: None, landing: Path, env_settings: Settings
) -> None:
    """It publishes only metrics.md's tables, each with a description a BI user sees."""
    from flows.runs import backfill

    backfill(start=START, end=END)
    con = duckdb.connect(str(env_settings.publish), read_only=True)
    try:
        comments = dict(con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall())
        columns = [c for (c,) in con.execute("SELECT column_name FROM duckdb_columns()").fetchall()]
    finally:
        con.close()
    assert all(comments.values()) and len(comments) == 8
    assert not [
        c for c in columns if "nik" in c or "phone" in c or c.endswith("_ps") or c == "listing_key"
    ]
