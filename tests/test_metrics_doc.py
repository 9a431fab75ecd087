"""docs/metrics.md and schemas/published.sql say the same thing: every published table and column,
its type and its COMMENT, word for word, on both sides."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from pipelines.publish.build import PUBLISHED_SQL, TABLES

DOC = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
Columns = dict[str, tuple[str, str]]  # column -> (type as documented, comment)


def schema() -> dict[str, tuple[str, Columns]]:
    """Each table of published.sql with its comment and its columns, as DuckDB reads the DDL."""
    con = duckdb.connect()
    try:
        con.execute(PUBLISHED_SQL.read_text(encoding="utf-8"))
        out: dict[str, tuple[str, Columns]] = {}
        for table, comment in con.execute(
            "SELECT table_name, comment FROM duckdb_tables() WHERE NOT internal ORDER BY table_oid"
        ).fetchall():
            cols = con.execute(
                """SELECT column_name, data_type || CASE WHEN is_nullable THEN '' ELSE ' NOT NULL' END, comment
                   FROM duckdb_columns() WHERE table_name = ? AND NOT internal ORDER BY column_index""",
                [table],
            ).fetchall()
            out[table] = (comment, {c: (t, m) for c, t, m in cols})
        return out
    finally:
        con.close()


def documented() -> dict[str, tuple[str, Columns]]:
    """Each `### \\`table\\`` section of docs/metrics.md: its first paragraph and its column table."""
    out: dict[str, tuple[str, Columns]] = {}
    sections = re.split(r"^### `([a-z_]+)`\s*$", DOC.read_text(encoding="utf-8"), flags=re.M)
    for table, body in zip(sections[1::2], sections[2::2], strict=True):
        paragraphs = [p.strip() for p in body.strip().split("\n\n")]
        cols: Columns = {}
        for line in body.splitlines():
            m = re.fullmatch(r"\| `([a-z_0-9]+)` \| ([A-Z ]+) \| (.*) \|", line.strip())
            if m:
                assert m[1] not in cols, f"{table}.{m[1]} is documented twice"
                cols[m[1]] = (m[2], m[3])
        out[table] = (" ".join(paragraphs[0].split()), cols)
    return out


def test_every_published_table_and_column_is_documented_and_nothing_else() -> None:
    """It finds the same tables, in the same order, and the same columns on both sides."""
    sql, doc = schema(), documented()
    assert list(doc) == list(sql), (
        "docs/metrics.md's ### sections differ from published.sql's tables "
        "(`python -m tests.test_metrics_doc` prints the sections published.sql has)"
    )
    for table in sql:
        assert list(doc[table][1]) == list(sql[table][1]), f"columns of {table} differ"
    assert set(TABLES) <= set(sql), "the publisher fills a table published.sql does not define"


def test_the_doc_and_the_comments_say_the_same_words() -> None:
    """It holds each table's first paragraph and each column's meaning and type to its COMMENT and type."""
    sql, doc = schema(), documented()
    for table, (comment, cols) in sql.items():
        assert comment, f"{table} has no COMMENT"
        assert doc[table][0] == comment, f"{table}: the doc's first paragraph is not its COMMENT"
        for column, (kind, meaning) in cols.items():
            assert meaning, f"{table}.{column} has no COMMENT"
            assert doc[table][1][column] == (kind, meaning), f"{table}.{column} differs"


def skeleton() -> str:
    """published.sql's tables as docs/metrics.md sections, to paste and add prose after each table."""
    parts = []
    for table, (comment, cols) in schema().items():
        rows = "\n".join(f"| `{c}` | {kind} | {meaning} |" for c, (kind, meaning) in cols.items())
        parts.append(
            f"### `{table}`\n\n{comment}\n\n| column | type | meaning |\n|---|---|---|\n{rows}\n"
        )
    return "\n".join(parts)


if __name__ == "__main__":
    print(skeleton())
