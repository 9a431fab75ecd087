"""Derived state: listings from their runs, and UMKM as connected groups of listings.

A UMKM is a connected component of the graph whose nodes are listings and whose edges join
listings sharing a valid NIB, NIK pseudonym or phone pseudonym (metrics.md "UMKM"). Only the
components touched since the last publish are recomputed; components are found with scipy's
connected_components (C, linear in edges) on integer node ids built in DuckDB. Every join is
on integer keys (listing_id, ident).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipelines import canonical
from pipelines.warehouse import counts, moves

# Order of listings for "earliest-joined" (metrics.md): joined date, partner, listing key as
# text; lapakdesa listings (tie_name set) by normalised name, then NIB (missing NIB last).
EARLIEST = (
    "struct_pack(j := joined_date, p := partner, k1 := coalesce(tie_name, listing_key), "
    "k2 := CASE WHEN tie_name IS NULL THEN '' ELSE coalesce(tie_nib, '~') END, k3 := listing_key)"
)
SCALE_RANK = "CASE scale WHEN 'menengah' THEN 3 WHEN 'kecil' THEN 2 WHEN 'mikro' THEN 1 END"


@dataclass(frozen=True)
class ResolveStats:
    dirty_listings: int
    listings_resolved: int  # listings whose UMKM was recomputed
    components: int
    full: bool


def refresh_listings(
    con: duckdb.DuckDBPyConnection, snapshot_partners: list[str], event_partners: list[str]
) -> int:
    """Recompute `listings` and `listing_idents` for the dirty listings from their runs.

    Attributes are those of the latest run (latest export date); identifiers are all runs'.
    Records their former UMKM in `stale_umkm` for `resolve_identities`; keeps `dirty_listings`.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE d AS SELECT DISTINCT listing_id FROM dirty_listings")
    # kept in a table, not a temp one: a second refresh before resolving must not forget them
    con.execute(
        """INSERT INTO stale_umkm SELECT DISTINCT umkm_id FROM listings SEMI JOIN d USING (listing_id)
           WHERE umkm_id IS NOT NULL"""
    )
    dirty = "listing_id IN (SELECT listing_id FROM d)"
    moves.remember_members(con, dirty)
    counts.adjust(con, "listing_counts", counts.listing_rows(dirty), -1)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE old_idents AS SELECT ident FROM listing_idents WHERE {dirty}"
    )
    for table in ("listings", "listing_idents"):
        con.execute(f"DELETE FROM {table} WHERE {dirty}")
    attrs = canonical.names(canonical.listing_attributes())
    # a listing's runs never overlap, so its latest run is the one row with its latest last_date:
    # picked by rowid (an aggregate per attribute costs four times as much)
    con.execute(
        f"""INSERT INTO listings (listing_id, partner, listing_key, {", ".join(attrs)}, latest_export_date)
            WITH latest AS (SELECT arg_max(rowid, last_date) AS rid FROM listing_runs
                            SEMI JOIN d USING (listing_id) GROUP BY listing_id)
            SELECT r.listing_id, r.partner, k.listing_key, {", ".join("r." + a for a in attrs)}, r.last_date
            FROM listing_runs r JOIN latest ON r.rowid = latest.rid
            JOIN listing_keys k ON k.listing_id = r.listing_id"""
    )
    con.execute(
        """INSERT INTO listing_idents
           SELECT DISTINCT listing_id, unnest(idents) FROM listing_runs SEMI JOIN d USING (listing_id)"""
    )
    # removed: a snapshot that no longer lists it, or a later `deleted` event
    con.execute(
        """UPDATE listings l SET removed_as_of = x.removed_as_of FROM (
               SELECT l.listing_id,
                      CASE WHEN list_contains($snap, l.partner) THEN
                               (SELECT min(w.export_date) FROM warehouse_days w
                                WHERE w.partner = l.partner AND w.export_date > l.latest_export_date)
                           WHEN list_contains($events, l.partner) THEN
                               (SELECT min(x.export_date) FROM listing_deletions x
                                WHERE x.listing_id = l.listing_id AND x.export_date > l.latest_export_date)
                      END AS removed_as_of
               FROM listings l SEMI JOIN d USING (listing_id)) x
           WHERE l.listing_id = x.listing_id""",
        {"snap": snapshot_partners, "events": event_partners},
    )
    counts.adjust(con, "listing_counts", counts.listing_rows(dirty), 1)
    counts.refresh_nib_first(
        con,
        f"SELECT ident FROM old_idents UNION ALL SELECT ident FROM listing_idents WHERE {dirty}",
    )
    return int(con.execute("SELECT count(*) FROM d").fetchall()[0][0])


def resolve_identities(con: duckdb.DuckDBPyConnection, full: bool = False) -> ResolveStats:
    """Assign `listings.umkm_id` and rebuild `umkm` rows for the components touched.

    Incremental by default: the affected set is the dirty listings, every listing of their
    former UMKM, and every listing of a UMKM that holds one of their identifiers; that set is
    closed under links, so recomputing components inside it is exact. `full=True` recomputes all.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE d AS SELECT DISTINCT listing_id FROM dirty_listings")
    dirty = int(con.execute("SELECT count(*) FROM d").fetchall()[0][0])
    if full:
        con.execute("CREATE OR REPLACE TEMP TABLE s AS SELECT listing_id FROM listings")
        con.execute("CREATE OR REPLACE TEMP TABLE gone_umkm AS SELECT umkm_id FROM umkm")
    else:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE d_idents AS
               SELECT DISTINCT ident FROM listing_idents SEMI JOIN d USING (listing_id)"""
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE touched_umkm AS
               SELECT umkm_id FROM stale_umkm
               UNION
               SELECT DISTINCT l.umkm_id FROM listings l
               SEMI JOIN (SELECT listing_id FROM listing_idents SEMI JOIN d_idents USING (ident)) t USING (listing_id)
               WHERE l.umkm_id IS NOT NULL"""
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE s AS
               SELECT listing_id FROM listings SEMI JOIN touched_umkm USING (umkm_id)
               UNION
               SELECT listing_id FROM d"""
        )
        con.execute("CREATE OR REPLACE TEMP TABLE gone_umkm AS SELECT umkm_id FROM touched_umkm")
    moves.before_resolve(con)
    # integer node ids, and for each identifier a star from its smallest listing to the others
    con.execute(
        "CREATE OR REPLACE TEMP TABLE nodes AS SELECT listing_id, (row_number() OVER () - 1)::BIGINT AS node FROM s"
    )
    n_nodes = int(con.execute("SELECT count(*) FROM nodes").fetchall()[0][0])
    edges = con.execute(
        """WITH inc AS (SELECT i.ident, n.node FROM listing_idents i JOIN nodes n USING (listing_id))
           SELECT node AS a, min(node) OVER (PARTITION BY ident) AS b FROM inc"""
    ).fetchnumpy()
    a = np.asarray(edges["a"], dtype=np.int64)
    b = np.asarray(edges["b"], dtype=np.int64)
    if n_nodes:
        graph = coo_matrix(
            (np.ones(len(a), dtype=np.int8), (a, b)), shape=(n_nodes, n_nodes)
        ).tocsr()
        n_components, labels = connected_components(graph, directed=False)
    else:
        n_components, labels = 0, np.zeros(0, dtype=np.int32)
    con.register(
        "labels_in",
        {"node": np.arange(n_nodes, dtype=np.int64), "component": labels.astype(np.int64)},
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE assigned AS
           SELECT n.listing_id, min(n.listing_id) OVER (PARTITION BY c.component) AS umkm_id
           FROM nodes n JOIN labels_in c USING (node)"""
    )
    con.unregister("labels_in")
    con.execute(
        """UPDATE listings l SET umkm_id = a.umkm_id FROM assigned a WHERE l.listing_id = a.listing_id"""
    )
    gone = "umkm_id IN (SELECT umkm_id FROM gone_umkm)"
    counts.adjust(con, "umkm_counts", counts.umkm_rows(gone), -1)
    counts.adjust(con, "reach_counts", counts.reach_rows(gone), -1)
    con.execute(f"DELETE FROM umkm WHERE {gone}")
    con.execute(
        f"""INSERT INTO umkm
            SELECT umkm_id, min(joined_date),
                   arg_min_null(province_code, {EARLIEST}),
                   coalesce(CASE max({SCALE_RANK}) WHEN 3 THEN 'menengah' WHEN 2 THEN 'kecil' WHEN 1 THEN 'mikro' END, 'unknown'),
                   coalesce(arg_min(kbli_category, {EARLIEST}) FILTER (WHERE kbli_category IS NOT NULL), 'unknown'),
                   count(*),
                   -- one entry per partner: sorting the entries orders them by partner (an
                   -- ordered aggregate costs four times as much)
                   list_sort(list(struct_pack(partner := partner, first := joined_date)) FILTER (WHERE first_of_partner))
            FROM (SELECT *, row_number() OVER (PARTITION BY umkm_id, partner ORDER BY joined_date) = 1 AS first_of_partner
                  FROM listings SEMI JOIN s USING (listing_id))
            GROUP BY umkm_id"""
    )
    fresh = "umkm_id IN (SELECT DISTINCT umkm_id FROM assigned)"
    counts.adjust(con, "umkm_counts", counts.umkm_rows(fresh), 1)
    counts.adjust(con, "reach_counts", counts.reach_rows(fresh), 1)
    moves.after_resolve(con)
    con.execute("DELETE FROM dirty_listings")
    con.execute("DELETE FROM stale_umkm")
    return ResolveStats(dirty, n_nodes, int(n_components), full)
