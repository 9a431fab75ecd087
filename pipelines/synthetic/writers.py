"""File sinks for the landing area: each takes a partner-day's rows chunk by chunk.

Every sink streams (one chunk in memory at a time) and is byte-for-byte deterministic: gzip
members carry no name and mtime 0, workbooks a fixed creation date. `rows` counts records as
metrics.md does (data rows, header excluded; a quoted newline does not start a record).
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import xlsxwriter

from pipelines.synthetic.formats import MONTHS_FULL, WORKBOOK_COLUMNS

GZIP_LEVEL = 1  # fast: exports of tens of millions of rows are CPU-bound on compression
PART_ROWS = 250_000  # a JSON Lines export starts a new part after this many lines
EXCEL_MAX_ROWS = 1_048_576


@dataclass
class Written:
    """One data file of a partner-day, as it ended up on disk."""

    name: str
    path: Path
    rows: int


def visible(frame: pl.DataFrame) -> pl.DataFrame:
    """Drop the helper columns (`_...`) that formats and faults carry along."""
    return frame.select(c for c in frame.columns if not c.startswith("_"))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _gzip(raw: BinaryIO, level: int = GZIP_LEVEL) -> gzip.GzipFile:
    # filename="" and mtime=0 keep the gzip header free of anything that changes between runs
    return gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=level, mtime=0)


class CsvSink:
    """A delimited text file, optionally gzip-compressed, in a given encoding."""

    def __init__(
        self,
        path: Path,
        columns: list[str],
        *,
        separator: str = ",",
        crlf: bool = False,
        encoding: str = "utf-8",
        bom: bool = False,
        compress: bool = False,
    ) -> None:
        self.path, self.columns = path, columns
        self.separator, self.encoding = separator, encoding
        self.eol = "\r\n" if crlf else "\n"
        self._raw = path.open("wb")
        self._out = _gzip(self._raw) if compress else self._raw
        if bom:
            self._out.write(codecs.BOM_UTF8)
        self._put(pl.DataFrame(schema=dict.fromkeys(columns, pl.String)), header=True)
        self.rows = 0

    def _put(self, frame: pl.DataFrame, header: bool = False) -> None:
        text = frame.write_csv(
            include_header=header,
            separator=self.separator,
            line_terminator=self.eol,
            quote_style="necessary",
        )
        # strict: a character the partner's encoding cannot hold is a generator bug, not data
        self._out.write(text.encode(self.encoding))

    def write(self, frame: pl.DataFrame) -> None:
        self._put(visible(frame).select(self.columns))
        self.rows += frame.height

    def close(self) -> list[Written]:
        if self._out is not self._raw:
            self._out.close()
        self._raw.close()
        return [Written(self.path.name, self.path, self.rows)]


class JsonlPartsSink:
    """JSON Lines split into gzip parts `part-00000.jsonl.gz`, ... of at most `part_rows`."""

    def __init__(self, folder: Path, part_rows: int = PART_ROWS) -> None:
        self.folder, self.part_rows = folder, part_rows
        self.parts: list[Written] = []
        self._raw: BinaryIO | None = None
        self._out: gzip.GzipFile | None = None
        self._open_part()

    def _open_part(self) -> None:
        self._close_part()
        path = self.folder / f"part-{len(self.parts):05d}.jsonl.gz"
        self._raw = path.open("wb")
        self._out = _gzip(self._raw)
        self.parts.append(Written(path.name, path, 0))

    def _close_part(self) -> None:
        if self._out is not None and self._raw is not None:
            self._out.close()
            self._raw.close()
            self._out = self._raw = None

    def write_lines(self, lines: pl.Series) -> None:
        done = 0
        while done < len(lines):
            part = self.parts[-1]
            if part.rows >= self.part_rows:
                self._open_part()
                part = self.parts[-1]
            take = min(self.part_rows - part.rows, len(lines) - done)
            text = lines.slice(done, take).str.join("\n").item() + "\n"
            assert self._out is not None
            self._out.write(text.encode("utf-8"))
            part.rows += take
            done += take

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)

    def close(self) -> list[Written]:
        self._close_part()
        return self.parts


class ParquetSink:
    """One Parquet file with an exact Arrow schema (one row group per chunk)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path, self.schema = path, schema
        self._writer = pq.ParquetWriter(path, schema, compression="snappy")
        self.rows = 0

    def write(self, frame: pl.DataFrame) -> None:
        table = visible(frame).select(self.schema.names).to_arrow().cast(self.schema)
        self._writer.write_table(table)
        self.rows += frame.height

    def close(self) -> list[Written]:
        self._writer.close()
        return [Written(self.path.name, self.path, self.rows)]


def _mixed(text: pl.Series, number: pl.Series, use_number: pl.Series) -> np.ndarray:
    """Cell values: text, except a number where `use_number` (one column, two cell types)."""
    out = np.array(text.to_list(), dtype=object)
    nums = np.array(number.to_list(), dtype=object)
    mask = use_number.fill_null(False).to_numpy()
    out[mask] = nums[mask]
    return out


class XlsxSink:
    """A monthly workbook: title rows (the partner's `brand`), header on row 4, sellers, a TOTAL
    row, and a `Ringkasan` sheet. xlsxwriter's constant-memory mode flushes each row once written."""

    def __init__(self, path: Path, month_end: date, brand: str) -> None:
        self.path, self.month_end = path, month_end
        self._wb = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "default_date_format": "dd/mm/yyyy",
            },
        )
        created = datetime(month_end.year, month_end.month, month_end.day, 23, 0, 0)
        self._wb.set_properties({"title": "Laporan UMKM", "author": brand, "created": created})
        self._ws = self._wb.add_worksheet("Merchant Baru")
        bold = self._wb.add_format({"bold": True})
        title = self._wb.add_format({"bold": True, "font_size": 14, "align": "center"})
        for col, width in enumerate((6, 34, 16, 20, 16, 13, 30, 15, 11)):
            self._ws.set_column(col, col, width)
        month = MONTHS_FULL[month_end.month - 1][0]
        period = (
            f"Periode: 1 {month} {month_end.year} s.d. {month_end.day} {month} {month_end.year}"
        )
        self._ws.merge_range(0, 0, 0, 8, f"LAPORAN MERCHANT UMKM BARU - {brand.upper()}", title)
        self._ws.merge_range(1, 0, 1, 8, period)
        self._ws.write_row(3, 0, WORKBOOK_COLUMNS, bold)
        self.rows = 0
        self.by_scale: dict[str, int] = {}

    @property
    def room(self) -> int:
        """Sellers that still fit the sheet (title rows, header and TOTAL take 5 rows)."""
        return EXCEL_MAX_ROWS - 5 - self.rows

    def write(self, frame: pl.DataFrame) -> None:
        n = frame.height
        prov = frame["Kode Provinsi"]
        cols = [
            np.arange(self.rows + 1, self.rows + n + 1, dtype=np.int64).astype(object),
            np.array(frame["Nama Usaha"].to_list(), dtype=object),
            _mixed(frame["NIB"], frame["NIB"].cast(pl.Int64, strict=False), frame["_nib_number"]),
            _mixed(frame["NIK"], frame["NIK"].cast(pl.Int64, strict=False), frame["_nik_number"]),
            np.array(frame["Telepon"].to_list(), dtype=object),
            _mixed(prov, prov.cast(pl.Int64, strict=False), ~frame["_prov_text"]),
            np.array(frame["Kabupaten/Kota"].to_list(), dtype=object),
            _mixed(
                frame["Tanggal Daftar"].dt.strftime("%d-%m-%Y"),
                frame["Tanggal Daftar"],
                ~frame["_date_text"],
            )
            if frame["Tanggal Daftar"].dtype == pl.Date
            else np.array(frame["Tanggal Daftar"].to_list(), dtype=object),
            np.array(frame["Skala"].to_list(), dtype=object),
        ]
        # xlsxwriter is cell-based: no bulk API exists, so this is the one loop over rows
        # (a report of a month's new sellers; constant-memory mode needs row order)
        write_row = self._ws.write_row
        for i, row in enumerate(zip(*cols, strict=True)):
            write_row(4 + self.rows + i, 0, row)
        self.rows += n
        for scale, count in frame.group_by(pl.col("Skala").str.to_lowercase()).len().iter_rows():
            self.by_scale[scale] = self.by_scale.get(scale, 0) + count

    def close(self) -> list[Written]:
        self._ws.write_row(4 + self.rows, 0, ["TOTAL", self.rows])
        summary = self._wb.add_worksheet("Ringkasan")
        summary.write_row(0, 0, ["Ringkasan laporan", self.month_end.strftime("%Y-%m")])
        summary.write_row(1, 0, ["Jumlah merchant baru", self.rows])
        for i, (scale, count) in enumerate(sorted(self.by_scale.items()), start=2):
            summary.write_row(i, 0, [f"Skala {scale}", count])
        self._wb.close()
        return [Written(self.path.name, self.path, self.rows)]


def write_manifest(folder: Path, files: list[Written], rows_delta: int = 0) -> Path:
    """`manifest.json` describing `files` as they are on disk (`rows_delta` falsifies the
    first file's row count, for the fault of that name)."""
    entries = [
        {"name": f.name, "rows": f.rows + (rows_delta if i == 0 else 0), "sha256": sha256(f.path)}
        for i, f in enumerate(files)
    ]
    path = folder / "manifest.json"
    path.write_text(json.dumps({"files": entries}, indent=2) + "\n", encoding="utf-8")
    return path


def write_success(folder: Path) -> Path:
    """The `_SUCCESS` marker: written last, once everything else in the folder is complete."""
    path = folder / "_SUCCESS"
    path.write_bytes(b"")
    return path


def recompress(path: Path, level: int = 9) -> None:
    """Rewrite a gzip file at another compression level: same content, other bytes."""
    with gzip.open(path, "rb") as f:
        content = f.read()
    with path.open("wb") as raw, _gzip(raw, level) as out:
        out.write(content)
