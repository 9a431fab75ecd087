"""Evaluate a rule's SQL expression on a few values, in DuckDB, as the pipeline does."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb
import pyarrow as pa

from pipelines.quality.sql import clean


def values(
    expression: Callable[..., str],
    column: Sequence[object],
    *more: Sequence[object],
    cleaned: bool = True,
) -> list[object]:
    """`expression(v, w, ...)` over columns of values (the first one cleaned, as the rules see
    their input), one result per value."""
    names = ["v", *(f"w{i}" for i in range(len(more)))]
    table = pa.table({n: list(c) for n, c in zip(names, [column, *more], strict=True)})
    con = duckdb.connect()
    con.register("t", table)
    first = clean("v") if cleaned else "v"
    sql = f"SELECT {expression('x', *names[1:])} FROM (SELECT {first} AS x, * EXCLUDE (v) FROM t)"
    return [row[0] for row in con.execute(sql).fetchall()]


def one(expression: Callable[[str], str], value: object) -> object:
    return values(expression, [value])[0]
