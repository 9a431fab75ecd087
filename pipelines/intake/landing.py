"""The landing area: `<landing>/<partner>/<export_date>/<files>`, `_SUCCESS`, `manifest.json`.

A partner's file names are data, never paths: files are found by listing the partner-day
folder and matching names against the contract's pattern; a manifest only names entries of
that listing (a name with a path separator, `..` or a wildcard is refused, never opened).
Files are opened without following links, and a reader re-checks that the file it opens is
still the regular file that was inspected.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pipelines.contracts import Contract

SUCCESS = "_SUCCESS"
MANIFEST = "manifest.json"
_CHUNK = 1 << 20
MAX_MANIFEST_BYTES = 10 * _CHUNK
# characters a file name may not hold: path separators, and wildcards (DuckDB would expand
# `*`, `?`, `[...]` in a path into other files)
_UNSAFE_NAME = re.compile(r"[/\\*?\[\]{}\x00-\x1f]")


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
    where: str = ""  # `<partner>/<export_date>/<name>`: how messages name the file
    # inode when inspected (not the device number: another machine mounting the same landing
    # area may number devices differently)
    inode: int | None = None
    mtime_ns: int | None = None
    ctime_ns: int | None = None

    def stamp(self) -> dict[str, object]:
        """What the ledger keeps of this file: name, hash, size, and the stat fields that let an
        unchanged rerun reuse the hash without reading the file again."""
        return {"name": self.name, "sha256": self.sha256, "size": self.size, "inode": self.inode,
                "mtime_ns": self.mtime_ns, "ctime_ns": self.ctime_ns}  # fmt: skip

    @property
    def shown(self) -> str:
        return self.where or self.name

    def check_unchanged(self) -> None:
        """Refuse to read a file that is no longer the regular file that was inspected
        (replaced by a link, or by another file, since)."""
        try:
            now = os.lstat(self.path)
        except OSError as exc:
            raise DeliveryRefused(
                f"file {self.shown!r} vanished after inspection ({exc.strerror})"
            ) from None
        if (
            not stat.S_ISREG(now.st_mode)
            or (self.inode is not None and now.st_ino != self.inode)
            or now.st_size != self.size
        ):
            raise DeliveryRefused(
                f"file {self.shown!r} changed after inspection (replaced, linked or resized); refusing to read it"
            )


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


def open_regular(path: Path) -> io.BufferedReader:
    """Open a landing file for reading, never through a link and only if it is a regular file.

    Raises OSError (ELOOP for a link, EISDIR/ENXIO-like for anything else); O_NONBLOCK keeps a
    named pipe from blocking the open.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name!r} is not a regular file")
        os.set_blocking(fd, True)
        return open(fd, "rb", closefd=True)  # the caller closes it
    except BaseException:
        os.close(fd)
        raise


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def content_sha256(file_hashes: list[str]) -> str:
    """One hash for a delivery: the sorted hashes of its data files (names do not matter)."""
    return hashlib.sha256("\n".join(sorted(file_hashes)).encode()).hexdigest()


def known_hash(
    known: Mapping[str, Mapping[str, object]], name: str, st: os.stat_result
) -> str | None:
    """The sha256 the ledger holds for file `name` if the file is still the one it hashed: same
    size, inode, modification and change times (ctime cannot be set back by any tool, so a
    rewritten or replaced file is always hashed again)."""
    was = known.get(name)
    if not was or not isinstance(was.get("sha256"), str):
        return None
    same = (
        was.get("size") == st.st_size
        and was.get("inode") == st.st_ino
        and was.get("mtime_ns") == st.st_mtime_ns
        and was.get("ctime_ns") == st.st_ctime_ns
    )
    sha = str(was["sha256"])
    return sha if same and len(sha) == 64 else None


def inspect_delivery(
    day: PartnerDay,
    contract: Contract,
    max_file_bytes: int,
    max_day_bytes: int,
    known: Mapping[str, Mapping[str, object]] | None = None,
) -> Delivery:
    """List and hash a delivered folder's data files, and find what refuses it before parsing.

    Refusals: no data file, a link or odd entry, a file name that is not a plain name, a file
    over the size cap or a day over its cap (neither hashed nor read: a name-and-size stand-in
    keeps reruns recognisable), an empty file, a missing or unreadable manifest, a manifest that
    does not match the files. Reasons name the partner-day (`<partner>/<date>/<file>`). The
    content hash is computed first, so that a refused delivery is also recognised when it comes
    again.

    `known` (file name -> what the ledger kept of it, see `DeliveredFile.stamp`) lets a file whose
    size, inode and times are unchanged keep its hash without being read again.
    """
    where = f"{day.partner}/{day.export_date.isoformat()}"
    entries = {e.name: e for e in os.scandir(day.folder)}
    warnings: list[str] = []
    data: list[tuple[os.DirEntry[str], os.stat_result]] = []
    refusals: list[str] = []
    for name in sorted(entries):
        entry = entries[name]
        if name in (SUCCESS, MANIFEST):
            continue
        shown = f"{where}/{name}"
        if not fnmatch.fnmatchcase(name, contract.files.pattern):
            warnings.append(
                f"unexpected file {shown!r} ignored (expected {contract.files.pattern})"
            )
        elif entry.is_symlink() or not entry.is_file(follow_symlinks=False):
            refusals.append(f"{shown!r} is a link or not a regular file; refusing to read it")
        elif _UNSAFE_NAME.search(name):
            refusals.append(
                f"{shown!r}: the file name holds a path or wildcard character; refusing to read it"
            )
        else:
            data.append((entry, entry.stat(follow_symlinks=False)))
    total = sum(st.st_size for _, st in data)
    oversize = []
    for entry, st in data:
        if st.st_size > max_file_bytes:
            shown = f"{where}/{entry.name}"
            oversize.append(
                f"file {shown!r} is {st.st_size:,} bytes, over the {max_file_bytes:,}-byte cap; not read"
            )
    if total > max_day_bytes:
        oversize.append(
            f"the delivery {where} is {total:,} bytes, over the {max_day_bytes:,}-byte cap per partner-day; not read"
        )
    refusals.extend(oversize)
    files = []
    for entry, st in data:
        path, shown = Path(entry.path), f"{where}/{entry.name}"
        if oversize:
            # not even hashed: a name-and-size stand-in keeps reruns recognisable
            sha = f"oversize:{entry.name}:{st.st_size}"
        elif known and (reused := known_hash(known, entry.name, st)):
            sha = reused
        else:
            try:
                sha = file_sha256(path)
            except OSError as exc:
                refusals.append(
                    f"file {shown!r} cannot be opened safely ({exc}); refusing to read it"
                )
                sha = f"unreadable:{entry.name}:{st.st_size}"
        files.append(DeliveredFile(entry.name, path, st.st_size, sha, shown, st.st_ino,
                                   st.st_mtime_ns, st.st_ctime_ns))  # fmt: skip
        if st.st_size == 0:
            refusals.append(f"file {shown!r} is empty (0 bytes)")
    content = content_sha256([f.sha256 for f in files])
    if not files and not refusals:
        refusals.append(f"no data file matching {contract.files.pattern!r} in the delivery {where}")
    manifest_rows = None
    if contract.manifest == "required" and not refusals:
        try:
            manifest_rows = _check_manifest(entries, files, day.folder, where)
        except DeliveryRefused as exc:
            refusals.append(exc.reason)
    refusal = refusals[0] if refusals else None
    return Delivery(tuple(files), manifest_rows, content, tuple(warnings), refusal)


def _plain_name(name: str) -> bool:
    return name not in ("", ".", "..") and not _UNSAFE_NAME.search(name)


def _check_manifest(
    entries: dict[str, os.DirEntry[str]], files: list[DeliveredFile], folder: Path, where: str
) -> dict[str, int]:
    """The manifest's row counts by file name, after checking it names exactly the delivered
    files with their sha256. Names it lists are compared with the folder listing, never opened."""
    shown = f"{where}/{MANIFEST}"
    entry = entries.get(MANIFEST)
    if entry is None:
        raise DeliveryRefused(f"{shown} is missing")
    if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
        raise DeliveryRefused(f"{shown} is a link or not a regular file; refusing to read it")
    try:
        with open_regular(folder / MANIFEST) as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise DeliveryRefused(f"{shown} cannot be opened safely ({exc})") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise DeliveryRefused(f"{shown} is implausibly large (over {MAX_MANIFEST_BYTES:,} bytes)")
    try:
        manifest = json.loads(raw.decode("utf-8"))
        listed = {str(f["name"]): f for f in manifest["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise DeliveryRefused(f"{shown} is not readable ({type(exc).__name__})") from None
    for name in sorted(listed):
        if not _plain_name(name):
            raise DeliveryRefused(
                f"{shown} names {name!r}, which is not a plain file name of the delivery "
                "(a path or wildcard); refused, nothing opened"
            )
    names = {f.name for f in files}
    for name in sorted(set(listed) - names):
        raise DeliveryRefused(f"{shown} lists {name!r}, which was not delivered")
    rows: dict[str, int] = {}
    for f in files:
        if f.name not in listed:
            raise DeliveryRefused(f"file {f.shown!r} is not in manifest.json")
        want = listed[f.name]
        if not isinstance(want, dict) or str(want.get("sha256", "")).lower() != f.sha256:
            raise DeliveryRefused(
                f"file {f.shown!r}: sha256 does not match manifest.json (truncated or altered delivery)"
            )
        try:
            rows[f.name] = int(want["rows"])
        except (KeyError, TypeError, ValueError):
            raise DeliveryRefused(f"manifest.json gives no row count for {f.shown!r}") from None
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
