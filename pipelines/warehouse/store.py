"""The DuckDB warehouse: its schema, the load ledger, and the state counters publishing uses.

Functions here take a connection whose default database is the warehouse: the file opened
directly (reporting, tests) or attached to the run's DuckDB instance and selected with `USE`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from pipelines import canonical
from pipelines.warehouse import counts

SCHEMA_SQL = Path(__file__).resolve().parents[2] / "schemas" / "warehouse.sql"
SCHEMA_VERSION = "5"  # 2: integer listing and identifier keys; 3: e-catalogue rows by partner; 4: publications and revisions; 5: listings carry every canonical attribute
ALIAS = "wh"  # the warehouse's name when attached to the run's DuckDB instance


def _derived_ddl() -> str:
    """The tables whose columns come from the canonical schema."""
    attrs = canonical.ddl(canonical.listing_attributes(), ("joined_date",))
    runs = (
        "CREATE TABLE IF NOT EXISTS listing_runs (listing_id BIGINT NOT NULL, partner VARCHAR NOT NULL, vid UHUGEINT NOT NULL, "
        f"first_date DATE NOT NULL, last_date DATE NOT NULL, {attrs}, idents UHUGEINT[] NOT NULL);"
    )
    # derived, incrementally maintained: one row per listing, its latest run's attributes, its UMKM
    listings = (
        "CREATE TABLE IF NOT EXISTS listings (listing_id BIGINT NOT NULL, partner VARCHAR NOT NULL, "
        f"listing_key VARCHAR NOT NULL, {attrs}, latest_export_date DATE NOT NULL, removed_as_of DATE, "
        "umkm_id BIGINT);"
    )
    vendors = (
        "CREATE TABLE IF NOT EXISTS ekatalog_vendors "
        f"({canonical.ddl(canonical.vendor_columns(), ('partner', 'export_date', 'listing_key', 'joined_date'))});"
    )
    return runs + listings + vendors + counts.DDL


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the warehouse's tables (idempotent); refuse a warehouse of another schema."""
    con.execute(SCHEMA_SQL.read_text(encoding="utf-8") + _derived_ddl())
    rows = con.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchall()
    if not rows:
        tables = con.execute("SELECT count(*) FROM listing_keys").fetchall()[0][0]
        ledger = con.execute("SELECT count(*) FROM partner_loads").fetchall()[0][0]
        if ledger and not tables:
            raise SchemaMismatch(
                "this warehouse was built by an earlier release (text listing keys); rebuild it: "
                "move it aside and run `umkm backfill` over the landing area (README, 'Key rotation')"
            )
        con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])
    elif rows[0][0] in ("2", "3", "4"):
        if rows[0][0] == "2":
            # e-catalogue rows gain their partner; the rows without one are replaced when their
            # partner-day is judged again (every contract's hash changed in that release)
            con.execute("ALTER TABLE ekatalog_vendors ADD COLUMN IF NOT EXISTS partner VARCHAR")
        # 5: listings gain the attributes they lacked (kbli, status); every listing is refreshed
        # from its runs at the next publish, which fills them
        for c in canonical.listing_attributes():
            con.execute(f"ALTER TABLE listings ADD COLUMN IF NOT EXISTS {c.name} {c.type}")
        con.execute("INSERT INTO dirty_listings SELECT listing_id FROM listings")
        # 4 adds tables only (created above); the live file has no history tables, so the next
        # run publishes, the history starting there
        con.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", [SCHEMA_VERSION])
        con.execute("DELETE FROM meta WHERE name = 'published_version'")
    elif rows[0][0] != SCHEMA_VERSION:
        raise SchemaMismatch(
            f"this warehouse has schema version {rows[0][0]}, this release writes {SCHEMA_VERSION}; "
            "rebuild it from the landing area (README, 'Key rotation')"
        )


class SchemaMismatch(RuntimeError):
    """The warehouse was built by a release with another schema: a configuration error."""


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file directly (creating its schema when writable)."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    con = duckdb.connect(str(path), read_only=read_only)
    if not read_only:
        create_schema(con)
    return con


def attach(
    con: duckdb.DuckDBPyConnection, path: Path, wait_seconds: float = 6 * 3600,
    on_wait: Callable[[str], None] | None = None,
) -> None:  # fmt: skip
    """Attach the warehouse for writing to the run's instance and make it the default database,
    waiting while a process outside the pipeline (someone's notebook) holds the file: DuckDB
    allows one writer, and readers only without a writer."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    deadline = time.monotonic() + wait_seconds
    delay, last_said = 0.5, 0.0
    while True:
        try:
            con.execute(f"ATTACH '{_quoted(path)}' AS {ALIAS}")
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            if on_wait and time.monotonic() - last_said > 30:
                on_wait(
                    f"waiting for the warehouse file, held by another process: {str(exc).splitlines()[0]}"
                )
                last_said = time.monotonic()
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
    con.execute(f"USE {ALIAS}")
    create_schema(con)


def detach(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("USE memory")
    con.execute(f"DETACH DATABASE IF EXISTS {ALIAS}")


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: committed when the block ends, rolled back when it raises (or the
    process dies: DuckDB's WAL never holds half of it)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def state_version(con: duckdb.DuckDBPyConnection) -> int:
    """A counter bumped by every change that can alter a published value."""
    rows = con.execute("SELECT value FROM meta WHERE name = 'state_version'").fetchall()
    return int(rows[0][0]) if rows else 0


def bump_state(con: duckdb.DuckDBPyConnection) -> None:
    version = state_version(con) + 1
    con.execute("DELETE FROM meta WHERE name = 'state_version'")
    con.execute("INSERT INTO meta VALUES ('state_version', ?)", [str(version)])


def published_version(con: duckdb.DuckDBPyConnection) -> int | None:
    rows = con.execute("SELECT value FROM meta WHERE name = 'published_version'").fetchall()
    return int(rows[0][0]) if rows else None


def mark_published(con: duckdb.DuckDBPyConnection, version: int) -> None:
    con.execute("DELETE FROM meta WHERE name = 'published_version'")
    con.execute("INSERT INTO meta VALUES ('published_version', ?)", [str(version)])


@dataclass(frozen=True)
class LedgerEntry:
    status: str
    content_sha256: str | None
    contract_sha256: str | None
    files: tuple[dict[str, object], ...] = ()  # as `DeliveredFile.stamp` gives them
    rows_read: int | None = None
    detail: str | None = None
    pipeline_version: str | None = None  # the release that judged it

    def known_files(self) -> dict[str, dict[str, object]]:
        return {str(f.get("name")): f for f in self.files}


def ledger(con: duckdb.DuckDBPyConnection, days: list[tuple[str, date]]) -> dict[tuple[str, date], LedgerEntry]:  # fmt: skip
    """The ledger's entries for these partner-days (one query, however many)."""
    if not days:
        return {}
    rows = con.execute(
        """SELECT l.partner, l.export_date, status, content_sha256, contract_sha256, files, rows_read,
                  detail, pipeline_version
           FROM partner_loads l SEMI JOIN (SELECT unnest($p) AS partner, unnest($d) AS export_date) w
             ON w.partner = l.partner AND w.export_date = l.export_date""",
        {"p": [p for p, _ in days], "d": [d for _, d in days]},
    ).fetchall()
    out = {}
    for partner, day, status, content, contract, files, rows_read, detail, version in rows:
        try:
            parsed = json.loads(files) if files else []
        except ValueError:
            parsed = []
        out[partner, day] = LedgerEntry(status, content, contract,
                                        tuple(f for f in parsed if isinstance(f, dict)), rows_read, detail, version)  # fmt: skip
    return out


def ledger_entry(con: duckdb.DuckDBPyConnection, partner: str, export_date: date) -> LedgerEntry | None:  # fmt: skip
    return ledger(con, [(partner, export_date)]).get((partner, export_date))


def check_key(con: duckdb.DuckDBPyConnection, key_check: str) -> None:
    """Refuse a pseudonymisation key other than the one this warehouse was built with."""
    rows = con.execute("SELECT value FROM meta WHERE name = 'pii_key_check'").fetchall()
    if not rows:
        con.execute("INSERT INTO meta VALUES ('pii_key_check', ?)", [key_check])
    elif rows[0][0] != key_check:
        raise PermissionError(
            "UMKM_PII_KEY differs from the key this warehouse was built with; pseudonyms would not "
            "match. Use the original key, or rebuild (see README, 'Key rotation')."
        )


@dataclass(frozen=True)
class PartnerDayOutcome:
    """The ledger row of one partner-day, as `partner_loads` shows it."""

    partner: str
    export_date: date
    status: str  # loaded | failed
    rows_read: int | None
    rows_loaded: int
    rows_quarantined: int
    warnings: int
    content_sha256: str | None
    contract_sha256: str | None
    detail: str | None
    files: str  # JSON


def volume_history(con: duckdb.DuckDBPyConnection, partner: str, before: date, n: int = 7) -> list[int]:  # fmt: skip
    """rows_read of the partner's last `n` loaded days before `before` (for the volume warning)."""
    rows = con.execute(
        """SELECT rows_read FROM partner_loads WHERE partner = ? AND export_date < ? AND status = 'loaded'
           AND rows_read IS NOT NULL ORDER BY export_date DESC LIMIT ?""",
        [partner, before, n],
    ).fetchall()
    return [r[0] for r in rows]
