"""JSON Lines: every line one record, its fields found by the contract's dotted paths, in DuckDB.

Lines are split by DuckDB from the (decompressed) bytes; a line that is not a JSON object is a
malformed record. Identifiers that must stay exact (`exact_integer_text`: ids up to 2^64-1) are
taken as the JSON number's text, never through a float. Unknown fields are reported, then
ignored."""

from __future__ import annotations

import duckdb

from pipelines.intake import stream
from pipelines.intake.csv_reader import refusal
from pipelines.intake.landing import DeliveryRefused
from pipelines.intake.read import Reading
from pipelines.quality.sql import ident, lit, text_list

UNIT_SEPARATOR = "\x1f"  # cannot occur in valid JSON: each line is read as one field


def _field(path: str, kind: str | None) -> str:
    p = lit(path)
    if kind == "list":
        # a list of codes, or a lone code; kept as text "a|b|c"
        return (
            f"CASE json_type(j, {p}) WHEN 'ARRAY' THEN array_to_string(list_transform("
            f"CAST(json_extract(j, {p}) AS JSON[]), lambda x: json_extract_string(x, '$')), '|') "
            f"ELSE json_extract_string(j, {p}) END"
        )
    if kind == "exact_integer_text":
        # the exact text of an integer up to 2^64-1; a float or a larger number is no key
        return (
            f"CASE WHEN json_type(j, {p}) IN ('UBIGINT', 'BIGINT') OR (json_type(j, {p}) = 'VARCHAR' "
            f"AND regexp_full_match(json_extract_string(j, {p}), '[0-9]{{1,20}}') "
            f"AND TRY_CAST(json_extract_string(j, {p}) AS UBIGINT) IS NOT NULL) "
            f"THEN json_extract_string(j, {p}) END"
        )
    return f"CASE WHEN json_type(j, {p}) IN ('ARRAY', 'OBJECT') THEN NULL ELSE json_extract_string(j, {p}) END"


def read(reading: Reading) -> list[str]:
    file, contract = reading.file, reading.contract
    gzip = contract.files.compression == "gzip"
    paths = {c.name: "$." + c.name for c in contract.columns}
    known_top = sorted({n.split(".")[0] for n in paths})
    nested: dict[str, list[str]] = {}
    for name in paths:
        if "." in name:
            parent, child = name.split(".", 1)
            nested.setdefault(parent, []).append(child)
    unknown_nested = " || ".join(
        f"list_transform(list_filter(CASE WHEN json_type(j, '$.{parent}') = 'OBJECT' THEN json_keys(j, '$.{parent}') ELSE [] END, "
        f"lambda k: NOT list_contains({text_list(sorted(children))}, k)), lambda k: {lit(parent + '.')} || k)"
        for parent, children in sorted(nested.items())
    ) or "[]::VARCHAR[]"  # fmt: skip
    fields = ", ".join(
        f"{_field(paths[c.name], c.type)} AS {ident(c.field)}" for c in contract.columns
    )

    def insert(path: str) -> None:
        reading.insert(f"""
            SELECT {lit(file.name)} AS _file, {reading.index} AS _file_index, NULL::BIGINT AS _row,
                   CASE WHEN j IS NULL THEN 'invalid JSON line' END AS _malformed,
                   list_filter(coalesce(json_keys(j), []), lambda k: NOT list_contains({text_list(known_top)}, k))
                     || {unknown_nested} AS _extra,
                   {fields}
            FROM (SELECT CASE WHEN json_valid(line) AND json_type(line::JSON) = 'OBJECT' THEN line::JSON END AS j
                  FROM read_csv({lit(path)}, header = false, sep = {lit(UNIT_SEPARATOR)}, quote = '', escape = '',
                                columns = {{'line': 'VARCHAR'}}, auto_detect = false, store_rejects = true,
                                strict_mode = true, compression = 'none', encoding = 'utf-8'))""")

    fed: stream.Feed | None = None
    try:
        if gzip:
            with stream.feed(
                file, gzip=True, encoding="utf-8", max_uncompressed=reading.max_uncompressed
            ) as fed:
                insert(fed.path)
        else:
            insert(str(file.path))
        rejects = reading.con.execute(
            "SELECT DISTINCT ON (line) line, error_type FROM reject_errors ORDER BY line"
        ).fetchall()
    except duckdb.Error as exc:
        if fed is not None:
            fed.check()
        raise refusal(exc, file, "read as JSON Lines") from None
    finally:
        reading.con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
    if fed is not None:
        fed.check()
    if any(str(kind).startswith("INVALID") for _, kind in rejects):
        raise DeliveryRefused(
            f"file {file.shown!r} is not valid UTF-8 JSON Lines (never decoded lossily)"
        )
    reading.insert_malformed([(line, "malformed line") for line, _ in rejects])
    lines, keys = reading.con.execute(
        f"""SELECT count(*) FILTER (WHERE len(_extra) > 0), list_sort(list_distinct(flatten(list(_extra))))
            FROM {reading.table} WHERE _file_index = ?""",
        [reading.index],
    ).fetchall()[0]
    if lines:
        return [f"file {file.shown!r}: unknown fields ignored on {lines} lines: {keys}"]
    return []
