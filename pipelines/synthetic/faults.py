"""Deliberate defects (`--faults`): every case in the last section of partners.md.

A fault kind belongs to one hand-made model of an export (a contract's `synthetic.model`, so
to the partner the contracts give that model) and is either day-level (the file, its columns, its
manifest or its marker) or record-level (a few rows of an otherwise good file). `plan` spreads
the kinds over the range deterministically by seed, on a minority of each partner's
deliveries, never on its first one (the backlog). Each injected fault is
recorded as one line of `_generator/faults.jsonl`:

    {"partner", "export_date", "file", "row", "kind", "expected_outcome"}

`row` is the record number in `file` (1-based, header excluded), null for a day-level fault.
`expected_outcome` is partners.md's outcome in one word:

- `skipped_missing`: not delivered (no `_SUCCESS`), no partner_loads row, a missing day
- `failed`: the partner-day is refused, nothing of it loaded
- `loaded`: loaded as usual (reordered columns, header-only file without manifest, a phone
  that lost its leading 0, which normalisation repairs)
- `loaded_with_warning`: loaded, with a warning (extra column, volume spike, unknown region,
  scale or sector, bad turnover)
- `quarantined`: that record quarantined, the rest of the day loaded
- `identifier_invalid`: that identifier invalid; the record keeps another valid identifier,
  so it still loads
- `last_wins`: the same seller twice in one delivery; the later row wins, both count as loaded

Record faults damage one row each, on days with enough records (a delta partner re-sends a few
existing sellers to get there) that the quarantined ones stay well under half: no partner-day
quarantines half its records except the one meant to (`mostly_quarantined`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from pipelines.synthetic.world import CATALOGUE, MODELS

MIN_ROWS = 5  # a day carrying faults has at least this many records (small: no volume spike)
NEED_ROWS = {"mostly_quarantined", "wrong_encoding", "volume_spike"}
QUARANTINING = {"joined_before_2009", "truncated_last_line", "repeated_header", "joined_future",
                "malformed_row"}  # fmt: skip


@dataclass(frozen=True)
class Kind:
    name: str
    model: str  # the hand-made model whose exports it damages
    level: Literal["day", "record"]
    outcome: str
    # a day-level fault that leaves the rows loadable, so record faults may share its day
    shares_day: bool = False


KINDS: tuple[Kind, ...] = (  # by model, in the models' order
    Kind("not_gzip", "snapshot-csv", "day", "failed"),
    Kind("manifest_rows_mismatch", "snapshot-csv", "day", "failed"),
    Kind("renamed_column", "snapshot-csv", "day", "failed"),
    Kind("mostly_quarantined", "snapshot-csv", "day", "failed"),
    Kind("nik_truncated", "snapshot-csv", "record", "identifier_invalid"),
    Kind("unknown_region", "snapshot-csv", "record", "loaded_with_warning"),
    Kind("unknown_sector", "snapshot-csv", "record", "loaded_with_warning"),
    Kind("wrong_encoding", "spreadsheet-delta-csv", "day", "failed"),
    Kind("wrong_separator", "spreadsheet-delta-csv", "day", "failed"),
    Kind("header_only", "spreadsheet-delta-csv", "day", "loaded"),
    Kind("volume_spike", "spreadsheet-delta-csv", "day", "loaded_with_warning", shares_day=True),
    Kind("nik_scientific", "spreadsheet-delta-csv", "record", "identifier_invalid"),
    Kind("phone_lost_leading_zero", "spreadsheet-delta-csv", "record", "loaded"),
    Kind("unknown_scale", "spreadsheet-delta-csv", "record", "loaded_with_warning"),
    Kind("bad_turnover", "spreadsheet-delta-csv", "record", "loaded_with_warning"),
    Kind("joined_before_2009", "spreadsheet-delta-csv", "record", "quarantined"),
    Kind("truncated_last_line", "spreadsheet-delta-csv", "record", "quarantined"),
    Kind("repeated_header", "spreadsheet-delta-csv", "record", "quarantined"),
    Kind("manifest_sha256_mismatch", "event-jsonl", "day", "failed"),
    Kind("joined_future", "event-jsonl", "record", "quarantined"),
    Kind("malformed_row", "event-jsonl", "record", "quarantined"),
    Kind("duplicate_seller", "event-jsonl", "record", "last_wins"),
    Kind("missing_success", "outlet-parquet", "day", "skipped_missing"),
    Kind("wrong_type", "outlet-parquet", "day", "failed"),
    Kind("not_parquet", "outlet-parquet", "day", "failed"),
    Kind("extra_column", "outlet-parquet", "day", "loaded_with_warning", shares_day=True),
    Kind("unknown_region", "outlet-parquet", "record", "loaded_with_warning"),
    Kind("nik_numeric_cell", "monthly-workbook", "record", "identifier_invalid"),
    Kind("unknown_scale", "monthly-workbook", "record", "loaded_with_warning"),
    Kind("empty_file", CATALOGUE, "day", "failed"),
    Kind("missing_column", CATALOGUE, "day", "failed"),
    Kind("reordered_columns", CATALOGUE, "day", "loaded", shares_day=True),
    Kind("joined_future", CATALOGUE, "record", "quarantined"),
)
KIND_NAMES = sorted({k.name for k in KINDS})


def plan(
    schedule: dict[str, list[date]], models: dict[str, str], seed: int
) -> dict[tuple[str, date], list[Kind]]:
    """Which fault kinds go on which partner-day (deterministic by seed), for the partners
    `models` gives a hand-made model (partner -> model), planned in the models' order.

    At most a third of a partner's deliveries (rounded up) carry faults; day-level kinds get a
    day each, record-level kinds share days when there are not enough. A kind that finds no
    day in a short range is left out (and so not recorded).
    """
    rng = np.random.default_rng([seed, 0xFA_0175])
    out: dict[tuple[str, date], list[Kind]] = {}
    partner_of = {m: p for p, m in models.items()}
    for model in MODELS:
        partner = partner_of.get(model)
        if partner is None:
            continue
        avail = schedule.get(partner, [])[1:]  # never the first delivery: the backlog
        kinds = [k for k in KINDS if k.model == model]
        if not avail or not kinds:
            continue
        n_slots = min(len(avail), len(kinds), -(-len(avail) // 3))
        slots = sorted(avail[i] for i in rng.choice(len(avail), n_slots, replace=False))
        order = rng.permutation(len(kinds))
        day_kinds = [kinds[i] for i in order if kinds[i].level == "day"]
        record_kinds = [kinds[i] for i in order if kinds[i].level == "record"]
        # a volume spike needs a run of ordinary days before it: give it the latest slot
        day_kinds.sort(key=lambda k: k.name == "volume_spike")
        free = list(slots)
        taken: dict[date, list[Kind]] = {}
        for kind in day_kinds[: len(free)]:
            d = free.pop() if kind.name == "volume_spike" else free.pop(0)
            taken[d] = [kind]
        hosts = free + [d for d, ks in taken.items() if ks[0].shares_day]
        for i, kind in enumerate(record_kinds):
            if not hosts:
                break
            d = hosts[i % len(hosts)]
            taken.setdefault(d, []).append(kind)
        for d, ks in taken.items():
            out[(partner, d)] = ks
    return out


@dataclass
class DayFaults:
    """The faults of one partner-day and what has been injected so far."""

    partner: str
    model: str
    day: date
    kinds: list[Kind]
    injected: list[dict] = field(default_factory=list)
    _pending: list[Kind] = field(default_factory=list)
    _accented: bool = False

    def __post_init__(self) -> None:
        self._pending = [k for k in self.kinds if k.level == "record"]

    def has(self, name: str) -> bool:
        return any(k.name == name for k in self.kinds)

    @property
    def pad(self) -> int:
        """Records the day needs: a delta partner re-sends existing sellers up to this many."""
        if not self.kinds:
            return 0
        quarantining = sum(
            k.name in QUARANTINING or k.name == "nik_numeric_cell" for k in self.kinds
        )
        return max(MIN_ROWS, 3 * quarantining + 1)

    def record(self, name: str, file: str, row: int | None, outcome: str | None = None) -> None:
        kind = next(k for k in self.kinds if k.name == name)
        self.injected.append(
            {
                "partner": self.partner,
                "export_date": self.day.isoformat(),
                "file": file,
                "row": row,
                "kind": name,
                "expected_outcome": outcome or kind.outcome,
            }
        )

    def record_day_level(self, file: str, records: int) -> None:
        """Log the day-level faults (those that need rows only if the day had any)."""
        for k in self.kinds:
            if k.level != "day" or (records == 0 and k.name in NEED_ROWS):
                continue
            self.record(k.name, "_SUCCESS" if k.name == "missing_success" else file, None)

    # -- record-level faults ---------------------------------------------------------------

    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Damage a few rows of `frame` (once per partner-day, on a frame big enough).

        Marks each damaged row in a `_fault` column so that its record number can be known
        after the writer has placed it.
        """
        if "_fault" not in frame.columns:
            frame = frame.with_columns(_fault=pl.lit(None, pl.String))
        if self.has("mostly_quarantined"):
            frame = _without_identifiers(frame)
        if self.has("wrong_encoding") and frame.height and not self._accented:
            # the UTF-8 bytes only differ from Windows-1252 where the text is not ASCII
            frame = _set(frame, 0, {"Nama Toko": "Café " + frame["Nama Toko"][0]})
            self._accented = True
        todo = [k for k in self._pending if k.name != "truncated_last_line"]
        if not todo or frame.height < self.pad:
            return frame
        for i, kind in enumerate(todo):
            # a row no other fault has touched, never the last one (it may get truncated)
            untouched = frame.head(frame.height - 1).with_row_index("_i")
            free = untouched.filter(pl.col("_fault").is_null())["_i"]
            row = int(free[(self.day.toordinal() + i) % len(free)])
            frame = _damage(self.model, kind.name, frame, row, self.day)
            self._pending.remove(kind)
        return frame

    @property
    def pending_truncation(self) -> bool:
        return any(k.name == "truncated_last_line" for k in self._pending)

    def collect(
        self, frame: pl.DataFrame, offset: int, file_of: Callable[[int], tuple[str, int]]
    ) -> None:
        """Record the damaged rows of a written frame; `offset` records came before it."""
        if "_fault" not in frame.columns:
            return
        hits = frame.with_row_index("_i").filter(pl.col("_fault").is_not_null())
        for i, mark in hits.select("_i", "_fault").iter_rows():
            name, _, outcome = mark.partition("|")  # `kind|outcome` overrides the outcome
            file, row = file_of(offset + i + 1)
            self.record(name, file, row, outcome or None)


def _set(
    frame: pl.DataFrame, row: int, values: dict[str, object], kind: str | None = None
) -> pl.DataFrame:
    """`frame` with the given cells of one row replaced (and the row marked `kind`)."""
    at = pl.int_range(pl.len()) == row
    exprs = [
        pl.when(at).then(pl.lit(v, dtype=frame.schema[c])).otherwise(pl.col(c)).alias(c)
        for c, v in values.items()
    ]
    if kind is not None:
        exprs.append(pl.when(at).then(pl.lit(kind)).otherwise(pl.col("_fault")).alias("_fault"))
    return frame.with_columns(exprs)


def _without_identifiers(frame: pl.DataFrame) -> pl.DataFrame:
    """The snapshot's broken export: three rows in five lost every identifier."""
    bad = pl.int_range(pl.len()) % 5 < 3
    return frame.with_columns(
        pl.when(bad).then(pl.lit(None, pl.String)).otherwise(pl.col(c)).alias(c)
        for c in ("owner_nik", "owner_phone", "nib")
    )


def _scientific(nik: str) -> str:
    """What Excel shows for a 16-digit number: `3.27301E+15`."""
    return f"{nik[0]}.{nik[1:6]}E+15"


def _damage(model: str, name: str, frame: pl.DataFrame, r: int, day: date) -> pl.DataFrame:
    nik = frame["_nik"][r] if "_nik" in frame.columns else ""
    phone = frame["_phone"][r] if "_phone" in frame.columns else ""
    if model == "snapshot-csv":
        values = {
            "nik_truncated": {"owner_nik": nik[:15], "owner_phone": phone},
            "unknown_region": {"regency_code": "99.99"},
            "unknown_sector": {"kbli": "00000"},
        }[name]
        return _set(frame, r, values, name)
    if model == "spreadsheet-delta-csv":
        if name == "repeated_header":
            header = (
                frame.head(1)
                .with_columns(
                    pl.lit(c, dtype=pl.String).alias(c)
                    for c in frame.columns
                    if not c.startswith("_")
                )
                .with_columns(_fault=pl.lit(name))
            )
            return pl.concat([frame.head(r), header, frame.slice(r)])
        values = {
            "nik_scientific": {"NIK Pemilik": _scientific(nik), "No. HP": phone},
            "phone_lost_leading_zero": {"No. HP": phone[1:]},
            "unknown_scale": {"Skala Usaha": "Usaha Rumahan"},
            "bad_turnover": {"Omzet Bulanan (Rp)": "sekitar 5 jt"},
            "joined_before_2009": {"Tanggal Bergabung": "17/6/2008"},
        }[name]
        return _set(frame, r, values, name)
    if model == "event-jsonl":
        if name == "joined_future":
            future = (day + timedelta(days=3) - date(1970, 1, 1)).days * 86_400_000 + 36_000_000
            return _set(frame, r, {"_onboarded": future}, name)
        if name == "malformed_row":
            broken = frame.slice(r, 1).with_columns(_broken=pl.lit(True), _fault=pl.lit(name))
            frame = frame.with_columns(_broken=pl.lit(False))
            return pl.concat([frame.head(r), broken, frame.slice(r)])
        if name == "duplicate_seller":
            again = frame.slice(r, 1).with_columns(
                _event=pl.lit("updated"), _scale=(pl.col("_scale") + 1) % 3, _fault=pl.lit(name)
            )
            return pl.concat([frame, again], how="diagonal_relaxed")
    if model == "outlet-parquet":
        return _set(frame, r, {"province_code": 99, "regency_code": 9999}, name)
    if model == "monthly-workbook":
        if name == "nik_numeric_cell":
            # the key falls back to the NIB once the NIK is unusable: damage a row that has one
            with_nib = frame.with_row_index("_i").filter(
                pl.col("NIB").is_not_null() & pl.col("_fault").is_null()
            )["_i"]
            # (with no NIB anywhere the row is left without a listing key: quarantined)
            mark = name if len(with_nib) else f"{name}|quarantined"
            r = int(with_nib[0]) if len(with_nib) else r
            return _set(frame, r, {"NIK": frame["_nik"][r], "_nik_number": True}, mark)
        return _set(frame, r, {"Skala": "Sedang"}, name)
    if model == CATALOGUE:
        return _set(frame, r, {"tanggal_tayang": (day + timedelta(days=10)).isoformat()}, name)
    raise ValueError(f"no record fault {name!r} for model {model}")


def truncate_last_line(path: Path) -> None:
    """Cut the file in the middle of its last record (no line end after it)."""
    data = path.read_bytes()
    body = data.rstrip(b"\r\n")
    start = body.rfind(b"\n") + 1
    path.write_bytes(body[: start + max(1, (len(body) - start) // 2)])


def write_log(path: Path, injected: list[dict]) -> None:
    """`faults.jsonl`: one object per injected fault, in date, partner, kind order."""
    rows = sorted(
        injected, key=lambda f: (f["export_date"], f["partner"], f["kind"], f["row"] or 0)
    )
    path.write_text("".join(json.dumps(f) + "\n" for f in rows), encoding="utf-8")
