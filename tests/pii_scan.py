"""Scan files for personal data of a generated case: its owners' NIKs and phone numbers.

Every file under the given folders is read: DuckDB files through SQL (their strings may be
compressed on disk), gzip and Arrow files decoded, everything else as bytes. A NIK is found in
any text where a digit run is its 16 digits (or the first 15, a spreadsheet-cut NIK); a phone
where a digit run is it with `0`, `62` or nothing before its digits, spaces, dots, dashes and
parentheses between digits ignored (so `0812-3456-7890`, `+62 812 3456 7890`, `6281234567890`
and `81234567890` all match). Digit runs inside longer letters-and-digits words (hex
pseudonyms) do not count.

    python -m tests.pii_scan LANDING FOLDER [FOLDER ...]   # needles from LANDING/_generator/world.json
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import sys
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

import duckdb
import polars as pl

from pipelines.synthetic.world import World

_JOIN_DIGITS = re.compile(r"(?<=\d)[ .\-()]+(?=\d)")
_RUN = re.compile(r"(?<![0-9A-Za-z])\d{9,}(?![0-9A-Za-z])")


@dataclass(frozen=True)
class Needles:
    niks: frozenset[str]
    phone_cores: frozenset[str]  # digits after the leading 0, e.g. 81234567890

    def find(self, text: str) -> set[str]:
        hits = set()
        for run in _RUN.findall(_JOIN_DIGITS.sub("", text)):
            if run in self.niks or run in self._nik15:
                hits.add("NIK")
            core = run[2:] if run.startswith("62") else run[1:] if run.startswith("0") else run
            if core in self.phone_cores:
                hits.add("phone")
        return hits

    @cached_property
    def _nik15(self) -> frozenset[str]:
        return frozenset(n[:15] for n in self.niks)


def needles_from_world(seed: int, merchants: int, start: date, end: date) -> Needles:
    """Every owner NIK and phone of a generated world (regenerated chunk by chunk)."""
    world = World(seed=seed, merchants=merchants, start=start, end=end)
    niks: set[str] = set()
    phones: set[str] = set()
    for k in range(world.n_chunks):
        biz = world.chunk(k).biz
        niks.update(biz["nik"].drop_nulls().to_list())
        for column in ("phone", "phone2"):
            phones.update(p.lstrip("0") for p in biz[column].drop_nulls().to_list())
    return Needles(frozenset(niks), frozenset(phones))


def needles_from_landing(landing: Path) -> Needles:
    info = json.loads((landing / "_generator" / "world.json").read_text())
    return needles_from_world(
        int(info["seed"]),
        int(info["merchants"]),
        date.fromisoformat(info["start"]),
        date.fromisoformat(info["end"]),
    )


def _duckdb_texts(path: Path) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        texts = []
        tables = con.execute(
            "SELECT database_name, schema_name, table_name FROM duckdb_tables()"
        ).fetchall()
        for db, schema, table in tables:
            name = f'"{db}"."{schema}"."{table}"'
            columns = [
                c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {name})").fetchall()
            ]
            for column in columns:
                values = con.execute(
                    f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM {name}'
                ).fetchall()
                texts.extend(v for (v,) in values if v)
        return texts
    finally:
        con.close()


def _file_texts(path: Path) -> list[str]:
    data = path.read_bytes()
    texts = [data.decode("latin-1")]
    if data[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError):
            texts.append(gzip.decompress(data).decode("latin-1"))
    if path.suffix == ".arrow" or data[:6] == b"ARROW1":
        frame = pl.read_ipc(path)
        texts.extend(
            str(v)
            for col in frame.columns
            for v in frame[col].cast(pl.String, strict=False).drop_nulls()
        )
    return texts


def scan(folders: list[Path], needles: Needles) -> list[str]:
    """`path: NIK/phone` for every file under `folders` that holds a needle."""
    findings = []
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
            if path.name.endswith(".wal"):
                texts = _file_texts(path)
            else:
                try:
                    texts = _duckdb_texts(path) + _file_texts(path)
                except (duckdb.Error, duckdb.IOException):
                    texts = _file_texts(path)
            hits: set[str] = set()
            for text in texts:
                hits |= needles.find(text)
            if hits:
                findings.append(f"{path}: {', '.join(sorted(hits))}")
    return findings


def main(argv: list[str]) -> int:
    landing, *folders = (Path(a) for a in argv)
    needles = needles_from_landing(landing)
    findings = scan(folders, needles)
    for line in findings:
        print(f"personal data found: {line}")
    print(f"scanned {', '.join(map(str, folders))} for {len(needles.niks)} NIKs and "
          f"{len(needles.phone_cores)} phones: {len(findings)} files with personal data")  # fmt: skip
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
