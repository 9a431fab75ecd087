"""Read a published file the way a BI client does, with whatever DuckDB this interpreter has.

`python tests/bi_read.py FILE` prints one JSON object: the DuckDB version, each table's comment,
each column's type and comment, and every row of every table (values as text). It imports only
the standard library and duckdb, so it runs in a throwaway environment with another DuckDB
(`uv run --no-project --with duckdb==1.1.3 python tests/bi_read.py FILE`)."""

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


if __name__ == "__main__":
    json.dump(read(sys.argv[1]), sys.stdout)
