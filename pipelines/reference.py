"""Reference tables shipped in schemas/reference (Kemendagri regions, KBLI, targets).

Loaded once per process and returned as Polars frames; small (hundreds to thousands of rows).
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import polars as pl

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "schemas" / "reference"
PROGRAMME_START = date(2020, 5, 14)
EARLIEST_JOINED = date(2009, 1, 1)


def _read(name: str) -> pl.DataFrame:
    # every column is text: codes such as "11.01" or "01" must keep their form
    return pl.read_csv(REFERENCE_DIR / name, infer_schema=False)


@cache
def provinces() -> pl.DataFrame:
    """Columns: code (2 digits), name."""
    return _read("provinces.csv")


@cache
def regencies() -> pl.DataFrame:
    """Columns: code (`11.01` form), province_code, name (`Kabupaten X` / `Kota X`)."""
    return _read("regencies.csv")


@cache
def districts() -> pl.DataFrame:
    """Columns: code (`11.01.01` form), regency_code, name."""
    return _read("districts.csv")


@cache
def kbli_divisions() -> pl.DataFrame:
    """One row per KBLI 2-digit division: division, category (A-U)."""
    cats = _read("kbli_categories.csv")
    return (
        cats.select("category", pl.col("divisions").str.split(" ").alias("division"))
        .explode("division")
        .select("division", "category")
    )


@cache
def targets() -> pl.DataFrame:
    """Columns: target_date, target_umkm (Int64), announced_on, source."""
    return _read("targets.csv").with_columns(
        pl.col("target_date").str.to_date(),
        pl.col("announced_on").str.to_date(),
        pl.col("target_umkm").cast(pl.Int64),
    )


@cache
def published_progress() -> pl.DataFrame:
    """Officially published figures: as_of_date, umkm_reported, definition, source."""
    return _read("published_progress.csv").with_columns(
        pl.col("as_of_date").str.to_date(), pl.col("umkm_reported").cast(pl.Int64)
    )
