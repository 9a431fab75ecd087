"""What a partner-day's stages hand on: where its staged tables are and what they found.

Never personal data: counts, hashes, reasons in words, and the name (or file) of the staged
database in the run's DuckDB instance."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from pipelines.warehouse import store as warehouse


@dataclass(frozen=True)
class Staged:
    """A staged partner-day: the database holding `records`, `listings` (marketplaces) and
    `validation`, attached to the run's DuckDB instance (`path` None) or a DuckDB file another
    process wrote (Dask workers), attached read-only by the loader."""

    database: str
    path: Path | None = None


@dataclass(frozen=True)
class Step:
    partner: str
    export_date: date
    status: str  # pending | unchanged | failed | loaded
    content_sha256: str | None = None
    contract_sha256: str | None = None
    files: tuple[dict[str, object], ...] = ()
    rows_read: int | None = None
    rows_loaded: int = 0
    rows_quarantined: int = 0
    warnings: int = 0
    detail: str | None = None
    notes: tuple[str, ...] = ()  # delivery-level warnings
    staged: Staged | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    # a refused delivery that came again unchanged: still failed, its ledger row left as it is
    standing: bool = False

    @property
    def label(self) -> str:
        return f"{self.partner} {self.export_date.isoformat()}"

    def fail(self, reason: str, rows_read: int | None = None) -> Step:
        return replace(self, status="failed", detail=reason, rows_read=rows_read, rows_loaded=0,
                       rows_quarantined=0, warnings=0, staged=None)  # fmt: skip

    def timed(self, stage: str, started: float, **changes: Any) -> Step:
        """This step with `stage`'s duration added (and any other fields changed)."""
        seconds = {**self.seconds, stage: round(time.perf_counter() - started, 3)}
        return replace(self, seconds=seconds, **changes)

    def outcome(self) -> warehouse.PartnerDayOutcome:
        """Its `partner_loads` row."""
        detail = "; ".join(([self.detail] if self.detail else []) + list(self.notes)) or None
        return warehouse.PartnerDayOutcome(
            self.partner, self.export_date, "failed" if self.status == "failed" else "loaded",
            self.rows_read, self.rows_loaded, self.rows_quarantined, self.warnings,
            self.content_sha256, self.contract_sha256, detail, json.dumps(list(self.files), sort_keys=True),
        )  # fmt: skip


def delivered_bytes(step: Step) -> int:
    """The partner-day's data files' total size as delivered (compressed where they are)."""
    return sum(int(f.get("size") or 0) for f in step.files)  # type: ignore[call-overload]
