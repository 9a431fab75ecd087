"""Write a landing area: `<out>/<partner>/<export_date>/<files>` for every scheduled delivery.

The partners are the contracts' (UMKM_CONTRACTS), each delivering on the days its contract
schedules, its files named as the contract says. A contract with `synthetic: {model: ...}` is
written by that hand-made model of an export, which carries its quirks and faults (MODELS
below, formats.py, faults.py); any other contract is written from the contract alone
(contracted.py). A day a contract version other than the first is in force is written as that
version says (columns renamed, another date format, another separator).

The loop is over days, then chunks of businesses, then the partners delivering that day: each
chunk is generated once per day and feeds every partner's files, so memory holds one chunk
and one chunk's rows per partner, whatever the number of businesses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from pipelines.contracts import SINGLE_BYTE, Contract, load_contracts
from pipelines.synthetic import contracted
from pipelines.synthetic import faults as F
from pipelines.synthetic import formats as fmt
from pipelines.synthetic.world import (
    CATALOGUE,
    CHUNK_SIZE,
    MARKETPLACE_MODELS,
    MODELS,
    Chunk,
    World,
)
from pipelines.synthetic.writers import (
    PART_ROWS,
    CsvSink,
    JsonlPartsSink,
    ParquetSink,
    Written,
    XlsxSink,
    recompress,
    write_manifest,
    write_success,
)


@dataclass(frozen=True)
class GenerateSummary:
    """What `generate` wrote. `listings` counts, per marketplace partner, the listings its
    exports in the range carry; `files` counts every file under the partner folders (data,
    manifests, markers)."""

    out: Path
    businesses: int
    listings: dict[str, int]
    ekatalog_vendors: int
    umkm_expected: int
    partner_days: int
    files: int
    faults: int


def schedule(start: date, end: date, contracts: Mapping[str, Contract] | None = None) -> dict[str, list[date]]:  # fmt: skip
    """Delivery days per partner, as its contract schedules them."""
    contracts = load_contracts() if contracts is None else contracts
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return {p: [d for d in days if c.is_scheduled(d)] for p, c in _ordered(contracts).items()}


def models(contracts: Mapping[str, Contract]) -> dict[str, str]:
    """The hand-made model of each partner whose contract names one (partner -> model); a
    model writes one partner's exports."""
    out: dict[str, str] = {}
    for partner, contract in contracts.items():
        if contract.synthetic is None:
            continue
        model = contract.synthetic.model
        other = next((p for p, m in out.items() if m == model), None)
        if other is not None:
            raise ValueError(
                f"contracts {other} and {partner} both name synthetic model {model}; a model "
                "writes one partner's exports (leave `synthetic` out to generate from the contract)"
            )
        out[partner] = model
    return out


def _ordered(contracts: Mapping[str, Contract]) -> dict[str, Contract]:
    """The contracts in generation order: those with a hand-made model in the models' order,
    then the others by name."""
    made = models(contracts)
    first = sorted(made, key=lambda p: MODELS.index(made[p]))
    return {p: contracts[p] for p in [*first, *sorted(set(contracts) - set(made))]}


def file_name(contract: Contract, day: date, part: int = 0) -> str:
    """A data file of a partner-day, as the contract version in force names it."""
    return contract.on(day).files.example(day, part)


def adapt(frame: pl.DataFrame, base: Contract, version: Contract) -> pl.DataFrame:
    """A hand-made partner's rows (its first contract's columns) as a later version writes them:
    columns renamed, dropped or reordered, words of scale and status and the date format
    changed (from the `_joined` helper). A field the first version lacks cannot be made up."""
    by_raw = {base.raw_name(c): c for c in base.columns}
    out = []
    for c in version.columns:
        old = by_raw.get(version.raw_name(c))
        if old is None or old.name not in frame.columns:
            raise ValueError(
                f"{version.partner}: the version from {version.version_from} adds field {c.field} "
                f"({c.name!r}), which the hand-made generator of this partner does not write"
            )
        expr = pl.col(old.name)
        if c.parse != old.parse and c.field == "joined":
            expr = contracted.date_text(pl.col("_joined"), pl.lit(0), str(c.parse))
        if c.values != old.values and c.values and old.values:
            words = {k.lower(): contracted.word(c, v) for k, v in old.values.items()}
            expr = expr.str.to_lowercase().replace_strict(words, default=expr)
        out.append(expr.alias(c.name))
    return frame.select(*out, pl.col("^_.*$"))


Sink = CsvSink | JsonlPartsSink | ParquetSink | XlsxSink


@dataclass
class PartnerDay:
    """One partner-day folder being written by its hand-made model, chunk by chunk."""

    partner: str
    model: str
    day: date
    first: bool
    folder: Path
    faults: F.DayFaults
    contract: Contract  # the partner's (all its versions)
    part_rows: int = PART_ROWS
    records: int = 0
    dropped: int = 0  # sellers beyond the Excel sheet's last row (a workbook, huge worlds)
    rename: dict[str, str] = field(init=False, default_factory=dict)  # a fault's renamed columns
    _sink: Sink = field(init=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / file_name(self.contract, self.day)
        self._sink = WRITERS[self.model].sink(self, path)
        version = self.contract.on(self.day)
        if version.version_from is not None:
            # a later version of the contract is in force: its columns, in its text format
            if (
                version.format != "csv"
                or version.csv is None
                or not isinstance(self._sink, CsvSink)
            ):
                raise ValueError(f"{self.partner}: the generator follows a version of a hand-made model's CSV export only")  # fmt: skip
            self._sink.close()
            path.unlink()
            self._sink = CsvSink(
                self.folder / file_name(self.contract, self.day), [c.name for c in version.columns],
                separator=version.csv.separator, crlf=version.csv.line_end == "crlf",
                encoding=SINGLE_BYTE.get(version.csv.encoding, "utf-8"),
                bom=version.csv.encoding == "utf-8-sig", compress=version.files.compression == "gzip",
            )  # fmt: skip

    def rows(self, chunk: Chunk) -> pl.DataFrame:
        """This partner-day's rows from one chunk, faults applied."""
        frame = WRITERS[self.model].rows(self, chunk)
        if self.faults.kinds:
            frame = self.faults.apply(frame)
        version = self.contract.on(self.day)
        if version.version_from is not None:
            return adapt(frame, self.contract, version)
        return frame.rename(self.rename)

    def _locate(self, number: int) -> tuple[str, int]:
        """(file, record number in it) of the partner-day's `number`-th record."""
        if self.contract.files.part_rows:
            part, row = divmod(number - 1, self.part_rows)
            return file_name(self.contract, self.day, part), row + 1
        return file_name(self.contract, self.day), number

    def add(self, chunk: Chunk) -> None:
        frame = self.rows(chunk)
        if self.faults.has("header_only") or frame.height == 0:
            return
        sink = self._sink
        if isinstance(sink, XlsxSink) and frame.height > sink.room:
            # one sheet holds 1,048,576 rows: a bigger backlog is cut, as Excel would cut it
            self.dropped += frame.height - sink.room
            frame = frame.head(sink.room)
        if isinstance(sink, JsonlPartsSink):
            sink.write_lines(fmt.event_lines(frame))
        else:
            sink.write(frame)
        self.faults.collect(frame, self.records, self._locate)
        self.records += frame.height

    def finish(self) -> int:
        """Close the files, write manifest and `_SUCCESS` (in that order); return file count."""
        files: list[Written] = self._sink.close()
        has, main = self.faults.has, file_name(self.contract, self.day)
        if self.faults.pending_truncation and self.records:
            F.truncate_last_line(files[0].path)
            self.faults.record("truncated_last_line", main, self.records)
        if has("empty_file"):
            files[0].path.write_bytes(b"")
        count = len(files)
        if self.contract.on(self.day).manifest == "required":
            write_manifest(self.folder, files, rows_delta=7 if has("manifest_rows_mismatch") else 0)
            count += 1
            if has("manifest_sha256_mismatch"):
                # the partner re-compressed the part after writing its manifest
                recompress(files[0].path)
        self.faults.record_day_level(main, self.records)
        if not has("missing_success"):
            write_success(self.folder)
            count += 1
        return count


# -- the hand-made models: each partner-day's sink and rows ---------------------------------
# (columns, types and text options from the contract; faults change them on purpose)


def _names(day: PartnerDay) -> list[str]:
    return [c.name for c in day.contract.columns]


def _snapshot_sink(day: PartnerDay, path: Path) -> Sink:
    if day.faults.has("renamed_column"):
        day.rename = {"owner_phone": "owner_hp"}
    columns = [day.rename.get(c, c) for c in _names(day)]
    return CsvSink(path, columns, compress=not day.faults.has("not_gzip"))


def _spreadsheet_sink(day: PartnerDay, path: Path) -> Sink:
    opts, has = day.contract.csv, day.faults.has
    assert opts is not None
    return CsvSink(
        path,
        _names(day),
        separator="," if has("wrong_separator") else opts.separator,
        crlf=opts.line_end == "crlf",
        encoding="utf-8" if has("wrong_encoding") else SINGLE_BYTE[opts.encoding],
    )


def _events_sink(day: PartnerDay, path: Path) -> Sink:
    return JsonlPartsSink(day.folder, day.part_rows)


def _outlets_sink(day: PartnerDay, path: Path) -> Sink:
    has = day.faults.has
    schema = pa.schema([(c.name, contracted.PARQUET[str(c.type)]) for c in day.contract.columns])  # fmt: skip
    if has("wrong_type"):
        schema = schema.set(6, pa.field("province_code", pa.string()))
    if has("extra_column"):
        schema = schema.append(pa.field("rating", pa.float64()))
    if has("not_parquet"):
        return CsvSink(path, _names(day))
    return ParquetSink(path, schema)


def _workbook_sink(day: PartnerDay, path: Path) -> Sink:
    brand = day.contract.synthetic.brand if day.contract.synthetic else None
    return XlsxSink(path, day.day, brand or day.partner)


def _catalogue_sink(day: PartnerDay, path: Path) -> Sink:
    columns = _names(day)
    if day.faults.has("missing_column"):
        columns.remove("npwp")
    if day.faults.has("reordered_columns"):
        columns = columns[3:] + columns[:3]
    return CsvSink(path, columns, bom=True)


def _outlets_rows(day: PartnerDay, chunk: Chunk) -> pl.DataFrame:
    frame = fmt.outlets_day(chunk, day.day)
    if day.faults.has("extra_column"):
        frame = frame.with_columns(rating=(pl.col("_lid") % 50 / 10.0).cast(pl.Float64))
    return frame


@dataclass(frozen=True)
class Model:
    """How a hand-made model writes a partner-day: its sink, and its rows from a chunk."""

    sink: Callable[[PartnerDay, Path], Sink]
    rows: Callable[[PartnerDay, Chunk], pl.DataFrame]


WRITERS: dict[str, Model] = {
    "snapshot-csv": Model(_snapshot_sink, lambda d, chunk: fmt.snapshot_day(chunk, d.day)),
    "spreadsheet-delta-csv": Model(_spreadsheet_sink, lambda d, chunk: fmt.spreadsheet_day(
        chunk, d.day, d.first, d.faults.pad, spike=d.faults.has("volume_spike"))),
    "event-jsonl": Model(_events_sink, lambda d, chunk: fmt.events_day(chunk, d.day, d.first, d.faults.pad)),
    "outlet-parquet": Model(_outlets_sink, _outlets_rows),
    "monthly-workbook": Model(_workbook_sink, lambda d, chunk: fmt.workbook_month(chunk, d.day, d.first, d.faults.pad)),
    "catalogue-csv": Model(_catalogue_sink, lambda d, chunk: fmt.catalogue_day(chunk, d.day)),
}  # fmt: skip


@dataclass
class _Stats:
    businesses: int = 0
    umkm: int = 0
    vendors: int = 0
    dropped: int = 0
    listings: dict[str, int] = field(default_factory=dict)

    def add(self, chunk: Chunk, last_monday: date | None, contracts: Mapping[str, Contract]) -> None:  # fmt: skip
        made = {m: p for p, m in models(contracts).items()}
        # the world's slots of the marketplace models the contracts give a partner
        slots = {i: made[m] for i, m in enumerate(MARKETPLACE_MODELS) if m in made}
        lst = chunk.listings.filter(
            (pl.col("delivered") < date(9999, 12, 31)) & pl.col("partner").is_in(list(slots))
        )
        self.businesses += chunk.n
        for i, partner in slots.items():
            self.listings[partner] = self.listings.get(partner, 0) + lst.filter(pl.col("partner") == i).height  # fmt: skip
        # one UMKM per business with a delivered listing, less owners' second businesses
        # (linked to the business before them through the owner's NIK)
        seen = np.zeros(chunk.n, dtype=bool)
        seen[lst["bi"].to_numpy()] = True
        for partner, contract in contracts.items():
            if contract.synthetic is not None or contract.channel != "marketplace":
                continue
            own = contracted.listings(chunk, contract).filter(pl.col("joined") <= chunk.world.end)
            self.listings[partner] = self.listings.get(partner, 0) + own.height
            seen[own["gid"].to_numpy() - chunk.first_gid] = True
        second = chunk.biz["same_owner"].to_numpy() & seen & np.roll(seen, 1)
        self.umkm += int(seen.sum() - second.sum())
        if last_monday is not None:
            self.vendors += chunk.vendors.filter(
                pl.col("umkm") & (pl.col("shown") <= last_monday)
            ).height


def generate(
    out: Path,
    start: date,
    end: date,
    merchants: int = 2000,
    seed: int = 0,
    faults: bool = False,
    progress: Callable[[str], None] | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
    part_rows: int = PART_ROWS,
    contracts: Mapping[str, Contract] | None = None,
) -> GenerateSummary:
    """Write every contract's partner's exports (default: the contracts of UMKM_CONTRACTS) for
    every delivery day in [start, end] under `out`, plus `_generator/world.json` (and
    `faults.jsonl` with `faults`: the hand-made models' defects). Same arguments, same bytes.
    """
    contracts = _ordered(load_contracts() if contracts is None else contracts)
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if merchants < 0 or chunk_size < 1:
        raise ValueError("merchants must be >= 0 and chunk_size >= 1")
    out = Path(out)
    world = World(seed=seed, merchants=merchants, start=start, end=end, chunk_size=chunk_size)
    deliveries = schedule(start, end, contracts)
    model_of = models(contracts)
    plan = F.plan(deliveries, model_of, seed) if faults else {}
    catalogue = next((p for p, m in model_of.items() if m == CATALOGUE), None)
    mondays = deliveries.get(catalogue, []) if catalogue else []
    delivering = {p: set(d) for p, d in deliveries.items()}
    stats = _Stats()
    injected: list[dict] = []
    partner_days = files = 0
    cached: Chunk | None = None
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        writers: list[PartnerDay | contracted.ContractDay] = [
            PartnerDay(
                partner,
                model_of[partner],
                day,
                first=day == deliveries[partner][0],
                folder=out / partner / day.isoformat(),
                faults=F.DayFaults(partner, model_of[partner], day, plan.get((partner, day), [])),
                contract=contract,
                part_rows=part_rows,
            )
            if partner in model_of
            else contracted.ContractDay(
                contract.on(day),
                day,
                first=day == deliveries[partner][0],
                folder=out / partner / day.isoformat(),
            )
            for partner, contract in contracts.items()
            if day in delivering[partner]
        ]
        for k in range(world.n_chunks):
            # a one-chunk world is kept across days; a bigger one is regenerated chunk by chunk
            chunk = cached if cached is not None and cached.k == k else world.chunk(k)
            if world.n_chunks == 1:
                cached = chunk
            if offset == 0:
                stats.add(chunk, mondays[-1] if mondays else None, contracts)
            for w in writers:
                w.add(chunk)
        for w in writers:
            n = w.finish()
            files += n
            partner_days += 1
            done = w.faults.injected if isinstance(w, PartnerDay) else []
            injected.extend(done)
            if isinstance(w, PartnerDay) and w.dropped:
                stats.listings[w.partner] -= w.dropped
                stats.dropped += w.dropped
            if progress is not None:
                kinds = sorted({f["kind"] for f in done})
                note = f" [faults: {', '.join(kinds)}]" if kinds else ""
                progress(f"{w.partner} {day}: {w.records:,} records, {n} files{note}")
    gen = out / "_generator"
    gen.mkdir(parents=True, exist_ok=True)
    summary = GenerateSummary(
        out=out,
        businesses=stats.businesses,
        listings=dict(stats.listings),
        ekatalog_vendors=stats.vendors,
        umkm_expected=stats.umkm,
        partner_days=partner_days,
        files=files,
        faults=len(injected),
    )
    workbook = next((p for p, m in model_of.items() if m == "monthly-workbook"), "workbook")
    _write_world(gen / "world.json", world, faults, deliveries, summary, stats.dropped, workbook)
    if faults:
        F.write_log(gen / "faults.jsonl", injected)
    return summary


def _write_world(
    path: Path,
    world: World,
    faults: bool,
    deliveries: dict[str, list[date]],
    s: GenerateSummary,
    dropped: int,
    workbook: str,
) -> None:
    """Counts only: never an identifier of anyone. `dropped`: the sellers of the workbook
    partner cut at the Excel row limit."""
    doc = {
        "seed": world.seed,
        "start": world.start.isoformat(),
        "end": world.end.isoformat(),
        "merchants": world.merchants,
        "chunk_size": world.chunk_size,
        "faults": faults,
        "businesses": s.businesses,
        "listings": s.listings,
        "ekatalog_umkm_vendors": s.ekatalog_vendors,
        "umkm_expected": s.umkm_expected,
        "umkm_expected_note": (
            "UMKM the clean exports of the range describe, by construction: businesses with a "
            "delivered listing, less owners' second businesses sharing the owner's NIK. Random "
            f"identifiers may rarely collide and merge a few more; faults, and {workbook} sellers cut "
            f"at the Excel row limit ({workbook}_beyond_excel_rows), change it."
        ),
        f"{workbook}_beyond_excel_rows": dropped,
        "partner_days": s.partner_days,
        "files": s.files,
        "faults_injected": s.faults,
        "deliveries": {
            p: {
                "count": len(d),
                "first": d[0].isoformat() if d else None,
                "last": d[-1].isoformat() if d else None,
            }
            for p, d in deliveries.items()
        },
    }
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
