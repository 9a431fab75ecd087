"""Derived state: listings from their runs, and UMKM as connected groups of listings.

A UMKM is a connected component of the graph whose nodes are listings and whose edges join
listings sharing a valid NIB, NIK pseudonym or phone pseudonym (metrics.md "UMKM"). Only the
components touched since the last publish are recomputed; components are found with
scipy's connected_components (C, linear in edges) on integer ids built in DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

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
    """Recompute `listings` and `listing_ids` for the dirty listings from their runs.

    Attributes are those of the latest run (latest export date); identifiers are all runs'.
    Records their former UMKM in `stale_umkm` for `resolve_identities`; keeps `dirty_listings`.
    """
    con.execute(
        "CREATE OR REPLACE TEMP TABLE d AS SELECT DISTINCT partner, listing_key FROM dirty_listings"
    )
    # kept in a table, not a temp one: a second refresh before resolving must not forget them
    con.execute(
        """INSERT INTO stale_umkm SELECT DISTINCT l.umkm_id FROM listings l
           SEMI JOIN d ON d.partner = l.partner AND d.listing_key = l.listing_key WHERE l.umkm_id IS NOT NULL"""
    )
    for table in ("listings", "listing_ids"):
        con.execute(
            f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM d WHERE d.partner = t.partner AND d.listing_key = t.listing_key)"
        )
    con.execute(
        """INSERT INTO listings
           SELECT r.partner, r.listing_key,
                  arg_max(r.joined_date, r.last_date), arg_max_null(r.province_code, r.last_date),
                  arg_max_null(r.regency_code, r.last_date), arg_max_null(r.scale, r.last_date),
                  arg_max_null(r.kbli_category, r.last_date), arg_max_null(r.tie_name, r.last_date),
                  arg_max_null(r.tie_nib, r.last_date), max(r.last_date), NULL, NULL
           FROM listing_runs r SEMI JOIN d ON d.partner = r.partner AND d.listing_key = r.listing_key
           GROUP BY r.partner, r.listing_key"""
    )
    con.execute(
        """INSERT INTO listing_ids
           SELECT DISTINCT partner, listing_key, kind, value FROM (
               SELECT r.partner, r.listing_key, 'nib' AS kind, unnest(r.nibs) AS value FROM listing_runs r
               SEMI JOIN d ON d.partner = r.partner AND d.listing_key = r.listing_key
               UNION ALL
               SELECT r.partner, r.listing_key, 'nik', unnest(r.nik_ps) FROM listing_runs r
               SEMI JOIN d ON d.partner = r.partner AND d.listing_key = r.listing_key
               UNION ALL
               SELECT r.partner, r.listing_key, 'phone', unnest(r.phone_ps) FROM listing_runs r
               SEMI JOIN d ON d.partner = r.partner AND d.listing_key = r.listing_key)"""
    )
    # removed: a snapshot that no longer lists it, or a later `deleted` event
    con.execute(
        """UPDATE listings l SET removed_as_of = x.removed_as_of FROM (
               SELECT l.partner, l.listing_key,
                      CASE WHEN list_contains($snap, l.partner) THEN
                               (SELECT min(w.export_date) FROM warehouse_days w
                                WHERE w.partner = l.partner AND w.export_date > l.latest_export_date)
                           WHEN list_contains($events, l.partner) THEN
                               (SELECT min(x.export_date) FROM listing_deletions x
                                WHERE x.partner = l.partner AND x.listing_key = l.listing_key
                                  AND x.export_date > l.latest_export_date)
                      END AS removed_as_of
               FROM listings l SEMI JOIN d ON d.partner = l.partner AND d.listing_key = l.listing_key) x
           WHERE l.partner = x.partner AND l.listing_key = x.listing_key""",
        {"snap": snapshot_partners, "events": event_partners},
    )
    return int(con.execute("SELECT count(*) FROM d").fetchall()[0][0])


def resolve_identities(con: duckdb.DuckDBPyConnection, full: bool = False) -> ResolveStats:
    """Assign `listings.umkm_id` and rebuild `umkm` rows for the components touched.

    Incremental by default: the affected set is the dirty listings, every listing of their
    former UMKM, and every listing of a UMKM that holds one of their identifiers; that set is
    closed under links, so recomputing components inside it is exact. `full=True` recomputes all.
    """
    con.execute(
        "CREATE OR REPLACE TEMP TABLE d AS SELECT DISTINCT partner, listing_key FROM dirty_listings"
    )
    dirty = int(con.execute("SELECT count(*) FROM d").fetchall()[0][0])
    if full:
        con.execute("CREATE OR REPLACE TEMP TABLE s AS SELECT partner, listing_key FROM listings")
        con.execute("CREATE OR REPLACE TEMP TABLE gone_umkm AS SELECT umkm_id FROM umkm")
    else:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE touched_umkm AS
               SELECT umkm_id FROM stale_umkm
               UNION
               SELECT DISTINCT l.umkm_id FROM listing_ids i
                 JOIN listing_ids di ON di.kind = i.kind AND di.value = i.value
                 JOIN d ON d.partner = di.partner AND d.listing_key = di.listing_key
                 JOIN listings l ON l.partner = i.partner AND l.listing_key = i.listing_key
               WHERE l.umkm_id IS NOT NULL"""
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE s AS
               SELECT l.partner, l.listing_key FROM listings l SEMI JOIN touched_umkm t ON t.umkm_id = l.umkm_id
               UNION
               SELECT l.partner, l.listing_key FROM listings l
                 SEMI JOIN d ON d.partner = l.partner AND d.listing_key = l.listing_key"""
        )
        con.execute("CREATE OR REPLACE TEMP TABLE gone_umkm AS SELECT umkm_id FROM touched_umkm")
    # integer node ids, and for each identifier a star from its smallest listing to the others
    con.execute(
        "CREATE OR REPLACE TEMP TABLE nodes AS SELECT partner, listing_key, (row_number() OVER () - 1)::BIGINT AS node FROM s"
    )
    n_nodes = int(con.execute("SELECT count(*) FROM nodes").fetchall()[0][0])
    edges = con.execute(
        """WITH inc AS (
               SELECT i.kind, i.value, n.node FROM listing_ids i
               JOIN nodes n ON n.partner = i.partner AND n.listing_key = i.listing_key)
           SELECT node AS a, min(node) OVER (PARTITION BY kind, value) AS b FROM inc"""
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
           WITH m AS (SELECT n.partner, n.listing_key, c.component FROM nodes n JOIN labels_in c USING (node))
           SELECT partner, listing_key,
                  md5(min(partner || chr(31) || listing_key) OVER (PARTITION BY component)) AS umkm_id
           FROM m"""
    )
    con.unregister("labels_in")
    con.execute(
        """UPDATE listings l SET umkm_id = a.umkm_id FROM assigned a
           WHERE l.partner = a.partner AND l.listing_key = a.listing_key"""
    )
    con.execute("DELETE FROM umkm WHERE umkm_id IN (SELECT umkm_id FROM gone_umkm)")
    con.execute(
        f"""INSERT INTO umkm
            SELECT umkm_id, min(joined_date),
                   arg_min_null(province_code, {EARLIEST}),
                   coalesce(CASE max({SCALE_RANK}) WHEN 3 THEN 'menengah' WHEN 2 THEN 'kecil' WHEN 1 THEN 'mikro' END, 'unknown'),
                   coalesce(arg_min(kbli_category, {EARLIEST}) FILTER (WHERE kbli_category IS NOT NULL), 'unknown'),
                   count(*)
            FROM listings l SEMI JOIN s ON s.partner = l.partner AND s.listing_key = l.listing_key
            GROUP BY umkm_id"""
    )
    con.execute("DELETE FROM dirty_listings")
    con.execute("DELETE FROM stale_umkm")
    return ResolveStats(dirty, n_nodes, int(n_components), full)
