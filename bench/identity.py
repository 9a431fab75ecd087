"""Identity resolution at national scale: time and peak memory of `resolve.resolve_identities`
on N synthetic listings, in full and for a small incremental change.

    python -m bench.identity 1000000 10000000      # one subprocess per size; prints a table

The listings are made in DuckDB, column-wise, like the warehouse after a national backfill:
businesses on 1-4 partners, each listing carrying some of its business's NIB / NIK / phone,
some owners with two businesses (a shared NIK), some chains (a second phone on one listing).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipelines.warehouse import resolve
from pipelines.warehouse import store as warehouse

PARTNERS = ["belanjaku", "kedaiantar", "lapakdesa", "pasarnusa", "tokoraya"]


def build(con, listings: int) -> None:  # type: ignore[no-untyped-def]
    """Fill `listings` and `listing_ids` with `listings` rows, all marked dirty (as after a backfill)."""
    businesses = max(1, int(listings / 1.6))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE l AS
            SELECT i AS lid, (hash(i * 7 + 1) % {businesses})::BIGINT AS biz,
                   ({PARTNERS}::VARCHAR[])[1 + (hash(i * 7 + 2) % 5)::INT] AS partner,
                   'L' || i::VARCHAR AS listing_key,
                   DATE '2009-01-01' + (hash(i * 7 + 3) % 5800)::INT AS joined_date,
                   lpad(((hash(i * 7 + 4) % 38) + 11)::VARCHAR, 2, '0') AS province_code,
                   hash(i * 7 + 5) % 8 AS mask
            FROM range({listings}) t(i)"""
    )
    con.execute(
        """INSERT INTO listings SELECT partner, listing_key, joined_date, province_code, NULL, 'mikro', 'G',
                  NULL, NULL, DATE '2024-09-30', NULL, NULL FROM l"""
    )
    # identifiers: NIK of the owner (every 200th owner runs two businesses), phone, NIB of 60%
    con.execute(
        """INSERT INTO listing_ids
           SELECT partner, listing_key, 'nik', md5('nik' || (CASE WHEN biz % 200 = 1 THEN biz - 1 ELSE biz END)::VARCHAR)
           FROM l WHERE mask & 1 = 1 OR mask = 0
           UNION ALL
           SELECT partner, listing_key, 'phone', md5('phone' || biz::VARCHAR) FROM l WHERE mask & 2 = 2
           UNION ALL
           SELECT partner, listing_key, 'phone', md5('phone2' || biz::VARCHAR) FROM l WHERE biz % 50 = 3
           UNION ALL
           SELECT partner, listing_key, 'nib', lpad((biz % 10000000000000)::VARCHAR, 13, '0') FROM l
           WHERE mask & 4 = 4 AND biz % 10 < 6"""
    )
    con.execute("INSERT INTO dirty_listings SELECT partner, listing_key FROM listings")


def measure(listings: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        con = warehouse.connect(Path(tmp) / "w.duckdb")
        build(con, listings)
        con.execute("CHECKPOINT")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        stats = resolve.resolve_identities(con, full=True)
        full = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # a nightly delta: 1,000 listings change (new identifiers linking to existing UMKM)
        con.execute(
            """INSERT INTO dirty_listings SELECT partner, listing_key FROM listings USING SAMPLE 1000 ROWS (reservoir, 7)"""
        )
        con.execute(
            """INSERT INTO listing_ids SELECT d.partner, d.listing_key, 'phone', i.value
               FROM (SELECT *, row_number() OVER () AS n FROM dirty_listings) d
               JOIN (SELECT value, row_number() OVER () AS n FROM listing_ids WHERE kind = 'phone' LIMIT 1000) i USING (n)"""
        )
        con.execute(
            "INSERT INTO stale_umkm SELECT DISTINCT umkm_id FROM listings SEMI JOIN dirty_listings USING (partner, listing_key)"
        )
        started = time.perf_counter()
        incremental_stats = resolve.resolve_identities(con)
        incremental = time.perf_counter() - started
        con.close()
    return {
        "listings": listings,
        "umkm": stats.components,
        "full_seconds": round(full, 2),
        "peak_rss_mib": round(peak / 1024, 1),
        "rss_before_mib": round(before / 1024, 1),
        "incremental_seconds": round(incremental, 2),
        "incremental_listings_resolved": incremental_stats.listings_resolved,
    }


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--one":
        print(json.dumps(measure(int(argv[1]))))
        return 0
    rows = []
    for n in [int(a) for a in argv] or [1_000_000]:
        out = subprocess.run(
            [sys.executable, "-m", "bench.identity", "--one", str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    print(
        "\n| listings | UMKM | full resolve (s) | peak RSS (MiB) | incremental, 1,000 changed (s) | listings re-resolved |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['listings']:,} | {r['umkm']:,} | {r['full_seconds']} | {r['peak_rss_mib']:,} | {r['incremental_seconds']} | {r['incremental_listings_resolved']:,} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
