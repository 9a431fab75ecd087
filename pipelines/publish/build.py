"""The published file, built inside DuckDB from the warehouse's counts, audited, and swapped in.

The new file is attached to the run's DuckDB instance beside the live one, filled with CREATE
TABLE / INSERT ... SELECT from the warehouse (its counts tables, so the cost grows with days x
groups, not with listings), audited (metrics.md's invariants, row counts read back), fsynced
and moved over the live file with an atomic rename: a BI tool holding the old file keeps its
snapshot and never sees a half-written state; a failed audit leaves the previous file.

The file is written in storage version 64, the only one DuckDB 1.0 and 1.1 read (1.2 reads 64-65,
1.5 reads 64-68; 2.0 writes 999 by default, which no 1.x opens). BI drivers bundle a 1.x DuckDB, so
the file is for them, not for the pipeline's own DuckDB. DuckDB 2.0 writes 64 for any STORAGE_VERSION
from 'v0.10.0' to 'v1.1.3'; they differ only in the serialisation features allowed, and 'v1.0.0'
allows none that 1.0 lacks. Measured: 1.0.0, 1.1.3, 1.2.2, 1.3.2, 1.4.4 and 1.5.6 read every
table, row and comment as 2.0 does (1.1.3 and 1.5.6 in tests/test_published_clients.py); no 0.10
reads a file that 2.0 writes, whatever the version asked for. See the README's "BI" section.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from pipelines import crash, reference
from pipelines.contracts import Contract
from pipelines.files import fsync_dir
from pipelines.intake.landing import scheduled_days
from pipelines.publish import history
from pipelines.reference import PROGRAMME_START
from pipelines.targets import trajectory_frame

PUBLISHED_SQL = Path(__file__).resolve().parents[2] / "schemas" / "published.sql"
STORAGE_VERSION = "v1.0.0"  # storage version 64: DuckDB 1.0 and every later release read it
ALIAS = "pub"
TABLES = [
    "national_progress", "progress_by_province", "progress_by_partner", "progress_by_scale",
    "progress_by_sector", "ekatalog_progress", "partner_loads", "partner_freshness",
]  # fmt: skip


class AuditFailed(Exception):
    """The freshly built published file breaks an invariant; it was not published."""


@dataclass(frozen=True)
class PublishSummary:
    reference_day: date | None
    rows: dict[str, int]
    path: Path
    publication_id: int | None = None  # None: the values equal the last publication's
    previous_id: int = 0  # the publication before it (0: none)
    moved: history.Moved | None = None  # what the publication moved (None: no publication)


def reference_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The latest export date of any loaded partner-day."""
    return con.execute("SELECT max(export_date) FROM partner_loads WHERE status = 'loaded'").fetchall()[0][0]  # fmt: skip


def build(con: duckdb.DuckDBPyConnection, contracts: dict[str, Contract],
          delivered: dict[str, set[date]], pub: str = ALIAS) -> dict[str, int]:  # fmt: skip
    """Create every published table in the attached database `pub` from the warehouse (the
    connection's default database); returns the row counts."""
    ref = reference_day(con)
    span = (ref - PROGRAMME_START).days + 1 if ref and ref >= PROGRAMME_START else 0
    days = [PROGRAMME_START + timedelta(days=i) for i in range(span)]
    con.register("targets_in", trajectory_frame(days).to_arrow())
    con.register("provinces_in", reference.provinces().to_arrow())
    con.register("freshness_in", _freshness(con, contracts, delivered, ref).to_arrow())
    warehouse = con.execute("SELECT current_database()").fetchall()[0][0]
    con.execute(f"USE {pub}")
    try:
        con.execute(PUBLISHED_SQL.read_text(encoding="utf-8"))
    finally:
        con.execute(f'USE "{warehouse}"')
    p = {"start": PROGRAMME_START}
    grid = "(SELECT as_of_date FROM targets_in)"
    last = f"(SELECT max(as_of_date) FROM {grid})"
    con.execute(
        f"""INSERT INTO {pub}.national_progress
            WITH u AS (SELECT onboarding_date AS d, sum(n) AS n FROM umkm_counts GROUP BY 1),
                 l AS (SELECT joined_date AS d, sum(n) AS n FROM listing_counts GROUP BY 1),
                 pre_u AS (SELECT coalesce(sum(n), 0) AS n FROM u WHERE d < $start),
                 pre_l AS (SELECT coalesce(sum(n), 0) AS n FROM l WHERE d < $start),
                 s AS (SELECT t.as_of_date, t.target, sum(coalesce(u.n, 0)) OVER w AS onboarded,
                              coalesce(u.n, 0) AS new, sum(coalesce(l.n, 0)) OVER w AS listings
                       FROM targets_in t LEFT JOIN u ON u.d = t.as_of_date LEFT JOIN l ON l.d = t.as_of_date
                       WINDOW w AS (ORDER BY t.as_of_date))
            SELECT as_of_date, onboarded::BIGINT, new::BIGINT, (onboarded + (SELECT n FROM pre_u))::BIGINT,
                   (listings + (SELECT n FROM pre_l))::BIGINT, target::BIGINT,
                   CASE WHEN target = 0 THEN NULL ELSE onboarded / target END::DOUBLE
            FROM s ORDER BY as_of_date""",
        p,
    )
    for table, column in (("progress_by_scale", "scale"), ("progress_by_sector", "kbli_category")):
        con.execute(f"INSERT INTO {pub}.{table} {_dense(column, grid, last)}", p)
    con.execute(
        f"""INSERT INTO {pub}.progress_by_province
            SELECT d.as_of_date, d.province_code, coalesce(r.name, 'unknown'), d.umkm_onboarded, d.umkm_new
            FROM ({_dense("province_code", grid, last, with_new=True)}) d
            LEFT JOIN provinces_in r ON r.code = d.province_code
            ORDER BY d.as_of_date, d.province_code NULLS LAST""",
        p,
    )
    marketplaces = [p for p, c in contracts.items() if c.channel == "marketplace"]
    con.execute(
        f"""INSERT INTO {pub}.progress_by_partner
            WITH groups AS (SELECT DISTINCT partner FROM listing_counts
                            WHERE list_contains($m, partner) AND joined_date <= {last}),
                 g AS (SELECT t.as_of_date, groups.partner FROM {grid} t CROSS JOIN groups),
                 pre AS (SELECT partner, sum(n) AS n FROM listing_counts WHERE joined_date < $start GROUP BY ALL),
                 pre_r AS (SELECT partner, sum(n) AS n FROM reach_counts WHERE first_date < $start GROUP BY ALL)
            SELECT g.as_of_date, g.partner,
                   (sum(coalesce(j.n, 0)) OVER w + coalesce(any_value(pre.n) OVER w, 0))::BIGINT,
                   (sum(coalesce(r.n, 0)) OVER w + coalesce(any_value(pre_r.n) OVER w, 0))::BIGINT
            FROM g LEFT JOIN listing_counts j ON j.partner = g.partner AND j.joined_date = g.as_of_date
                   LEFT JOIN reach_counts r ON r.partner = g.partner AND r.first_date = g.as_of_date
                   LEFT JOIN pre ON pre.partner = g.partner LEFT JOIN pre_r ON pre_r.partner = g.partner
            WINDOW w AS (PARTITION BY g.partner ORDER BY g.as_of_date)
            ORDER BY g.as_of_date, g.partner""",
        {**p, "m": marketplaces},
    )
    # every e-catalogue partner's snapshots; a vendor with its partner's not-counted scale is not
    # counted. One row per export date any of them loaded: their vendors of that date, summed.
    catalogues = [c for c in contracts.values() if c.channel == "ekatalog"]
    con.execute(
        f"""INSERT INTO {pub}.ekatalog_progress
            WITH cats AS (SELECT unnest($p::VARCHAR[]) AS partner, unnest($not_counted::VARCHAR[]) AS not_counted),
                 loaded AS (SELECT l.partner, l.export_date FROM partner_loads l SEMI JOIN cats USING (partner)
                            WHERE l.status = 'loaded'),
                 dates AS (SELECT DISTINCT export_date FROM loaded),
                 u AS (SELECT e.* FROM ekatalog_vendors e SEMI JOIN loaded USING (partner, export_date)
                       JOIN cats c USING (partner) WHERE e.scale IS DISTINCT FROM c.not_counted)
            -- one row per loaded export date, zeros included (a snapshot without UMKM vendors)
            SELECT dates.export_date, count(u.listing_key)::BIGINT, coalesce(sum(u.products), 0)::BIGINT,
                   count(u.listing_key) FILTER (WHERE n.first_joined <= u.export_date)::BIGINT
            FROM dates LEFT JOIN u USING (export_date)
            LEFT JOIN nib_first n ON n.ident = (1::UHUGEINT << 126) | TRY_CAST(u.nib AS UHUGEINT)
            GROUP BY dates.export_date ORDER BY dates.export_date""",
        {"p": [c.partner for c in catalogues], "not_counted": [c.not_counted for c in catalogues]},
    )
    con.execute(
        f"""INSERT INTO {pub}.partner_loads
            SELECT partner, export_date, status, rows_read, rows_loaded, rows_quarantined, warnings,
                   content_sha256, loaded_at, detail FROM partner_loads ORDER BY export_date, partner"""
    )
    con.execute(f"INSERT INTO {pub}.partner_freshness SELECT * FROM freshness_in")
    for name in ("targets_in", "provinces_in", "freshness_in"):
        con.unregister(name)
    return {t: con.execute(f"SELECT count(*) FROM {pub}.{t}").fetchall()[0][0] for t in TABLES}


def _dense(column: str, grid: str, last: str, with_new: bool = False) -> str:
    """Dense per-day cumulative counts of onboarded UMKM by `column` (groups non-zero on the last day)."""
    new = ", coalesce(c.n, 0)::BIGINT AS umkm_new" if with_new else ""
    return f"""
        WITH c AS (SELECT {column} AS g, onboarding_date AS d, sum(n) AS n FROM umkm_counts
                   WHERE onboarding_date >= $start GROUP BY ALL),
             groups AS (SELECT DISTINCT g FROM c WHERE d <= {last}),
             grid AS (SELECT t.as_of_date, groups.g FROM {grid} t CROSS JOIN groups)
        SELECT grid.as_of_date, grid.g AS {column},
               (sum(coalesce(c.n, 0)) OVER (PARTITION BY grid.g ORDER BY grid.as_of_date))::BIGINT AS umkm_onboarded{new}
        FROM grid LEFT JOIN c ON c.g IS NOT DISTINCT FROM grid.g AND c.d = grid.as_of_date
        ORDER BY grid.as_of_date, grid.g NULLS LAST"""


def _freshness(con: duckdb.DuckDBPyConnection, contracts: dict[str, Contract],
               delivered: dict[str, set[date]], ref: date | None) -> pl.DataFrame:  # fmt: skip
    loads = con.execute(
        """SELECT partner, min(export_date), max(export_date) FILTER (WHERE status = 'loaded')
           FROM partner_loads GROUP BY partner ORDER BY partner"""
    ).fetchall()
    known: dict[str, set[date]] = {}
    for partner, day in con.execute("SELECT partner, export_date FROM partner_loads").fetchall():
        known.setdefault(partner, set()).add(day)
    rows = []
    for partner, first_delivered, latest in loads:
        contract = contracts.get(partner)
        if contract is None or ref is None:
            continue
        have = known.get(partner, set()) | delivered.get(partner, set())
        first = min([first_delivered, *have])
        expected = contract.latest_scheduled(ref)
        missing = sum(1 for d in scheduled_days(contract, first, expected) if d not in have)
        behind = max((expected - latest).days, 0) if latest else None
        rows.append((partner, latest, expected, behind, missing))
    schema = {"partner": pl.String, "latest_export_date": pl.Date, "expected_export_date": pl.Date,
              "days_behind": pl.Int64, "missing_days": pl.Int64}  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")


def audit(con: duckdb.DuckDBPyConnection, pub: str = ALIAS) -> list[str]:
    """metrics.md's invariants on the built tables; a list of what is broken (empty = fine)."""
    problems = []
    q = con.execute
    if q(f"""SELECT count(*) FROM (SELECT umkm_onboarded < lag(umkm_onboarded) OVER (ORDER BY as_of_date) AS down
              FROM {pub}.national_progress) WHERE down""").fetchall()[0][0]:  # fmt: skip
        problems.append("national_progress.umkm_onboarded decreases over as_of_date")
    for table, column in (("progress_by_province", "province_code"), ("progress_by_scale", "scale"),
                          ("progress_by_sector", "kbli_category")):  # fmt: skip
        bad = q(f"""SELECT count(*) FROM {pub}.national_progress n
                    LEFT JOIN (SELECT as_of_date, sum(umkm_onboarded) AS s FROM {pub}.{table} GROUP BY 1) t
                    USING (as_of_date) WHERE coalesce(t.s, 0) <> n.umkm_onboarded""").fetchall()[0][0]  # fmt: skip
        if bad:
            problems.append(
                f"{table}: umkm_onboarded does not sum to the national figure on {bad} days ({column})"
            )
    unbalanced = q(f"""SELECT count(*), min(partner || ' ' || export_date) FROM {pub}.partner_loads
                       WHERE status = 'loaded' AND rows_read <> rows_loaded + rows_quarantined""").fetchall()[0]  # fmt: skip
    if unbalanced[0]:
        problems.append(
            f"partner_loads: rows_read != rows_loaded + rows_quarantined for {unbalanced[0]} partner-days (first: {unbalanced[1]})"
        )
    if q(f"SELECT count(*) - count(DISTINCT as_of_date) FROM {pub}.national_progress").fetchall()[
        0
    ][0]:
        problems.append("national_progress has duplicate days")
    return problems


def publish(con: duckdb.DuckDBPyConnection, target: Path, contracts: dict[str, Contract],
            delivered: dict[str, set[date]], mode: int = 0o644, state_version: int = 0) -> PublishSummary:  # fmt: skip
    """Build the published file aside, audit it, record the publication in the warehouse, carry
    the history into the file, then atomically replace `target` with it (history.py says why
    in this order). Values equal to the last publication's record nothing and swap nothing
    (unless `target` is missing: then it is rebuilt with the same history).

    The file holds aggregates only: it is made readable by BI users (`mode`, and the group of its
    folder), unlike everything else a run writes (owner-only)."""
    if not target.parent.exists():
        target.parent.mkdir(parents=True)
        os.chmod(target.parent, 0o755)
    # the caller holds the writer lock: any file being built is a killed run's leftover
    for leftover in target.parent.glob(f".{target.name}.*.building*"):
        leftover.unlink(missing_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.building")
    try:
        con.execute(f"ATTACH '{_quoted(tmp)}' AS {ALIAS} (STORAGE_VERSION '{STORAGE_VERSION}')")
        try:
            rows = build(con, contracts, delivered)
            problems = audit(con)
            if problems:
                raise AuditFailed("; ".join(problems))
            recorded = history.record(con, ALIAS, TABLES, contracts, state_version)
            swap = recorded.publication_id is not None or not target.exists()
            if swap:
                rows |= history.carry(con, ALIAS)
                problems = history.audit(con, ALIAS)
                if problems:  # the recorded publication stays pending: the next run takes it back
                    raise AuditFailed("; ".join(problems))
        finally:
            con.execute(f"DETACH DATABASE IF EXISTS {ALIAS}")
        if not swap:
            _discard(tmp)
            return PublishSummary(reference_day(con), rows, target, None, recorded.previous_id)
        _reaudit_file(tmp, rows)
        crash.point("publish-built")
        os.chmod(tmp, mode)
        with contextlib.suppress(OSError):  # BI users read it as the folder's group
            os.chown(tmp, -1, target.parent.stat().st_gid)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
    except BaseException:
        _discard(tmp)  # a full disk or a failed audit: the live file stays
        raise
    crash.point("publish-before-swap")
    os.replace(tmp, target)
    crash.point("publish-swapped")
    fsync_dir(target.parent)
    history.swapped(con)
    moved = history.what_moved(con, recorded.publication_id) if recorded.publication_id else None
    return PublishSummary(
        reference_day(con), rows, target, recorded.publication_id, recorded.previous_id, moved
    )


def _discard(tmp: Path) -> None:
    for partial in (tmp, tmp.with_name(tmp.name + ".wal")):
        partial.unlink(missing_ok=True)


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _reaudit_file(path: Path, rows: Mapping[str, int]) -> None:
    """Read the built file back: every table present with the row count that was written."""
    check = duckdb.connect(str(path), read_only=True)
    try:
        for name, n in rows.items():
            got = check.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
            if got != n:
                raise AuditFailed(f"{name}: wrote {n} rows, the file holds {got}")
    finally:
        check.close()
