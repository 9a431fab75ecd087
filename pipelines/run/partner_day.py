"""One partner-day through its stages: inspect, read, transform, validate, load.

Each stage is a plain function; the flows wrap each in a Prefect task. Stages hand over
Arrow IPC files in the staging area (pseudonymised only) and small frozen dataclasses, so a
stage can run in another process or on another machine (Dask) and only the load needs the
single warehouse writer.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipelines import crash, release
from pipelines.contracts import CONTRACT_DIR, Contract
from pipelines.intake.landing import Delivery, DeliveryRefused, PartnerDay, inspect_delivery
from pipelines.intake.staging import read_partner_day, write_frame
from pipelines.quality.normalise import listing_day_records, normalise
from pipelines.quality.validate import data_docs_page, validate, warm_up
from pipelines.settings import Settings
from pipelines.warehouse import store as warehouse


def contract_sha256(contract: Contract) -> str:
    return hashlib.sha256((CONTRACT_DIR / f"{contract.partner}.yaml").read_bytes()).hexdigest()


@dataclass(frozen=True)
class Step:
    """What a stage hands on: where its files are and what it found. Never personal data."""

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
    work_dir: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    # a refused delivery that came again unchanged: still failed, its ledger row left as it is
    standing: bool = False

    @property
    def label(self) -> str:
        return f"{self.partner} {self.export_date.isoformat()}"

    def fail(self, reason: str, rows_read: int | None = None) -> Step:
        return replace(
            self,
            status="failed",
            detail=reason,
            rows_read=rows_read,
            rows_loaded=0,
            rows_quarantined=0,
            warnings=0,
        )

    def timed(self, stage: str, started: float, **changes: Any) -> Step:
        """This step with `stage`'s duration added (and any other fields changed)."""
        seconds = {**self.seconds, stage: round(time.perf_counter() - started, 3)}
        return replace(self, seconds=seconds, **changes)


class RunAborted(RuntimeError):
    """The machine, not the partner's delivery, failed a stage (disk full, out of memory, an
    I/O error): the run stops, and no partner-day is marked failed for it."""


_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ENOMEM}
_MACHINE_WORDS = ("no space left on device", "disk quota exceeded", "out of memory",
                  "read-only file system", "input/output error")  # fmt: skip


def machine_failure(exc: BaseException) -> bool:
    """Whether an exception says the machine failed (then the run stops) rather than the data."""
    if isinstance(exc, MemoryError | RunAborted):
        return True
    if isinstance(exc, OSError) and exc.errno in _MACHINE_ERRNOS:
        return True
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error | OSError) and any(w in text for w in _MACHINE_WORDS)


def isolated(stage: str) -> Callable[[Callable[..., Step]], Callable[..., Step]]:
    """Run a stage so that whatever a partner's files do to it fails only that partner-day,
    with a reason, never the run; a machine failure stops the run with a clear message."""

    def wrap(fn: Callable[..., Step]) -> Callable[..., Step]:
        @functools.wraps(fn)
        def run(step: Step, *args: Any, **kwargs: Any) -> Step:
            try:
                return fn(step, *args, **kwargs)
            except Exception as exc:
                where = f"{step.label}: {stage}"
                if machine_failure(exc):
                    raise RunAborted(f"{where} stopped: {_first_line(exc)}") from exc
                return step.fail(
                    f"could not {stage} the delivery: unexpected {type(exc).__name__}: "
                    f"{_first_line(exc)}",
                    step.rows_read,
                )

        return run

    return wrap


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def delivered_bytes(step: Step) -> int:
    """The partner-day's data files' total size as delivered (compressed where they are)."""
    return sum(int(f.get("size") or 0) for f in step.files)  # type: ignore[call-overload]


def inspect(
    day: PartnerDay,
    contract: Contract,
    settings: Settings,
    ledger: warehouse.LedgerEntry | None,
    run_id: str = "adhoc",
) -> tuple[Step, Delivery]:
    """Hash the delivery; `unchanged` when the ledger already holds this content under this contract."""
    started = time.perf_counter()
    known = ledger.known_files() if ledger else None
    delivery = inspect_delivery(
        day, contract, settings.max_file_bytes, settings.max_day_bytes, known
    )
    step = Step(day.partner, day.export_date, "pending", delivery.content_sha256, contract_sha256(contract),
                tuple(f.stamp() for f in delivery.files), notes=delivery.warnings)  # fmt: skip
    if (
        ledger
        and ledger.content_sha256 == step.content_sha256
        and ledger.contract_sha256 == step.contract_sha256
    ):
        if ledger.status != "failed":
            return step.timed("inspect", started, status="unchanged"), delivery
        if ledger.pipeline_version == release():
            # a refusal stays a failure until a corrected delivery (or a new release) re-judges it
            failed = step.fail(ledger.detail or "refused (see partner_loads)", ledger.rows_read)
            return replace(failed, standing=True).timed("inspect", started), delivery
    crash.point("inspect-done")
    if delivery.refusal:
        return step.timed("inspect", started).fail(delivery.refusal), delivery
    # per run: two overlapping runs staging the same partner-day never share files
    work = settings.staging_dir / run_id / day.partner / day.export_date.isoformat()
    return step.timed("inspect", started, work_dir=work), delivery


@isolated("read")
def read(
    step: Step, delivery: Delivery, contract: Contract, key: bytes, settings: Settings
) -> Step:
    """Read and pseudonymise every record; writes raw.arrow."""
    if step.status != "pending":
        return step
    warm_up()  # validation will need Great Expectations: import it while this reads
    started = time.perf_counter()
    assert step.work_dir is not None
    try:
        out = read_partner_day(delivery, contract, key, settings.max_uncompressed_bytes)
    except DeliveryRefused as exc:
        return step.timed("read", started).fail(exc.reason, exc.rows_read)
    write_frame(out.frame, step.work_dir / "raw.arrow")
    crash.point("read-done")
    stamps = {f.name: f.stamp() for f in delivery.files}
    files = tuple({**stamps[f.name], "rows": f.rows} for f in out.files)
    return step.timed(
        "read", started, files=files, rows_read=out.rows_read, notes=step.notes + out.warnings
    )


@isolated("transform")
def transform(step: Step, contract: Contract) -> Step:
    """Canonical records (records.arrow) and one row per listing for the day (day_records.arrow)."""
    if step.status != "pending":
        return step
    started = time.perf_counter()
    assert step.work_dir is not None
    raw = pl.scan_ipc(step.work_dir / "raw.arrow")
    if not raw.collect_schema().names():
        raw = pl.LazyFrame(
            schema={
                "_file": pl.String,
                "_file_index": pl.Int32,
                "_row": pl.Int64,
                "_malformed": pl.String,
            }
        )
    raw = _ensure_columns(raw, contract)
    records = normalise(raw, contract, step.export_date).collect()
    write_frame(records, step.work_dir / "records.arrow")
    if contract.channel == "marketplace":
        write_frame(
            listing_day_records(records.lazy(), contract).collect(),
            step.work_dir / "day_records.arrow",
        )
    crash.point("transform-done")
    quarantined = records.select(pl.col("quarantine_rule").is_not_null().sum()).item()
    warned = records.select((pl.col("warnings").list.len() > 0).sum()).item()
    return step.timed(
        "transform",
        started,
        rows_loaded=records.height - quarantined,
        rows_quarantined=quarantined,
        warnings=warned,
    )


def _ensure_columns(raw: pl.LazyFrame, contract: Contract) -> pl.LazyFrame:
    names = raw.collect_schema().names()
    needed = {c.field for c in contract.columns if not c.pii} | {
        "nik_ps",
        "nik_problem",
        "phone_ps",
        "phone_problem",
    }
    return raw.with_columns(
        pl.lit(None, pl.String).alias(n) for n in sorted(needed) if n not in names
    )


@isolated("validate")
def run_validation(step: Step, contract: Contract, docs_dir: Path | None = None) -> Step:
    """The partner's Great Expectations suite; fails the day past the quarantine threshold.

    With `docs_dir`, a partner-day that is not clean gets its Data Docs page there."""
    if step.status != "pending":
        return step
    started = time.perf_counter()
    assert step.work_dir is not None
    records = pl.read_ipc(step.work_dir / "records.arrow")
    result = validate(records, contract, step.export_date)
    write_frame(result.results, step.work_dir / "validation.arrow")
    if docs_dir is not None and not result.clean:
        page = docs_dir / step.partner / f"{step.export_date.isoformat()}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        tmp = page.with_suffix(".tmp")
        tmp.write_text(data_docs_page(result, step.label), encoding="utf-8")
        tmp.replace(page)
    notes = list(step.notes)
    summary = describe_rule_counts(result.results)
    if summary:
        notes.append(summary)
    step = step.timed("validate", started, notes=tuple(notes))
    crash.point("validate-done")
    if not result.gate_passed:
        return step.fail(result.gate_detail, step.rows_read)
    return step


def volume_history(
    con: duckdb.DuckDBPyConnection, partner: str, before: date, n: int = 7
) -> list[int]:
    """rows_read of the partner's last `n` loaded days before `before` (for the volume warning)."""
    rows = con.execute(
        """SELECT rows_read FROM partner_loads WHERE partner = ? AND export_date < ? AND status = 'loaded'
           AND rows_read IS NOT NULL ORDER BY export_date DESC LIMIT ?""",
        [partner, before, n],
    ).fetchall()
    return [r[0] for r in rows]


def volume_warning(rows_read: int, history: list[int]) -> str | None:
    """The warning for a volume under a tenth or over ten times the recent median, else None.

    partners.md read literally: the median is the statistical one (the mean of the two middle
    values for an even count), and a median of 0 makes any non-empty day "over ten times" it.
    """
    if not history:
        return None
    median = statistics.median(history)
    if median / 10 <= rows_read <= median * 10:
        return None
    shown = int(median) if median == int(median) else median
    return f"volume warning: {rows_read} records against a recent median of {shown}"


def describe_rule_counts(results: pl.DataFrame) -> str:
    """Quarantine and warning counts in words, e.g. "quarantined: 2 no valid identifier (...)"."""
    parts = []
    for kind, label in (
        ("record rule: quarantined", "quarantined"),
        ("attribute rule: warning", "warnings"),
    ):
        rows = results.filter(pl.col("expectation") == kind).sort(
            "unexpected_count", descending=True
        )
        if rows.height:
            items = [
                f"{n} {what} ({col})" if col else f"{n} {what}"
                for col, n, what in rows.select(
                    "column_name", "unexpected_count", "description"
                ).rows()
            ]
            parts.append(f"{label}: " + ", ".join(items))
    return "; ".join(parts)


def outcome_of(step: Step) -> warehouse.PartnerDayOutcome:
    detail_parts = ([step.detail] if step.detail else []) + list(step.notes)
    return warehouse.PartnerDayOutcome(
        step.partner, step.export_date, "failed" if step.status == "failed" else "loaded", step.rows_read,
        step.rows_loaded, step.rows_quarantined, step.warnings, step.content_sha256, step.contract_sha256,
        "; ".join(detail_parts) or None, json.dumps(list(step.files), sort_keys=True),
    )  # fmt: skip


def load(con: duckdb.DuckDBPyConnection, step: Step, contract: Contract, run_id: str) -> Step:
    """Write the partner-day into the warehouse in one transaction (or record its failure);
    a machine failure (disk full) stops the run with the partner-day left as it was."""
    try:
        return _load(con, step, contract, run_id)
    except Exception as exc:
        if machine_failure(exc):
            raise RunAborted(f"{step.label}: load stopped: {_first_line(exc)}") from exc
        raise


def _load(con: duckdb.DuckDBPyConnection, step: Step, contract: Contract, run_id: str) -> Step:
    at = datetime.now(UTC)
    if step.standing:
        warehouse.record_attempt(
            con,
            run_id,
            step.partner,
            step.export_date,
            "failed",
            step.content_sha256,
            step.detail,
            at,
        )
        return step
    if step.status != "unchanged":
        # another run may have loaded this very content while this one was staging it
        current = warehouse.ledger_entry(con, step.partner, step.export_date)
        if current and (current.content_sha256, current.contract_sha256) == (
            step.content_sha256,
            step.contract_sha256,
        ):
            if current.status == "failed":
                detail = current.detail or "refused (see partner_loads)"
                return _load(con, replace(step.fail(detail, current.rows_read), standing=True),
                             contract, run_id)  # fmt: skip
            step = replace(step, status="unchanged")
    if step.status == "unchanged":
        if step.work_dir is not None:
            shutil.rmtree(step.work_dir, ignore_errors=True)
        warehouse.record_attempt(
            con, run_id, step.partner, step.export_date, "unchanged", step.content_sha256, None, at
        )
        return step
    started = time.perf_counter()
    if step.status != "failed" and step.rows_read is not None:
        # judged against the partner's loaded days as they stand when this one is loaded, so a
        # backfill gives the same warnings however it was split into runs or interrupted
        warning = volume_warning(
            step.rows_read, volume_history(con, step.partner, step.export_date)
        )
        if warning:
            step = replace(step, notes=(*step.notes, warning))
    outcome = outcome_of(step)
    if step.status == "failed":
        warehouse.save_failure(con, outcome, at)
    else:
        assert step.work_dir is not None
        if step.rows_read != step.rows_loaded + step.rows_quarantined:
            raise AssertionError(
                f"{step.label}: rows read {step.rows_read} != loaded + quarantined"
            )
        records = pl.read_ipc(step.work_dir / "records.arrow")
        day_records = (
            pl.read_ipc(step.work_dir / "day_records.arrow")
            if contract.channel == "marketplace"
            else None
        )
        validation = pl.read_ipc(step.work_dir / "validation.arrow")
        warehouse.load_partner_day(
            con,
            outcome,
            records,
            day_records,
            validation,
            contract.channel,
            contract.delivery == "snapshot",
            at,
        )
        step = replace(step, status="loaded")
        crash.point("load-after-commit")
    warehouse.record_attempt(
        con,
        run_id,
        step.partner,
        step.export_date,
        outcome.status,
        step.content_sha256,
        outcome.detail,
        at,
    )
    if step.work_dir is not None:
        shutil.rmtree(step.work_dir, ignore_errors=True)
    return step.timed("load", started)
