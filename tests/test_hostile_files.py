"""Hostile deliveries: bombs, oversize files, links, path tricks in manifests and workbooks.

Each is refused before it can do harm, and the failure names the partner, the day and the
reason, both in the run's step and in `partner_loads.detail`.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import stat
import struct
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.intake import landing
from pipelines.publish import build as publish
from pipelines.run import stage as staging
from pipelines.run.core import run_plain
from pipelines.settings import Settings
from tests import builders as b
from tests.conftest import TEST_KEY

ROOT = Path(__file__).resolve().parent.parent
D = date(2020, 6, 1)
MONTH_END = date(2020, 5, 31)
NIK = "3273014101909001"


def pn_row(seller: str) -> dict[str, object]:
    return dict(seller_id=seller, shop_name="Toko", owner_nik=NIK, owner_phone="081234569001",
                nib="", regency_code="32.73", business_scale="micro", kbli="47911",
                joined_at="2019-03-04T10:00:00+07:00", status="active")  # fmt: skip


def bj_line(i: int) -> dict[str, object]:
    return {"event": "created", "merchant": {"id": 1000 + i}, "legal": {"nib": f"91200000{i:05d}"},
            "onboarded_at": 1551668400000}  # fmt: skip


def make_settings(root: Path, **caps: int) -> Settings:
    return Settings(
        landing=root / "landing",
        warehouse=root / "warehouse" / "umkm.duckdb",
        publish=root / "published" / "umkm.duckdb",
        pii_key=TEST_KEY,
        **caps,
    )


@pytest.fixture(autouse=True)
def _no_published_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """The published file says nothing about a refused delivery; writing it only costs time."""
    monkeypatch.setattr(publish, "publish", lambda *args, **kwargs: None)


def run_failed(settings: Settings, partner: str, day: date, *reasons: str) -> str:
    """Run the day; assert it failed, and that step and ledger both name partner, day, reasons."""
    result = run_plain(settings, day, day, [partner])
    (step,) = result.steps
    assert step.status == "failed", step
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        status, rows_loaded, detail = con.execute(
            "SELECT status, rows_loaded, detail FROM partner_loads WHERE partner = ? AND export_date = ?",
            [partner, day],
        ).fetchall()[0]
    finally:
        con.close()
    assert (status, rows_loaded) == ("failed", 0)
    for text in (step.detail, detail):
        assert text is not None
        assert f"{partner}/{day.isoformat()}" in text, text
        for reason in reasons:
            assert reason in text, text
    return detail


# --- bombs -------------------------------------------------------------------------------------


def csv_bomb(target_bytes: int) -> bytes:
    """A gzip file that looks like pasarnusa CSV and expands to `target_bytes`: a header, then
    one highly compressible member of seller rows repeated (concatenated members are valid gzip)."""
    header = ",".join(b.PASARNUSA_COLUMNS) + "\n"
    row = b.csv_text(b.PASARNUSA_COLUMNS, [pn_row("PN1")]).splitlines()[1] + "\n"
    block = (row * ((8 << 20) // len(row))).encode()
    member = gzip.compress(block, compresslevel=9, mtime=0)
    return gzip.compress(header.encode(), mtime=0) + member * (target_bytes // len(block))


def zeros_bomb(target_bytes: int) -> bytes:
    member = gzip.compress(b"\0" * (8 << 20), compresslevel=9, mtime=0)
    return member * (target_bytes // (8 << 20))


def test_gzip_bombs_are_refused_naming_partner_day_and_reason(tmp_path: Path) -> None:
    """It refuses a CSV-looking gzip bomb and a JSON Lines part of zeros past the expansion cap."""
    settings = make_settings(tmp_path, max_uncompressed_bytes=8 << 20)
    path = b.pasarnusa(settings.landing, D, [pn_row("PN1")])
    (path / "sellers.csv.gz").write_bytes(csv_bomb(1 << 30))
    b.manifest(path, {"sellers.csv.gz": 1})
    path = b.belanjaku(settings.landing, D, [[bj_line(1)], [bj_line(2)]])
    (path / "part-00001.jsonl.gz").write_bytes(zeros_bomb(1 << 30))
    b.manifest(path, {"part-00000.jsonl.gz": 1, "part-00001.jsonl.gz": 1})

    run_failed(settings, "pasarnusa", D, "sellers.csv.gz' expands beyond 8,388,608 bytes",
               "possible gzip bomb")  # fmt: skip
    detail = run_failed(
        settings, "belanjaku", D, "part-00001.jsonl.gz' expands beyond 8,388,608 bytes"
    )
    assert "compression ratio over" in detail


_MEASURE = """
import json, sys
from datetime import date
from pathlib import Path
import duckdb
from pipelines.contracts import load_contracts
from pipelines.intake.landing import DeliveryRefused, PartnerDay, inspect_delivery
from pipelines.intake.read import create_raw, read_delivery


def kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])


def peak_growth(action):
    # growth of the peak resident size over the current one while `action` runs
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # resets VmHWM, the peak, to the current resident size
    base = kib("VmRSS")
    result = action()
    return result, kib("VmHWM") - base


folder, cap = Path(sys.argv[1]), int(sys.argv[2])
contract = load_contracts()["pasarnusa"]
day = PartnerDay("pasarnusa", date(2020, 6, 1), folder, True)


# the run's DuckDB instance has a memory limit and spills beyond it (pipelines/run/engine.py)
con = duckdb.connect(config={"memory_limit": "128MB", "temp_directory": str(folder.parent.parent.parent / "spill")})
create_raw(con, "raw", contract)


def read():
    delivery = inspect_delivery(day, contract, 1 << 40, 1 << 40)
    try:
        read_delivery(con, "raw", delivery, contract, b"k", cap)
    except DeliveryRefused as exc:
        return exc.reason


reason, growth = peak_growth(read)
_, control = peak_growth(lambda: b"x" * (200 << 20))  # the measurement must see 200 MiB
print(json.dumps({"reason": reason, "growth_kib": growth, "control_kib": control}))
"""


def test_a_gzip_bomb_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """It streams a 1 GiB bomb, decompressing and parsing it once, up to a 400 MiB cap, with the
    process's peak resident memory growing by less than 300 MiB under a 128 MB DuckDB memory
    limit (measured in a fresh process: VmHWM reset, then read): what was parsed before the cap
    spills to disk, and the partner-day is refused."""
    path = b.pasarnusa(tmp_path / "landing", D, [pn_row("PN1")])
    bomb = csv_bomb(1 << 30)
    assert len(bomb) < 4 << 20
    (path / "sellers.csv.gz").write_bytes(bomb)
    b.manifest(path, {"sellers.csv.gz": 1})
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), str(400 << 20)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    assert "expands beyond 419,430,400 bytes" in measured["reason"]
    assert measured["growth_kib"] < 300 * 1024, measured
    assert measured["control_kib"] > 150 * 1024, measured


def test_a_parquet_bomb_is_refused_from_its_footer(tmp_path: Path) -> None:
    """It refuses a Parquet file whose footer declares more decoded data than the cap (300,000
    identical outlet rows encode to a few kilobytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    settings = make_settings(tmp_path, max_uncompressed_bytes=4 << 20)
    outlet = dict(outlet_id="O1", brand_id="B1", brand_name="Kedai", owner_nik=NIK, owner_phone=None,
                  nib=None, province_code=32, regency_code=3273, category="Makanan", registered_on=D,
                  is_active=True)  # fmt: skip
    path = b.kedaiantar(settings.landing, D, [outlet])
    one = pa.Table.from_pylist([outlet], schema=b.KEDAIANTAR_SCHEMA)
    pq.write_table(one.take(pa.array([0] * 300_000)), path / "outlets.parquet", compression="zstd")
    assert (path / "outlets.parquet").stat().st_size < 64 << 10
    b.manifest(path, {"outlets.parquet": 300_000})
    run_failed(settings, "kedaiantar", D, "outlets.parquet' declares 300,000 rows",
               "beyond the 4,194,304-byte cap; refused as a possible Parquet bomb")  # fmt: skip


# --- sizes -------------------------------------------------------------------------------------


def test_oversize_file_and_oversize_day_are_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It refuses a file over max_file_bytes and a day over max_day_bytes without hashing or
    reading a byte of them."""
    settings = make_settings(tmp_path, max_file_bytes=1 << 20, max_day_bytes=1 << 20)
    big = b.pasarnusa(settings.landing, D, [pn_row("PN1")]) / "sellers.csv.gz"
    os.truncate(big, 50 << 20)  # sparse: 50 MiB on paper
    parts = b.belanjaku(settings.landing, D, [[bj_line(1)], [bj_line(2)]])
    for name in ("part-00000.jsonl.gz", "part-00001.jsonl.gz"):
        os.truncate(parts / name, 600 << 10)  # each under the file cap, together over the day cap
    touched: list[Path] = []
    real_hash, real_read = landing.file_sha256, staging.read_delivery
    monkeypatch.setattr(landing, "file_sha256", lambda p: touched.append(Path(p)) or real_hash(p))
    monkeypatch.setattr(
        staging,
        "read_delivery",
        lambda con, t, d, *a: touched.extend(f.path for f in d.files) or real_read(con, t, d, *a),
    )

    run_failed(settings, "pasarnusa", D, "sellers.csv.gz' is 52,428,800 bytes, over the 1,048,576-byte cap; not read")  # fmt: skip
    run_failed(settings, "belanjaku", D, "the delivery belanjaku/2020-06-01 is 1,228,800 bytes, "
               "over the 1,048,576-byte cap per partner-day; not read")  # fmt: skip
    assert touched == []


# --- links and names ---------------------------------------------------------------------------


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path Python opens during the test (os.open and builtins.open), resolved."""
    seen: list[str] = []
    real_os_open, real_open = os.open, open

    def os_open(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(path, str | Path):
            seen.append(os.path.realpath(path))
        return real_os_open(path, *args, **kwargs)

    def builtin_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(file, str | Path):
            seen.append(os.path.realpath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr("builtins.open", builtin_open)
    return seen


def test_links_and_odd_entries_are_refused_never_followed(
    tmp_path: Path, opened: list[str]
) -> None:
    """It refuses a data file that is a link (to /etc/passwd, or to a valid file elsewhere), a
    manifest that is a link, and a named pipe, without opening what they point to."""
    settings = make_settings(tmp_path)
    elsewhere = tmp_path / "elsewhere.csv.gz"
    elsewhere.write_bytes(gzip.compress(b.csv_text(b.PASARNUSA_COLUMNS, [pn_row("PN1")]).encode()))
    days = {}
    for n, target in enumerate(["/etc/passwd", str(elsewhere)], start=1):
        day = date(2020, 6, n)
        path = b.pasarnusa(settings.landing, day, [pn_row("PN1")])
        (path / "sellers.csv.gz").unlink()
        (path / "sellers.csv.gz").symlink_to(target)
        days[day] = path
    path = b.pasarnusa(settings.landing, date(2020, 6, 3), [pn_row("PN1")])
    (path / "manifest.json").unlink()
    (path / "manifest.json").symlink_to("/etc/passwd")
    path = b.tokoraya(settings.landing, D, [])
    fifo = path / f"TOKORAYA_MERCHANT_{D:%d%m%Y}.csv"
    fifo.unlink()
    os.mkfifo(fifo)

    clean = b.pasarnusa(settings.landing, date(2020, 6, 4), [pn_row("PN1")])
    opened.clear()

    assert run_plain(settings, date(2020, 6, 4), date(2020, 6, 4)).steps[0].status == "loaded"
    assert str(clean / "sellers.csv.gz") in opened  # the spy sees what the pipeline opens
    for day in days:
        run_failed(settings, "pasarnusa", day, "sellers.csv.gz' is a link or not a regular file")
    run_failed(
        settings, "pasarnusa", date(2020, 6, 3), "manifest.json is a link or not a regular file"
    )
    run_failed(settings, "tokoraya", D, "is a link or not a regular file")
    assert "/etc/passwd" not in opened
    assert str(elsewhere) not in opened


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "/etc/passwd", "../2020-06-02/sellers.csv.gz", "sellers.csv.gz/../../x"],
)
def test_manifest_names_are_never_used_as_paths(
    tmp_path: Path, opened: list[str], name: str
) -> None:
    """It refuses a manifest naming a path outside the folder, and never opens that path."""
    settings = make_settings(tmp_path)
    b.pasarnusa(settings.landing, date(2020, 6, 2), [pn_row("PN9")])
    path = b.pasarnusa(settings.landing, D, [pn_row("PN1")])
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"].insert(0, {"name": name, "rows": 1, "sha256": "0" * 64})
    (path / "manifest.json").write_text(json.dumps(manifest))
    opened.clear()

    run_failed(
        settings, "pasarnusa", D, f"manifest.json names {name!r}, which is not a plain file name"
    )
    assert str(path / "manifest.json") in opened  # the spy sees what the pipeline opens
    outside = {os.path.realpath(path / name), os.path.realpath(name)}
    assert not outside & set(opened)


def test_wildcards_in_a_file_name_are_refused(tmp_path: Path) -> None:
    """It refuses a file whose name holds wildcards (a reader would expand it to other files)."""
    settings = make_settings(tmp_path)
    path = b.tokoraya(settings.landing, D, [])
    (path / "TOKORAYA_MERCHANT_[0-9]*.csv").write_bytes(
        (path / f"TOKORAYA_MERCHANT_{D:%d%m%Y}.csv").read_bytes()
    )
    run_failed(settings, "tokoraya", D, "TOKORAYA_MERCHANT_[0-9]*.csv': the file name holds a path or wildcard character")  # fmt: skip


# --- workbooks ---------------------------------------------------------------------------------


def workbook() -> bytes:
    """A valid lapakdesa report with one seller (tests.builders writes it)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = b.lapakdesa(Path(tmp), MONTH_END, [{"Nama Usaha": "Lapak", "NIB": "9120000000001",
                                                    "Tanggal Daftar": date(2020, 5, 4), "Skala": "Mikro"}])  # fmt: skip
        return (path / "Laporan_UMKM_2020-05.xlsx").read_bytes()


def with_entries(data: bytes, *entries: tuple[zipfile.ZipInfo | str, bytes]) -> bytes:
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, content in entries:
            archive.writestr(info, content)
    return buffer.getvalue()


def link_entry() -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo("xl/media/image1.png")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, b"/etc/passwd"


def too_many_entries(data: bytes) -> bytes:
    return with_entries(data, *((f"customXml/item{i}.xml", b"<a/>") for i in range(1200)))


def lying_sizes(data: bytes) -> bytes:
    """An entry whose headers declare 1,000 bytes while its data expands to 2 MiB."""
    name = b"xl/media/blob.bin"
    out = bytearray(with_entries(data, (name.decode(), b"A" * (2 << 20))))
    # (signature, fixed header length, where the name length sits, where the size sits)
    for signature, fixed, name_len_at, size_at in (
        (b"PK\x03\x04", 30, 26, 22),
        (b"PK\x01\x02", 46, 28, 24),
    ):
        at = 0
        while (at := out.find(signature, at)) >= 0:
            (length,) = struct.unpack("<H", out[at + name_len_at : at + name_len_at + 2])
            if bytes(out[at + fixed : at + fixed + length]) == name:
                out[at + size_at : at + size_at + 4] = struct.pack("<I", 1000)
            at += 4
    return bytes(out)


def overlapping(data: bytes) -> bytes:
    """A second directory record pointing at the same data as an existing entry."""
    out = bytearray(data)
    eocd = out.rfind(b"PK\x05\x06")
    count, size, offset = struct.unpack("<HII", out[eocd + 10 : eocd + 20])
    first = bytes(out[offset : offset + size])
    (length, extra, comment) = struct.unpack("<HHH", first[28:34])
    record = first[: 46 + length + extra + comment]
    twin = record[:46] + b"Y" * length + record[46 + length :]
    directory = first + twin
    tail = struct.pack("<HHII", count + 1, count + 1, len(directory), offset)
    return (
        bytes(out[:offset])
        + directory
        + b"PK\x05\x06"
        + out[eocd + 4 : eocd + 8]
        + tail
        + out[eocd + 20 :]
    )


def with_sheet_xml(data: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    """The workbook with its first sheet's XML changed (every other part as it was)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:  # fmt: skip
        for info in source.infolist():
            content = source.read(info)
            archive.writestr(info.filename, change(content) if info.filename == "xl/worksheets/sheet1.xml" else content)  # fmt: skip
    return out.getvalue()


def far_cell(ref: bytes):  # type: ignore[no-untyped-def]
    """A numeric cell at `ref` appended to the sheet's last row (the workbook reader would
    allocate every cell between A1 and it)."""
    return lambda d: with_sheet_xml(d, lambda xml: xml.replace(b"</row></sheetData>", b'<c r="' + ref + b'"><v>1</v></c></row></sheetData>'))  # fmt: skip


HOSTILE_WORKBOOKS = {
    "dot-dot entry": (lambda d: with_entries(d, ("../../evil.xml", b"<x/>")), "unsafe path ('../../evil.xml')"),
    "absolute entry": (lambda d: with_entries(d, ("/etc/cron.d/evil", b"x")), "unsafe path ('/etc/cron.d/evil')"),
    "backslash entry": (lambda d: with_entries(d, ("xl\\..\\..\\evil.xml", b"x")), "unsafe path"),
    "drive entry": (lambda d: with_entries(d, ("C:/evil.xml", b"x")), "unsafe path ('C:/evil.xml')"),
    "link entry": (lambda d: with_entries(d, link_entry()), "a link inside the archive ('xl/media/image1.png')"),
    "too many entries": (too_many_entries, "has 1,2"),
    "extreme ratio": (lambda d: with_entries(d, ("xl/media/zeros.bin", b"\0" * (64 << 20))), "expands 1,0"),
    "lying sizes": (lying_sizes, "archive entry 'xl/media/blob.bin' is damaged or not what its header declares"),
    "overlapping entries": (overlapping, "overlapping archive entries"),
    "not a zip": (lambda d: d[:-200], "is not an Excel workbook"),
    # found by the mutation test: a cell reference this far out made the reader abort the process
    "cell past Excel's rows": (far_cell(b"ZZZZZZ99999999"), "beyond Excel's 1,048,576 rows and 16,384 columns"),
    "a span of billions of cells": (far_cell(b"XFD1048576"), "spans 17,179,869,184 cells"),
    "a dimension of the whole sheet": (lambda d: with_sheet_xml(d, lambda xml: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', xml)), "spans 17,179,869,184 cells"),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(HOSTILE_WORKBOOKS))
def test_hostile_workbook_is_refused(tmp_path: Path, kind: str) -> None:
    """It refuses a lapakdesa workbook whose zip could escape, link, or blow up, with the reason."""
    make, reason = HOSTILE_WORKBOOKS[kind]
    settings = make_settings(tmp_path)
    path = b.lapakdesa(settings.landing, MONTH_END, [])
    (path / "Laporan_UMKM_2020-05.xlsx").write_bytes(make(workbook()))
    run_failed(settings, "lapakdesa", MONTH_END, reason)


def test_workbook_over_the_expansion_cap_is_refused(tmp_path: Path) -> None:
    """It refuses a workbook whose entries expand beyond max_uncompressed_bytes."""
    settings = make_settings(tmp_path, max_uncompressed_bytes=1 << 20)
    path = b.lapakdesa(settings.landing, MONTH_END, [])
    data = with_entries(workbook(), ("xl/media/noise.bin", os.urandom(2 << 20)))
    (path / "Laporan_UMKM_2020-05.xlsx").write_bytes(data)
    run_failed(settings, "lapakdesa", MONTH_END, "over the 1,048,576-byte cap")


def test_the_guarded_workbook_still_loads(tmp_path: Path) -> None:
    """The guard lets an ordinary report (with an extra harmless part) through."""
    settings = make_settings(tmp_path)
    path = b.lapakdesa(settings.landing, MONTH_END, [])
    (path / "Laporan_UMKM_2020-05.xlsx").write_bytes(
        with_entries(workbook(), ("docProps/custom.xml", b"<a/>"))
    )
    (step,) = run_plain(settings, MONTH_END, MONTH_END).steps
    assert (step.status, step.rows_read, step.rows_loaded) == ("loaded", 1, 1)


def test_a_file_swapped_for_a_link_after_inspection_is_not_read(tmp_path: Path) -> None:
    """It refuses to read a file that became a link (or another file) between inspect and read."""
    from pipelines.contracts import load_contracts
    from pipelines.intake.landing import DeliveryRefused, PartnerDay, inspect_delivery
    from pipelines.intake.read import create_raw, read_delivery

    path = b.pasarnusa(tmp_path / "landing", D, [pn_row("PN1")])
    contract = load_contracts()["pasarnusa"]
    con = duckdb.connect()
    create_raw(con, "raw", contract)
    delivery = inspect_delivery(PartnerDay("pasarnusa", D, path, True), contract, 1 << 30, 1 << 30)
    assert delivery.refusal is None
    (path / "sellers.csv.gz").unlink()
    (path / "sellers.csv.gz").symlink_to("/etc/passwd")
    with pytest.raises(
        DeliveryRefused, match=r"pasarnusa/2020-06-01/sellers\.csv\.gz' changed after inspection"
    ):
        read_delivery(con, "raw", delivery, contract, TEST_KEY.encode(), 1 << 30)
