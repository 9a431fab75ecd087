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


def _field(text: str, path: str, kind: str | None) -> str:
    """The contract's reading of one field: `text` is json_extract_string of the line at `path`
    (a JSON string unquoted, a number as written, an array or object as its JSON). The few
    values that look like an array or an object are looked at again as JSON, and only those."""
    value = f"json_extract(line, {lit(path)})"
    if kind == "list":
        # a list of codes, or a lone code; kept as text "a|b|c"
        return (
            f"CASE WHEN left({text}, 1) = '[' AND json_type({value}) = 'ARRAY' THEN array_to_string("
            f"list_transform(CAST({value} AS JSON[]), lambda x: json_extract_string(x, '$')), '|') "
            f"ELSE {text} END"
        )
    if kind == "exact_integer_text":
        # the exact text of an integer up to 2^64-1 (a JSON number, or a string of digits); a
        # float or a larger number is no key
        return (
            f"CASE WHEN regexp_full_match({text}, '[0-9]{{1,20}}') AND TRY_CAST({text} AS UBIGINT) IS NOT NULL "
            f"THEN {text} WHEN regexp_full_match({text}, '-[0-9]{{1,19}}') AND json_type({value}) = 'BIGINT' "
            f"THEN {text} END"
        )
    return (
        f"CASE WHEN left({text}, 1) IN ('[', '{{') AND json_type({value}) IN ('ARRAY', 'OBJECT') "
        f"THEN NULL ELSE {text} END"
    )


def read(reading: Reading) -> list[str]:
    file, contract = reading.file, reading.contract
    gzip = contract.files.compression == "gzip"
    paths = [("$." + c.name) for c in contract.columns]
    known_top = sorted({c.name.split(".")[0] for c in contract.columns})
    nested: dict[str, list[str]] = {}
    for c in contract.columns:
        if "." in c.name:
            parent, child = c.name.split(".", 1)
            nested.setdefault(parent, []).append(child)
    # every field's text in one parse of the line (a parse per path costs six times more); the
    # keys of the line and of the objects holding nested fields, to report unknown fields
    parents = sorted(nested)
    unknown_nested = " || ".join(
        f"list_transform(list_filter(CASE WHEN json_type(p[{i + 1}]) = 'OBJECT' THEN json_keys(p[{i + 1}]) ELSE [] END, "
        f"lambda k: NOT list_contains({text_list(sorted(nested[parent]))}, k)), lambda k: {lit(parent + '.')} || k)"
        for i, parent in enumerate(parents)
    ) or "[]::VARCHAR[]"  # fmt: skip
    parent_paths = "[" + ", ".join(lit("$." + p) for p in parents) + "]"
    parents_of = f"json_extract(line, {parent_paths})" if parents else "NULL::JSON[]"
    fields = ", ".join(
        f"{_field(f's[{i + 1}]', path, c.type)} AS {ident(contract.raw_name(c))}"
        for i, (path, c) in enumerate(zip(paths, contract.columns, strict=True))
    )
    path_list = "[" + ", ".join(lit(p) for p in paths) + "]"

    def insert(path: str) -> None:
        reading.insert(f"""
            SELECT {lit(file.name)} AS _file, {reading.index} AS _file_index, NULL::BIGINT AS _row,
                   CASE WHEN NOT ok THEN 'invalid JSON line' END AS _malformed,
                   CASE WHEN ok THEN list_filter(json_keys(line), lambda k: NOT list_contains({text_list(known_top)}, k))
                     || {unknown_nested} END AS _extra,
                   {fields}
            FROM (SELECT line, s, CASE WHEN ok THEN {parents_of} END AS p, ok FROM (
                  SELECT line, s, s IS NOT NULL AND regexp_matches(line, '^\\s*[{{]') AS ok FROM (
                  SELECT line, try(json_extract_string(line, {path_list})) AS s
                  FROM read_csv({lit(path)}, header = false, sep = {lit(UNIT_SEPARATOR)}, quote = '', escape = '',
                                columns = {{'line': 'VARCHAR'}}, auto_detect = false, store_rejects = true,
                                strict_mode = true, compression = 'none', encoding = 'utf-8'))))""")

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
