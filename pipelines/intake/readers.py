"""Readers: one delivered file to a raw frame of text columns named by canonical field.

Each reader returns every record of the file: parsed records with their values, and
structurally malformed records (wrong field count, unterminated quote, invalid JSON) with
`_malformed` set, so that nothing read is lost. `_row` is the record's number in the file
(1-based, header excluded; for Excel, the spreadsheet row number). Personal columns are still
raw here: `pipelines.intake.staging.read_partner_day` pseudonymises them before anything leaves.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from pipelines import scratch
from pipelines.contracts import Contract
from pipelines.intake.landing import DeliveredFile, DeliveryRefused, open_regular

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = codecs.BOM_UTF8
_SEPARATORS = [",", ";", "\t", "|"]
# DuckDB's CSV error types, in words for the quarantine
_CSV_ERRORS = {
    "MISSING COLUMNS": "too few fields (malformed or truncated row)",
    "TOO MANY COLUMNS": "too many fields (malformed row)",
    "UNQUOTED VALUE": "unterminated or stray quote (malformed or truncated row)",
    "LINE SIZE OVER MAXIMUM": "row longer than the line-size limit",
    "CAST ERROR": "malformed record",
}


@dataclass
class RawFile:
    frame: pl.DataFrame  # _file, _row, _malformed, one String column per contract field
    warnings: list[str] = field(default_factory=list)


def read_file(file: DeliveredFile, contract: Contract, max_uncompressed: int) -> RawFile:
    """Read one delivered file per its contract's format (if it is still the inspected file)."""
    file.check_unchanged()
    readers = {
        "csv": _read_csv,
        "jsonl": _read_jsonl,
        "parquet": _read_parquet,
        "excel": _read_excel,
    }
    return readers[contract.format](file, contract, max_uncompressed)


# --- helpers -------------------------------------------------------------------------------


def _connection() -> duckdb.DuckDBPyConnection:
    return scratch.cursor()


def _finish(
    frame: pl.DataFrame, file: DeliveredFile, contract: Contract, rename: dict[str, str]
) -> pl.DataFrame:
    """Rename partner columns to canonical fields, add `_file`; every field column present."""
    frame = frame.rename(rename)
    fields = [c.field for c in contract.columns]
    missing = [f for f in fields if f not in frame.columns]
    frame = frame.with_columns(pl.lit(None, pl.String).alias(f) for f in missing)
    extra = [c for c in frame.columns if c.startswith("_") and c not in ("_row", "_malformed")]
    return frame.select(
        pl.lit(file.name).alias("_file"),
        pl.col("_row").cast(pl.Int64),
        pl.col("_malformed").cast(pl.String),
        *[pl.col(f) for f in dict.fromkeys(fields)],
        *[pl.col(c) for c in extra],
    )


def _check_columns(
    found: list[str], contract: Contract, file: DeliveredFile
) -> tuple[dict[str, str], list[str]]:
    """Match columns by name; refuse missing or renamed ones; warn about extras."""
    expected = [c.name for c in contract.columns]
    missing = [n for n in expected if n not in found]
    extra = [n for n in found if n not in expected]
    if missing:
        hint = f"; unexpected columns {extra}" if extra else ""
        raise DeliveryRefused(f"file {file.shown!r}: columns missing or renamed: {missing}{hint}")
    duplicated = sorted({n for n in found if found.count(n) > 1})
    if duplicated:
        raise DeliveryRefused(f"file {file.shown!r}: columns appear twice: {duplicated}")
    warnings = [f"file {file.shown!r}: extra columns ignored: {extra}"] if extra else []
    return {c.name: c.field for c in contract.columns}, warnings


def _record_numbers(n_valid: int, rejected: list[int]) -> pl.Series:
    """Record numbers of the parsed rows: 1..(valid + rejected) without the rejected ones."""
    total = n_valid + len(rejected)
    numbers = pl.int_range(1, total + 1, eager=True, dtype=pl.Int64)
    return numbers.filter(~numbers.is_in(pl.Series(rejected, dtype=pl.Int64).implode()))


def _check_gzip_magic(file: DeliveredFile) -> None:
    with open_regular(file.path) as handle:
        if handle.read(2) != GZIP_MAGIC:
            raise DeliveryRefused(
                f"file {file.shown!r} is not gzip (its first bytes say otherwise)"
            )


def _decompressed_head(file: DeliveredFile, compressed: bool, limit: int = 1 << 16) -> bytes:
    if not compressed:
        with open_regular(file.path) as handle:
            return handle.read(limit)
    _check_gzip_magic(file)
    try:
        with open_regular(file.path) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as handle:
            return handle.read(limit)
    except (OSError, EOFError, zlib.error) as exc:
        raise DeliveryRefused(f"file {file.shown!r} is not a readable gzip file ({exc})") from None


def _gzip_size_within(file: DeliveredFile, max_uncompressed: int) -> None:
    """Stream-decompress to count bytes, refusing past the cap (a gzip bomb never fills memory)."""
    _check_gzip_magic(file)
    seen = 0
    try:
        with open_regular(file.path) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as handle:
            while chunk := handle.read(1 << 20):
                seen += len(chunk)
                if seen > max_uncompressed:
                    raise DeliveryRefused(
                        f"file {file.shown!r} expands beyond {max_uncompressed:,} bytes "
                        f"(compression ratio over {seen // max(file.size, 1):,}:1); refused as a possible gzip bomb"
                    )
    except (OSError, EOFError, zlib.error) as exc:
        raise DeliveryRefused(f"file {file.shown!r} is not a readable gzip file ({exc})") from None


# --- CSV -----------------------------------------------------------------------------------


def _decode_head_line(head: bytes, encoding: str, file: DeliveredFile) -> str:
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    if encoding == "windows-1252":
        if head.startswith(UTF8_BOM):
            raise DeliveryRefused(
                f"file {file.shown!r} starts with a UTF-8 byte order mark; contract says Windows-1252"
            )
        return first.decode("cp1252", errors="strict")
    first = first.removeprefix(UTF8_BOM)
    try:
        return first.decode("utf-8")
    except UnicodeDecodeError:
        raise DeliveryRefused(
            f"file {file.shown!r}: header is not UTF-8 (contract says {encoding})"
        ) from None


def _read_csv(file: DeliveredFile, contract: Contract, max_uncompressed: int) -> RawFile:
    opts = contract.csv
    assert opts is not None
    compressed = contract.files.compression == "gzip"
    if compressed:
        _gzip_size_within(file, max_uncompressed)
    head = _decompressed_head(file, compressed)
    try:
        header_line = _decode_head_line(head, opts.encoding, file)
    except UnicodeDecodeError:
        raise DeliveryRefused(f"file {file.shown!r}: header is not {opts.encoding}") from None
    names = next(csv.reader([header_line], delimiter=opts.separator, quotechar=opts.quote), [])
    names = [n.strip() for n in names]
    expected = [c.name for c in contract.columns]
    if not set(expected) <= set(names):
        for other in _SEPARATORS:
            if other != opts.separator:
                alt = next(csv.reader([header_line], delimiter=other, quotechar=opts.quote), [])
                if set(expected) <= {n.strip() for n in alt}:
                    raise DeliveryRefused(
                        f"file {file.shown!r} is separated by {other!r}; contract says {opts.separator!r}"
                    )
    rename, warnings = _check_columns(names, contract, file)

    source: str | io.BytesIO = str(file.path)
    if opts.encoding == "windows-1252":
        source = _windows_1252_as_utf8(file, compressed)

    con = _connection()
    try:
        rel = con.read_csv(
            source,
            header=True,
            sep=opts.separator,
            quotechar=opts.quote,
            escapechar=opts.quote,
            columns={f"c{i}": "VARCHAR" for i in range(len(names))},
            auto_detect=False,
            store_rejects=True,
            strict_mode=True,
            compression="gzip" if compressed and isinstance(source, str) else "none",
            encoding="utf-8",
            null_padding=False,
        )
        table = rel.to_arrow_table()
        rejects = con.sql(
            "SELECT line - 1 AS record, error_type FROM reject_errors ORDER BY line"
        ).pl()
    except duckdb.Error as exc:
        raise DeliveryRefused(
            f"file {file.shown!r} could not be parsed as CSV: {_first_line(exc)}"
        ) from None
    finally:
        con.close()
    if rejects["error_type"].cast(pl.String).str.starts_with("INVALID").any():
        bad = rejects.filter(pl.col("error_type").cast(pl.String).str.starts_with("INVALID"))[
            "record"
        ][0]
        raise DeliveryRefused(
            f"file {file.shown!r}: record {bad} is not valid {opts.encoding} (never decoded lossily)",
        )
    rejects = rejects.unique("record", keep="first", maintain_order=True)
    parsed = pl.from_arrow(table)
    assert isinstance(parsed, pl.DataFrame)
    parsed = parsed.rename({f"c{i}": n for i, n in enumerate(names)})
    parsed = parsed.select([n for n in names if n in rename])
    parsed = parsed.with_columns(
        _record_numbers(parsed.height, rejects["record"].to_list()).alias("_row"),
        pl.lit(None, pl.String).alias("_malformed"),
    )
    # a header line repeated inside the data is a malformed record, not a seller
    is_header = pl.all_horizontal(pl.col(n).str.strip_chars() == pl.lit(n) for n in rename)
    parsed = parsed.with_columns(
        pl.when(is_header.fill_null(False))
        .then(pl.lit("repeated header row"))
        .otherwise(pl.col("_malformed"))
        .alias("_malformed")
    )
    malformed = rejects.select(
        pl.col("record").cast(pl.Int64).alias("_row"),
        pl.col("error_type")
        .cast(pl.String)
        .replace_strict(_CSV_ERRORS, default="malformed record")
        .alias("_malformed"),
    )
    frame = pl.concat([parsed, malformed], how="diagonal").sort("_row")
    return RawFile(_finish(frame, file, contract, rename), warnings)


def _windows_1252_as_utf8(file: DeliveredFile, compressed: bool) -> io.BytesIO:
    """The file transcoded to UTF-8 in memory, a chunk at a time (DuckDB reads no Windows-1252).

    Refuses a file that is in fact UTF-8 (non-ASCII text that decodes as UTF-8 would turn into
    mojibake) and a byte Windows-1252 does not define: never decoded lossily.
    """
    cp1252 = codecs.getincrementaldecoder("cp1252")(errors="strict")
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="strict")
    maybe_utf8, non_ascii, offset = True, False, 0
    bad: str | None = None  # the first byte Windows-1252 does not define
    out = io.BytesIO()
    with open_regular(file.path) as raw:
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        while True:
            chunk = stream.read(1 << 20)
            final = not chunk
            non_ascii = non_ascii or not chunk.isascii()
            if maybe_utf8:
                try:
                    utf8.decode(chunk, final=final)
                except UnicodeDecodeError:
                    maybe_utf8 = False
            if bad is None:
                try:
                    out.write(cp1252.decode(chunk, final=final).encode("utf-8"))
                except UnicodeDecodeError as exc:
                    bad = f"byte 0x{chunk[exc.start]:02x} at offset {offset + exc.start}"
                    out = io.BytesIO()
            offset += len(chunk)
            # past a bad byte, read on only to tell a UTF-8 file from a damaged one
            if final or (bad is not None and not maybe_utf8):
                break
    if non_ascii and maybe_utf8:
        raise DeliveryRefused(f"file {file.shown!r} is UTF-8 encoded; contract says Windows-1252")
    if bad is not None:
        raise DeliveryRefused(f"file {file.shown!r}: {bad} is not Windows-1252")
    out.seek(0)
    return out


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300]


# --- JSON Lines ----------------------------------------------------------------------------


def _json_paths(contract: Contract) -> dict[str, str]:
    return {c.name: "$." + c.name for c in contract.columns}


def _read_jsonl(file: DeliveredFile, contract: Contract, max_uncompressed: int) -> RawFile:
    compressed = contract.files.compression == "gzip"
    if compressed:
        _gzip_size_within(file, max_uncompressed)
        _decompressed_head(file, compressed, 2)
    paths = _json_paths(contract)
    known_top = {n.split(".")[0] for n in paths}
    known_nested = {n for n in paths if "." in n}
    con = _connection()
    try:
        con.read_csv(
            str(file.path),
            header=False,
            sep="\x1f",  # a raw unit separator cannot occur in valid JSON
            quotechar="",
            escapechar="",
            columns={"line": "VARCHAR"},
            auto_detect=False,
            store_rejects=True,
            strict_mode=True,
            compression="gzip" if compressed else "none",
            encoding="utf-8",
        ).to_view("raw_lines")
        lines = con.sql("SELECT line FROM raw_lines").to_arrow_table()
        rejects = con.sql("SELECT line AS record, error_type FROM reject_errors ORDER BY line").pl()
        if rejects["error_type"].cast(pl.String).str.starts_with("INVALID").any():
            raise DeliveryRefused(
                f"file {file.shown!r} is not valid UTF-8 JSON Lines (never decoded lossily)"
            )
        rejects = rejects.unique("record", keep="first", maintain_order=True)
        numbered = pl.from_arrow(lines)
        assert isinstance(numbered, pl.DataFrame)
        numbered = numbered.with_columns(
            _record_numbers(numbered.height, rejects["record"].to_list()).alias("_row")
        )
        con.register("numbered", numbered.to_arrow())
        selects = []
        for c in contract.columns:
            path = paths[c.name]
            if c.type == "list":
                # a list of codes, or a lone code; kept as text "a|b|c"
                expr = (
                    f"CASE json_type(j, '{path}') WHEN 'ARRAY' THEN "
                    f"array_to_string(list_transform(CAST(json_extract(j, '{path}') AS JSON[]), lambda x: json_extract_string(x, '$')), '|') "
                    f"ELSE json_extract_string(j, '{path}') END"
                )
            elif c.type == "exact_integer_text":
                # exact text of an integer up to 2^64-1; a float or larger number is no key
                expr = (
                    f"CASE WHEN json_type(j, '{path}') IN ('UBIGINT', 'BIGINT') "
                    f"OR (json_type(j, '{path}') = 'VARCHAR' AND regexp_full_match(json_extract_string(j, '{path}'), '[0-9]{{1,20}}') "
                    f"AND TRY_CAST(json_extract_string(j, '{path}') AS UBIGINT) IS NOT NULL) "
                    f"THEN json_extract_string(j, '{path}') END"
                )
            else:
                expr = f"CASE WHEN json_type(j, '{path}') IN ('ARRAY', 'OBJECT') THEN NULL ELSE json_extract_string(j, '{path}') END"
            selects.append(f'{expr} AS "{c.field}"')
        # which top-level and nested keys were not in the spec (reported, then ignored)
        nested_parents = sorted({n.split(".")[0] for n in known_nested})
        unknown_nested = (
            " || ".join(
                f"list_transform(list_filter(CASE WHEN json_type(j, '$.{p}') = 'OBJECT' THEN json_keys(j, '$.{p}') ELSE [] END, "
                f"lambda k: NOT list_contains({sorted(n.split('.', 1)[1] for n in known_nested if n.startswith(p + '.'))}::VARCHAR[], k)), lambda k: '{p}.' || k)"
                for p in nested_parents
            )
            or "[]::VARCHAR[]"
        )
        query = f"""
            WITH v AS (
                SELECT _row, CASE WHEN json_valid(line) AND json_type(line::JSON) = 'OBJECT' THEN line::JSON END AS j
                FROM numbered
            )
            SELECT _row,
                   CASE WHEN j IS NULL THEN 'invalid JSON line' END AS _malformed,
                   {", ".join(selects)},
                   list_filter(COALESCE(json_keys(j), []), lambda k: NOT list_contains({sorted(known_top)}::VARCHAR[], k))
                     || {unknown_nested} AS _unknown_fields
            FROM v ORDER BY _row
        """
        parsed = con.sql(query).pl()
    except duckdb.Error as exc:
        raise DeliveryRefused(
            f"file {file.shown!r} could not be read as JSON Lines: {_first_line(exc)}"
        ) from None
    finally:
        con.close()
    malformed = rejects.select(
        pl.col("record").cast(pl.Int64).alias("_row"), pl.lit("malformed line").alias("_malformed")
    )
    unknown = parsed.select(pl.col("_unknown_fields").explode().drop_nulls().unique().sort())
    warnings = []
    if unknown.height:
        counts = parsed.select(pl.col("_unknown_fields").list.len().gt(0).sum()).item()
        warnings.append(
            f"file {file.shown!r}: unknown fields ignored on {counts} lines: {unknown.to_series().to_list()}"
        )
    frame = pl.concat([parsed.drop("_unknown_fields"), malformed], how="diagonal").sort("_row")
    return RawFile(_finish(frame, file, contract, {}), warnings)


# --- Parquet -------------------------------------------------------------------------------

_PARQUET_TYPES = {
    "string": {"VARCHAR"},
    "int16": {"SMALLINT"},
    "int32": {"INTEGER"},
    "date": {"DATE"},
    "bool": {"BOOLEAN"},
}


def _read_parquet(file: DeliveredFile, contract: Contract, max_uncompressed: int) -> RawFile:
    with open_regular(file.path) as handle:
        magic = handle.read(4)
    if magic != b"PAR1":
        raise DeliveryRefused(f"file {file.shown!r} is not Parquet (no PAR1 magic)")
    con = _connection()
    try:
        described = con.sql(f"DESCRIBE SELECT * FROM read_parquet({_sql_str(file.path)})").pl()
        types = dict(zip(described["column_name"], described["column_type"], strict=True))
        rename, warnings = _check_columns(list(types), contract, file)
        wrong = [
            f"{c.name} is {types[c.name]}, expected {c.type}"
            for c in contract.columns
            if c.type and types[c.name] not in _PARQUET_TYPES[c.type]
        ]
        if wrong:
            raise DeliveryRefused(
                f"file {file.shown!r}: column types differ from the contract: {wrong}"
            )
        _parquet_size_within(con, file, len(types), max_uncompressed)
        cols = ", ".join(f'CAST("{c.name}" AS VARCHAR) AS "{c.name}"' for c in contract.columns)
        frame = con.sql(
            f"SELECT file_row_number + 1 AS _row, NULL::VARCHAR AS _malformed, {cols} "
            f"FROM read_parquet({_sql_str(file.path)}, file_row_number = true) ORDER BY file_row_number"
        ).pl()
    except duckdb.Error as exc:
        raise DeliveryRefused(
            f"file {file.shown!r} could not be read as Parquet: {_first_line(exc)}"
        ) from None
    finally:
        con.close()
    return RawFile(_finish(frame, file, contract, rename), warnings)


# what one decoded value costs at least, in bytes (an estimate for dictionary/RLE pages, which
# declare their encoded size only)
_PARQUET_VALUE_BYTES = 8


def _parquet_size_within(
    con: duckdb.DuckDBPyConnection, file: DeliveredFile, columns: int, max_uncompressed: int
) -> None:
    """Refuse a Parquet file whose footer declares more than the cap once decoded (pages'
    uncompressed sizes, or rows x columns x 8 bytes, whichever is larger): a Parquet bomb of
    run-length or dictionary encoded pages never reaches memory."""
    path = _sql_str(file.path)
    rows, pages = con.sql(
        f"SELECT (SELECT sum(num_rows) FROM parquet_file_metadata({path})), "
        f"(SELECT coalesce(sum(total_uncompressed_size), 0) FROM parquet_metadata({path}))"
    ).fetchall()[0]
    decoded = max(int(pages or 0), int(rows or 0) * columns * _PARQUET_VALUE_BYTES)
    if decoded > max_uncompressed:
        raise DeliveryRefused(
            f"file {file.shown!r} declares {int(rows or 0):,} rows, about {decoded:,} bytes decoded, "
            f"beyond the {max_uncompressed:,}-byte cap; refused as a possible Parquet bomb"
        )


def _sql_str(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


# --- Excel ---------------------------------------------------------------------------------

_MAX_XLSX_ENTRIES = 1000  # a workbook has a few dozen parts
_MAX_XLSX_DIRECTORY = 16 << 20  # bytes of central directory zipfile would parse
_MAX_XLSX_RATIO = 200  # deflate reaches ~1000:1 on repeated bytes; sheet XML stays far below
_RATIO_FLOOR = 1 << 20  # small parts (styles, empty sheets) may compress very well
_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


def _zip_directory_size(data: bytes) -> tuple[int, int] | None:
    """(entries, central directory bytes) from the end-of-central-directory record, read
    before zipfile parses the directory into memory; None when there is no such record."""
    tail_start = max(0, len(data) - (22 + 0xFFFF))
    at = data.rfind(_EOCD, tail_start)
    if at < 0 or len(data) - at < 22:
        return None
    entries, directory = struct.unpack("<HI", data[at + 10 : at + 16])
    if entries == 0xFFFF or directory == 0xFFFFFFFF:
        locator = data[at - 20 : at] if at >= 20 else b""
        if locator[:4] != _ZIP64_LOCATOR:
            return None
        (record_at,) = struct.unpack("<Q", locator[8:16])
        record = data[record_at : record_at + 56]
        if len(record) < 56 or record[:4] != _ZIP64_EOCD:
            return None
        entries, directory = struct.unpack("<QQ", record[32:48])
    return entries, directory


def _unsafe_entry_name(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return (
        name.startswith(("/", "\\"))
        or "\\" in name
        or re.match(r"^[A-Za-z]:", name) is not None
        or ".." in parts
    )


def _xlsx_guard(file: DeliveredFile, max_uncompressed: int) -> tuple[zipfile.ZipFile, bytes]:
    """Open an xlsx (a zip) only if it is safe to hand to a workbook reader; returns the
    archive and the bytes it was judged on (the workbook reader reads those same bytes, never
    the path again).

    Refused: more than a thousand entries (counted before the directory is parsed), an entry
    with `..`, an absolute or drive path or backslashes, a link entry, duplicate or encrypted
    entries, a compression method Excel does not use, overlapping entries, an entry that
    expands more than 200:1, entries declaring more than `max_uncompressed` bytes in all, and
    an entry whose data does not match its declared size and CRC (every entry is
    stream-decompressed once, within the cap, so that no reader meets a bigger surprise).
    """
    label = f"file {file.shown!r}"
    try:
        with open_regular(file.path) as handle:
            data = handle.read(file.size + 1)
    except OSError as exc:
        raise DeliveryRefused(f"{label} cannot be opened safely ({exc})") from None
    if len(data) != file.size:
        raise DeliveryRefused(f"{label} changed size after inspection; refusing to read it")
    directory = _zip_directory_size(data)
    if directory is None:
        raise DeliveryRefused(f"{label} is not an Excel workbook (not a zip archive)")
    entries, directory_bytes = directory
    if entries > _MAX_XLSX_ENTRIES or directory_bytes > _MAX_XLSX_DIRECTORY:
        raise DeliveryRefused(
            f"{label} has {entries:,} archive entries ({directory_bytes:,}-byte directory), "
            f"more than the {_MAX_XLSX_ENTRIES:,} a workbook may have; refused"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise DeliveryRefused(
            f"{label} is not an Excel workbook (not a readable zip archive: {exc})"
        ) from None
    try:
        _check_entries(archive, label, max_uncompressed)
    except BaseException:
        archive.close()
        raise
    return archive, data


def _check_entries(archive: zipfile.ZipFile, label: str, max_uncompressed: int) -> None:
    infos = archive.infolist()
    if len(infos) > _MAX_XLSX_ENTRIES:
        raise DeliveryRefused(f"{label} has {len(infos):,} archive entries; refused")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise DeliveryRefused(f"{label} has archive entries with the same name; refused")
    total = 0
    for info in infos:
        name = info.filename
        if _unsafe_entry_name(name):
            raise DeliveryRefused(
                f"{label} has an archive entry with an unsafe path ({name[:80]!r}); refused"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DeliveryRefused(f"{label} has a link inside the archive ({name[:80]!r}); refused")
        if info.flag_bits & 0x1:
            raise DeliveryRefused(f"{label} has an encrypted archive entry; refused")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise DeliveryRefused(
                f"{label}: archive entry {name[:80]!r} uses compression method "
                f"{info.compress_type}, not one Excel writes; refused"
            )
        if info.file_size > _RATIO_FLOOR and (
            info.compress_size == 0 or info.file_size / info.compress_size > _MAX_XLSX_RATIO
        ):
            ratio = info.file_size // max(info.compress_size, 1)
            raise DeliveryRefused(
                f"{label}: archive entry {name[:80]!r} expands {ratio:,}:1 "
                f"(over {_MAX_XLSX_RATIO}:1); refused as a possible zip bomb"
            )
        total += info.file_size
    if total > max_uncompressed:
        raise DeliveryRefused(
            f"{label} expands to {total:,} bytes, over the {max_uncompressed:,}-byte cap; refused"
        )
    # entries sharing compressed data (an overlapping-entries bomb) cannot be laid end to end
    spans = sorted((i.header_offset, i.header_offset + 30 + i.compress_size) for i in infos)
    for (_, end), (start, _) in itertools.pairwise(spans):
        if start < end:
            raise DeliveryRefused(f"{label} has overlapping archive entries; refused")
    for info in infos:
        seen = 0
        try:
            with archive.open(info) as entry:
                while chunk := entry.read(1 << 20):
                    seen += len(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
            raise DeliveryRefused(
                f"{label}: archive entry {info.filename[:80]!r} is damaged or not what its "
                f"header declares ({exc}); refused"
            ) from None
        if seen != info.file_size:
            raise DeliveryRefused(
                f"{label}: archive entry {info.filename[:80]!r} holds {seen:,} bytes, "
                f"not the {info.file_size:,} it declares; refused"
            )


def _sheet_xml_name(archive: zipfile.ZipFile, sheet: str) -> str | None:
    workbook = archive.read("xl/workbook.xml").decode("utf-8")
    rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    for tag in re.findall(r"<(?:\w+:)?sheet\b[^>]*>", workbook):
        name = re.search(r'\bname="([^"]*)"', tag)
        rid = re.search(r'\br:id="([^"]*)"', tag)
        if name and rid and _xml_unescape(name.group(1)) == sheet:
            for rel in re.findall(r"<Relationship\b[^>]*>", rels):
                if f'Id="{rid.group(1)}"' in rel:
                    target = re.search(r'Target="([^"]*)"', rel)
                    if target:
                        t = target.group(1).lstrip("/")
                        return t if t.startswith("xl/") else "xl/" + t
    return None


def _xml_unescape(text: str) -> str:
    return (
        text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )


def _numeric_cells(archive: zipfile.ZipFile, sheet_xml: str) -> pl.DataFrame:
    """Every non-empty numeric cell of a sheet as (column letters, row number), column-wise."""
    xml = archive.read(sheet_xml).decode("utf-8")
    tags = pl.Series("t", [xml]).str.extract_all(r"<c\s[^>]*>").explode().drop_nulls().to_frame()
    cells = tags.select(
        pl.col("t").str.extract(r'\br="([A-Z]+)\d+"', 1).alias("col"),
        pl.col("t").str.extract(r'\br="[A-Z]+(\d+)"', 1).cast(pl.Int64).alias("row"),
        pl.col("t").str.extract(r'\bt="([a-zA-Z]+)"', 1).alias("type"),
        pl.col("t").str.ends_with("/>").alias("empty"),
    )
    return cells.filter(
        ~pl.col("empty") & (pl.col("type").is_null() | (pl.col("type") == "n"))
    ).select("col", "row")


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _read_excel(file: DeliveredFile, contract: Contract, max_uncompressed: int) -> RawFile:
    import fastexcel

    opts = contract.excel
    assert opts is not None
    archive, data = _xlsx_guard(file, max_uncompressed)
    try:
        try:
            reader = fastexcel.read_excel(data)
            if opts.sheet not in reader.sheet_names:
                raise DeliveryRefused(
                    f"file {file.shown!r} has no sheet {opts.sheet!r} (found {reader.sheet_names})"
                )
            sheet = reader.load_sheet(opts.sheet, header_row=opts.header_row - 1, dtypes="string")
            frame = sheet.to_polars()
            xml_name = _sheet_xml_name(archive, opts.sheet)
            numeric = (
                _numeric_cells(archive, xml_name)
                if xml_name
                else pl.DataFrame(schema={"col": pl.String, "row": pl.Int64})
            )
        except DeliveryRefused:
            raise
        except Exception as exc:  # fastexcel raises its own error types for unreadable workbooks
            raise DeliveryRefused(
                f"file {file.shown!r} is not a readable Excel workbook: {_first_line(exc)}"
            ) from None
        names = [str(c) for c in frame.columns]
        rename, warnings = _check_columns(names, contract, file)
    finally:
        archive.close()
        del data
    first_data_row = opts.header_row + 1
    frame = frame.with_row_index("_i").with_columns(
        (pl.col("_i").cast(pl.Int64) + first_data_row).alias("_row"),
        pl.lit(None, pl.String).alias("_malformed"),
    )
    for c in contract.columns:
        if c.excel_numeric:
            letter = _column_letter(names.index(c.name))
            rows = numeric.filter(pl.col("col") == letter)["row"].implode()
            frame = frame.with_columns(pl.col("_row").is_in(rows).alias(f"_numeric_{c.field}"))
    # a blank row is not a record; the TOTAL row is not a seller
    value_cols = [c.name for c in contract.columns]
    frame = frame.filter(
        ~pl.all_horizontal(
            pl.col(n).is_null() | (pl.col(n).str.strip_chars() == "") for n in value_cols
        )
    )
    if opts.total_row:
        total = (
            pl.col(opts.total_row.column).str.strip_chars().str.to_uppercase()
            == opts.total_row.equals.upper()
        )
        frame = frame.filter(~total.fill_null(False))
    frame = frame.drop("_i").select(
        [
            *value_cols,
            "_row",
            "_malformed",
            *[c for c in frame.columns if c.startswith("_numeric_")],
        ]
    )
    return RawFile(_finish(frame, file, contract, rename), warnings)
