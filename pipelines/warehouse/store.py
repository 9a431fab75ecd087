"""The DuckDB warehouse: schema, the load ledger, and loading one partner-day atomically.

Loading replaces exactly one partner-day in one transaction, so a rerun changes nothing and a
crash leaves either the old or the new content. Listing history is kept as runs (see
schemas/warehouse.sql); a partner-day touches only the runs that contain or border its date.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines import crash, release

SCHEMA_SQL = Path(__file__).resolve().parents[2] / "schemas" / "warehouse.sql"
MEMORY_LIMIT = (
    "4GB"  # DuckDB's own buffers; the process adds Arrow/Polars frames of one partner-day
)

_ATTRS = [
    "joined_date", "province_code", "regency_code", "scale", "kbli", "kbli_category",
    "tie_name", "tie_nib", "status",
]  # fmt: skip
_RUN_COLUMNS = [
    "partner",
    "listing_key",
    "vid",
    "first_date",
    "last_date",
    *_ATTRS,
    "nibs",
    "nik_ps",
    "phone_ps",
]


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (creating its schema when writable)."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    # bounded memory at national scale: joins and windows spill to disk beside the warehouse
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    if not read_only:
        con.execute(f"SET temp_directory = '{path.parent / 'duckdb_spill'}'")
        con.execute(SCHEMA_SQL.read_text(encoding="utf-8"))
    return con


class WarehouseBusy(RuntimeError):
    """Another process held the warehouse for longer than we were willing to wait."""


def open_writer(
    path: Path, wait_seconds: float = 6 * 3600, on_wait: Callable[[str], None] | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse for writing, waiting while another process (a nightly run, a backfill,
    someone's notebook) holds it: DuckDB allows one writer, and readers only without a writer."""
    deadline = time.monotonic() + wait_seconds
    delay, last_said = 0.5, 0.0
    while True:
        try:
            return connect(path)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                if "lock" in str(exc).lower():
                    raise WarehouseBusy(
                        f"the warehouse {path} stayed locked for {wait_seconds:.0f} s: {exc}"
                    ) from None
                raise
            if on_wait and time.monotonic() - last_said > 30:
                on_wait(
                    f"waiting for the warehouse, held by another process: {str(exc).splitlines()[0]}"
                )
                last_said = time.monotonic()
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def state_version(con: duckdb.DuckDBPyConnection) -> int:
    """A counter bumped by every change that can alter a published value."""
    rows = con.execute("SELECT value FROM meta WHERE name = 'state_version'").fetchall()
    return int(rows[0][0]) if rows else 0


def _bump_state(con: duckdb.DuckDBPyConnection) -> None:
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


def ledger_entry(
    con: duckdb.DuckDBPyConnection, partner: str, export_date: date
) -> LedgerEntry | None:
    rows = con.execute(
        """SELECT status, content_sha256, contract_sha256, files, rows_read, detail, pipeline_version
           FROM partner_loads WHERE partner = ? AND export_date = ?""",
        [partner, export_date],
    ).fetchall()
    if not rows:
        return None
    status, content, contract, files, rows_read, detail, version = rows[0]
    try:
        parsed = json.loads(files) if files else []
    except ValueError:
        parsed = []
    return LedgerEntry(status, content, contract, tuple(f for f in parsed if isinstance(f, dict)),
                       rows_read, detail, version)  # fmt: skip


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


def _upsert_ledger(
    con: duckdb.DuckDBPyConnection, outcome: PartnerDayOutcome, at: datetime
) -> None:
    con.execute(
        "DELETE FROM partner_loads WHERE partner = ? AND export_date = ?",
        [outcome.partner, outcome.export_date],
    )
    con.execute(
        "INSERT INTO partner_loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            outcome.partner, outcome.export_date, outcome.status, outcome.rows_read, outcome.rows_loaded,
            outcome.rows_quarantined, outcome.warnings, outcome.content_sha256, outcome.contract_sha256,
            at, outcome.detail, outcome.files, release(),
        ],
    )  # fmt: skip


def record_attempt(con: duckdb.DuckDBPyConnection, run_id: str, partner: str, export_date: date, outcome: str,
                   content_sha256: str | None, detail: str | None, at: datetime) -> None:  # fmt: skip
    con.execute(
        "INSERT INTO load_attempts VALUES (?, ?, ?, ?, ?, ?, ?)",
        [run_id, partner, export_date, outcome, content_sha256, at, detail],
    )


def save_failure(con: duckdb.DuckDBPyConnection, outcome: PartnerDayOutcome, at: datetime) -> None:
    """Record a refused partner-day; what was loaded before for that day stays untouched."""
    con.execute("BEGIN TRANSACTION")
    try:
        _upsert_ledger(con, outcome, at)
        _bump_state(con)
        crash.point("load-before-commit")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def load_partner_day(
    con: duckdb.DuckDBPyConnection,
    outcome: PartnerDayOutcome,
    records: pl.DataFrame,
    day_records: pl.DataFrame | None,
    validation: pl.DataFrame,
    channel: str,
    snapshot: bool,
    at: datetime,
) -> None:
    """Replace one partner-day in one transaction: quarantine, warnings, validation results,
    listing runs (marketplaces) or vendor rows (e-catalogue), deletions, and the ledger."""
    partner, day = outcome.partner, outcome.export_date
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("records_in", records.to_arrow())
        con.register("validation_in", validation.to_arrow())
        key = [partner, day]
        for table in ("quarantine", "record_warnings", "validation_results"):
            con.execute(f"DELETE FROM {table} WHERE partner = ? AND export_date = ?", key)
        con.execute(
            """INSERT INTO quarantine SELECT partner, export_date, file, row_number, quarantine_rule, quarantine_column, excerpt
               FROM records_in WHERE quarantine_rule IS NOT NULL"""
        )
        con.execute(
            """INSERT INTO record_warnings SELECT partner, export_date, file, row_number, unnest(warnings)
               FROM records_in WHERE quarantine_rule IS NULL AND len(warnings) > 0"""
        )
        con.execute(
            """INSERT INTO validation_results SELECT ?, ?, expectation, column_name, success, element_count,
               unexpected_count, description FROM validation_in""",
            key,
        )
        if channel == "marketplace":
            assert day_records is not None
            con.register("day_in", day_records.to_arrow())
            _replace_deletions(con, partner, day)
            crash.point("load-mid-transaction")
            _replace_runs(con, partner, day, snapshot)
            con.unregister("day_in")
        else:
            con.execute("DELETE FROM ekatalog_vendors WHERE export_date = ?", [day])
            con.execute(
                """INSERT INTO ekatalog_vendors SELECT export_date, listing_key, file, file_index, row_number, scale, nib,
                   products, joined_date, province_code FROM records_in
                   WHERE quarantine_rule IS NULL AND listing_key IS NOT NULL"""
            )
        con.execute("DELETE FROM warehouse_days WHERE partner = ? AND export_date = ?", key)
        con.execute(
            "INSERT INTO warehouse_days VALUES (?, ?, ?)", [partner, day, outcome.content_sha256]
        )
        _upsert_ledger(con, outcome, at)
        _bump_state(con)
        crash.point("load-before-commit")
        con.unregister("records_in")
        con.unregister("validation_in")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _replace_deletions(con: duckdb.DuckDBPyConnection, partner: str, day: date) -> None:
    key = [partner, day]
    con.execute(
        "INSERT INTO dirty_listings SELECT partner, listing_key FROM listing_deletions WHERE partner = ? AND export_date = ?",
        key,
    )
    con.execute("DELETE FROM listing_deletions WHERE partner = ? AND export_date = ?", key)
    con.execute(
        """INSERT INTO listing_deletions SELECT DISTINCT partner, export_date, listing_key FROM records_in
           WHERE is_deletion AND quarantine_rule IS NULL AND listing_key IS NOT NULL"""
    )
    con.execute(
        "INSERT INTO dirty_listings SELECT partner, listing_key FROM listing_deletions WHERE partner = ? AND export_date = ?",
        key,
    )


def _replace_runs(con: duckdb.DuckDBPyConnection, partner: str, day: date, snapshot: bool) -> None:
    """Put the partner-day's listing records into the runs (see listing_runs in warehouse.sql)."""
    prev, nxt, was_loaded = con.execute(
        """SELECT max(export_date) FILTER (WHERE export_date < $d), min(export_date) FILTER (WHERE export_date > $d),
                  coalesce(bool_or(export_date = $d), false)
           FROM warehouse_days WHERE partner = $p""",
        {"p": partner, "d": day},
    ).fetchall()[0]
    attrs = ", ".join(_ATTRS)
    version = " || '\x1f' || ".join(
        [
            *(f"coalesce(CAST({a} AS VARCHAR), '∅')" for a in _ATTRS),
            *(f"array_to_string({c}, ',')" for c in ("nibs", "nik_ps", "phone_ps")),
        ]
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE new_day AS
            SELECT listing_key, md5_number({version}) AS vid, {attrs}, nibs, nik_ps, phone_ps FROM day_in"""
    )
    p = {"p": partner, "d": day}
    cols = ", ".join(_RUN_COLUMNS)
    tail_append = nxt is None and not was_loaded
    if not tail_append:
        # take the day out of every run containing it (or spanning it, for a day new in the middle)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE spanning AS SELECT rowid AS rid, * FROM listing_runs "
            "WHERE partner = $p AND first_date <= $d AND last_date >= $d",
            p,
        )
        con.execute("INSERT INTO dirty_listings SELECT DISTINCT partner, listing_key FROM spanning")
        con.execute("DELETE FROM listing_runs WHERE rowid IN (SELECT rid FROM spanning)")
        if prev is not None:
            con.execute(
                f"INSERT INTO listing_runs SELECT {cols.replace('last_date', '$prev AS last_date')} FROM spanning WHERE first_date < $d",
                {"d": day, "prev": prev},
            )
        if nxt is not None:
            con.execute(
                f"INSERT INTO listing_runs SELECT {cols.replace('first_date', '$next AS first_date')} FROM spanning WHERE last_date > $d",
                {"d": day, "next": nxt},
            )
    # runs of the same version that end on the previous loaded day / start on the next one
    con.execute(
        """CREATE OR REPLACE TEMP TABLE left_m AS
           SELECT n.listing_key, r.rowid AS rid, r.first_date FROM new_day n JOIN listing_runs r
             ON r.partner = $p AND r.listing_key = n.listing_key AND r.vid = n.vid AND r.last_date = $prev""",
        {"p": partner, "prev": prev},
    )
    new_values = f"$p, n.listing_key, n.vid, {{first}}, {{last}}, {', '.join('n.' + a for a in _ATTRS)}, n.nibs, n.nik_ps, n.phone_ps"
    if tail_append:
        # the nightly case: extend unchanged listings, add changed and new ones
        con.execute(
            "UPDATE listing_runs SET last_date = $d WHERE rowid IN (SELECT rid FROM left_m)",
            {"d": day},
        )
        con.execute(
            f"""INSERT INTO listing_runs SELECT {new_values.format(first="$d", last="$d")}
                FROM new_day n ANTI JOIN left_m l ON l.listing_key = n.listing_key""",
            p,
        )
        con.execute(
            "INSERT INTO dirty_listings SELECT $p, n.listing_key FROM new_day n ANTI JOIN left_m l ON l.listing_key = n.listing_key",
            {"p": partner},
        )
        if snapshot and prev is not None:
            # listings the snapshot no longer lists are removed as of today
            con.execute(
                """INSERT INTO dirty_listings SELECT DISTINCT partner, listing_key FROM listing_runs r
                   WHERE r.partner = $p AND r.last_date = $prev
                     AND NOT EXISTS (SELECT 1 FROM new_day n WHERE n.listing_key = r.listing_key)""",
                {"p": partner, "prev": prev},
            )
        return
    con.execute(
        """CREATE OR REPLACE TEMP TABLE right_m AS
           SELECT n.listing_key, r.rowid AS rid, r.last_date FROM new_day n JOIN listing_runs r
             ON r.partner = $p AND r.listing_key = n.listing_key AND r.vid = n.vid AND r.first_date = $next""",
        {"p": partner, "next": nxt},
    )
    con.execute(
        "DELETE FROM listing_runs WHERE rowid IN (SELECT rid FROM left_m UNION ALL SELECT rid FROM right_m)"
    )
    con.execute(
        f"""INSERT INTO listing_runs SELECT {new_values.format(first="coalesce(l.first_date, $d)", last="coalesce(r.last_date, $d)")}
            FROM new_day n LEFT JOIN left_m l ON l.listing_key = n.listing_key
                           LEFT JOIN right_m r ON r.listing_key = n.listing_key""",
        p,
    )
    con.execute("INSERT INTO dirty_listings SELECT $p, listing_key FROM new_day", {"p": partner})
    if snapshot:
        # the neighbours' removal status may change when a day appears or changes in the middle
        con.execute(
            """INSERT INTO dirty_listings SELECT DISTINCT partner, listing_key FROM listing_runs
               WHERE partner = $p AND (last_date = $prev OR first_date = $next)""",
            {"p": partner, "prev": prev, "next": nxt},
        )


def files_json(files: list[dict[str, object]]) -> str:
    return json.dumps(files, sort_keys=True)
