"""A long-lived BI reader, run as its own process across a publish.

`python tests/bi_reader.py MODE FILE` reads the latest `as_of_date` of the published FILE, prints
it, waits for a line on standard input (the test publishes a new file meanwhile), reads again
and prints what it sees. It imports only the standard library and duckdb (SQLAlchemy and
duckdb-engine for the engine modes), so the plain modes run with any DuckDB:

- held:        a connection held open across the publish, a second one opened beside it, then
               both closed and a third opened (DuckDB's instance cache at work)
- nullpool:    SQLAlchemy + duckdb-engine with NullPool, as Superset builds its engines
- queuepool:   duckdb-engine's default pool (QueuePool) with two connections in it
- pre_ping:    the same with pool_pre_ping=True
- recycle:     the same with every connection recycled at checkout (pool_recycle)
- beside_held: NullPool, while another engine of the same process holds a connection to the file
- snippet:     FILE2 (third argument) is Python that defines latest_day(), from the README
"""

from __future__ import annotations

import sys
from typing import Any

import duckdb

QUERY = "SELECT max(as_of_date) FROM national_progress"


def engine(path: str, **options: Any) -> Any:
    from sqlalchemy import create_engine

    return create_engine(f"duckdb:///{path}?access_mode=read_only", **options)


def engine_day(e: Any) -> str:
    from sqlalchemy import text

    with e.connect() as con:
        return str(con.execute(text(QUERY)).scalar_one())


def fill(e: Any) -> None:
    """Two connections at once (a dashboard's charts load in parallel), then back to the pool."""
    from sqlalchemy import text

    first, second = e.connect(), e.connect()
    for con in (first, second):
        con.execute(text("SELECT 1"))
    first.close()
    second.close()


def wait() -> None:
    sys.stdin.readline()


def main(mode: str, path: str, extra: str | None = None) -> None:
    def day(con: duckdb.DuckDBPyConnection) -> str:
        return str(con.execute(QUERY).fetchall()[0][0])

    if mode == "held":
        held = duckdb.connect(path, read_only=True)
        print(day(held), flush=True)
        wait()
        beside = duckdb.connect(path, read_only=True)
        seen = [day(held), day(beside)]
        held.close()
        beside.close()
        fresh = duckdb.connect(path, read_only=True)
        print(*seen, day(fresh), flush=True)
        return
    if mode == "snippet":
        assert extra is not None
        namespace: dict[str, Any] = {}
        with open(extra, encoding="utf-8") as f:
            exec(compile(f.read(), extra, "exec"), namespace)
        latest = namespace["latest_day"]
        print(latest(), flush=True)
        wait()
        print(latest(), latest(), flush=True)
        return
    from sqlalchemy.pool import NullPool

    options: dict[str, Any] = {
        "nullpool": {"poolclass": NullPool},
        "beside_held": {"poolclass": NullPool},
        "queuepool": {},
        "pre_ping": {"pool_pre_ping": True},
        "recycle": {"pool_recycle": 0.001},
    }[mode]
    e = engine(path, **options)
    # (a plain duckdb.connect would not do: duckdb-engine's connections carry another configuration,
    # and DuckDB refuses two configurations of one file in one process)
    held = engine(path).connect() if mode == "beside_held" else None
    fill(e)
    print(engine_day(e), flush=True)
    wait()
    fill(e)
    print(engine_day(e), engine_day(e), flush=True)
    if held is not None:
        held.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
