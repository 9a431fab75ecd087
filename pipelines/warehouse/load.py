"""Loading one staged partner-day into the warehouse, atomically.

Loading replaces exactly one partner-day in one transaction, so a rerun changes nothing and a
crash leaves either the old or the new content. Listing history is kept as runs: a run says the
listing had this record (version `vid`) on every loaded day of its partner from first_date to
last_date, so a daily snapshot costs one row per change, not one per day. A partner-day touches
only the runs that contain or border its date; every join is on integer keys.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb

from pipelines import canonical, crash, release
from pipelines.warehouse.store import PartnerDayOutcome, bump_state, transaction

ATTRS = canonical.names(canonical.listing_attributes())
RUN_COLUMNS = ["listing_id", "partner", "vid", "first_date", "last_date", *ATTRS, "idents"]


def _upsert_ledger(
    con: duckdb.DuckDBPyConnection, outcome: PartnerDayOutcome, at: datetime
) -> None:
    key = [outcome.partner, outcome.export_date]
    con.execute("DELETE FROM partner_loads WHERE partner = ? AND export_date = ?", key)
    con.execute(
        "INSERT INTO partner_loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [*key, outcome.status, outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined,
         outcome.warnings, outcome.content_sha256, outcome.contract_sha256, at, outcome.detail,
         outcome.files, release()],
    )  # fmt: skip


def record_attempt(con: duckdb.DuckDBPyConnection, run_id: str, partner: str, export_date: date, outcome: str,
                   content_sha256: str | None, detail: str | None, at: datetime) -> None:  # fmt: skip
    con.execute(
        "INSERT INTO load_attempts VALUES (?, ?, ?, ?, ?, ?, ?)",
        [run_id, partner, export_date, outcome, content_sha256, at, detail],
    )


def save_failure(con: duckdb.DuckDBPyConnection, outcome: PartnerDayOutcome, at: datetime) -> None:
    """Record a refused partner-day; what was loaded before for that day stays untouched."""
    with transaction(con):
        _upsert_ledger(con, outcome, at)
        bump_state(con)
        crash.point("load-before-commit")


def load_partner_day(con: duckdb.DuckDBPyConnection, outcome: PartnerDayOutcome, staged: str,
                     channel: str, snapshot: bool, at: datetime) -> None:  # fmt: skip
    """Replace one partner-day in one transaction from its staged database `staged` (tables
    records, listings, validation): quarantine, warnings, validation results, listing runs
    (marketplaces) or vendor rows (e-catalogue), deletions, and the ledger."""
    partner, day = outcome.partner, outcome.export_date
    key = [partner, day]
    with transaction(con):
        for table in ("quarantine", "record_warnings", "validation_results"):
            con.execute(f"DELETE FROM {table} WHERE partner = ? AND export_date = ?", key)
        con.execute(
            f"""INSERT INTO quarantine SELECT partner, export_date, file, row_number, quarantine_rule,
                       quarantine_column, excerpt
                FROM {staged}.records WHERE quarantine_rule IS NOT NULL"""
        )
        con.execute(
            f"""INSERT INTO record_warnings SELECT partner, export_date, file, row_number, unnest(warnings)
                FROM {staged}.records WHERE quarantine_rule IS NULL AND len(warnings) > 0"""
        )
        con.execute(
            f"""INSERT INTO validation_results SELECT ?, ?, expectation, column_name, success, element_count,
                       unexpected_count, description FROM {staged}.validation""",
            key,
        )
        if channel == "marketplace":
            _assign_ids(con, partner, staged)
            _replace_deletions(con, partner, day, staged)
            crash.point("load-mid-transaction")
            _replace_runs(con, partner, day, snapshot, staged)
        else:
            vendors = canonical.names(canonical.vendor_columns())
            con.execute(
                "DELETE FROM ekatalog_vendors WHERE (partner = ? OR partner IS NULL) AND export_date = ?",
                key,
            )
            con.execute(
                f"""INSERT INTO ekatalog_vendors ({", ".join(vendors)}) SELECT {", ".join(vendors)}
                    FROM {staged}.records WHERE quarantine_rule IS NULL AND listing_key IS NOT NULL
                    -- the same vendor twice in one snapshot: the last row wins
                    QUALIFY row_number() OVER (PARTITION BY listing_key ORDER BY file_index DESC, row_number DESC) = 1"""
            )
        con.execute("DELETE FROM warehouse_days WHERE partner = ? AND export_date = ?", key)
        con.execute("INSERT INTO warehouse_days VALUES (?, ?, ?)", [*key, outcome.content_sha256])
        _upsert_ledger(con, outcome, at)
        bump_state(con)
        crash.point("load-before-commit")


def _assign_ids(con: duckdb.DuckDBPyConnection, partner: str, staged: str) -> None:
    """Integer keys for the day's listing keys seen for the first time (deleted ones too: a
    listing deleted before its creation is loaded must match it later)."""
    con.execute(
        f"""INSERT INTO listing_keys
            SELECT nextval('listing_id_seq'), $p, listing_key FROM (
                SELECT DISTINCT listing_key FROM {staged}.records
                WHERE quarantine_rule IS NULL AND listing_key IS NOT NULL) k
            WHERE NOT EXISTS (SELECT 1 FROM listing_keys l WHERE l.partner = $p AND l.listing_key = k.listing_key)""",
        {"p": partner},
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE day_keys AS
            SELECT l.listing_id, l.listing_key FROM listing_keys l
            SEMI JOIN (SELECT DISTINCT listing_key FROM {staged}.records
                       WHERE quarantine_rule IS NULL AND listing_key IS NOT NULL) k
              ON k.listing_key = l.listing_key
            WHERE l.partner = $p""",
        {"p": partner},
    )


def _replace_deletions(
    con: duckdb.DuckDBPyConnection, partner: str, day: date, staged: str
) -> None:
    p = {"p": partner, "d": day}
    con.execute(
        "INSERT INTO dirty_listings SELECT listing_id FROM listing_deletions WHERE partner = $p AND export_date = $d",
        p,
    )
    con.execute("DELETE FROM listing_deletions WHERE partner = $p AND export_date = $d", p)
    con.execute(
        f"""INSERT INTO listing_deletions SELECT DISTINCT k.listing_id, $p, $d FROM {staged}.records r
            JOIN day_keys k USING (listing_key)
            WHERE r.is_deletion AND r.quarantine_rule IS NULL""",
        p,
    )
    con.execute(
        "INSERT INTO dirty_listings SELECT listing_id FROM listing_deletions WHERE partner = $p AND export_date = $d",
        p,
    )


def _replace_runs(con: duckdb.DuckDBPyConnection, partner: str, day: date, snapshot: bool, staged: str) -> None:  # fmt: skip
    """Put the partner-day's listing records into the runs."""
    prev, nxt, was_loaded = con.execute(
        """SELECT max(export_date) FILTER (WHERE export_date < $d), min(export_date) FILTER (WHERE export_date > $d),
                  coalesce(bool_or(export_date = $d), false)
           FROM warehouse_days WHERE partner = $p""",
        {"p": partner, "d": day},
    ).fetchall()[0]
    # the attributes' version; a listing whose attributes and identifiers are those of a run
    # extends it (identifiers compared as lists: casting 128-bit integers to text is slow)
    version = " || chr(31) || ".join(f"coalesce(CAST(s.{a} AS VARCHAR), '∅')" for a in ATTRS)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE new_day AS
            SELECT k.listing_id, md5_number({version}) AS vid, {", ".join("s." + a for a in ATTRS)}, s.idents
            FROM {staged}.listings s JOIN day_keys k USING (listing_key)"""
    )
    mine = "partner = $p"
    cols = ", ".join(RUN_COLUMNS)
    tail_append = nxt is None and not was_loaded
    if not tail_append:
        # take the day out of every run containing it (or spanning it, for a day new in the middle)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE spanning AS SELECT rowid AS rid, * FROM listing_runs
                WHERE first_date <= $d AND last_date >= $d AND {mine}""",
            {"p": partner, "d": day},
        )
        con.execute("INSERT INTO dirty_listings SELECT DISTINCT listing_id FROM spanning")
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
           SELECT n.listing_id, r.rowid AS rid, r.first_date FROM new_day n JOIN listing_runs r
             ON r.listing_id = n.listing_id AND r.vid = n.vid AND r.idents = n.idents AND r.last_date = $prev""",
        {"prev": prev},
    )
    new_values = f"n.listing_id, $p, n.vid, {{first}}, {{last}}, {', '.join('n.' + a for a in ATTRS)}, n.idents"
    if tail_append:
        # the nightly case: extend unchanged listings, add changed and new ones
        con.execute(
            "UPDATE listing_runs SET last_date = $d WHERE rowid IN (SELECT rid FROM left_m)",
            {"d": day},
        )
        con.execute(
            f"""INSERT INTO listing_runs ({cols}) SELECT {new_values.format(first="$d", last="$d")}
                FROM new_day n ANTI JOIN left_m l ON l.listing_id = n.listing_id""",
            {"d": day, "p": partner},
        )
        con.execute(
            "INSERT INTO dirty_listings SELECT n.listing_id FROM new_day n ANTI JOIN left_m l ON l.listing_id = n.listing_id"
        )
        if snapshot and prev is not None:
            # listings the snapshot no longer lists are removed as of today
            con.execute(
                """INSERT INTO dirty_listings SELECT DISTINCT r.listing_id FROM listing_runs r
                    WHERE r.last_date = $prev AND r.partner = $p
                      AND NOT EXISTS (SELECT 1 FROM new_day n WHERE n.listing_id = r.listing_id)""",
                {"p": partner, "prev": prev},
            )
        return
    con.execute(
        """CREATE OR REPLACE TEMP TABLE right_m AS
           SELECT n.listing_id, r.rowid AS rid, r.last_date FROM new_day n JOIN listing_runs r
             ON r.listing_id = n.listing_id AND r.vid = n.vid AND r.idents = n.idents AND r.first_date = $next""",
        {"next": nxt},
    )
    con.execute(
        "DELETE FROM listing_runs WHERE rowid IN (SELECT rid FROM left_m UNION ALL SELECT rid FROM right_m)"
    )
    con.execute(
        f"""INSERT INTO listing_runs ({cols}) SELECT {new_values.format(first="coalesce(l.first_date, $d)", last="coalesce(r.last_date, $d)")}
            FROM new_day n LEFT JOIN left_m l ON l.listing_id = n.listing_id
                           LEFT JOIN right_m r ON r.listing_id = n.listing_id""",
        {"d": day, "p": partner},
    )
    con.execute("INSERT INTO dirty_listings SELECT listing_id FROM new_day")
    if snapshot:
        # the neighbours' removal status may change when a day appears or changes in the middle
        con.execute(
            f"""INSERT INTO dirty_listings SELECT DISTINCT listing_id FROM listing_runs
                WHERE (last_date = $prev OR first_date = $next) AND {mine}""",
            {"p": partner, "prev": prev, "next": nxt},
        )
