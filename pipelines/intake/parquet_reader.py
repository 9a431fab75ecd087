"""Parquet: typed columns checked against the contract's Parquet types, then every row read by
DuckDB. The footer is judged before any data is decoded (a Parquet bomb never reaches memory)."""

from __future__ import annotations

import duckdb

from pipelines.intake.csv_reader import check_columns, refusal
from pipelines.intake.landing import DeliveredFile, DeliveryRefused, open_regular
from pipelines.intake.read import Reading
from pipelines.quality.sql import ident, lit

# the contract's Parquet type names and the DuckDB types that read them
PARQUET_TYPES = {
    "string": {"VARCHAR"}, "bool": {"BOOLEAN"}, "date": {"DATE"},
    "int8": {"TINYINT"}, "int16": {"SMALLINT"}, "int32": {"INTEGER"}, "int64": {"BIGINT"},
    "uint8": {"UTINYINT"}, "uint16": {"USMALLINT"}, "uint32": {"UINTEGER"}, "uint64": {"UBIGINT"},
    "float": {"FLOAT"}, "double": {"DOUBLE"},
    "timestamp": {"TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"},
    "timestamptz": {"TIMESTAMP WITH TIME ZONE"},
}  # fmt: skip
# what one decoded value costs at least, in bytes (an estimate for dictionary/RLE pages, which
# declare their encoded size only)
VALUE_BYTES = 8


def read(reading: Reading) -> list[str]:
    file, con = reading.file, reading.con
    with open_regular(file.path) as handle:
        if handle.read(4) != b"PAR1":
            raise DeliveryRefused(f"file {file.shown!r} is not Parquet (no PAR1 magic)")
    path = lit(str(file.path))
    try:
        types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet({path}))").fetchall())  # fmt: skip
        warnings = check_columns(list(types), reading)
        wrong = [
            f"{c.name} is {types[c.name]}, expected {c.type}"
            for c in reading.contract.columns
            if c.type and types[c.name] not in PARQUET_TYPES.get(c.type, set())
        ]
        if wrong:
            raise DeliveryRefused(
                f"file {file.shown!r}: column types differ from the contract: {wrong}"
            )
        _size_within(con, file, len(types), reading.max_uncompressed)
        fields = ", ".join(
            f"CAST({ident(c.name)} AS VARCHAR) AS {ident(reading.contract.raw_name(c))}"
            for c in reading.contract.columns
        )
        reading.insert(f"""
            SELECT {lit(file.name)} AS _file, {reading.index} AS _file_index, file_row_number + 1 AS _row,
                   NULL::VARCHAR AS _malformed, NULL::VARCHAR[] AS _extra, {fields}
            FROM read_parquet({path}, file_row_number = true)""")
    except duckdb.Error as exc:
        raise refusal(exc, file, "read as Parquet") from None
    return warnings


def _size_within(
    con: duckdb.DuckDBPyConnection, file: DeliveredFile, columns: int, cap: int
) -> None:
    """Refuse a file whose footer declares more than the cap once decoded (pages' uncompressed
    sizes, or rows x columns x 8 bytes, whichever is larger)."""
    path = lit(str(file.path))
    rows, pages = con.execute(
        f"SELECT (SELECT sum(num_rows) FROM parquet_file_metadata({path})), "
        f"(SELECT coalesce(sum(total_uncompressed_size), 0) FROM parquet_metadata({path}))"
    ).fetchall()[0]
    decoded = max(int(pages or 0), int(rows or 0) * columns * VALUE_BYTES)
    if decoded > cap:
        raise DeliveryRefused(
            f"file {file.shown!r} declares {int(rows or 0):,} rows, about {decoded:,} bytes decoded, "
            f"beyond the {cap:,}-byte cap; refused as a possible Parquet bomb"
        )
