"""The read step: a delivered partner-day into one raw table of pseudonymised records, in DuckDB.

Each file is read once by the reader of its format (csv_reader, jsonl_reader, parquet_reader,
excel_reader), which yields a SELECT of raw text fields named by canonical field. That SELECT is
wrapped here so that NIK and phone numbers are judged on their raw text and replaced by keyed
pseudonyms in the same pass: the raw table never holds a raw personal value, not even in a
scratch or spill file. Structurally malformed records (wrong field count, unterminated quote,
invalid JSON) are rows too, with `_malformed` set, so that nothing read is lost.

`_row` is the record's number in its file (1-based, header excluded; Excel: the sheet row).
Streamed formats insert their parsed rows in file order with `_row` NULL: their numbers follow
from the row's position (`row_base`), which costs nothing unless a file had malformed records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from pipelines.contracts import Contract
from pipelines.intake.landing import DeliveredFile, Delivery, DeliveryRefused
from pipelines.quality import identifiers
from pipelines.quality.sql import clean, ident

META = {"_file": "VARCHAR", "_file_index": "INTEGER", "_row": "BIGINT", "_malformed": "VARCHAR",
        "_extra": "VARCHAR[]"}  # fmt: skip
PSEUDONYMS = {"nik_ps": "VARCHAR", "nik_problem": "VARCHAR", "phone_ps": "VARCHAR",
              "phone_problem": "VARCHAR"}  # fmt: skip


def raw_fields(contract: Contract) -> list[str]:
    """The canonical fields the raw table keeps (every mapped column but the personal ones)."""
    return list(dict.fromkeys(contract.raw_name(c) for c in contract.columns if not c.pii))


def create_raw(con: duckdb.DuckDBPyConnection, table: str, contract: Contract) -> None:
    columns = {**META, **{f: "VARCHAR" for f in raw_fields(contract)}, **PSEUDONYMS}
    con.execute(
        f"CREATE TABLE {table} ({', '.join(f'{ident(n)} {t}' for n, t in columns.items())})"
    )


def protected(contract: Contract, source: str) -> str:
    """SELECT, from a reader's `source` query, the raw table's columns: NIK and phone judged on
    their raw text, then kept only as pseudonyms and verdicts; other personal columns dropped.

    `source` has `_file`, `_file_index`, `_row`, `_malformed`, `_extra`, a text column per mapped
    field (personal ones included), and `_numeric_<field>` for Excel cells that were numbers.
    """
    numeric = {contract.raw_name(c): c.excel_numeric for c in contract.columns if c.excel_numeric}
    have = {contract.raw_name(c) for c in contract.columns}

    def text(field_name: str) -> str:
        if field_name not in have:
            return "NULL::VARCHAR"
        value = ident(field_name)
        if numeric.get(field_name) in ("keeps_digits", "lost_leading_zero"):
            # a number cell written as a float ("812345.0"): its digits are the value
            value = f"(CASE WHEN _numeric_{field_name} THEN regexp_replace({clean(value)}, '\\.0+$', '') ELSE {value} END)"  # fmt: skip
        return value

    def invalid(field_name: str) -> str | None:
        # a number cell that lost precision: the identifier so written is invalid
        return f"_numeric_{field_name}" if numeric.get(field_name) == "invalid" else None

    keep = [f"{text(f)} AS {ident(f)}" for f in raw_fields(contract)]
    return f"""
    SELECT _file, _file_index, _row, _malformed, _extra, {", ".join(keep)},
           CASE WHEN nik_problem IS NULL THEN {identifiers.pseudonym("nik", "nik_text")} END AS nik_ps, nik_problem,
           CASE WHEN phone_problem IS NULL THEN {identifiers.pseudonym("phone", "phone_norm")} END AS phone_ps, phone_problem
    FROM (SELECT *, {identifiers.nik_problem("nik_text", invalid("nik"))} AS nik_problem,
                 {identifiers.phone_problem("phone_text", "phone_norm", invalid("phone"))} AS phone_problem
          FROM (SELECT *, {identifiers.normalise_phone("phone_text")} AS phone_norm
                FROM (SELECT *, {clean(text("nik"))} AS nik_text, {clean(text("phone"))} AS phone_text FROM ({source}))))"""


@dataclass(frozen=True)
class FileRead:
    name: str
    rows: int  # records read, malformed ones included
    row_base: int  # the rowid of the file's first parsed row in the raw table


@dataclass
class ReadResult:
    files: list[FileRead] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(f.rows for f in self.files)


def read_delivery(
    con: duckdb.DuckDBPyConnection,
    table: str,
    delivery: Delivery,
    contract: Contract,
    key: bytes,
    max_uncompressed: int,
) -> ReadResult:
    """Read every data file of a delivery (in name order) into `table`, checking manifest row
    counts. Raises DeliveryRefused (with how many records were read before) when a file cannot
    be read as its contract says or does not match its manifest."""
    from pipelines.intake import csv_reader, excel_reader, jsonl_reader, parquet_reader

    readers = {"csv": csv_reader.read, "jsonl": jsonl_reader.read, "parquet": parquet_reader.read,
               "excel": excel_reader.read}  # fmt: skip
    if delivery.refusal:
        raise DeliveryRefused(delivery.refusal)
    ipad, opad = identifiers.pads(key)
    out = ReadResult(warnings=list(delivery.warnings))
    for index, file in enumerate(delivery.files):
        file.check_unchanged()
        base = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        try:
            warnings = readers[contract.format](
                Reading(con, table, file, index, contract, max_uncompressed, {"ipad": ipad, "opad": opad})
            )  # fmt: skip
        except DeliveryRefused as exc:
            raise DeliveryRefused(exc.reason, rows_read=out.rows_read or None) from None
        rows = con.execute(
            f"SELECT count(*) FROM {table} WHERE _file_index = ?", [index]
        ).fetchall()[0][0]
        out.files.append(FileRead(file.name, rows, base))
        out.warnings.extend(warnings)
        expected = (delivery.manifest_rows or {}).get(file.name)
        if delivery.manifest_rows is not None and expected != rows:
            raise DeliveryRefused(
                f"file {file.shown!r} has {rows} records but manifest.json says {expected} "
                "(truncated or altered delivery)",
                rows_read=out.rows_read,
            )
    return out


@dataclass(frozen=True)
class Reading:
    """What a format's reader needs: where to insert, which file, and the key's pads (passed as
    query parameters, never written into a query's text)."""

    con: duckdb.DuckDBPyConnection
    table: str
    file: DeliveredFile
    index: int
    contract: Contract
    max_uncompressed: int
    params: dict[str, bytes]

    def insert(self, source: str) -> None:
        """Insert a reader's SELECT into the raw table, personal data protected on the way."""
        columns = ", ".join(
            ["_file", "_file_index", "_row", "_malformed", "_extra"]
            + [ident(f) for f in raw_fields(self.contract)]
            + list(PSEUDONYMS)
        )
        self.con.execute(
            f"INSERT INTO {self.table} ({columns}) {protected(self.contract, source)}", self.params
        )

    def insert_malformed(self, rows: list[tuple[int, str]]) -> None:
        """Records the parser could not split into fields: kept as malformed rows, and the
        parsed rows after each of them numbered accordingly (parsed row k is record k plus
        the malformed records before it)."""
        if not rows:
            return
        self.con.executemany(
            f"INSERT INTO {self.table} (_file, _file_index, _row, _malformed) VALUES (?, ?, ?, ?)",
            [(self.file.name, self.index, row, why) for row, why in rows],
        )
        # gap j: parsed records before the j-th malformed one; a parsed row comes after it
        # when its ordinal is above the gap
        numbers = sorted(row for row, _ in rows)
        # consecutive malformed records share a gap: the last of them counts
        gaps = sorted({n - j: j for j, n in enumerate(numbers, start=1)}.items())
        self.con.execute(
            f"""UPDATE {self.table} t SET _row = p.ordinal + coalesce(p.before, 0) FROM (
                    SELECT o.rid, o.ordinal, g.before FROM (
                        SELECT rowid AS rid, rowid - min(rowid) OVER () + 1 AS ordinal FROM {self.table}
                        WHERE _file_index = $i AND _row IS NULL) o
                    ASOF LEFT JOIN (SELECT unnest($gaps) AS gap, unnest($before) AS before) g
                      ON o.ordinal > g.gap) p
                WHERE t.rowid = p.rid""",
            {"i": self.index, "gaps": [g for g, _ in gaps], "before": [b for _, b in gaps]},
        )
