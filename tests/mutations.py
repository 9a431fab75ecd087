"""Damaged deliveries for the mutation test: a valid partner-day's files damaged in one of many
ways, seeded, with the manifest kept true (its hash rewritten for the damaged file; its row
counts left as the partner wrote them, so a damage that changes the count is a mismatch).

Each format has its operators: line-structured text (CSV in UTF-8 or Windows-1252, JSON Lines)
damaged as text, inside the gzip when the file is compressed; then the containers themselves:
gzip headers, deflate data and trailers, Parquet pages and footers, xlsx zip entries, directory
and sheet XML.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Op = Callable[[random.Random, bytes], bytes]
BOM = b"\xef\xbb\xbf"


def _flip(rng: random.Random, data: bytes, lo: int = 0, hi: int | None = None, bits: int | None = None) -> bytes:  # fmt: skip
    out = bytearray(data)
    hi = len(out) if hi is None else hi
    if hi <= lo:
        return data
    for _ in range(bits or rng.randint(1, 8)):
        at = rng.randrange(lo, hi)
        out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


def _insert(rng: random.Random, data: bytes, piece: bytes, lo: int = 0) -> bytes:
    at = rng.randint(min(lo, len(data)), len(data))
    return data[:at] + piece + data[at:]


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


# --- line-structured text (CSV, JSON Lines) --------------------------------------------------


def bit_flips(rng: random.Random, data: bytes) -> bytes:
    return _flip(rng, data)


def truncation(rng: random.Random, data: bytes) -> bytes:
    """Cut at a structural boundary: before or after a line end, between CR and LF, at a
    separator, a quote, a brace or bracket, inside the header, or anywhere."""
    kinds = {
        "line": rb"\n", "cr": rb"\r", "separator": rb"[,;:]", "quote": rb'"',
        "brace": rb"[{}\[\]]", "header": rb"(?<=.)(?=[^\n]*\n)",
    }  # fmt: skip
    kind = rng.choice([*kinds, "anywhere"])
    if kind == "anywhere":
        return data[: rng.randrange(len(data) + 1)]
    spots = [m.start() for m in re.finditer(kinds[kind], data[: 1 << 20])]
    if kind == "header":
        spots = spots[: data.find(b"\n") + 1]
    if not spots:
        return data[: rng.randrange(len(data) + 1)]
    at = rng.choice(spots) + rng.choice((0, 1))
    return data[:at]


def duplicated_lines(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    for _ in range(rng.randint(1, 5)):
        at = rng.randrange(len(lines))
        lines.insert(rng.randrange(len(lines) + 1), lines[at])
    return b"".join(lines)


def shuffled_lines(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    keep = rng.random() < 0.7  # mostly the records only; sometimes the header moves too
    head, body = (lines[:1], lines[1:]) if keep else ([], lines)
    rng.shuffle(body)
    return b"".join(head + body)


def nul_bytes(rng: random.Random, data: bytes) -> bytes:
    for _ in range(rng.randint(1, 6)):
        data = _insert(rng, data, b"\0" * rng.choice((1, 1, 2, 64)))
    return data


def invalid_utf8(rng: random.Random, data: bytes) -> bytes:
    return _insert(rng, data, rng.choice((b"\xff", b"\x80", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80")))  # fmt: skip


def bom_mid_file(rng: random.Random, data: bytes) -> bytes:
    starts = [m.end() for m in re.finditer(rb"\n", data)][:-1] or [len(data)]
    at = rng.choice(starts)
    return data[:at] + BOM + data[at:]


def mixed_line_endings(rng: random.Random, data: bytes) -> bytes:
    return re.sub(rb"\r?\n", lambda m: rng.choice((b"\n", b"\r\n", b"\r", b"\n\r", b"\r\r\n")), data)  # fmt: skip


def huge_field(rng: random.Random, data: bytes) -> bytes:
    size = rng.choice((70_000, 1 << 20, 3 << 20, 9 << 20))
    piece = bytes([rng.choice(b"AZaz09 ")]) * size
    seps = [m.end() for m in re.finditer(rb'[,;:"]', data[: 1 << 20])] or [len(data)]
    at = rng.choice(seps)
    return data[:at] + piece + data[at:]


def stray_cr(rng: random.Random, data: bytes) -> bytes:
    """A lone CR, most often in the header line (a flipped bit that made one there)."""
    header_end = max(data.find(b"\n"), 1)
    lo, hi = (0, header_end) if rng.random() < 0.6 else (0, len(data))
    at = rng.randint(lo, hi)
    return data[:at] + b"\r" + data[at:]


def unbalanced_quote(rng: random.Random, data: bytes) -> bytes:
    return _insert(rng, data, b'"')


def header_only(rng: random.Random, data: bytes) -> bytes:
    end = data.find(b"\n")
    return data[: end + 1] if end >= 0 else data


def empty(rng: random.Random, data: bytes) -> bytes:
    return b""


def repeated_header(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    lines.insert(rng.randrange(1, len(lines) + 1), lines[0])
    return b"".join(lines)


def control_bytes(rng: random.Random, data: bytes) -> bytes:
    for _ in range(rng.randint(1, 4)):
        data = _insert(rng, data, bytes([rng.choice((1, 8, 11, 12, 26, 27, 127))]))
    return data


TEXT: dict[str, Op] = {f.__name__: f for f in (
    bit_flips, truncation, duplicated_lines, shuffled_lines, nul_bytes, invalid_utf8, bom_mid_file,
    mixed_line_endings, huge_field, stray_cr, unbalanced_quote, header_only, empty, repeated_header,
    control_bytes,
)}  # fmt: skip


# --- Windows-1252 text --------------------------------------------------------------------------


def undefined_cp1252(rng: random.Random, data: bytes) -> bytes:
    return _insert(rng, data, bytes([rng.choice((0x81, 0x8D, 0x8F, 0x90, 0x9D))]))


def utf8_in_cp1252(rng: random.Random, data: bytes) -> bytes:
    return _insert(rng, data, rng.choice(("é", "Ä", "€", "ŋ")).encode("utf-8"))


CP1252 = {f.__name__: f for f in (undefined_cp1252, utf8_in_cp1252)}


# --- JSON Lines -------------------------------------------------------------------------------


def _replace_line(rng: random.Random, data: bytes, line: bytes) -> bytes:
    lines = _lines(data) or [b""]
    lines[rng.randrange(len(lines))] = line + b"\n"
    return b"".join(lines)


def deeply_nested(rng: random.Random, data: bytes) -> bytes:
    depth = rng.choice((1000, 100_000, 1_000_000))
    where = rng.choice(("line", "merchant", "name", "kbli"))
    if where == "line":
        nested = b"[" * depth + b"]" * depth
    else:
        inner = (b'{"a":' * depth) + b"1" + (b"}" * depth)
        if where == "merchant":
            nested = b'{"event":"created","merchant":' + inner + b',"onboarded_at":1}'
        elif where == "name":
            nested = (
                b'{"event":"created","merchant":{"id":1,"name":' + inner + b'},"onboarded_at":1}'
            )
        else:
            nested = b'{"event":"created","merchant":{"id":1},"kbli":' + b"[" * depth + b"]" * depth + b"}"  # fmt: skip
    return _replace_line(rng, data, nested)


def wrong_types(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    if not lines:
        return data
    at = rng.randrange(len(lines))
    try:
        record = json.loads(lines[at])
    except ValueError:
        return data
    if not isinstance(record, dict):
        return data
    path = rng.choice((("merchant",), ("merchant", "id"), ("owner",), ("owner", "nik"), ("kbli",),
                       ("onboarded_at",), ("event",), ("location", "kemendagri_code"), ("tier",)))  # fmt: skip
    value = rng.choice(([], {}, "x", 1.5, -1, True, None, 10**40, "1e400", [[1]], {"id": {}}))
    node = record
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    text = json.dumps(record)
    if rng.random() < 0.3:
        text = text.replace('"1e400"', "1e400")
    lines[at] = text.encode() + b"\n"
    return b"".join(lines)


def invalid_json(rng: random.Random, data: bytes) -> bytes:
    bad = rng.choice((b'{"event": "created", "merchant": {"id": 1', b"{'event': 'created'}", b"NaN",
                      b'{"event":"created","merchant":{"id":1}} trailing', b"{}{}", b'"just a string"',
                      b'{"merchant":{"id":12345678901234567890123}}', b'{"a":1,"a":2,"merchant":{"id":3}}'))  # fmt: skip
    return _replace_line(rng, data, bad)


JSON = {f.__name__: f for f in (deeply_nested, wrong_types, invalid_json)}


# --- gzip ---------------------------------------------------------------------------------------


def gzip_trailer(rng: random.Random, data: bytes) -> bytes:
    """The CRC-32 or the size in the last 8 bytes flipped, or some of them cut off."""
    if rng.random() < 0.5:
        return _flip(rng, data, max(0, len(data) - 8), bits=rng.randint(1, 3))
    return data[: len(data) - rng.randint(1, 8)]


def gzip_header(rng: random.Random, data: bytes) -> bytes:
    return _flip(rng, data, 2, min(10, len(data)), bits=1)


def gzip_deflate(rng: random.Random, data: bytes) -> bytes:
    return _flip(rng, data, 10, max(11, len(data) - 8))


def gzip_truncated(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def gzip_trailing_garbage(rng: random.Random, data: bytes) -> bytes:
    extra = rng.choice((b"\0" * 8, b"garbage\n", b"\x1f\x8b", b"\x1f\x8b\x08\x00", gzip.compress(b"x\n")[:-4]))  # fmt: skip
    return data + extra


GZIP = {f.__name__: f for f in (gzip_trailer, gzip_header, gzip_deflate, gzip_truncated, gzip_trailing_garbage)}  # fmt: skip


# --- Parquet --------------------------------------------------------------------------------


def parquet_footer(rng: random.Random, data: bytes) -> bytes:
    """Bits flipped in the footer (the Thrift metadata, its length, the closing magic)."""
    length = int.from_bytes(data[-8:-4], "little") if len(data) >= 8 else 0
    lo = max(0, len(data) - 8 - min(length, len(data)))
    return _flip(rng, data, lo, len(data), bits=rng.randint(1, 4))


def parquet_footer_length(rng: random.Random, data: bytes) -> bytes:
    value = rng.choice((0, 1, len(data), len(data) - 7, 2**31 - 1, 2**32 - 1, rng.randrange(2**32)))
    return data[:-8] + value.to_bytes(4, "little") + data[-4:]


def parquet_magic(rng: random.Random, data: bytes) -> bytes:
    return _flip(rng, data, 0, 4, bits=1) if rng.random() < 0.5 else _flip(rng, data, len(data) - 4, bits=1)  # fmt: skip


def parquet_truncated(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.choice((len(data) - 1, len(data) - 4, len(data) - 8, len(data) // 2, 4, rng.randrange(len(data))))]  # fmt: skip


def parquet_pages(rng: random.Random, data: bytes) -> bytes:
    length = int.from_bytes(data[-8:-4], "little")
    return _flip(rng, data, 4, max(5, len(data) - 8 - length))


def parquet_zeroed(rng: random.Random, data: bytes) -> bytes:
    start = rng.randrange(len(data))
    end = min(len(data), start + rng.choice((4, 64, 1024, 1 << 20)))
    return data[:start] + b"\0" * (end - start) + data[end:]


PARQUET = {f.__name__: f for f in (parquet_footer, parquet_footer_length, parquet_magic, parquet_truncated, parquet_pages, parquet_zeroed)}  # fmt: skip


# --- xlsx (a zip of XML parts) ----------------------------------------------------------------

SHEET = "xl/worksheets/sheet1.xml"


def _rezip(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return out.getvalue()


def _entries(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(i.filename, archive.read(i)) for i in archive.infolist()]


def _with_entry(data: bytes, name: str, change: Callable[[bytes], bytes]) -> bytes:
    return _rezip([(n, change(c) if n == name else c) for n, c in _entries(data)])


def xlsx_entry_bits(rng: random.Random, data: bytes) -> bytes:
    """Bits flipped inside one entry's compressed data (its CRC no longer matches)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = rng.choice(archive.infolist())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    return _flip(rng, data, start, start + max(1, info.compress_size), bits=rng.randint(1, 3))


def xlsx_missing_entry(rng: random.Random, data: bytes) -> bytes:
    names = [n for n, _ in _entries(data)]
    gone = rng.choice([SHEET, "xl/workbook.xml", "[Content_Types].xml", "xl/_rels/workbook.xml.rels",
                       "xl/styles.xml", "_rels/.rels", *names])  # fmt: skip
    return _rezip([(n, c) for n, c in _entries(data) if n != gone])


def xlsx_broken_xml(rng: random.Random, data: bytes) -> bytes:
    name = rng.choice([SHEET, SHEET, "xl/workbook.xml", "xl/styles.xml", "[Content_Types].xml"])

    def damage(xml: bytes) -> bytes:
        how = rng.choice(("truncate", "flip", "nul", "utf8"))
        if how == "truncate":
            return xml[: rng.randrange(len(xml))]
        if how == "flip":
            return _flip(rng, xml)
        if how == "nul":
            return _insert(rng, xml, b"\0")
        return _insert(rng, xml, b"\xff\xfe")

    return _with_entry(data, name, damage)


def xlsx_deep_xml(rng: random.Random, data: bytes) -> bytes:
    depth = rng.choice((1000, 100_000))
    nest = b"<x>" * depth + b"</x>" * depth
    return _with_entry(
        data, SHEET, lambda xml: xml.replace(b"<sheetData>", b"<sheetData>" + nest, 1)
    )


def xlsx_entities(rng: random.Random, data: bytes) -> bytes:
    """A DOCTYPE declaring entities that expand a billion-fold, used in a cell."""
    doctype = (b'<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa">'
               + b"".join(b'<!ENTITY %c "%s">' % (ord("b") + i, (b"&%c;" % (ord("a") + i)) * 10) for i in range(8))
               + b"]>")  # fmt: skip

    def add(xml: bytes) -> bytes:
        xml = xml.replace(b"?>", b"?>" + doctype, 1)
        return re.sub(rb"<v>[^<]*</v>", b"<v>&i;</v>", xml, count=1)

    return _with_entry(data, SHEET, add)


def xlsx_huge_cell(rng: random.Random, data: bytes) -> bytes:
    big = b"A" * rng.choice((1 << 20, 8 << 20))
    return _with_entry(data, SHEET, lambda xml: re.sub(rb'<c r="B6"[^>]*>.*?</c>', b'<c r="B6" t="inlineStr"><is><t>' + big + b"</t></is></c>", xml, count=1))  # fmt: skip


def xlsx_bad_cells(rng: random.Random, data: bytes) -> bytes:
    """Cells whose declared types lie: text in a number, a shared string index out of range,
    an unknown type, a cell reference that is no reference."""
    swap = rng.choice((b'<c r="D6" t="n"><v>abc</v></c>', b'<c r="D6" t="s"><v>99999</v></c>',
                       b'<c r="D6" t="zz"><v>1</v></c>', b'<c r="ZZZZZZ99999999" t="n"><v>1</v></c>',
                       b'<c r="D6" t="d"><v>not a date</v></c>', b'<c r="D6" t="e"><v>#REF!</v></c>'))  # fmt: skip
    return _with_entry(data, SHEET, lambda xml: re.sub(rb'<c r="D6"[^>]*?(/>|>.*?</c>)', swap, xml, count=1))  # fmt: skip


def xlsx_truncated(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.choice((len(data) - 1, len(data) - 22, len(data) // 2, rng.randrange(len(data))))]  # fmt: skip


def xlsx_directory(rng: random.Random, data: bytes) -> bytes:
    """Bits flipped in the central directory (or the end record, when there is none)."""
    first = data.find(b"PK\x01\x02")
    return _flip(rng, data, first if first >= 0 else max(0, len(data) - 22), bits=rng.randint(1, 4))


def xlsx_duplicate_entry(rng: random.Random, data: bytes) -> bytes:
    entries = _entries(data)
    name, content = next((n, c) for n, c in entries if n == SHEET)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name: the point here
        return _rezip([*entries, (name, content.replace(b"<v>", b"<v>9", 3))])


XLSX = {f.__name__: f for f in (xlsx_entry_bits, xlsx_missing_entry, xlsx_broken_xml, xlsx_deep_xml, xlsx_entities,
                                xlsx_huge_cell, xlsx_bad_cells, xlsx_truncated, xlsx_directory, xlsx_duplicate_entry)}  # fmt: skip


# --- a partner-day damaged ---------------------------------------------------------------------

# the operators that apply to each kind of file, by the name's ending, and whether the text
# is inside a gzip
FORMATS: dict[str, tuple[dict[str, Op], ...]] = {
    ".csv": (TEXT,),
    ".csv.gz": (TEXT,),
    ".jsonl.gz": (TEXT, JSON),
    ".parquet": (PARQUET,),
    ".xlsx": (XLSX,),
}


@dataclass(frozen=True)
class Mutation:
    partner: str
    export_date: str
    file: str
    operator: str  # e.g. "text:truncation", "gzip:gzip_trailer"


def _kind(name: str) -> str:
    return next(
        k for k in (".csv.gz", ".jsonl.gz", ".csv", ".parquet", ".xlsx") if name.endswith(k)
    )


def operators(name: str, windows_1252: bool) -> list[tuple[str, Op]]:
    kind = _kind(name)
    ops: list[tuple[str, Op]] = []
    for group in FORMATS[kind]:
        label = {id(TEXT): "text", id(JSON): "json", id(PARQUET): "parquet", id(XLSX): "xlsx"}[
            id(group)
        ]
        ops += [(f"{label}:{n}", f) for n, f in group.items()]
    if windows_1252:
        ops += [(f"cp1252:{n}", f) for n, f in CP1252.items()]
    if kind.endswith(".gz"):
        ops += [(f"gzip:{n}", f) for n, f in GZIP.items()]
    return ops


def damage(folder: Path, partner: str, rng: random.Random, windows_1252: bool = False) -> Mutation:
    """Damage one data file of the partner-day in `folder` with a randomly chosen operator of
    its format, and keep its manifest's hash true."""
    data_files = sorted(p for p in folder.iterdir() if p.name not in ("_SUCCESS", "manifest.json"))
    target = rng.choice(data_files)
    name, op = rng.choice(operators(target.name, windows_1252))
    raw = target.read_bytes()
    if name.startswith(("text:", "json:", "cp1252:")) and target.name.endswith(".gz"):
        damaged = gzip.compress(op(rng, gzip.decompress(raw)), compresslevel=6, mtime=0)
    else:
        damaged = op(rng, raw)
    target.write_bytes(damaged)
    manifest = folder / "manifest.json"
    if manifest.exists():
        content = json.loads(manifest.read_text(encoding="utf-8"))
        for entry in content["files"]:
            if entry["name"] == target.name:
                entry["sha256"] = hashlib.sha256(damaged).hexdigest()
        manifest.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    return Mutation(partner, folder.name, target.name, name)
