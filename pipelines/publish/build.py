"""Aggregate the warehouse into the published tables and swap them in (write-audit-publish).

The published file is built beside the live one, audited (metrics.md's invariants), and only
then moved over it with an atomic rename: a BI tool holding the old file keeps its snapshot and
never sees a half-written state; a failed audit leaves the previous file in place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from pipelines import crash, reference
from pipelines.contracts import Contract
from pipelines.intake.landing import scheduled_days
from pipelines.reference import PROGRAMME_START
from pipelines.targets import trajectory_frame

PUBLISHED_SQL = Path(__file__).resolve().parents[2] / "schemas" / "published.sql"
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


def reference_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The latest export date of any loaded partner-day."""
    return con.execute(
        "SELECT max(export_date) FROM partner_loads WHERE status = 'loaded'"
    ).fetchall()[0][0]


def build_tables(
    con: duckdb.DuckDBPyConnection, contracts: dict[str, Contract], delivered: dict[str, set[date]]
) -> dict[str, pl.DataFrame]:
    """Every published table as a frame, computed from the warehouse (aggregates only)."""
    ref = reference_day(con)
    marketplaces = [p for p, c in contracts.items() if c.channel == "marketplace"]
    days = (
        pl.date_range(PROGRAMME_START, ref, "1d", eager=True)
        if ref and ref >= PROGRAMME_START
        else pl.Series([], dtype=pl.Date)
    )
    con.register("days", pl.DataFrame({"as_of_date": days}).to_arrow())
    con.register("targets_in", trajectory_frame(days.to_list()).to_arrow())
    con.register("provinces_in", reference.provinces().to_arrow())
    start = {"start": PROGRAMME_START}
    out: dict[str, pl.DataFrame] = {}
    out["national_progress"] = _frame(
        con,
        """WITH u AS (SELECT onboarding_date AS d, count(*) AS n FROM umkm GROUP BY 1),
                l AS (SELECT joined_date AS d, count(*) AS n FROM listings GROUP BY 1),
                pre_u AS (SELECT coalesce(sum(n), 0) AS n FROM u WHERE d < $start),
                pre_l AS (SELECT coalesce(sum(n), 0) AS n FROM l WHERE d < $start),
                s AS (SELECT days.as_of_date,
                             sum(coalesce(u.n, 0)) OVER w AS onboarded,
                             coalesce(u.n, 0) AS new,
                             sum(coalesce(l.n, 0)) OVER w AS listings
                      FROM days LEFT JOIN u ON u.d = days.as_of_date LEFT JOIN l ON l.d = days.as_of_date
                      WINDOW w AS (ORDER BY days.as_of_date))
           SELECT s.as_of_date, s.onboarded::BIGINT AS umkm_onboarded, s.new::BIGINT AS umkm_new,
                  (s.onboarded + (SELECT n FROM pre_u))::BIGINT AS umkm_online_total,
                  (s.listings + (SELECT n FROM pre_l))::BIGINT AS listings,
                  t.target::BIGINT AS target,
                  CASE WHEN t.target = 0 THEN NULL ELSE s.onboarded / t.target END::DOUBLE AS pct_of_target
           FROM s JOIN targets_in t USING (as_of_date) ORDER BY s.as_of_date""",
        start,
    )
    out["progress_by_province"] = (
        _dense(con, "province_code", "umkm", "onboarding_date", with_new=True)
        .join(
            reference.provinces().rename({"code": "province_code", "name": "province_name"}),
            on="province_code",
            how="left",
        )
        .select(
            "as_of_date",
            "province_code",
            pl.col("province_name").fill_null("unknown"),
            "umkm_onboarded",
            "umkm_new",
        )
        .sort("as_of_date", "province_code", nulls_last=True)
    )
    out["progress_by_scale"] = _dense(con, "scale", "umkm", "onboarding_date")
    out["progress_by_sector"] = _dense(con, "kbli_category", "umkm", "onboarding_date")
    out["progress_by_partner"] = _frame(
        con,
        """WITH firsts AS (
               SELECT l.partner, l.umkm_id, min(l.joined_date) AS d FROM listings l
               JOIN umkm u USING (umkm_id) WHERE u.onboarding_date >= $start GROUP BY ALL),
             reached AS (SELECT partner, d, count(*) AS n FROM firsts GROUP BY ALL),
             joined AS (SELECT partner, joined_date AS d, count(*) AS n FROM listings GROUP BY ALL),
             -- partners non-zero on the last day: a listing joined on or before it
             groups AS (SELECT DISTINCT partner FROM listings
                        WHERE list_contains($m, partner) AND joined_date <= (SELECT max(as_of_date) FROM days)),
             grid AS (SELECT days.as_of_date, g.partner FROM days CROSS JOIN groups g),
             pre AS (SELECT partner, sum(n) AS n FROM joined WHERE d < $start GROUP BY ALL),
             pre_r AS (SELECT partner, sum(n) AS n FROM reached WHERE d < $start GROUP BY ALL)
           SELECT grid.as_of_date, grid.partner,
                  (sum(coalesce(j.n, 0)) OVER w + coalesce(any_value(pre.n) OVER w, 0))::BIGINT AS listings,
                  (sum(coalesce(r.n, 0)) OVER w + coalesce(any_value(pre_r.n) OVER w, 0))::BIGINT AS umkm_reached
           FROM grid LEFT JOIN joined j ON j.partner = grid.partner AND j.d = grid.as_of_date
                     LEFT JOIN reached r ON r.partner = grid.partner AND r.d = grid.as_of_date
                     LEFT JOIN pre ON pre.partner = grid.partner
                     LEFT JOIN pre_r ON pre_r.partner = grid.partner
           WINDOW w AS (PARTITION BY grid.partner ORDER BY grid.as_of_date)
           ORDER BY grid.as_of_date, grid.partner""",
        {**start, "m": marketplaces},
    )
    out["ekatalog_progress"] = _frame(
        con,
        """WITH loaded AS (SELECT export_date FROM partner_loads WHERE partner = $p AND status = 'loaded'),
                v AS (SELECT e.* FROM ekatalog_vendors e SEMI JOIN loaded USING (export_date)
                      QUALIFY row_number() OVER (PARTITION BY export_date, kode_penyedia
                                                 ORDER BY file_index DESC, row_number DESC) = 1),
                u AS (SELECT * FROM v WHERE kualifikasi IS DISTINCT FROM 'non_umkm'),
                nibs AS (SELECT i.value AS nib, min(l.joined_date) AS first_joined FROM listing_ids i
                         JOIN listings l USING (partner, listing_key) WHERE i.kind = 'nib' GROUP BY ALL)
           -- one row per loaded export date, zeros included (a snapshot without UMKM vendors)
           SELECT loaded.export_date AS as_of_date, count(u.kode_penyedia)::BIGINT AS umkm_vendors,
                  coalesce(sum(u.products), 0)::BIGINT AS products,
                  count(u.kode_penyedia) FILTER (WHERE n.first_joined <= u.export_date)::BIGINT AS vendors_also_online
           FROM loaded LEFT JOIN u USING (export_date) LEFT JOIN nibs n ON n.nib = u.nib
           GROUP BY loaded.export_date ORDER BY loaded.export_date""",
        {"p": next((p for p, c in contracts.items() if c.channel == "ekatalog"), "")},
    )
    out["partner_loads"] = _frame(
        con,
        """SELECT partner, export_date, status, rows_read, rows_loaded, rows_quarantined, warnings,
                  content_sha256, loaded_at, detail FROM partner_loads ORDER BY export_date, partner""",
    )
    out["partner_freshness"] = _freshness(con, contracts, delivered, ref)
    for name in ("days", "targets_in", "provinces_in"):
        con.unregister(name)
    return out


def _frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, object] | None = None
) -> pl.DataFrame:
    return con.sql(sql, params=params).pl()


def _dense(
    con: duckdb.DuckDBPyConnection, column: str, table: str, date_col: str, with_new: bool = False
) -> pl.DataFrame:
    """Dense per-day cumulative counts of onboarded UMKM by `column` (groups non-zero on the last day)."""
    new = ", coalesce(c.n, 0)::BIGINT AS umkm_new" if with_new else ""
    return _frame(
        con,
        f"""WITH c AS (SELECT {column} AS g, {date_col} AS d, count(*) AS n FROM {table}
                       WHERE {date_col} >= $start GROUP BY ALL),
                 groups AS (SELECT DISTINCT g FROM c WHERE d <= (SELECT max(as_of_date) FROM days)),
                 grid AS (SELECT days.as_of_date, groups.g FROM days CROSS JOIN groups)
            SELECT grid.as_of_date, grid.g AS {column},
                   (sum(coalesce(c.n, 0)) OVER (PARTITION BY grid.g ORDER BY grid.as_of_date))::BIGINT AS umkm_onboarded{new}
            FROM grid LEFT JOIN c ON c.g IS NOT DISTINCT FROM grid.g AND c.d = grid.as_of_date
            ORDER BY grid.as_of_date, grid.g NULLS LAST""",
        {"start": PROGRAMME_START},
    )


def _freshness(
    con: duckdb.DuckDBPyConnection,
    contracts: dict[str, Contract],
    delivered: dict[str, set[date]],
    ref: date | None,
) -> pl.DataFrame:
    loads = _frame(
        con,
        """SELECT partner, min(export_date) AS first_delivered,
                  max(export_date) FILTER (WHERE status = 'loaded') AS latest
           FROM partner_loads GROUP BY partner ORDER BY partner""",
    )
    loaded_days = con.execute("SELECT partner, export_date FROM partner_loads").fetchall()
    known: dict[str, set[date]] = {}
    for partner, day in loaded_days:
        known.setdefault(partner, set()).add(day)
    rows = []
    for partner, first_delivered, latest in loads.iter_rows():
        contract = contracts.get(partner)
        if contract is None or ref is None:
            continue
        have = known.get(partner, set()) | delivered.get(partner, set())
        first = min([first_delivered, *have])
        expected = contract.latest_scheduled(ref)
        missing = sum(1 for d in scheduled_days(contract, first, expected) if d not in have)
        behind = max((expected - latest).days, 0) if latest else None
        rows.append((partner, latest, expected, behind, missing))
    return pl.DataFrame(
        rows,
        schema={
            "partner": pl.String,
            "latest_export_date": pl.Date,
            "expected_export_date": pl.Date,
            "days_behind": pl.Int64,
            "missing_days": pl.Int64,
        },
        orient="row",
    )


def audit(tables: dict[str, pl.DataFrame]) -> list[str]:
    """metrics.md's invariants on the built tables; a list of what is broken (empty = fine)."""
    problems = []
    nat = tables["national_progress"]
    if nat.height and (nat["umkm_onboarded"].diff().drop_nulls() < 0).any():
        problems.append("national_progress.umkm_onboarded decreases over as_of_date")
    for name, col in (
        ("progress_by_province", "province_code"),
        ("progress_by_scale", "scale"),
        ("progress_by_sector", "kbli_category"),
    ):
        sums = tables[name].group_by("as_of_date").agg(pl.col("umkm_onboarded").sum().alias("s"))
        joined = nat.select("as_of_date", "umkm_onboarded").join(sums, on="as_of_date", how="left")
        bad = joined.filter(pl.col("s").fill_null(0) != pl.col("umkm_onboarded"))
        if bad.height:
            problems.append(
                f"{name}: umkm_onboarded does not sum to the national figure on {bad.height} days ({col})"
            )
    loads = tables["partner_loads"].filter(pl.col("status") == "loaded")
    unbalanced = loads.filter(
        pl.col("rows_read") != pl.col("rows_loaded") + pl.col("rows_quarantined")
    )
    if unbalanced.height:
        first = unbalanced.row(0, named=True)
        problems.append(
            f"partner_loads: rows_read != rows_loaded + rows_quarantined for {unbalanced.height} partner-days "
            f"(first: {first['partner']} {first['export_date']})"
        )
    if nat.height and nat["as_of_date"].n_unique() != nat.height:
        problems.append("national_progress has duplicate days")
    return problems


def publish(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    contracts: dict[str, Contract],
    delivered: dict[str, set[date]],
) -> PublishSummary:
    """Build the published file aside, audit it, then atomically replace `target` with it."""
    tables = build_tables(con, contracts, delivered)
    problems = audit(tables)
    if problems:
        raise AuditFailed("; ".join(problems))
    target.parent.mkdir(parents=True, exist_ok=True)
    # the caller holds the writer lock: any file being built is a killed run's leftover
    for leftover in target.parent.glob(f".{target.name}.*.building*"):
        leftover.unlink(missing_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.building")
    try:
        out = duckdb.connect(str(tmp))
        try:
            out.execute(PUBLISHED_SQL.read_text(encoding="utf-8"))
            for name in TABLES:
                out.register("frame_in", tables[name].to_arrow())
                cols = ", ".join(f'"{c}"' for c in tables[name].columns)
                out.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM frame_in")
                out.unregister("frame_in")
            out.execute("CHECKPOINT")
        finally:
            out.close()
    except BaseException:
        for partial in (tmp, tmp.with_name(tmp.name + ".wal")):
            partial.unlink(missing_ok=True)  # a full disk: the live file stays as it was
        raise
    _reaudit_file(tmp, tables)
    crash.point("publish-built")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    crash.point("publish-before-swap")
    os.replace(tmp, target)
    crash.point("publish-swapped")
    _fsync_dir(target.parent)
    return PublishSummary(reference_day(con), {k: v.height for k, v in tables.items()}, target)


def _reaudit_file(path: Path, tables: dict[str, pl.DataFrame]) -> None:
    """Read the built file back: every table present with the row count that was written."""
    check = duckdb.connect(str(path), read_only=True)
    try:
        for name, frame in tables.items():
            n = check.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
            if n != frame.height:
                raise AuditFailed(f"{name}: wrote {frame.height} rows, the file holds {n}")
    finally:
        check.close()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
