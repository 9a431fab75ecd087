"""Write small partner deliveries exactly as partners.md describes, from Python rows.

Tests build their own tiny landing areas with these (three-row deliveries, one defect each).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PASARNUSA_COLUMNS = ["seller_id", "shop_name", "owner_nik", "owner_phone", "nib", "regency_code",
                     "business_scale", "kbli", "joined_at", "status"]  # fmt: skip
TOKORAYA_COLUMNS = ["ID Toko", "Nama Toko", "NIK Pemilik", "No. HP", "NIB", "Provinsi", "Kabupaten/Kota",
                    "Skala Usaha", "Tanggal Bergabung", "Omzet Bulanan (Rp)"]  # fmt: skip
LAPAKDESA_COLUMNS = ["No", "Nama Usaha", "NIB", "NIK", "Telepon", "Kode Provinsi", "Kabupaten/Kota",
                     "Tanggal Daftar", "Skala"]  # fmt: skip
EKATALOG_COLUMNS = ["kode_penyedia", "nama_penyedia", "nib", "npwp", "kualifikasi_usaha", "kode_provinsi",
                    "jumlah_produk", "tanggal_tayang"]  # fmt: skip
KEDAIANTAR_SCHEMA = pa.schema([
    ("outlet_id", pa.string()), ("brand_id", pa.string()), ("brand_name", pa.string()),
    ("owner_nik", pa.string()), ("owner_phone", pa.string()), ("nib", pa.string()),
    ("province_code", pa.int16()), ("regency_code", pa.int32()), ("category", pa.string()),
    ("registered_on", pa.date32()), ("is_active", pa.bool_()),
])  # fmt: skip


def folder(landing: Path, partner: str, day: date | str) -> Path:
    path = landing / partner / (day if isinstance(day, str) else day.isoformat())
    path.mkdir(parents=True, exist_ok=True)
    return path


def success(path: Path) -> None:
    (path / "_SUCCESS").write_bytes(b"")


def manifest(
    path: Path, files: dict[str, int], overrides: dict[str, dict[str, object]] | None = None
) -> None:
    entries = []
    for name, rows in files.items():
        entry: dict[str, object] = {
            "name": name,
            "rows": rows,
            "sha256": hashlib.sha256((path / name).read_bytes()).hexdigest(),
        }
        entry.update((overrides or {}).get(name, {}))
        entries.append(entry)
    (path / "manifest.json").write_text(json.dumps({"files": entries}), encoding="utf-8")


def csv_text(
    columns: list[str], rows: list[dict[str, object]], sep: str = ",", line_end: str = "\n"
) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator=line_end, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return buffer.getvalue()


def pasarnusa(landing: Path, day: date | str, rows: list[dict[str, object]], *, text: str | None = None,
              rows_in_manifest: int | None = None, deliver: bool = True) -> Path:  # fmt: skip
    path = folder(landing, "pasarnusa", day)
    body = text if text is not None else csv_text(PASARNUSA_COLUMNS, rows)
    (path / "sellers.csv.gz").write_bytes(gzip.compress(body.encode("utf-8"), mtime=0))
    manifest(path, {"sellers.csv.gz": len(rows) if rows_in_manifest is None else rows_in_manifest})
    if deliver:
        success(path)
    return path


def tokoraya(landing: Path, day: date, rows: list[dict[str, object]], *, raw: bytes | None = None,
             encoding: str = "cp1252", sep: str = ";", columns: list[str] | None = None) -> Path:  # fmt: skip
    path = folder(landing, "tokoraya", day)
    body = (
        raw
        if raw is not None
        else csv_text(columns or TOKORAYA_COLUMNS, rows, sep=sep, line_end="\r\n").encode(encoding)
    )
    (path / f"TOKORAYA_MERCHANT_{day:%d%m%Y}.csv").write_bytes(body)
    success(path)
    return path


def belanjaku(landing: Path, day: date | str, parts: list[list[dict[str, object] | str]]) -> Path:
    path = folder(landing, "belanjaku", day)
    counts = {}
    for i, lines in enumerate(parts):
        name = f"part-{i:05d}.jsonl.gz"
        text = "".join(
            (line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines
        )
        (path / name).write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
        counts[name] = len(lines)
    manifest(path, counts)
    success(path)
    return path


def kedaiantar(
    landing: Path,
    day: date | str,
    rows: list[dict[str, object]],
    schema: pa.Schema = KEDAIANTAR_SCHEMA,
) -> Path:
    path = folder(landing, "kedaiantar", day)
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, path / "outlets.parquet")
    manifest(path, {"outlets.parquet": len(rows)})
    success(path)
    return path


def lapakdesa(
    landing: Path, month_end: date, rows: list[dict[str, object]], *, total: bool = True
) -> Path:
    """Text values become text cells, int/float values numeric cells, dates real Excel dates."""
    import xlsxwriter

    path = folder(landing, "lapakdesa", month_end)
    workbook = xlsxwriter.Workbook(str(path / f"Laporan_UMKM_{month_end:%Y-%m}.xlsx"))
    sheet = workbook.add_worksheet("Merchant Baru")
    date_format = workbook.add_format({"num_format": "dd/mm/yyyy"})
    sheet.merge_range(0, 0, 0, 8, "Laporan UMKM Baru - LapakDesa")
    sheet.write_string(1, 0, f"Periode: {month_end:%Y-%m}")
    sheet.write_row(3, 0, LAPAKDESA_COLUMNS)
    for i, row in enumerate(rows):
        r = 4 + i
        sheet.write_number(r, 0, i + 1)
        for j, column in enumerate(LAPAKDESA_COLUMNS[1:], start=1):
            value = row.get(column)
            if value is None:
                continue
            if isinstance(value, date):
                sheet.write_datetime(r, j, value, date_format)  # type: ignore[arg-type]
            elif isinstance(value, int | float):
                sheet.write_number(r, j, float(value))
            else:
                sheet.write_string(r, j, str(value))
    if total:
        sheet.write_string(4 + len(rows), 0, "TOTAL")
        sheet.write_number(4 + len(rows), 1, len(rows))
    workbook.add_worksheet("Ringkasan").write_string(0, 0, "ringkasan")
    workbook.close()
    success(path)
    return path


def ekatalog(landing: Path, day: date, rows: list[dict[str, object]]) -> Path:
    path = folder(landing, "lkpp-ekatalog", day)
    (path / "penyedia_umkm.csv").write_bytes(
        b"\xef\xbb\xbf" + csv_text(EKATALOG_COLUMNS, rows).encode("utf-8")
    )
    success(path)
    return path
