"""How identity resolution moves UMKM, recorded for `umkm explain` (operators' side, counts only).

A resolve replaces some UMKM groups (the old groups of the affected listings) with new ones.
Every old group counts -1 at its old onboarding date and every new group +1 at its new one, in
`umkm_moves`; summed over the dates in [programme start, D] this is exactly how much the resolve
changed `umkm_onboarded` on D (an unchanged group recomputed nets to zero).

Each group is attributed to one partner-day, among the partner-days changed since the last
publication (their `partner_loads` row inserted or changed, `changed_partner_days`):
- a dirty listing's partner-day is the earliest changed partner-day of its partner on or after
  the listing's first appearance (else the partner's earliest changed partner-day);
- a group's partner-day is the earliest (export date, partner) of its dirty listings'; a group
  with no dirty listing takes that of the group that holds its smallest listing on the other
  side (an old group untouched itself was merged into a new group holding a dirty listing; a
  new group without one is the rest of a split old group).
So, for a publication, the moves attributed to its partner-days add up to its revisions of the
national figure.
"""

from __future__ import annotations

import duckdb

# a partner_loads row as published, hashed (epoch microseconds: no time zone in the text)
ROW_MD5 = (
    "md5(CAST(row(partner, export_date, status, rows_read, rows_loaded, rows_quarantined, warnings, "
    "content_sha256, epoch_us(loaded_at), detail) AS VARCHAR))"
)


def changed_partner_days() -> str:
    """Query: the partner-days whose partner_loads row is new or changed since the last
    recorded publication (partner, export_date, status, row_md5, seen_before)."""
    return f"""
        WITH cur AS (SELECT partner, export_date, status, {ROW_MD5} AS row_md5 FROM partner_loads),
             last AS (SELECT partner, export_date, arg_max(row_md5, publication_id) AS row_md5
                      FROM publication_partner_days GROUP BY ALL)
        SELECT c.partner, c.export_date, c.status, c.row_md5, l.partner IS NOT NULL AS seen_before
        FROM cur c LEFT JOIN last l USING (partner, export_date)
        WHERE l.row_md5 IS DISTINCT FROM c.row_md5"""


def remember_members(con: duckdb.DuckDBPyConnection, dirty: str) -> None:
    """Before the dirty listings are rebuilt (losing their UMKM), keep which group held them."""
    con.execute(
        f"""INSERT INTO stale_members SELECT listing_id, umkm_id FROM listings
            WHERE umkm_id IS NOT NULL AND {dirty}"""
    )


def before_resolve(con: duckdb.DuckDBPyConnection) -> None:
    """The old groups about to be replaced (temp tables d and gone_umkm exist): members, dates."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE old_members AS
           SELECT listing_id, umkm_id FROM listings SEMI JOIN gone_umkm USING (umkm_id)
           UNION SELECT listing_id, umkm_id FROM stale_members SEMI JOIN gone_umkm USING (umkm_id)"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE old_groups AS
           SELECT umkm_id, onboarding_date, province_code FROM umkm SEMI JOIN gone_umkm USING (umkm_id)"""
    )


def after_resolve(con: duckdb.DuckDBPyConnection) -> None:
    """Record the moves of this resolve (temp tables d, assigned, old_members, old_groups),
    pending (publication_id NULL) until a publication shows them."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE pending_days AS {changed_partner_days()}")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE listing_cause AS
           WITH seen AS (SELECT d.listing_id, k.partner, min(r.first_date) AS first_seen
                         FROM d JOIN listing_keys k USING (listing_id)
                         LEFT JOIN listing_runs r ON r.listing_id = d.listing_id GROUP BY ALL),
                first_day AS (SELECT partner, min(export_date) AS export_date FROM pending_days GROUP BY ALL),
                after AS (SELECT s.listing_id, p.export_date FROM seen s
                          ASOF JOIN pending_days p ON p.partner = s.partner AND p.export_date >= s.first_seen)
           SELECT s.listing_id, struct_pack(d := coalesce(a.export_date, f.export_date), p := s.partner) AS cause
           FROM seen s LEFT JOIN after a USING (listing_id) LEFT JOIN first_day f USING (partner)
           WHERE coalesce(a.export_date, f.export_date) IS NOT NULL"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE new_groups AS
           SELECT umkm_id, onboarding_date, province_code FROM umkm SEMI JOIN (SELECT DISTINCT umkm_id FROM assigned) a USING (umkm_id)"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE group_cause AS
           WITH own_old AS (SELECT m.umkm_id, min(c.cause) AS cause FROM old_members m JOIN listing_cause c USING (listing_id) GROUP BY 1),
                own_new AS (SELECT m.umkm_id, min(c.cause) AS cause FROM assigned m JOIN listing_cause c USING (listing_id) GROUP BY 1)
           SELECT -1 AS n, g.onboarding_date, g.province_code, coalesce(o.cause, other.cause) AS cause
           FROM old_groups g LEFT JOIN own_old o USING (umkm_id)
                LEFT JOIN assigned a ON a.listing_id = g.umkm_id LEFT JOIN own_new other ON other.umkm_id = a.umkm_id
           UNION ALL
           SELECT 1, g.onboarding_date, g.province_code, coalesce(o.cause, other.cause)
           FROM new_groups g LEFT JOIN own_new o USING (umkm_id)
                LEFT JOIN old_members m ON m.listing_id = g.umkm_id LEFT JOIN own_old other ON other.umkm_id = m.umkm_id"""
    )
    con.execute(
        """INSERT INTO umkm_moves
           SELECT NULL, cause.p, cause.d, onboarding_date, province_code, sum(n)::BIGINT FROM group_cause
           GROUP BY ALL HAVING sum(n) <> 0"""
    )
    con.execute("DELETE FROM stale_members")
