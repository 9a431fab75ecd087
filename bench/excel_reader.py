# Run: uv run --no-project --python .venv/bin/python --with openpyxl python bench/excel_reader.py WORKBOOK "Merchant Baru" 4
"""Excel read of lapakdesa's workbook: the current path (fastexcel/calamine for the values, the
sheet XML scanned for numeric cells) against openpyxl read-only (values and cell types)."""

import io
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipelines.intake import excel_reader as X

path = Path(sys.argv[1])
sheet = sys.argv[2]
header_row = int(sys.argv[3])
data = path.read_bytes()


def current():
    import fastexcel

    archive = zipfile.ZipFile(io.BytesIO(data))
    frame = (
        fastexcel.read_excel(data)
        .load_sheet(sheet, header_row=header_row - 1, dtypes="string")
        .to_polars()
    )
    numeric = X._numeric_cells(archive.read(X._sheet_xml_name(archive, sheet)).decode("utf-8"))
    return frame.height, numeric.height


def with_openpyxl():
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    ws = wb[sheet]
    rows = numeric = 0
    values = []
    for r in ws.iter_rows(min_row=header_row + 1):
        cells = []
        for c in r:
            v = c.value
            if v is not None and c.data_type == "n":
                numeric += 1
            cells.append(None if v is None else str(v))
        values.append(cells)
        rows += 1
    wb.close()
    return rows, numeric


def numeric_by_etree():
    import xml.etree.ElementTree as ET

    archive = zipfile.ZipFile(io.BytesIO(data))
    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    n = 0
    with archive.open(X._sheet_xml_name(archive, sheet)) as f:
        for _, el in ET.iterparse(f):
            if el.tag == ns + "c":
                n += el.get("t", "n") == "n" and len(el) > 0
                el.clear()
    return None, n


def numeric_by_regex():
    archive = zipfile.ZipFile(io.BytesIO(data))
    return None, X._numeric_cells(
        archive.read(X._sheet_xml_name(archive, sheet)).decode("utf-8")
    ).height


for name, fn in (
    ("numeric cells only: regex (current)", numeric_by_regex),
    ("numeric cells only: xml.etree", numeric_by_etree),
    ("current (fastexcel + sheet XML)", current),
    ("openpyxl read-only", with_openpyxl),
):
    fn()
    times = []
    for _ in range(3):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    print(f"{name}: best {min(times):.3f} s of 3 -> rows, numeric cells {out}")
