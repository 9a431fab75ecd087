"""The landing area: `<landing>/<partner>/<export_date>/<files>`, `_SUCCESS`, `manifest.json`.

A partner's file names are data, never paths: files are found by listing the partner-day
folder and matching names against the contract's pattern; a manifest only names entries of
that listing.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pipelines.contracts import Contract

SUCCESS = "_SUCCESS"
MANIFEST = "manifest.json"
_CHUNK = 1 << 20


class DeliveryRefused(Exception):
    """A partner-day that cannot be loaded at all; `reason` is for the operator."""

    def __init__(self, reason: str, rows_read: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.rows_read = rows_read


@dataclass(frozen=True)
class PartnerDay:
    partner: str
    export_date: date
    folder: Path
    delivered: bool  # `_SUCCESS` present

    @property
    def label(self) -> str:
        return f"{self.partner} {self.export_date.isoformat()}"


@dataclass(frozen=True)
class DeliveredFile:
    name: str
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class Delivery:
    """What a delivered partner-day folder holds, hashed; nothing parsed yet."""

    files: tuple[DeliveredFile, ...]
    manifest_rows: dict[str, int] | None  # file name -> rows, when the contract has a manifest
    content_sha256: str  # over the data files' contents only, so renaming changes nothing
    warnings: tuple[str, ...]
    refusal: str | None  # why the delivery cannot be loaded, found before parsing


def scan(
    landing: Path,
    contracts: dict[str, Contract],
    start: date,
    end: date,
    partners: list[str] | None = None,
) -> list[PartnerDay]:
    """Every partner-day folder in [start, end], delivered or not, in (date, partner) order."""
    found: list[PartnerDay] = []
    for partner in partners or list(contracts):
        base = landing / partner
        if not base.is_dir():
            continue
        for entry in os.scandir(base):
            if not entry.is_dir(follow_symlinks=False):
                continue
            try:
                day = date.fromisoformat(entry.name)
            except ValueError:
                continue
            if start <= day <= end and entry.name == day.isoformat():
                folder = Path(entry.path)
                delivered = (folder / SUCCESS).is_file()
                found.append(PartnerDay(partner, day, folder, delivered))
    return sorted(found, key=lambda d: (d.export_date, d.partner))


def delivered_range(landing: Path, contracts: dict[str, Contract]) -> tuple[date, date] | None:
    """The earliest and latest export dates present in the landing area."""
    days = [d.export_date for d in scan(landing, contracts, date.min, date.max)]
    return (min(days), max(days)) if days else None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def content_sha256(file_hashes: list[str]) -> str:
    """One hash for a delivery: the sorted hashes of its data files (names do not matter)."""
    return hashlib.sha256("\n".join(sorted(file_hashes)).encode()).hexdigest()


def inspect_delivery(
    day: PartnerDay, contract: Contract, max_file_bytes: int, max_day_bytes: int
) -> Delivery:
    """List and hash a delivered folder's data files, and find what refuses it before parsing.

    Refusals: no data file, a link or odd entry, a file over the size cap, an empty file, a
    missing or unreadable manifest, a manifest that does not match the files. The content hash
    is computed first, so that a refused delivery is also recognised when it comes again.
    """
    entries = {e.name: e for e in os.scandir(day.folder)}
    warnings: list[str] = []
    data: list[os.DirEntry[str]] = []
    refusal: str | None = None
    for name in sorted(entries):
        entry = entries[name]
        if name in (SUCCESS, MANIFEST):
            continue
        if not fnmatch.fnmatchcase(name, contract.files.pattern):
            warnings.append(f"unexpected file {name!r} ignored (expected {contract.files.pattern})")
        elif entry.is_symlink() or not entry.is_file(follow_symlinks=False):
            refusal = refusal or f"{name!r} is a link or not a regular file; refusing to read it"
        else:
            data.append(entry)
    files = []
    total = 0
    for entry in data:
        size = entry.stat(follow_symlinks=False).st_size
        total += size
        if size > max_file_bytes:
            # not even hashed: a name-and-size stand-in keeps reruns recognisable
            refusal = (
                refusal
                or f"file {entry.name!r} is {size:,} bytes, over the {max_file_bytes:,}-byte cap"
            )
            files.append(
                DeliveredFile(entry.name, Path(entry.path), size, f"oversize:{entry.name}:{size}")
            )
            continue
        files.append(
            DeliveredFile(entry.name, Path(entry.path), size, file_sha256(Path(entry.path)))
        )
        if size == 0:
            refusal = refusal or f"file {entry.name!r} is empty (0 bytes)"
    content = content_sha256([f.sha256 for f in files])
    if not files:
        refusal = refusal or f"no data file matching {contract.files.pattern!r} in the delivery"
    if total > max_day_bytes:
        refusal = (
            refusal
            or f"the delivery is {total:,} bytes, over the {max_day_bytes:,}-byte cap per partner-day"
        )
    manifest_rows = None
    if contract.manifest == "required" and refusal is None:
        try:
            manifest_rows = _check_manifest(entries, files)
        except DeliveryRefused as exc:
            refusal = exc.reason
    return Delivery(tuple(files), manifest_rows, content, tuple(warnings), refusal)


def _check_manifest(
    entries: dict[str, os.DirEntry[str]], files: list[DeliveredFile]
) -> dict[str, int]:
    entry = entries.get(MANIFEST)
    if entry is None or not entry.is_file(follow_symlinks=False):
        raise DeliveryRefused("manifest.json is missing")
    if entry.stat().st_size > 10 * _CHUNK:
        raise DeliveryRefused("manifest.json is implausibly large")
    try:
        manifest = json.loads(Path(entry.path).read_text(encoding="utf-8"))
        listed = {str(f["name"]): f for f in manifest["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise DeliveryRefused(f"manifest.json is not readable ({type(exc).__name__})") from None
    names = {f.name for f in files}
    for name in sorted(set(listed) - names):
        raise DeliveryRefused(f"manifest lists {name!r}, which was not delivered")
    rows: dict[str, int] = {}
    for f in files:
        if f.name not in listed:
            raise DeliveryRefused(f"file {f.name!r} is not in manifest.json")
        want = listed[f.name]
        if str(want.get("sha256", "")).lower() != f.sha256:
            raise DeliveryRefused(
                f"file {f.name!r}: sha256 does not match manifest.json (truncated or altered delivery)"
            )
        try:
            rows[f.name] = int(want["rows"])
        except (KeyError, TypeError, ValueError):
            raise DeliveryRefused(f"manifest.json gives no row count for {f.name!r}") from None
    return rows


def scheduled_days(contract: Contract, first: date, last: date) -> list[date]:
    """The partner's scheduled export dates in [first, last]."""
    out = []
    day = first
    while day <= last:
        if contract.is_scheduled(day):
            out.append(day)
        day += timedelta(days=1)
    return out
