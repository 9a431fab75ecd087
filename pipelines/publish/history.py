"""Publications and revisions (../shared/metrics.md): recorded in the warehouse, carried into
every published file.

Recording and the swap are two steps on two files, so their order makes a crash safe:

1. `record` runs in ONE warehouse transaction, once the new file's data tables are built (and
   audited) aside: the `publications` row, its `national_progress_revisions` (against the
   warehouse's own history, not the live file), its changed partner-days, the moves of the
   resolves since the last publication, the state it shows (`published_version`), a digest of
   its values (`digest:<id>`), and `publication_pending` = its id. It commits before the file is touched.
2. The history is copied from the warehouse into the new file, audited, and the file is swapped
   in; then `publication_pending` is cleared.

A crash before 1 commits leaves nothing recorded. A crash after it leaves the publication
pending, and the next run's `reconcile` decides by the live file's own largest publication_id:
equal to the pending id, the swap happened (the pending mark is cleared); smaller, it did not,
and the pending publication is taken back (its rows deleted, its moves pending again, the state
marked unpublished) so that this run publishes it afresh. So the warehouse never holds a
publication that no file showed, and a file never shows one the warehouse lacks. A warehouse
rebuilt from the landing area (key rotation) takes over the history of the live file.

A run whose values equal the last publication's (same digest over every published data table,
`partner_loads.loaded_at` included) records no publication and swaps nothing; if the live file
is missing, it is rebuilt with the same history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines import crash, release
from pipelines.contracts import Contract, contracts_sha256
from pipelines.reference import PROGRAMME_START
from pipelines.warehouse import store as warehouse
from pipelines.warehouse.moves import changed_partner_days

TABLES = ["publications", "national_progress_revisions"]
LIVE = "live_pub"  # the live published file, attached read-only while reconciling
COLUMNS = {
    "publications": "publication_id, published_at, latest_export_date, partner_days_changed, "
    "umkm_onboarded, pipeline_version, contracts_sha256",
    "national_progress_revisions": "publication_id, as_of_date, umkm_onboarded, umkm_online_total, "
    "listings, previous_umkm_onboarded",
}


@dataclass(frozen=True)
class Recorded:
    publication_id: int | None  # None: the values equal the last publication's; none recorded
    previous_id: int  # 0 before the first


def _meta(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    rows = con.execute("SELECT value FROM meta WHERE name = ?", [name]).fetchall()
    return str(rows[0][0]) if rows else None


def _set_meta(con: duckdb.DuckDBPyConnection, name: str, value: str | None) -> None:
    con.execute("DELETE FROM meta WHERE name = ?", [name])
    if value is not None:
        con.execute("INSERT INTO meta VALUES (?, ?)", [name, value])


def last_id(con: duckdb.DuckDBPyConnection, db: str | None = None) -> int:
    prefix = f"{db}." if db else ""
    return int(con.execute(f"SELECT coalesce(max(publication_id), 0) FROM {prefix}publications").fetchall()[0][0])  # fmt: skip


def live_id(con: duckdb.DuckDBPyConnection, target: Path) -> int | None:
    """The live file's largest publication_id (0: a file without publications); None when
    there is no readable file."""
    if not target.exists():
        return None
    try:
        con.execute(f"ATTACH '{_quoted(target)}' AS {LIVE} (READ_ONLY)")
    except duckdb.Error:
        return None
    try:
        has = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'publications'",
            [LIVE],
        ).fetchall()[0][0]
        return last_id(con, LIVE) if has else 0
    finally:
        con.execute(f"DETACH {LIVE}")


def reconcile(con: duckdb.DuckDBPyConnection, target: Path) -> None:
    """Settle a publication a crash left pending, or take over a live file's longer history
    (see the module's docstring); one transaction."""
    pending = _meta(con, "publication_pending")
    in_file = live_id(con, target)
    if pending is None and (in_file is None or in_file <= last_id(con)):
        return
    with warehouse.transaction(con):
        if pending is not None:
            if in_file is not None and in_file >= int(pending):
                _set_meta(con, "publication_pending", None)  # the swap happened
            else:
                take_back(con, int(pending))
        if in_file is not None and in_file > last_id(con):
            _adopt(con, target, last_id(con))


def take_back(con: duckdb.DuckDBPyConnection, publication_id: int) -> None:
    """Undo a recorded publication whose file was never swapped in."""
    for table in ("publications", "national_progress_revisions", "publication_partner_days"):
        con.execute(f"DELETE FROM {table} WHERE publication_id = ?", [publication_id])
    con.execute("UPDATE umkm_moves SET publication_id = NULL WHERE publication_id = ?", [publication_id])  # fmt: skip
    for name in ("publication_pending", "published_version", f"digest:{publication_id}"):
        _set_meta(con, name, None)


def _adopt(con: duckdb.DuckDBPyConnection, target: Path, after: int) -> None:
    con.execute(f"ATTACH '{_quoted(target)}' AS {LIVE} (READ_ONLY)")
    try:
        for table in TABLES:
            con.execute(
                f"INSERT INTO {table} ({COLUMNS[table]}) SELECT {COLUMNS[table]} FROM {LIVE}.{table} WHERE publication_id > ?",
                [after],
            )
    finally:
        con.execute(f"DETACH {LIVE}")


def digest(con: duckdb.DuckDBPyConnection, pub: str, tables: list[str]) -> str:
    """One hash over every row of the data tables in `pub` (order-independent)."""
    parts = []
    for table in tables:
        (h,) = con.execute(
            f"SELECT md5(coalesce(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR)), '')) FROM {pub}.{table} t"
        ).fetchall()[0]
        parts.append(f"{table}:{h}")
    (out,) = con.execute("SELECT md5(?)", ["\n".join(parts)]).fetchall()[0]
    return str(out)


def record(con: duckdb.DuckDBPyConnection, pub: str, data_tables: list[str],
           contracts: dict[str, Contract], state_version: int) -> Recorded:  # fmt: skip
    """Record the publication of the data tables built in `pub`, unless they equal the last
    publication's values; one warehouse transaction (see the module's docstring)."""
    values = digest(con, pub, data_tables)
    previous = last_id(con)
    with warehouse.transaction(con):
        warehouse.mark_published(con, state_version)
        if previous and _meta(con, f"digest:{previous}") == values:
            con.execute("DELETE FROM umkm_moves WHERE publication_id IS NULL")  # net nothing shown
            return Recorded(None, previous)
        new = previous + 1
        p = {"id": new, "prev": previous}
        prev_latest = con.execute(
            "SELECT latest_export_date FROM publications WHERE publication_id = ?", [previous]
        ).fetchall()
        con.execute(
            f"""INSERT INTO publication_partner_days
                SELECT $id, partner, export_date,
                       CASE WHEN seen_before THEN 'corrected'
                            WHEN export_date <= $prev_latest THEN 'late' ELSE 'loaded' END,
                       status, row_md5
                FROM ({changed_partner_days()})""",
            {"id": new, "prev_latest": prev_latest[0][0] if prev_latest else None},
        )
        con.execute(
            f"""INSERT INTO national_progress_revisions
                WITH before AS (
                    SELECT as_of_date, arg_max(umkm_onboarded, publication_id) AS o,
                           arg_max(umkm_online_total, publication_id) AS t, arg_max(listings, publication_id) AS l
                    FROM national_progress_revisions WHERE publication_id <= $prev GROUP BY as_of_date
                    -- a day after the previous publication's latest day was not in it
                    HAVING as_of_date <= (SELECT latest_export_date FROM publications WHERE publication_id = $prev))
                SELECT $id, n.as_of_date, n.umkm_onboarded, n.umkm_online_total, n.listings, b.o
                FROM {pub}.national_progress n LEFT JOIN before b USING (as_of_date)
                WHERE b.as_of_date IS NULL
                   OR (n.umkm_onboarded, n.umkm_online_total, n.listings) IS DISTINCT FROM (b.o, b.t, b.l)
                ORDER BY n.as_of_date""",
            p,
        )
        latest = con.execute(
            "SELECT max(export_date) FROM partner_loads WHERE status = 'loaded'"
        ).fetchall()[0][0]
        con.execute(
            f"""INSERT INTO publications VALUES ($id, $at, $latest,
                    (SELECT count(*) FROM publication_partner_days WHERE publication_id = $id),
                    (SELECT umkm_onboarded FROM {pub}.national_progress WHERE as_of_date = $latest),
                    $version, $contracts)""",
            {
                "id": new,
                "at": datetime.now(UTC),
                "latest": latest,
                "version": release(),
                "contracts": contracts_sha256(contracts),
            },
        )
        con.execute("UPDATE umkm_moves SET publication_id = ? WHERE publication_id IS NULL", [new])
        _set_meta(con, f"digest:{new}", values)
        _set_meta(con, "publication_pending", str(new))
        crash.point("publication-before-commit")
    crash.point("publication-recorded")
    return Recorded(new, previous)


def carry(con: duckdb.DuckDBPyConnection, pub: str) -> dict[str, int]:
    """Copy the whole history from the warehouse into the file being built; its row counts."""
    for table in TABLES:
        con.execute(f"INSERT INTO {pub}.{table} SELECT {COLUMNS[table]} FROM {table} ORDER BY ALL")
    return {t: con.execute(f"SELECT count(*) FROM {pub}.{t}").fetchall()[0][0] for t in TABLES}


def swapped(con: duckdb.DuckDBPyConnection) -> None:
    """The file showing the pending publication is in place."""
    _set_meta(con, "publication_pending", None)


def audit(con: duckdb.DuckDBPyConnection, pub: str) -> list[str]:
    """The history's invariants in the built file (empty = fine)."""
    q = con.execute
    problems = []
    n, lo, hi = q(f"SELECT count(*), min(publication_id), max(publication_id) FROM {pub}.publications").fetchall()[0]  # fmt: skip
    if n and (lo, hi) != (1, n):
        problems.append(f"publications: ids are not 1..{n} ({lo}..{hi})")
    if q(f"""SELECT count(*) FROM {pub}.national_progress_revisions r
             ANTI JOIN {pub}.publications p USING (publication_id)""").fetchall()[0][0]:
        problems.append("national_progress_revisions: rows of no publication")
    if not n:
        return problems
    # the latest publication describes this file: its latest day and figure, and, as published
    # by it, every day's values are the file's national_progress
    latest, figure = q(f"SELECT latest_export_date, umkm_onboarded FROM {pub}.publications WHERE publication_id = {hi}").fetchall()[0]  # fmt: skip
    last_day, n_days = q(f"SELECT max(as_of_date), count(*) FROM {pub}.national_progress").fetchall()[0]  # fmt: skip
    on_latest = q(f"SELECT umkm_onboarded FROM {pub}.national_progress WHERE as_of_date = ?", [latest]).fetchall()  # fmt: skip
    if (n_days and latest != last_day) or figure != (on_latest[0][0] if on_latest else None):
        problems.append(
            "publications: the latest row does not describe this file's national_progress"
        )
    off = q(
        f"""WITH latest AS (SELECT as_of_date, arg_max(umkm_onboarded, publication_id) AS o,
                                   arg_max(umkm_online_total, publication_id) AS t, arg_max(listings, publication_id) AS l
                            FROM {pub}.national_progress_revisions GROUP BY as_of_date)
            SELECT count(*) FROM {pub}.national_progress n LEFT JOIN latest r USING (as_of_date)
            WHERE (n.umkm_onboarded, n.umkm_online_total, n.listings) IS DISTINCT FROM (r.o, r.t, r.l)"""
    ).fetchall()[0][0]
    if off:
        problems.append(
            f"national_progress_revisions: {off} days differ from national_progress as last published"
        )
    return problems


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


@dataclass(frozen=True)
class Revised:
    as_of_date: object
    umkm_onboarded: int
    previous: int
    causes: tuple[tuple[str | None, object, str, int], ...]  # partner, export date, change, moved


@dataclass(frozen=True)
class Moved:
    """What a publication moved, for the run's summary (counts only)."""

    publication_id: int
    previous: tuple[object, int | None] | None  # the previous publication's latest day, figure
    latest: tuple[object, int | None]  # this publication's latest day, figure
    latest_before: int | None  # this latest day's figure in the previous publication, if it had it
    restated: int  # past days whose values changed
    largest: tuple[Revised, ...]


def what_moved(con: duckdb.DuckDBPyConnection, publication_id: int, top: int = 5) -> Moved:
    """The national figure before and after a publication, how many past days it restated, and
    its largest revisions with the partner-days whose moves made them (moves.py)."""
    q = con.execute
    rows = q(
        "SELECT publication_id, latest_export_date, umkm_onboarded FROM publications WHERE publication_id IN (?, ?)",
        [publication_id - 1, publication_id],
    ).fetchall()
    heads = {int(r[0]): (r[1], r[2]) for r in rows}
    latest = heads[publication_id]
    before = q(
        """SELECT umkm_onboarded FROM national_progress_revisions
           WHERE publication_id < ? AND as_of_date = ? ORDER BY publication_id DESC LIMIT 1""",
        [publication_id, latest[0]],
    ).fetchall()
    restated = q(
        "SELECT count(*) FROM national_progress_revisions WHERE publication_id = ? AND previous_umkm_onboarded IS NOT NULL",
        [publication_id],
    ).fetchall()[0][0]
    largest = []
    for day, value, previous in q(
        """SELECT as_of_date, umkm_onboarded, previous_umkm_onboarded FROM national_progress_revisions
           WHERE publication_id = ? AND previous_umkm_onboarded IS NOT NULL
             AND umkm_onboarded <> previous_umkm_onboarded
           ORDER BY abs(umkm_onboarded - previous_umkm_onboarded) DESC, as_of_date DESC LIMIT ?""",
        [publication_id, top],
    ).fetchall():
        causes = q(
            """SELECT m.partner, m.export_date, coalesce(any_value(d.change), ''), sum(m.n)::BIGINT AS moved
               FROM umkm_moves m LEFT JOIN publication_partner_days d
                 ON d.publication_id = m.publication_id AND d.partner = m.partner AND d.export_date = m.export_date
               WHERE m.publication_id = $id AND m.onboarding_date BETWEEN $start AND $day
               GROUP BY m.partner, m.export_date HAVING sum(m.n) <> 0
               ORDER BY abs(sum(m.n)) DESC, m.export_date, m.partner LIMIT 3""",
            {"id": publication_id, "start": PROGRAMME_START, "day": day},
        ).fetchall()
        largest.append(Revised(day, int(value), int(previous), tuple((c[0], c[1], c[2], int(c[3])) for c in causes)))  # fmt: skip
    return Moved(
        publication_id, heads.get(publication_id - 1), latest,
        int(before[0][0]) if before else None, int(restated), tuple(largest),
    )  # fmt: skip
