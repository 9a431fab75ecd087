"""CSV: the header matched by name to the contract's columns, then every record parsed by
DuckDB from the file's bytes (decompressed and transcoded on the way when the contract says
so, see stream.py). Records DuckDB cannot split are kept as malformed records."""

from __future__ import annotations

import csv

import duckdb

from pipelines.contracts import SINGLE_BYTE
from pipelines.intake import stream
from pipelines.intake.landing import DeliveredFile, DeliveryRefused
from pipelines.intake.read import Reading
from pipelines.quality.sql import clean, ident, lit

SEPARATORS = [",", ";", "\t", "|"]
# DuckDB's CSV error types, in words for the quarantine
CSV_ERRORS = {
    "MISSING COLUMNS": "too few fields (malformed or truncated row)",
    "TOO MANY COLUMNS": "too many fields (malformed row)",
    "UNQUOTED VALUE": "unterminated or stray quote (malformed or truncated row)",
    "LINE SIZE OVER MAXIMUM": "row longer than the line-size limit",
    "CAST ERROR": "malformed record",
}


def header_line(head: bytes, encoding: str, file: DeliveredFile) -> str:
    """The first line of the file, decoded strictly (a UTF-8 BOM is no part of it)."""
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        if encoding in SINGLE_BYTE:
            if head.startswith(stream.UTF8_BOM):
                raise DeliveryRefused(
                    f"file {file.shown!r} starts with a UTF-8 byte order mark; contract says {stream.shown_encoding(encoding)}"
                )
            return first.decode(SINGLE_BYTE[encoding], errors="strict")
        return first.removeprefix(stream.UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError:
        raise DeliveryRefused(f"file {file.shown!r}: header is not {encoding}") from None


def split_header(line: str, separator: str, quote: str, file: DeliveredFile) -> list[str]:
    try:
        return [
            n.strip() for n in next(csv.reader([line], delimiter=separator, quotechar=quote), [])
        ]
    except csv.Error as exc:
        raise DeliveryRefused(
            f"file {file.shown!r}: the header line cannot be read as CSV ({exc})"
        ) from None


def check_columns(found: list[str], reading: Reading) -> list[str]:
    """Match columns by name; refuse missing, renamed or doubled ones; warn about extras."""
    expected = [c.name for c in reading.contract.columns]
    missing = [n for n in expected if n not in found]
    extra = [n for n in found if n not in expected]
    shown = reading.file.shown
    if missing:
        hint = f"; unexpected columns {extra}" if extra else ""
        raise DeliveryRefused(f"file {shown!r}: columns missing or renamed: {missing}{hint}")
    duplicated = sorted({n for n in found if found.count(n) > 1})
    if duplicated:
        raise DeliveryRefused(f"file {shown!r}: columns appear twice: {duplicated}")
    return [f"file {shown!r}: extra columns ignored: {extra}"] if extra else []


def read(reading: Reading) -> list[str]:
    opts = reading.contract.csv
    assert opts is not None
    file = reading.file
    gzip = reading.contract.files.compression == "gzip"
    line = header_line(stream.head(file, gzip), opts.encoding, file)
    names = split_header(line, opts.separator, opts.quote, file)
    expected = {c.name for c in reading.contract.columns}
    if not expected <= set(names):
        for other in SEPARATORS:
            if other != opts.separator and expected <= set(
                split_header(line, other, opts.quote, file)
            ):
                raise DeliveryRefused(
                    f"file {file.shown!r} is separated by {other!r}; contract says {opts.separator!r}"
                )
    warnings = check_columns(names, reading)
    position = {n: i for i, n in enumerate(names)}
    fields = ", ".join(
        f"c{position[c.name]} AS {ident(reading.contract.raw_name(c))}"
        for c in reading.contract.columns
    )
    # a header line repeated inside the data is a malformed record, not a seller
    repeated = " AND ".join(
        f"coalesce({clean(f'c{position[c.name]}')} = {lit(c.name)}, false)"
        for c in reading.contract.columns
    )
    fed: stream.Feed | None = None
    try:
        if gzip or opts.encoding in SINGLE_BYTE:
            with stream.feed(file, gzip=gzip, encoding=opts.encoding,
                             max_uncompressed=reading.max_uncompressed) as fed:  # fmt: skip
                _insert(reading, fed.path, len(names), fields, repeated)
        else:
            _insert(reading, str(file.path), len(names), fields, repeated)
        rejects = reading.con.execute(
            "SELECT DISTINCT ON (line) line - 1, error_type FROM reject_errors ORDER BY line"
        ).fetchall()
    except duckdb.Error as exc:
        if fed is not None:
            fed.check()  # the feeder stopped first (a bomb, damaged gzip): its reason is the one
        raise DeliveryRefused(
            f"file {file.shown!r} could not be parsed as CSV: {first_line(exc)}"
        ) from None
    finally:
        reading.con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
    if fed is not None:
        fed.check()
    invalid = [record for record, kind in rejects if str(kind).startswith("INVALID")]
    if invalid:
        raise DeliveryRefused(
            f"file {file.shown!r}: record {invalid[0]} is not valid {opts.encoding} (never decoded lossily)"
        )
    reading.insert_malformed(
        [(r, CSV_ERRORS.get(str(kind), "malformed record")) for r, kind in rejects]
    )
    return warnings


def _insert(reading: Reading, path: str, n_columns: int, fields: str, repeated: str) -> None:
    opts = reading.contract.csv
    assert opts is not None
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n_columns)) + "}"
    source = f"""
        SELECT {lit(reading.file.name)} AS _file, {reading.index} AS _file_index, NULL::BIGINT AS _row,
               CASE WHEN {repeated} THEN 'repeated header row' END AS _malformed, NULL::VARCHAR[] AS _extra,
               {fields}
        FROM read_csv({lit(path)}, header = true, sep = {lit(opts.separator)}, quote = {lit(opts.quote)},
                      escape = {lit(opts.quote)}, columns = {columns}, auto_detect = false,
                      store_rejects = true, strict_mode = true, compression = 'none',
                      encoding = 'utf-8', null_padding = false)"""
    reading.insert(source)


def refusal(exc: duckdb.Error, file: DeliveredFile, what: str) -> DeliveryRefused:
    """The refusal for a file DuckDB could not read; the machine's own failures (out of memory,
    disk full) are no refusal: they are raised again, to stop the run."""
    if isinstance(exc, duckdb.OutOfMemoryException) or "no space left" in str(exc).lower():
        raise exc
    return DeliveryRefused(f"file {file.shown!r} could not be {what}: {first_line(exc)}")


# DuckDB's words for what it met, and what they mean in a partner's file
_EXPLAINED = {
    "state machine reached an invalid state": "its line ends are mixed (CRLF and LF) or a lone "
    "carriage return stands inside a record",
}


def first_line(exc: Exception) -> str:
    line = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    meaning = next((m for words, m in _EXPLAINED.items() if words in line), None)
    return f"{meaning} ({line})" if meaning else line
