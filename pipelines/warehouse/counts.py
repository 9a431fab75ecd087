"""Counts kept beside the derived state, so that publishing never scans listings or UMKM.

Every change of `listings` or `umkm` adjusts these small tables by its difference (old rows
subtracted, new rows added), in the same transaction; the published aggregates are cumulative
sums over them, whose size grows with days x groups, not with the warehouse.

- umkm_counts(onboarding_date, province_code, scale, kbli_category, n): UMKM by all published groups
- listing_counts(partner, joined_date, n): marketplace listings
- reach_counts(partner, first_date, n): for UMKM onboarded since programme start, each partner
  they have a listing on, at the earliest joined date of those listings
- nib_first(ident, first_joined): each NIB's earliest listing (for the e-catalogue's reach)
"""

from __future__ import annotations

import duckdb

from pipelines.reference import PROGRAMME_START

TABLES = {
    "umkm_counts": ["onboarding_date DATE", "province_code VARCHAR", "scale VARCHAR",
                    "kbli_category VARCHAR"],
    "listing_counts": ["partner VARCHAR", "joined_date DATE"],
    "reach_counts": ["partner VARCHAR", "first_date DATE"],
}  # fmt: skip

DDL = (
    "".join(
        f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(columns)}, n BIGINT NOT NULL);"
        for table, columns in TABLES.items()
    )
    + "CREATE TABLE IF NOT EXISTS nib_first (ident UHUGEINT NOT NULL, first_joined DATE NOT NULL);"
)


def adjust(con: duckdb.DuckDBPyConnection, table: str, rows: str, sign: int) -> None:
    """Add (`sign` 1) or subtract (-1) one per row of the query `rows` (the table's key columns,
    in order) to the table's counts."""
    keys = [c.split()[0] for c in TABLES[table]]
    same = " AND ".join(f"t.{k} IS NOT DISTINCT FROM d.{k}" for k in keys)
    con.execute(
        f"""MERGE INTO {table} t
            USING (SELECT {", ".join(keys)}, {sign} * count(*) AS dn FROM ({rows}) GROUP BY ALL) d
            ON ({same})
            WHEN MATCHED THEN UPDATE SET n = t.n + d.dn
            WHEN NOT MATCHED THEN INSERT VALUES ({", ".join(f"d.{k}" for k in keys)}, d.dn)"""
    )
    con.execute(f"DELETE FROM {table} WHERE n = 0")


def umkm_rows(where: str) -> str:
    return f"SELECT onboarding_date, province_code, scale, kbli_category FROM umkm WHERE {where}"


def reach_rows(where: str) -> str:
    return (
        f"SELECT r.partner, r.first AS first_date FROM (SELECT unnest(reach) AS r FROM umkm "
        f"WHERE onboarding_date >= DATE '{PROGRAMME_START.isoformat()}' AND {where})"
    )


def listing_rows(where: str) -> str:
    return f"SELECT partner, joined_date FROM listings WHERE {where}"


def refresh_nib_first(con: duckdb.DuckDBPyConnection, idents: str) -> None:
    """Recompute the earliest listing of the NIBs in the query `idents` (one column: ident)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE touched_nibs AS SELECT DISTINCT ident FROM ({idents}) WHERE (ident >> 126) = 1")  # fmt: skip
    con.execute("DELETE FROM nib_first WHERE ident IN (SELECT ident FROM touched_nibs)")
    con.execute(
        """INSERT INTO nib_first
           SELECT i.ident, min(l.joined_date) FROM listing_idents i SEMI JOIN touched_nibs USING (ident)
           JOIN listings l USING (listing_id) GROUP BY i.ident"""
    )
