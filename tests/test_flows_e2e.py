"""End to end through the real Prefect flows, on generated exports of all six partners."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.run.core import run_plain
from pipelines.settings import Settings
from pipelines.synthetic import generate
from tests import builders as b
from tests.test_runs import published

START, END = date(2024, 1, 22), date(2024, 2, 2)  # two Mondays and a month end
TABLES = ["national_progress", "progress_by_province", "progress_by_partner", "progress_by_scale",
          "progress_by_sector", "ekatalog_progress", "partner_loads", "partner_freshness",
          "publications", "national_progress_revisions"]  # fmt: skip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backfilled(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One backfill of generated exports through the flow, shared by the tests of this module."""
    from flows.runs import backfill

    base = tmp_path_factory.mktemp("e2e")
    settings = Settings(landing=base / "landing", warehouse=base / "w" / "umkm.duckdb",
                        publish=base / "p" / "umkm.duckdb", pii_key="e2e-key")  # fmt: skip
    generate(settings.landing, START, END, merchants=300, seed=7)
    with pytest.MonkeyPatch.context() as mp:
        for name in ("landing", "warehouse", "publish"):
            mp.setenv(f"UMKM_{name.upper()}", str(getattr(settings, name)))
        mp.setenv("UMKM_PII_KEY", "e2e-key")
        result = backfill(start=START, end=END)
        yield settings, result, published(settings)


def test_backfill_loads_every_delivered_partner_day_and_publishes_all_tables(backfilled) -> None:  # type: ignore[no-untyped-def]
    """It loads each delivered partner-day and publishes the ten tables through to the last day."""
    _, result, tables = backfilled
    assert result["failed"] == 0 and result["missing"] == 0
    assert result["loaded"] == 4 * 12 + 2 + 1  # four daily partners, two Mondays, one month end
    assert sorted(tables) == sorted(TABLES)
    assert tables["national_progress"][-1][0] == END
    assert len(tables["national_progress"]) == (END - date(2020, 5, 14)).days + 1


def test_rerunning_the_range_or_a_day_changes_nothing(backfilled, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """It finds every partner-day unchanged on a second backfill and a nightly run, and publishes the same."""
    from flows.runs import backfill, nightly

    settings, first, tables = backfilled
    _env(monkeypatch, settings)
    second = backfill(start=START, end=END)
    assert (second["loaded"], second["unchanged"]) == (0, first["loaded"])
    assert published(settings) == tables
    one_day = nightly(export_date=END)
    assert (one_day["unchanged"], one_day["loaded"]) == (4, 0)


def test_flows_and_plain_functions_make_the_same_numbers(backfilled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """It publishes the same values whether the stages run as Prefect tasks or as plain calls."""
    settings, _, tables = backfilled
    plain = Settings(landing=settings.landing, warehouse=tmp_path / "w.duckdb", publish=tmp_path / "p.duckdb",
                     pii_key=settings.pii_key)  # fmt: skip
    run_plain(plain, START, END)
    want, got = published(plain), dict(tables)
    want.pop("partner_loads"), got.pop("partner_loads")
    assert got == want


def test_published_file_holds_only_aggregates_with_comments(backfilled) -> None:  # type: ignore[no-untyped-def]
    """It publishes only metrics.md's tables, each with a description, and no listing-level column."""
    settings, _, _ = backfilled
    con = duckdb.connect(str(settings.publish), read_only=True)
    try:
        comments = dict(con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall())
        columns = [c for (c,) in con.execute("SELECT column_name FROM duckdb_columns()").fetchall()]
    finally:
        con.close()
    assert sorted(comments) == sorted(TABLES) and all(comments.values())
    assert not [
        c for c in columns if "nik" in c or "phone" in c or c.endswith("_ps") or c == "listing_key"
    ]


def test_a_failed_partner_day_fails_the_flow_run_and_leaves_an_artifact(
    prefect_harness: None, env_settings: Settings
) -> None:
    """It ends the flow run Failed when a partner-day fails, after loading the rest; the failed
    day is logged at WARNING, and the run artifact has a section with its reason in full and
    links to the validation table artifact by its Prefect UI page."""
    import logging
    from logging.handlers import BufferingHandler

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.runs import PartnerDaysFailed, nightly

    day = date(2024, 3, 1)
    b.tokoraya(env_settings.landing, day, [], raw=b"not;the;header\r\n")
    b.belanjaku(env_settings.landing, day, [[{"event": "created", "merchant": {"id": 1}, "legal": {"nib": "1234567890123"},
                                              "onboarded_at": 1700000000000}]])  # fmt: skip
    records = BufferingHandler(10_000)
    logging.getLogger("prefect").addHandler(records)  # Prefect's loggers do not propagate
    try:
        with pytest.raises(PartnerDaysFailed) as failed:
            nightly(export_date=day)
    finally:
        logging.getLogger("prefect").removeHandler(records)
    assert failed.value.result["failed"] == 1 and failed.value.result["loaded"] == 1
    reason = failed.value.result["failures"][0].removeprefix("tokoraya 2024-03-01: ")
    assert "columns missing or renamed" in reason
    logged = [r for r in records.buffer if r.getMessage().startswith("tokoraya 2024-03-01: failed")]
    assert logged and all(r.levelno >= logging.WARNING for r in logged)
    tracebacks = [r.getMessage() for r in records.buffer if r.exc_info and r.exc_info[0]]
    assert not tracebacks  # outcomes, not crashes
    assert any("freshness check failed: partners behind schedule: tokoraya" in r.getMessage()
               for r in records.buffer)  # fmt: skip
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        (report,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["umkm-nightly-run"])),
            limit=1, sort="CREATED_DESC",
        )  # fmt: skip
        (table,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["umkm-nightly-validation"])),
            limit=1, sort="CREATED_DESC",
        )  # fmt: skip
    text = str(report.data)
    section = text.split("### tokoraya 2024-03-01\n\n", 1)[1].split("\n\n", 1)[0]
    assert section.replace("\\", "") == reason  # the whole reason, markup escaped only
    assert "| tokoraya | 2024-03-01 | failed |" in text
    assert f"/artifacts/artifact/{table.id})" in text and "file://" not in text
    rows = {r["partner"]: r for r in json.loads(str(table.data))}
    assert rows["tokoraya"]["status"] == "failed" and rows["tokoraya"]["detail"] == reason
    assert rows["belanjaku"]["status"] == "loaded" and rows["belanjaku"]["rows_loaded"] == 1
    assert any(r.state and r.state.is_failed() for r in runs)
    shutil.rmtree(env_settings.landing)


def test_a_corrected_redelivery_through_the_flow_replaces_that_day_as_a_clean_run_would(
    prefect_harness: None, env_settings: Settings, tmp_path: Path
) -> None:
    """The flow inspects a ledger-held day itself and hands a changed one to the read task: the
    corrected day is loaded, the others stay unchanged, and the values equal a clean run's."""
    from flows.runs import backfill
    from tests.test_runs import NIKS, assert_same_as_a_clean_run, row, three_days

    three_days(env_settings.landing)
    backfill(start=date(2024, 1, 1), end=date(2024, 1, 3))
    b.pasarnusa(env_settings.landing, "2024-01-02", [row("PN1", NIKS[0], "2023-05-01"),
                row("PN2", NIKS[1], "2023-07-01"), row("PN3", NIKS[3], "2024-01-02")])  # fmt: skip
    rerun = backfill(start=date(2024, 1, 1), end=date(2024, 1, 3))
    assert (rerun["loaded"], rerun["unchanged"], rerun["failed"]) == (1, 2, 0)
    assert_same_as_a_clean_run(env_settings, tmp_path, date(2024, 1, 1), date(2024, 1, 3))


def test_a_refused_delivery_that_comes_again_unchanged_stays_a_failure(
    prefect_harness: None, env_settings: Settings
) -> None:
    """A refused partner-day delivered again unchanged is reported failed again (exit status 1,
    flow run Failed), until a corrected delivery loads; its partner_loads row stays as it was."""
    from prefect.client.orchestration import get_client

    from flows.cli import main

    day = date(2024, 3, 4)
    b.tokoraya(env_settings.landing, day, [], raw=b"not;the;header\r\n")
    args = ["backfill", "--start", day.isoformat(), "--end", day.isoformat()]
    assert main(args) == 1

    def ledger_row() -> tuple[object, ...]:
        con = duckdb.connect(str(env_settings.publish), read_only=True)
        try:
            return con.execute("SELECT * FROM partner_loads").fetchall()[0]
        finally:
            con.close()

    first = ledger_row()
    assert first[2] == "failed"
    assert main(args) == 1  # the same refused content: still failed
    assert ledger_row() == first  # same loaded_at, same detail
    with get_client(sync_client=True) as client:
        states = [r.state for r in client.read_flow_runs() if r.name and r.state]
    assert sum(1 for s in states if s and s.is_failed()) >= 2
    shop = {"ID Toko": "T1", "Nama Toko": "Toko", "NIK Pemilik": "3273014101900001", "No. HP": "",
            "NIB": "", "Provinsi": "Jawa Barat", "Kabupaten/Kota": "Kota Bandung",
            "Skala Usaha": "MIKRO", "Tanggal Bergabung": "5/1/2024", "Omzet Bulanan (Rp)": ""}  # fmt: skip
    for f in (env_settings.landing / "tokoraya" / day.isoformat()).glob("*.csv"):
        f.unlink()
    b.tokoraya(env_settings.landing, day, [shop])  # the corrected delivery
    assert main(args) == 0
    assert ledger_row()[2] == "loaded"
    shutil.rmtree(env_settings.landing)


def _env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name in ("landing", "warehouse", "publish"):
        monkeypatch.setenv(f"UMKM_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.setenv("UMKM_PII_KEY", "e2e-key")
