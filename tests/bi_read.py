"""Read a published file the way a BI client does, with whatever DuckDB this interpreter has.

`python tests/bi_read.py FILE` prints one JSON object: the DuckDB version, each table's comment,
each column's type and comment, and every row of every table (values as text). It imports only
the standard library and duckdb, so it runs in a throwaway environment with another DuckDB
(`uv run --no-project --with duckdb==1.1.3 python tests/bi_read.py FILE`).

`python tests/bi_read.py FILE --sqlalchemy` reads the tables and their comments as Superset does:
SQLAlchemy's inspector through duckdb-engine (both must be installed beside duckdb)."""

from __future__ import annotations

import json
import sys

import duckdb


def read(path: str) -> dict[str, object]:
    con = duckdb.connect(path, read_only=True)
    try:
        db = con.execute("SELECT current_database()").fetchall()[0][0]
        tables = dict(
            con.execute(
                "SELECT table_name, comment FROM duckdb_tables() WHERE database_name = ? AND NOT internal ORDER BY table_name",
                [db],
            ).fetchall()
        )
        columns = {
            f"{t}.{c}": [kind, comment]
            for t, c, kind, comment in con.execute(
                """SELECT table_name, column_name, data_type, comment FROM duckdb_columns()
                   WHERE database_name = ? AND NOT internal ORDER BY table_name, column_index""",
                [db],
            ).fetchall()
        }
        # what JDBC and SQLAlchemy inspectors read: the information_schema spelling of the same comments
        standard = {
            f"{t}.{c}" if c else t: comment
            for t, c, comment in con.execute(
                """SELECT table_name, NULL, TABLE_COMMENT FROM information_schema.tables WHERE table_catalog = $db
                   UNION ALL
                   SELECT table_name, column_name, COLUMN_COMMENT FROM information_schema.columns WHERE table_catalog = $db
                   ORDER BY ALL""",
                {"db": db},
            ).fetchall()
        }
        rows = {
            t: [
                [None if v is None else str(v) for v in r]
                for r in con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall()
            ]
            for t in tables
        }
        return {
            "duckdb": duckdb.__version__,
            "tables": tables,
            "columns": columns,
            "information_schema": standard,
            "rows": rows,
        }
    finally:
        con.close()


def reflect(path: str) -> dict[str, object]:
    """Tables, table comments and column comments as SQLAlchemy reflects them (Superset's dataset
    editor shows these as descriptions)."""
    import sqlalchemy
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.pool import NullPool

    engine = create_engine(f"duckdb:///{path}?access_mode=read_only", poolclass=NullPool)
    try:
        inspector = inspect(engine)
        tables = {
            t: inspector.get_table_comment(t)["text"] for t in sorted(inspector.get_table_names())
        }
        columns = {
            f"{t}.{c['name']}": c.get("comment") for t in tables for c in inspector.get_columns(t)
        }
    finally:
        engine.dispose()
    return {"duckdb": duckdb.__version__, "sqlalchemy": sqlalchemy.__version__, "tables": tables,
            "columns": columns}  # fmt: skip


if __name__ == "__main__":
    json.dump(
        reflect(sys.argv[1]) if "--sqlalchemy" in sys.argv[2:] else read(sys.argv[1]), sys.stdout
    )
