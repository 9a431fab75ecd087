"""Exports of any partner, written from its contract alone: a new contract is generated,
demoed and benchmarked without code.

A partner the world has no hand-made format for gets its listings from the world's businesses
(its own random stream per chunk, so the other partners' exports stay the same bytes), and its
files from the contract version in force on each export date: file names from `files`, the
columns it maps, each field written in the contract's format (date format, number format, the
partner's words for scale and status, region codes or names), the encoding, separator, line
ends, compression, manifest and schedule. A marketplace partner gets about a third of the
businesses; an e-catalogue partner lists about half of the world's vendors.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from pipelines.contracts import SINGLE_BYTE, Column, Contract
from pipelines.synthetic import formats
from pipelines.synthetic.world import (
    Chunk,
    as_date,
    digits,
    geo,
    mix64,
    pick,
)
from pipelines.synthetic.writers import (
    CsvSink,
    ParquetSink,
    Written,
    _gzip,
    visible,
    write_manifest,
    write_success,
)

P_LISTED = 0.33  # a business's chance of a listing on a new marketplace partner
P_VENDOR_LISTED = 0.5  # a vendor's chance of being in a new e-catalogue
SCALES = ("mikro", "kecil", "menengah")
SECTORS = {"47": "Retail", "56": "Makanan & Minuman", "10": "Makanan Olahan"}
PARQUET = {
    "string": pa.string(), "bool": pa.bool_(), "date": pa.date32(), "int8": pa.int8(),
    "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(), "uint8": pa.uint8(),
    "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64(), "float": pa.float32(),
    "double": pa.float64(), "timestamp": pa.timestamp("ms"), "timestamptz": pa.timestamp("ms", "UTC"),
}  # fmt: skip


def partner_salt(partner: str) -> int:
    """A constant per partner name (stable across runs and machines)."""
    return zlib.crc32(partner.encode("utf-8"))


def listings(chunk: Chunk, contract: Contract) -> pl.DataFrame:
    """The partner's listings (marketplace) or vendors (e-catalogue) in one chunk, typed: one
    row per listing, with what its columns are written from. Cached on the chunk."""
    key = f"contract:{contract.partner}"
    if key not in chunk.formatted:
        build = _vendors if contract.channel == "ekatalog" else _marketplace
        chunk.formatted[key] = build(chunk, contract)
    return chunk.formatted[key]


def _rng(chunk: Chunk, partner: str) -> np.random.Generator:
    return np.random.default_rng([chunk.world.seed, chunk.k, partner_salt(partner), 13])


def _marketplace(chunk: Chunk, contract: Contract) -> pl.DataFrame:
    partner = contract.partner
    rng, b, n = _rng(chunk, partner), chunk.biz, chunk.n
    on = rng.random(n) < P_LISTED
    idx = np.nonzero(on)[0]
    m = len(idx)
    online = b["online"].to_physical().to_numpy().astype(np.int64)[idx]
    later = rng.random(m) < 0.5  # half join when the business goes online, half later
    joined = np.where(later, online + np.ceil(rng.exponential(200.0, m)).astype(np.int64), online)
    has_nib = b["nib"].gather(idx).is_not_null().to_numpy()
    inc = rng.random((m, 3)) < np.array([0.6, 0.7, 0.7])
    inc[:, 2] &= has_nib
    inc &= np.array([contract.has("nik"), contract.has("phone"), contract.has("nib")])
    # every listing carries an identifier the contract has a column for (a NIK, else a phone),
    # and one its key can be made of
    fallback = 0 if contract.has("nik") else 1
    inc[~inc.any(axis=1), fallback] = contract.has(("nik", "phone")[fallback])
    if contract.listing_key.first_valid_of:
        inc[~inc[:, 0] & ~inc[:, 2], 0] = True
    gid = b["gid"].gather(idx).to_numpy()
    number = _number(gid, partner)
    return pl.DataFrame(
        {
            "lid": number,
            "gid": gid,
            "name": b["name"].gather(idx),
            "nik": pl.select(pl.when(pl.Series(inc[:, 0])).then(b["nik"].gather(idx))).to_series(),
            "phone": pl.select(
                pl.when(pl.Series(inc[:, 1])).then(b["phone"].gather(idx))
            ).to_series(),
            "nib": pl.select(pl.when(pl.Series(inc[:, 2])).then(b["nib"].gather(idx))).to_series(),
            "npwp": None,
            "reg": b["reg"].gather(idx),
            "prov": b["prov"].gather(idx),
            "scale": b["scale"].gather(idx).cast(pl.Int8),
            "kbli": b["kbli"].gather(idx),
            "joined": as_date(joined),
            "secs": rng.integers(6 * 3600, 23 * 3600, m).astype(np.int32),
            "omzet": b["omzet"].gather(idx),
            "products": rng.integers(1, 200, m),
            "counted": np.ones(m, dtype=bool),
            "active": rng.random(m) < 0.97,
        }
    ).with_columns(pl.col("npwp").cast(pl.String))


def _vendors(chunk: Chunk, contract: Contract) -> pl.DataFrame:
    partner = contract.partner
    rng, v = _rng(chunk, partner), chunk.vendors
    keep = rng.random(v.height) < P_VENDOR_LISTED
    v = v.filter(pl.Series(keep))
    m = v.height
    gid = v["vid"].to_numpy()
    return pl.DataFrame(
        {
            "lid": _number(gid, partner),
            "gid": gid,
            "name": v["name"],
            "nik": pl.Series([None] * m, dtype=pl.String),
            "phone": pl.Series([None] * m, dtype=pl.String),
            "nib": v["nib"],
            "npwp": "0" + digits(_number(gid, partner + ":npwp") % 10**14, 14),
            "reg": pl.Series(geo().prov_first_reg[v["prov"].to_numpy()]).cast(pl.Int32),
            "prov": v["prov"],
            "scale": v["scale"].cast(pl.Int8),
            "kbli": pl.Series([None] * m, dtype=pl.String),
            "joined": v["shown"],
            "secs": np.zeros(m, dtype=np.int32),
            "omzet": np.zeros(m, dtype=np.int64),
            "products": rng.integers(1, 300, m),
            "counted": v["umkm"],
            "active": np.ones(m, dtype=bool),
        }
    )


def _number(gid: np.ndarray, partner: str) -> np.ndarray:
    """A partner's own 12-digit number for a business (a bijection of the id: never shared)."""
    salt = np.uint64(partner_salt(partner))
    return (mix64(np.asarray(gid, dtype=np.uint64) ^ salt) % np.uint64(10**12)).astype(np.int64)


def day_rows(rows: pl.DataFrame, contract: Contract, day: date, first: bool) -> pl.DataFrame:
    """The listings an export of `day` carries: a snapshot every one joined by then; a delta the
    ones joined since the day before (on its first delivery, the backlog), and a few changed."""
    joined = pl.col("joined")
    if contract.delivery == "snapshot" or first:
        out = rows.filter(joined <= day)
        return out.with_columns(_changed=pl.lit(False))
    previous = date.fromordinal(day.toordinal() - 1)
    # re-sent as changed at the rate the hand-made delta partners are (bench sets it)
    changed = formats.changed_mask(rows["lid"], day)
    out = rows.with_columns(_changed=changed & (joined <= previous))
    return out.filter(((joined > previous) & (joined <= day)) | pl.col("_changed"))


# -- writing each field as the contract says ---------------------------------------------------


def word(column: Column, canonical: str) -> str:
    """The partner's word for a canonical value (its first spelling in the contract)."""
    values = column.values or {}
    return next((k for k, v in values.items() if v == canonical), canonical)


def date_text(joined: pl.Expr, secs: pl.Expr, parse: str) -> pl.Expr:
    local = joined.cast(pl.Datetime("ms")) + pl.duration(seconds=secs)
    return {
        "iso8601": local.dt.strftime("%Y-%m-%dT%H:%M:%S") + "+07:00",
        "dmy_or_indonesian": joined.dt.strftime("%-d/%-m/%Y"),
        "epoch_ms_utc": ((local - pl.duration(hours=7)).dt.epoch("ms")).cast(pl.String),
        "ymd": joined.dt.strftime("%Y-%m-%d"),
        "date": joined.dt.strftime("%Y-%m-%d"),
        "dmy_dash_or_excel": joined.dt.strftime("%d-%m-%Y"),
        "dmy_dot": joined.dt.strftime("%d.%m.%Y"),
    }[parse]


def _thousands(value: pl.Expr) -> pl.Expr:
    return value.cast(pl.String).str.reverse().str.extract_all(r"\d{1,3}").list.join(".").str.reverse()  # fmt: skip


def render(rows: pl.DataFrame, contract: Contract) -> pl.DataFrame:
    """The partner's columns (named and written as the contract version says) of typed rows."""
    g = geo()
    reg_code = pick(g.reg_codes, rows["reg"])
    frame = rows.with_columns(
        _reg_code=reg_code,
        _reg_name=pick(g.reg_names, rows["reg"]),
        _prov_code=pick(g.prov_codes, rows["prov"]),
        _prov_name=pick(g.prov_names, rows["prov"]),
        _scale=pl.col("scale").replace_strict(
            dict(enumerate(SCALES)), default="menengah", return_dtype=pl.String
        ),
    )
    parts = len(contract.key_columns) if contract.listing_key.columns else 1
    out = []
    for c in contract.columns:
        out.append(_field(c, contract, parts).alias(c.name))
    return frame.select(*out, _lid=pl.col("lid"), _joined=pl.col("joined"))


def _field(c: Column, contract: Contract, parts: int) -> pl.Expr:
    key = pl.col("lid").cast(pl.String).str.zfill(12)
    f = c.field
    if f == "listing_key":
        return pl.col("lid") if c.type in ("int64", "uint64", "exact_integer_text") else key
    if f == "key_part":
        # the key's digits cut into as many parts as the key has, in order
        i = [k.name for k in contract.key_columns].index(c.name)
        width = 12 // parts
        start, length = i * width, (12 - i * width if i == parts - 1 else width)
        return key.str.slice(start, length)
    if f == "record_key":
        return key + "-1"
    if f == "line_no":
        return pl.int_range(1, pl.len() + 1).cast(pl.String)
    if f == "event":
        events = contract.events
        assert events is not None
        return pl.when(pl.col("_changed")).then(pl.lit(events.upsert[-1])).otherwise(pl.lit(events.upsert[0]))  # fmt: skip
    if f in ("name", "nik", "phone", "nib", "npwp", "kbli"):
        return pl.col(f)
    if f == "region_code":
        if c.type and c.type.startswith(("int", "uint")):
            return pl.col("_reg_code").str.replace(".", "", literal=True).cast(pl.Int64)
        return pl.col("_reg_code")
    if f == "province_code":
        if c.type and c.type.startswith(("int", "uint")):
            return pl.col("_prov_code").cast(pl.Int64)
        return pl.col("_prov_code")
    if f == "province_name":
        return pl.col("_prov_name")
    if f == "regency_name":
        return pl.col("_reg_name")
    if f == "category":
        return pl.col("kbli").str.slice(0, 2).replace_strict(SECTORS, default="Lainnya")
    if f == "scale":
        words = {s: word(c, s) for s in SCALES}
        spelled = pl.col("_scale").replace_strict(words, return_dtype=pl.String)
        if contract.not_counted is not None:
            spelled = pl.when(pl.col("counted")).then(spelled).otherwise(pl.lit(word(c, contract.not_counted)))  # fmt: skip
        return spelled
    if f == "status":
        active, other = word(c, "active"), next((k for k, v in (c.values or {}).items() if v != "active"), None)  # fmt: skip
        status = pl.when(pl.col("active")).then(pl.lit(active)).otherwise(pl.lit(other or active))
        return status == "true" if c.type == "bool" else status
    if f == "joined":
        if c.type == "date":
            return pl.col("joined")
        return date_text(pl.col("joined"), pl.col("secs"), str(c.parse))
    if f == "turnover":
        if c.parse == "rupiah":
            return "Rp " + _thousands(pl.col("omzet"))
        return pl.col("omzet").cast(pl.String)
    if f == "products":
        return pl.col("products").cast(pl.String)
    raise ValueError(f"the generator cannot write field {f} (column {c.name!r})")


# -- the files ------------------------------------------------------------------------------------


class JsonlSink:
    """JSON Lines (gzip when the contract says so), nested by the columns' dotted names, in
    parts of `files.part_rows` records named by the contract."""

    def __init__(self, folder: Path, contract: Contract, day: date) -> None:
        self.folder, self.contract, self.day = folder, contract, day
        self.parts: list[Written] = []
        self._handle: tuple | None = None

    def _open(self) -> None:
        self._close()
        path = self.folder / self.contract.files.example(self.day, len(self.parts))
        raw = path.open("wb")
        out = _gzip(raw) if self.contract.files.compression == "gzip" else raw
        self._handle = (raw, out)
        self.parts.append(Written(path.name, path, 0))

    def _close(self) -> None:
        if self._handle:
            raw, out = self._handle
            if out is not raw:
                out.close()
            raw.close()
            self._handle = None

    def write(self, frame: pl.DataFrame) -> None:
        frame = visible(frame)
        limit = self.contract.files.part_rows or 1 << 62
        for row in frame.iter_rows(named=True):  # a new partner's test-sized export
            if not self.parts or self.parts[-1].rows >= limit:
                self._open()
            doc: dict = {}
            for c in self.contract.columns:
                value = row[c.name]
                if value is None:
                    continue
                if c.type == "list":
                    value = [value]
                elif c.type == "exact_integer_text":
                    value = int(value)
                *parents, leaf = c.name.split(".")
                place = doc
                for p in parents:
                    place = place.setdefault(p, {})
                place[leaf] = value
            assert self._handle is not None
            self._handle[1].write((json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8"))
            self.parts[-1].rows += 1

    def close(self) -> list[Written]:
        if not self.parts:
            self._open()
        self._close()
        return self.parts


class ExcelSink:
    """A workbook with the contract's sheet: a title above the header (on `header_row`), one
    row per record (text cells), and the total row the contract describes."""

    def __init__(self, path: Path, contract: Contract) -> None:
        import xlsxwriter

        assert contract.excel is not None
        self.path, self.contract, self.rows = path, contract, 0
        self._wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                                   "strings_to_formulas": False, "strings_to_urls": False})  # fmt: skip
        self._wb.set_properties({"created": datetime(2000, 1, 1)})  # same bytes every time
        self._ws = self._wb.add_worksheet(contract.excel.sheet)
        self._top = contract.excel.header_row - 1  # 0-based row of the header
        if self._top > 0:
            self._ws.write_string(0, 0, f"Laporan {contract.partner}")
        self._ws.write_row(self._top, 0, [c.name for c in contract.columns])

    def write(self, frame: pl.DataFrame) -> None:
        names = [c.name for c in self.contract.columns]
        for i, row in enumerate(visible(frame).select(names).iter_rows()):
            self._ws.write_row(self._top + 1 + self.rows + i, 0, ["" if v is None else str(v) for v in row])  # fmt: skip
        self.rows += frame.height

    def close(self) -> list[Written]:
        total = self.contract.excel.total_row if self.contract.excel else None
        if total is not None:
            names = [c.name for c in self.contract.columns]
            self._ws.write_string(
                self._top + 1 + self.rows, names.index(total.column), total.equals
            )
        self._wb.close()
        return [Written(self.path.name, self.path, self.rows)]


@dataclass
class ContractDay:
    """One partner-day folder written from the contract version in force on its date."""

    contract: Contract  # the version in force
    day: date
    first: bool
    folder: Path
    records: int = 0
    _sink: CsvSink | ParquetSink | JsonlSink | ExcelSink = field(init=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        c = self.contract
        path = self.folder / c.files.example(self.day, 0)
        names = [col.name for col in c.columns]
        if c.format == "csv":
            assert c.csv is not None
            self._sink = CsvSink(
                path, names, separator=c.csv.separator, crlf=c.csv.line_end == "crlf",
                encoding=SINGLE_BYTE.get(c.csv.encoding, "utf-8"), bom=c.csv.encoding == "utf-8-sig",
                compress=c.files.compression == "gzip",
            )  # fmt: skip
        elif c.format == "parquet":
            schema = pa.schema([(col.name, PARQUET[str(col.type)]) for col in c.columns])
            self._sink = ParquetSink(path, schema)
        elif c.format == "jsonl":
            self._sink = JsonlSink(self.folder, c, self.day)
        else:
            self._sink = ExcelSink(path, c)

    @property
    def partner(self) -> str:
        return self.contract.partner

    def add(self, chunk: Chunk) -> None:
        rows = day_rows(listings(chunk, self.contract), self.contract, self.day, self.first)
        if rows.height == 0:
            return
        frame = render(rows, self.contract)
        encoding = self.contract.csv.encoding if self.contract.csv else "utf-8"
        if encoding in SINGLE_BYTE:
            frame = _encodable(frame, SINGLE_BYTE[encoding])
        self._sink.write(frame)
        self.records += frame.height

    def finish(self) -> int:
        files = self._sink.close()
        count = len(files)
        if self.contract.manifest == "required":
            write_manifest(self.folder, files)
            count += 1
        write_success(self.folder)
        return count + 1

    def delivered_listings(self, chunk: Chunk, end: date) -> int:
        return listings(chunk, self.contract).filter(pl.col("joined") <= end).height


def _encodable(frame: pl.DataFrame, codec: str) -> pl.DataFrame:
    """Text the partner's single-byte encoding can hold: what it cannot becomes `?` (a name
    with `’` in an ISO-8859-1 export), as the partner's own export would write it."""
    fixed = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String and not name.startswith("_"):
            values = frame[name].unique().drop_nulls().to_list()
            bad = {v: v.encode(codec, "replace").decode(codec) for v in values}
            bad = {k: v for k, v in bad.items() if k != v}
            if bad:
                fixed.append(pl.col(name).replace(bad))
    return frame.with_columns(fixed) if fixed else frame


__all__ = ["ContractDay", "date_text", "listings", "render", "word"]
