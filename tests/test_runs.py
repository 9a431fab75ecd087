"""Whole runs through the plain runner: reruns, re-deliveries, out-of-order loads, refusals."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.intake import landing
from pipelines.run.core import run_plain
from pipelines.settings import Settings
from tests import builders as b

NIKS = ["3273014101900001", "3173015205850002", "3471016608920003", "3374011203990004"]


def row(seller: str, nik: str, joined: str, **changes: object) -> dict[str, object]:
    base: dict[str, object] = dict(
        seller_id=seller, shop_name=f"Toko {seller}", owner_nik=nik, owner_phone="", nib="",
        regency_code="32.73", business_scale="micro", kbli="47911", joined_at=joined, status="active",
    )  # fmt: skip
    return base | changes


def published(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    """Every published table's rows, except load and publication timestamps."""
    con = duckdb.connect(str(settings.publish), read_only=True)
    try:
        out = {}
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall():
            cols = [
                c
                for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()
                if c not in ("loaded_at", "published_at")
            ]
            out[table] = con.execute(
                f"SELECT {', '.join(cols)} FROM {table} ORDER BY ALL"
            ).fetchall()
        return out
    finally:
        con.close()


HISTORY = ("publications", "national_progress_revisions")


def data_tables(tables: dict[str, list[tuple[object, ...]]]) -> dict[str, list[tuple[object, ...]]]:
    """The published tables that depend on the data alone (not on when runs happened)."""
    return {k: v for k, v in tables.items() if k not in HISTORY}


def assert_same_as_a_clean_run(settings: Settings, tmp_path: Path, start: date, end: date) -> None:
    """The published values (load bookkeeping and the history of publications aside, which
    depend on the runs) equal a clean run's over the same landing area."""
    clean = Settings(landing=settings.landing, warehouse=tmp_path / "clean" / "w.duckdb",
                     publish=tmp_path / "clean" / "p.duckdb", pii_key=settings.pii_key)  # fmt: skip
    run_plain(clean, start, end)
    got, want = published(settings), published(clean)
    got.pop("partner_loads"), want.pop("partner_loads")
    assert data_tables(got) == data_tables(want)


def three_days(landing: Path) -> None:
    b.pasarnusa(
        landing,
        "2024-01-01",
        [row("PN1", NIKS[0], "2023-06-01"), row("PN2", NIKS[1], "2023-07-01")],
    )
    b.pasarnusa(landing, "2024-01-02", [row("PN1", NIKS[0], "2023-06-01"), row("PN2", NIKS[1], "2023-07-01"),
                                        row("PN3", NIKS[2], "2024-01-02")])  # fmt: skip
    b.pasarnusa(
        landing,
        "2024-01-03",
        [row("PN1", NIKS[0], "2023-06-01"), row("PN3", NIKS[2], "2024-01-02")],
    )


def test_rerun_of_the_same_days_changes_nothing(settings: Settings) -> None:
    """It treats an unchanged partner-day as unchanged on a rerun and publishes the same values."""
    three_days(settings.landing)
    first = run_plain(settings, date(2024, 1, 1), date(2024, 1, 3))
    assert [s.status for s in first.steps] == ["loaded"] * 3
    before = published(settings)
    second = run_plain(settings, date(2024, 1, 1), date(2024, 1, 3))
    assert [s.status for s in second.steps] == ["unchanged"] * 3
    assert published(settings) == before


def test_same_content_under_a_new_file_name_is_unchanged(settings: Settings) -> None:
    """It recognises a delivery by content, not by file names."""
    path = b.belanjaku(settings.landing, "2024-01-01", [[{"event": "created", "merchant": {"id": 1},
        "legal": {"nib": "1234567890123"}, "onboarded_at": 1700000000000}]])  # fmt: skip
    run_plain(settings, date(2024, 1, 1), date(2024, 1, 1))
    (path / "part-00000.jsonl.gz").rename(path / "part-00007.jsonl.gz")
    b.manifest(path, {"part-00007.jsonl.gz": 1})
    assert [s.status for s in run_plain(settings, date(2024, 1, 1), date(2024, 1, 1)).steps] == [
        "unchanged"
    ]


def test_corrected_redelivery_replaces_that_day_only(settings: Settings, tmp_path: Path) -> None:
    """It replaces exactly the re-delivered partner-day: the result equals a clean run of the corrected data."""
    three_days(settings.landing)
    run_plain(settings, date(2024, 1, 1), date(2024, 1, 3))
    corrected = [
        row("PN1", NIKS[0], "2023-05-01"),
        row("PN2", NIKS[1], "2023-07-01"),
        row("PN3", NIKS[3], "2024-01-02"),
    ]
    b.pasarnusa(settings.landing, "2024-01-02", corrected)
    rerun = run_plain(settings, date(2024, 1, 1), date(2024, 1, 3))
    assert [s.status for s in rerun.steps] == ["unchanged", "loaded", "unchanged"]
    assert_same_as_a_clean_run(settings, tmp_path, date(2024, 1, 1), date(2024, 1, 3))


def test_out_of_order_loading_gives_the_same_warehouse(settings: Settings, tmp_path: Path) -> None:
    """It publishes the same values when day 3 is loaded before days 1 and 2."""
    three_days(settings.landing)
    run_plain(settings, date(2024, 1, 3), date(2024, 1, 3))
    run_plain(settings, date(2024, 1, 1), date(2024, 1, 2))
    in_order = Settings(landing=settings.landing, warehouse=tmp_path / "o" / "w.duckdb",
                        publish=tmp_path / "o" / "p.duckdb", pii_key=settings.pii_key)  # fmt: skip
    run_plain(in_order, date(2024, 1, 1), date(2024, 1, 3))
    got, want = published(settings), published(in_order)
    assert data_tables(got) == data_tables(want)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    removed = con.execute("SELECT listing_key, removed_as_of FROM listings ORDER BY 1").fetchall()
    con.close()
    assert removed == [("PN1", None), ("PN2", date(2024, 1, 3)), ("PN3", None)]


def test_refused_redelivery_keeps_what_was_loaded(settings: Settings) -> None:
    """It marks a broken re-delivery failed and keeps the day's previous content in the numbers."""
    three_days(settings.landing)
    run_plain(settings, date(2024, 1, 1), date(2024, 1, 3))
    before = published(settings)
    path = settings.landing / "pasarnusa" / "2024-01-02"
    (path / "sellers.csv.gz").write_bytes(b"this is not gzip")
    result = run_plain(settings, date(2024, 1, 2), date(2024, 1, 2))
    assert result.exit_status == 1
    assert result.steps[0].status == "failed"
    after = published(settings)
    loads = {(r[0], r[1]): r for r in after.pop("partner_loads")}
    assert loads[("pasarnusa", date(2024, 1, 2))][2] == "failed"
    assert "sha256 does not match manifest" in loads[("pasarnusa", date(2024, 1, 2))][-1]
    before.pop("partner_loads")
    # its partner_loads row changed, so a second publication; no national figure was revised
    assert [p[0] for p in after.pop("publications")] == [1, 2]
    assert after["national_progress_revisions"] == before["national_progress_revisions"]
    assert data_tables(after) == data_tables(before)


def test_missing_success_marker_is_not_delivered(settings: Settings) -> None:
    """It skips a folder without _SUCCESS, reports it missing, and counts it in partner_freshness."""
    three_days(settings.landing)
    (settings.landing / "pasarnusa" / "2024-01-02" / "_SUCCESS").unlink()
    result = run_plain(settings, date(2024, 1, 1), date(2024, 1, 3))
    assert [(d.partner, d.export_date) for d in result.missing] == [("pasarnusa", date(2024, 1, 2))]
    assert len(result.steps) == 2
    fresh = published(settings)["partner_freshness"]
    assert fresh == [("pasarnusa", date(2024, 1, 3), date(2024, 1, 3), 0, 1)]
    shutil.rmtree(settings.landing / "pasarnusa" / "2024-01-02")


def test_an_unchanged_rerun_reads_no_data_file_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It reuses the ledger's hash of a file whose size, inode and times are unchanged."""
    three_days(settings.landing)
    run_plain(settings, date(2024, 1, 1), date(2024, 1, 3))
    hashed: list[str] = []
    real = landing.file_sha256
    monkeypatch.setattr(landing, "file_sha256", lambda path: hashed.append(path.name) or real(path))
    second = run_plain(settings, date(2024, 1, 1), date(2024, 1, 3))
    assert [s.status for s in second.steps] == ["unchanged"] * 3
    assert hashed == []


def test_a_file_rewritten_with_the_same_size_and_time_is_hashed_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It notices a same-size rewrite whose modification time was set back (the change time moves)."""
    day = date(2024, 1, 1)
    shop = {"ID Toko": "T1", "Nama Toko": "Toko Satu", "NIK Pemilik": NIKS[0], "No. HP": "081234567890",
            "NIB": "", "Provinsi": "Jawa Barat", "Kabupaten/Kota": "Bandung, Kota", "Skala Usaha": "MIKRO",
            "Tanggal Bergabung": "5 Agustus 2021", "Omzet Bulanan (Rp)": "Rp 1.500.000"}  # fmt: skip
    path = next(b.tokoraya(settings.landing, day, [shop]).glob("*.csv"))
    assert [s.status for s in run_plain(settings, day, day).steps] == ["loaded"]
    before = path.stat()
    path.write_bytes(path.read_bytes().replace(b"Toko Satu", b"Toko Dua!"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    hashed: list[str] = []
    real = landing.file_sha256
    monkeypatch.setattr(landing, "file_sha256", lambda p: hashed.append(p.name) or real(p))
    assert [s.status for s in run_plain(settings, day, day).steps] == ["loaded"]
    assert hashed == [path.name]
