"""The read step: a delivered partner-day to one pseudonymised frame of raw records.

Raw NIK and phone values exist only inside `read_partner_day`: identifier rules are judged on
them there, then they are replaced by keyed pseudonyms before the frame is returned or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.contracts import Contract
from pipelines.intake.landing import Delivery, DeliveryRefused
from pipelines.intake.readers import read_file
from pipelines.quality.identifiers import (
    clean_text,
    nik_problem,
    normalise_phone,
    phone_verdict,
    pseudonymise,
)


@dataclass(frozen=True)
class FileSummary:
    name: str
    sha256: str
    size: int
    rows: int


@dataclass(frozen=True)
class ReadOutput:
    frame: pl.DataFrame  # pseudonymised: no raw NIK or phone column
    files: tuple[FileSummary, ...]
    warnings: tuple[str, ...]

    @property
    def rows_read(self) -> int:
        return self.frame.height


def read_partner_day(
    delivery: Delivery, contract: Contract, key: bytes, max_uncompressed: int
) -> ReadOutput:
    """Read every data file of a delivery (in name order), check manifest row counts, pseudonymise.

    Raises DeliveryRefused when a file cannot be read as its contract says, or does not match
    its manifest; the exception carries how many records were read before that.
    """
    if delivery.refusal:
        raise DeliveryRefused(delivery.refusal)
    frames: list[pl.DataFrame] = []
    summaries: list[FileSummary] = []
    warnings = list(delivery.warnings)
    read_so_far = 0
    for index, file in enumerate(delivery.files):
        try:
            raw = read_file(file, contract, max_uncompressed)
        except DeliveryRefused as exc:
            raise DeliveryRefused(exc.reason, rows_read=read_so_far or None) from None
        rows = raw.frame.height
        read_so_far += rows
        if delivery.manifest_rows is not None and delivery.manifest_rows[file.name] != rows:
            raise DeliveryRefused(
                f"file {file.shown!r} has {rows} records but manifest.json says {delivery.manifest_rows[file.name]} "
                "(truncated or altered delivery)",
                rows_read=read_so_far,
            )
        frames.append(raw.frame.with_columns(pl.lit(index, pl.Int32).alias("_file_index")))
        summaries.append(FileSummary(file.name, file.sha256, file.size, rows))
        warnings.extend(raw.warnings)
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    return ReadOutput(
        protect_personal_data(frame, contract, key), tuple(summaries), tuple(warnings)
    )


def protect_personal_data(frame: pl.DataFrame, contract: Contract, key: bytes) -> pl.DataFrame:
    """Judge NIK and phone on their raw text, then keep only their pseudonyms and verdicts.

    Adds `nik_ps`, `nik_problem`, `phone_ps`, `phone_problem`; drops every column the contract
    marks personal (nik, phone, npwp) and the spreadsheet-cell flags.
    """
    frame = frame.with_columns(
        pl.lit(None, pl.String).alias(c) for c in ("nik", "phone") if c not in frame.columns
    )
    nik_numeric = pl.col("_numeric_nik") if "_numeric_nik" in frame.columns else None
    phone_text = pl.col("phone")
    if "_numeric_phone" in frame.columns:
        # a numeric cell lost its leading 0 and may carry a float's ".0"
        phone_text = (
            pl.when(pl.col("_numeric_phone"))
            .then(phone_text.str.replace(r"\.0+$", ""))
            .otherwise(phone_text)
        )
    # materialise each step once: an expression used twice in a chain is computed twice
    frame = frame.with_columns(
        clean_text(pl.col("nik")).alias("_nik_text"), clean_text(phone_text).alias("_phone_text")
    )
    frame = frame.with_columns(normalise_phone(pl.col("_phone_text")).alias("_phone_norm"))
    frame = frame.with_columns(
        nik_problem(pl.col("_nik_text"), nik_numeric, cleaned=True).alias("nik_problem"),
        phone_verdict(pl.col("_phone_text").is_null(), pl.col("_phone_norm")).alias(
            "phone_problem"
        ),
    ).with_columns(
        pl.when(pl.col("nik_problem").is_null()).then(pl.col("_nik_text")).alias("nik_ps"),
        pl.when(pl.col("phone_problem").is_null()).then(pl.col("_phone_norm")).alias("phone_ps"),
    )
    personal = {c.field for c in contract.columns if c.pii} | {"nik", "phone"}
    frame = frame.drop(
        [c for c in frame.columns if c in personal or c.startswith("_numeric_")]
        + ["_phone_norm", "_nik_text", "_phone_text"]
    )
    frame = pseudonymise(frame, {"nik_ps": "nik", "phone_ps": "phone"}, key)
    return frame


def write_frame(frame: pl.DataFrame, path: Path) -> Path:
    """Arrow IPC (lz4) for hand-offs between steps: fast, typed, memory-mappable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.write_ipc(tmp, compression="lz4")
    tmp.replace(path)
    return path
