"""The warehouse's listing tables follow schemas/canonical.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from pipelines import canonical
from pipelines.warehouse import resolve, store


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()]


def yaml_attributes(path: Path) -> list[str]:
    """The `listing` columns of a canonical schema file, but the key and the identifiers."""
    listing = yaml.safe_load(path.read_text(encoding="utf-8"))["listing"]
    return [c["name"] for c in listing if c["name"] not in ("listing_key", "idents")]


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    store.create_schema(con)
    yield con
    con.close()


def test_listing_tables_have_the_canonical_listing_attributes(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """listings and listing_runs carry every `listing` attribute of canonical.yaml, in its order."""
    attrs = yaml_attributes(canonical.SCHEMA)
    assert columns(con, "listings") == [
        "listing_id", "partner", "listing_key", *attrs, "latest_export_date", "removed_as_of", "umkm_id",
    ]  # fmt: skip
    assert columns(con, "listing_runs") == [
        "listing_id", "partner", "vid", "first_date", "last_date", *attrs, "idents",
    ]  # fmt: skip


@pytest.fixture
def extra_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """canonical.yaml with one more `listing` column, `channel_note`."""
    raw = yaml.safe_load(canonical.SCHEMA.read_text(encoding="utf-8"))
    raw["listing"].insert(-1, {"name": "channel_note", "type": "VARCHAR"})
    path = tmp_path / "canonical.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.setattr(canonical, "SCHEMA", path)
    canonical._schema.cache_clear()
    yield
    canonical._schema.cache_clear()


@pytest.mark.usefixtures("extra_column")
def test_a_new_canonical_column_reaches_listings_from_the_latest_run() -> None:
    """A column added to canonical.yaml's `listing` is a column of listings, refreshed from the
    listing's latest run like every attribute."""
    con = duckdb.connect()
    store.create_schema(con)
    assert "channel_note" in columns(con, "listings")
    con.execute("INSERT INTO listing_keys VALUES (1, 'p', 'K1')")
    con.execute(
        """INSERT INTO listing_runs (listing_id, partner, vid, first_date, last_date, joined_date,
                                     channel_note, idents)
           VALUES (1, 'p', 1, '2024-01-01', '2024-01-02', '2023-05-01', 'old', []),
                  (1, 'p', 2, '2024-01-03', '2024-01-05', '2023-05-01', 'new', [])"""
    )
    con.execute("INSERT INTO dirty_listings VALUES (1)")
    resolve.refresh_listings(con, [], [])
    got = con.execute(
        "SELECT listing_key, channel_note, latest_export_date::VARCHAR FROM listings"
    ).fetchall()
    assert got == [("K1", "new", "2024-01-05")]


def test_a_version_4_warehouse_gains_the_listing_attributes_and_refreshes_every_listing(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """A warehouse of schema 4 (listings without kbli and status) gains those columns, and every
    listing is marked for refresh at the next publish, which fills them."""
    con.execute("INSERT INTO listing_keys VALUES (1, 'p', 'K1')")
    con.execute(
        """INSERT INTO listings (listing_id, partner, listing_key, joined_date, latest_export_date)
           VALUES (1, 'p', 'K1', '2023-05-01', '2024-01-05')"""
    )
    con.execute("ALTER TABLE listings DROP COLUMN kbli")
    con.execute("ALTER TABLE listings DROP COLUMN status")
    con.execute("UPDATE meta SET value = '4' WHERE name = 'schema_version'")
    store.create_schema(con)
    assert columns(con, "listings")[-2:] == ["kbli", "status"]
    assert con.execute("SELECT listing_id FROM dirty_listings").fetchall() == [(1,)]
    assert con.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchall() == [
        (store.SCHEMA_VERSION,)
    ]
