"""Landing areas by URL: a local folder, `s3://bucket/prefix` or `sftp://[user@]host[:port]/path`.

A run never reads a remote landing area in place. Before it scans, it mirrors the partner-day
folders of its date range into a local landing cache (`<warehouse dir>/landing-cache`, mode 0700:
the files hold raw personal data) laid out like any landing area, and the rest of the pipeline
reads the cache as an ordinary local folder: `_SUCCESS`, manifests, hashing, size caps and every
outcome of partners.md are the local folder's own. Reading in place would pull every byte twice
(the hash pass, then the parse pass), through readers (DuckDB, fastexcel, Polars) that take local
paths (README, "Remote landing areas", has the measurements).

The mirror, per partner-day folder:
- the remote listing's metadata (size, and the ETag on S3 or the modification time on SFTP) is
  kept per file under `<cache>/.state/`; a file whose metadata is unchanged is never downloaded
  again nor rewritten (so the ledger's stat check still recognises it without reading it);
- a changed or new file is downloaded into `<cache>/.partial/`, checked against the listed size
  (and an S3 single-part ETag, an MD5), fsynced, and only once every file of the folder has
  arrived are they renamed into place, `_SUCCESS` withdrawn first and written last: a killed or
  broken pull leaves the folder as it was or without `_SUCCESS`, never half of a delivery under
  final names; the next pull finishes it;
- a remote folder without `_SUCCESS` is a local folder without `_SUCCESS` (not delivered, counted
  missing); files the pipeline never reads (names outside the contract's pattern, files over the
  size caps) are sparse stand-ins of the listed size, not transferred;
- a dropped connection is retried (bounded, reconnecting); a partner-day that still cannot be
  pulled is left out of the run and reported failed, and the run ends with exit status 1.

Credentials are never in a URL, a contract, a log or a parameter: S3 takes botocore's chain
(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or a named `profile`, AWS_ENDPOINT_URL,
~/.aws), SFTP takes OpenSSH's places (an SSH agent, ~/.ssh keys and config, ~/.ssh/known_hosts),
and either may name a Prefect block (read through the `blocks` hook the flows pass in).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import hashlib
import json
import logging
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tenacity import (
    Retrying,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_chain,
    wait_fixed,
)

from pipelines.contracts import Contract
from pipelines.files import fsync_dir
from pipelines.intake.landing import (
    _UNSAFE_NAME,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    SUCCESS,
    PartnerDay,
    scan,
)

ATTEMPTS = 3  # per file: a dropped connection is retried twice, each time on a new connection
BACKOFF_SECONDS = (0.5, 2.0)
CONNECT_TIMEOUT = 15  # seconds
READ_TIMEOUT = 60  # seconds without a byte before an S3 read gives up
SSH_KEEPALIVE = (15, 4)  # an SSH connection silent for 4 x 15 s is dead
# a hard deadline on every remote operation (a server can stall without closing the connection,
# and not every client's read timeout covers a body read): a listing gets OP_TIMEOUT seconds, a
# download OP_TIMEOUT plus its size at MIN_RATE; past it, the attempt fails and is retried
OP_TIMEOUT = 60.0
MIN_RATE = 1 << 20  # bytes a second

# reads a Prefect block by (scheme, name): S3 gets an AwsCredentials block's fields
# (key, secret, token, region_name, profile, endpoint_url), SFTP a Secret's value (secret)
BlockReader = Callable[[str, str], Mapping[str, str | None]]

log = logging.getLogger(__name__)


class LandingUnavailable(RuntimeError):
    """A landing area that does not exist or cannot be listed, so that nothing of the run can be
    loaded: a configuration error (exit status 2). The message names the area, never a secret."""


class PullFailed(RuntimeError):
    """One partner-day (or one partner's area) could not be mirrored; `reason` says why."""


# ---------------------------------------------------------------------------------------------
# Where a partner's deliveries are


@dataclass(frozen=True)
class Source:
    """A landing area: a local folder, an S3 prefix or an SFTP folder, and where its credentials
    are (never the credentials themselves)."""

    url: str
    endpoint_url: str | None = None  # S3 only: a non-AWS store
    profile: str | None = None  # S3 only: an AWS profile of ~/.aws/config and credentials
    credentials_block: str | None = None  # a Prefect block (AwsCredentials, or Secret for SFTP)

    @property
    def scheme(self) -> str:
        if "://" not in self.url:
            return "file"
        return urlsplit(self.url).scheme.lower()

    @property
    def local(self) -> Path:
        if self.scheme != "file":
            raise ValueError(f"{self.shown} is not a local folder")
        return Path(unquote(urlsplit(self.url).path)) if "://" in self.url else Path(self.url)

    @property
    def root(self) -> str:
        """The area's path as its filesystem names it: `bucket/prefix` (S3), `/path` (SFTP)."""
        parts = urlsplit(self.url)
        if self.scheme == "s3":
            return f"{parts.hostname or parts.netloc}/{unquote(parts.path).strip('/')}".rstrip("/")
        return "/" + unquote(parts.path).strip("/")

    @property
    def shown(self) -> str:
        """The URL as messages show it: without user, password or query."""
        return shown_url(self.url)


def shown_url(url: str) -> str:
    if "://" not in url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def check_url(url: str) -> str:
    """Refuse a landing URL of an unknown scheme or holding a password (passwords belong in the
    environment, an agent or a Prefect block, never in settings or a contract)."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("file", "s3", "sftp"):
        raise ValueError(
            f"landing area {shown_url(url)}: scheme {parts.scheme!r} is not supported "
            "(a local path, file://, s3://bucket/prefix or sftp://[user@]host[:port]/path)"
        )
    if parts.password is not None:
        raise ValueError(
            f"landing area {shown_url(url)}: a URL may not hold a password; keep it in an SSH "
            "agent, ~/.ssh, the AWS variables or profiles, or a Prefect block (README)"
        )
    if parts.scheme.lower() in ("s3", "sftp") and not parts.hostname:
        raise ValueError(f"landing area {shown_url(url)}: no bucket or host in the URL")
    return url


def main_source(settings: Any) -> Source:
    """UMKM_LANDING with its endpoint and credentials-block settings."""
    return Source(
        check_url(str(settings.landing)),
        getattr(settings, "landing_endpoint_url", None),
        None,
        getattr(settings, "landing_credentials_block", None),
    )


def sources(settings: Any, contracts: Mapping[str, Contract]) -> dict[str, Source]:
    """Each partner's landing area: its contract's `landing`, else UMKM_LANDING."""
    main = main_source(settings)
    out = {}
    for partner, contract in contracts.items():
        own = getattr(contract, "landing", None)
        out[partner] = (
            Source(check_url(own.url), own.endpoint_url, own.profile, own.credentials_block)
            if own is not None
            else main
        )
    return out


# ---------------------------------------------------------------------------------------------
# Filesystems and what their errors mean


def credentials(source: Source, blocks: BlockReader | None) -> Mapping[str, str | None]:
    """What the area's Prefect block holds (nothing when it names none: the standard places)."""
    if not source.credentials_block:
        return {}
    if blocks is None:
        raise PullFailed(
            f"landing area {source.shown}: credentials block {source.credentials_block!r} can "
            "only be read in a flow run"
        )
    try:
        return blocks(source.scheme, source.credentials_block)
    except Exception as exc:
        raise PullFailed(
            f"landing area {source.shown}: credentials block {source.credentials_block!r} "
            f"cannot be read ({type(exc).__name__})"
        ) from None


def open_filesystem(source: Source, secret: Mapping[str, str | None] | None = None) -> Any:
    """An fsspec filesystem for a remote area: s3fs (botocore's credential chain) or sshfs
    (asyncssh: agent, ~/.ssh, known_hosts), with a block's `secret` when there is one. A new
    connection each time (no instance cache)."""
    secret = secret or {}
    if source.scheme == "s3":
        import s3fs

        kwargs: dict[str, Any] = {
            "skip_instance_cache": True,
            "use_listings_cache": False,
            "config_kwargs": {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT,
                              "retries": {"max_attempts": 2, "mode": "standard"}},
        }  # fmt: skip
        if secret.get("key"):
            kwargs.update(key=secret["key"], secret=secret.get("secret"), token=secret.get("token"))
        profile = source.profile or secret.get("profile")
        if profile:
            kwargs["profile"] = profile
        endpoint = source.endpoint_url or secret.get("endpoint_url")
        client_kwargs: dict[str, Any] = {}
        if endpoint:
            client_kwargs["endpoint_url"] = endpoint
        if secret.get("region_name"):
            client_kwargs["region_name"] = secret["region_name"]
        if client_kwargs:
            kwargs["client_kwargs"] = client_kwargs
        fs = s3fs.S3FileSystem(**kwargs)
        fs.retries = 2  # s3fs's own retries (5 by default, with backoff); ours are above it
        return fs
    if source.scheme == "sftp":
        import asyncssh
        import sshfs

        parts = urlsplit(source.url)
        options: dict[str, Any] = {
            "skip_instance_cache": True,
            # sshfs turns host key checking off unless told; () is asyncssh's default: check
            # ~/.ssh/known_hosts as OpenSSH does
            "known_hosts": (),
            "connect_timeout": CONNECT_TIMEOUT,
            "keepalive_interval": SSH_KEEPALIVE[0],
            "keepalive_count_max": SSH_KEEPALIVE[1],
        }
        if parts.port:
            options["port"] = parts.port
        if parts.username:
            options["username"] = unquote(parts.username)
        value = secret.get("secret")
        if value:
            if "PRIVATE KEY" in value:
                options["client_keys"] = [asyncssh.import_private_key(value)]
                options["agent_path"] = None
            else:
                options["password"] = value
                options["client_keys"] = []
        return sshfs.SSHFileSystem(parts.hostname, **options)
    raise ValueError(f"{source.shown} is not a remote landing area")


def secrets_of(secret: Mapping[str, str | None]) -> list[str]:
    """Secret values that must never appear in a message."""
    values = [os.environ.get("AWS_SECRET_ACCESS_KEY"), os.environ.get("AWS_SESSION_TOKEN"),
              secret.get("secret"), secret.get("token")]  # fmt: skip
    return [v for v in values if v and len(v) >= 4]


def describe(exc: BaseException, scrub: list[str] | tuple[str, ...] = ()) -> str:
    """An operator's reading of a transfer error, without secrets."""
    name = type(exc).__name__
    text = str(exc).strip() or name
    if isinstance(exc, PullFailed):
        pass
    elif isinstance(exc, FileNotFoundError):
        text = "does not exist"
    elif isinstance(exc, PermissionError):
        text = f"access refused, check the credentials ({text})"
    elif name in ("NoCredentialsError", "PartialCredentialsError"):
        text = ("no credentials found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or "
                "the contract's profile, or a credentials block)")  # fmt: skip
    elif name == "HostKeyNotVerifiable":
        text = f"the server's host key is not trusted ({text}); add it to ~/.ssh/known_hosts"
    elif isinstance(exc, ConnectionRefusedError):
        text = "connection refused (is the host and port right, is the server up?)"
    elif isinstance(exc, TimeoutError) or name in ("ConnectTimeoutError", "ReadTimeoutError"):
        text = f"timed out ({text})"
    elif name == "EndpointConnectionError":
        text = f"cannot connect ({text})"
    else:
        text = f"{name}: {text}"
    for secret in scrub:
        text = text.replace(secret, "***")
    return " ".join(text.split())[:400]


# ---------------------------------------------------------------------------------------------
# Is a landing area there?


def check_landing(url: str | Path, blocks: BlockReader | None = None, **where: Any) -> None:
    """Raise LandingUnavailable unless the landing area at `url` exists and can be listed.
    `where` takes a Source's other fields (endpoint_url, profile, credentials_block)."""
    source = Source(check_url(str(url)), **where)
    try:
        _list_root(source, blocks)
    except PullFailed as exc:
        raise LandingUnavailable(str(exc)) from None


def _list_root(source: Source, blocks: BlockReader | None) -> Any:
    """List the area's root (its filesystem for a remote one); PullFailed naming it otherwise."""
    if source.scheme == "file":
        folder = source.local
        try:
            with os.scandir(folder):
                return None
        except FileNotFoundError:
            raise PullFailed(f"landing area {source.shown} does not exist") from None
        except NotADirectoryError:
            raise PullFailed(f"landing area {source.shown} is not a folder") from None
        except OSError as exc:
            raise PullFailed(
                f"landing area {source.shown} cannot be listed ({exc.strerror})"
            ) from None
    secret = credentials(source, blocks)
    scrub = secrets_of(secret)
    try:
        fs = open_filesystem(source, secret)
        if not fs.ls(source.root, detail=False, timeout=OP_TIMEOUT):
            raise FileNotFoundError(errno.ENOENT, "empty")
        return fs
    except PullFailed:
        raise
    except FileNotFoundError:
        raise PullFailed(
            f"landing area {source.shown} does not exist (no such folder, bucket or prefix)"
        ) from None
    except Exception as exc:  # any client library's error: the operator reads what it says
        raise PullFailed(
            f"landing area {source.shown} cannot be listed: {describe(exc, scrub)}"
        ) from None


# ---------------------------------------------------------------------------------------------
# The mirror


@dataclass(frozen=True)
class Intake:
    """What a run scans: `root`, a local landing area (the landing folder itself, or the cache),
    less the partners and partner-days that could not be pulled (`failures` says why)."""

    root: Path
    contracts: Mapping[str, Contract]
    failures: tuple[str, ...] = ()
    failed_partners: frozenset[str] = frozenset()
    failed_days: frozenset[tuple[str, date]] = frozenset()
    files_pulled: int = 0
    bytes_pulled: int = 0

    def scan(self, start: date, end: date, partners: list[str] | None = None) -> list[PartnerDay]:
        """landing.scan over `root`, without what could not be pulled."""
        return [
            d
            for d in scan(self.root, dict(self.contracts), start, end, partners)
            if d.partner not in self.failed_partners
            and (d.partner, d.export_date) not in self.failed_days
        ]


class CallbackLogger:
    """A logger for prepare_landing that hands each line to a run's log callback."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say

    def info(self, message: str, *args: Any) -> None:
        self._say(message % args if args else message)

    warning = info


LineLogger = logging.Logger | logging.LoggerAdapter[Any] | CallbackLogger


def cache_dir(settings: Any) -> Path:
    found = getattr(settings, "landing_cache", None)
    return Path(found) if found else Path(settings.warehouse).parent / "landing-cache"


def local_landing(settings: Any) -> Path:
    """settings.landing once the run has put its local landing area there (see prepare_landing)."""
    if not isinstance(settings.landing, Path):
        raise TypeError("settings.landing is a URL: use the root prepare_landing returns")
    return settings.landing


def prepare_landing(
    settings: Any,
    contracts: Mapping[str, Contract],
    start: date,
    end: date,
    partners: list[str] | None = None,
    blocks: BlockReader | None = None,
    logger: LineLogger | None = None,
) -> Intake:
    """The local landing area a run over [start, end] scans. A local UMKM_LANDING that every
    partner uses is that folder, checked to exist. Otherwise the landing cache: each remote
    partner's partner-days in the range mirrored into it, each local partner's folder linked.

    Raises LandingUnavailable when no partner of the run can be loaded because its landing area
    does not exist or cannot be listed; otherwise such partners are in `failures`."""
    logger = logger or log
    where = sources(settings, contracts)
    main = main_source(settings)
    wanted = list(partners or contracts)
    if main.scheme == "file" and all(s == main for s in where.values()):
        try:
            _list_root(main, blocks)
        except PullFailed as exc:
            raise LandingUnavailable(str(exc)) from None
        return Intake(main.local, contracts)
    cache = cache_dir(settings)
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(cache, 0o700)  # raw personal data: the run's own user only
    failures: list[str] = []
    failed_partners: set[str] = set()
    failed_days: set[tuple[str, date]] = set()
    files = size = 0
    with _pull_lock(cache, logger):
        shutil.rmtree(cache / ".partial", ignore_errors=True)  # a killed pull's downloads
        by_source: dict[Source, list[str]] = {}
        for partner in contracts:
            by_source.setdefault(where[partner], []).append(partner)
        for source, members in by_source.items():
            mine = [p for p in members if p in wanted]
            if source.scheme == "file":
                problem = None
                try:
                    _list_root(source, blocks)
                except PullFailed as exc:
                    problem = str(exc)
                for partner in members:
                    _link_local(cache, partner, None if problem else source.local / partner)
                if problem and mine:
                    failures.append(f"{problem} (partners {', '.join(mine)})")
                    failed_partners.update(mine)
                continue
            if not mine:
                continue
            puller = _Puller(source, blocks, cache, logger)
            try:
                puller.connect()
            except PullFailed as exc:
                failures.append(f"{exc} (partners {', '.join(mine)})")
                failed_partners.update(mine)
                continue
            for partner in mine:
                try:
                    bad = puller.pull_partner(partner, contracts[partner], start, end, settings)
                except PullFailed as exc:
                    failures.append(f"{partner}: {exc}")
                    failed_partners.add(partner)
                    continue
                for day, reason in bad:
                    failures.append(f"{partner} {day.isoformat()}: {reason}")
                    failed_days.add((partner, day))
            puller.close()
            files += puller.files
            size += puller.bytes
            logger.info(
                "landing %s: %d partner-day folder(s) in range, %d unchanged, %d file(s) pulled "
                "(%s bytes)",
                source.shown, puller.folders, puller.unchanged, puller.files, f"{puller.bytes:,}",
            )  # fmt: skip
        shutil.rmtree(cache / ".partial", ignore_errors=True)
    if wanted and failed_partners >= set(wanted):
        raise LandingUnavailable("; ".join(failures))
    for line in failures:
        logger.warning("not pulled: %s", line)
    return Intake(cache, contracts, tuple(failures), frozenset(failed_partners),
                  frozenset(failed_days), files, size)  # fmt: skip


@contextlib.contextmanager
def _pull_lock(cache: Path, logger: LineLogger) -> Iterator[None]:
    """One pull at a time into a cache (the kernel releases the flock when its holder dies)."""
    fd = os.open(cache / ".pull.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("landing cache %s: waiting for another run's pull to finish", cache)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _link_local(cache: Path, partner: str, target: Path | None) -> None:
    """`<cache>/<partner>` as a link to a local area's partner folder (None: no such folder)."""
    here = cache / partner
    if here.is_symlink():
        if target is not None and os.readlink(here) == str(target):
            return
        here.unlink()
    elif here.exists():
        shutil.rmtree(here)  # mirrored from a remote area before the partner moved
        shutil.rmtree(cache / ".state" / partner, ignore_errors=True)
    if target is not None and target.is_dir():
        os.symlink(target, here, target_is_directory=True)


@dataclass
class _Want:
    """A remote folder entry as the cache should hold it."""

    name: str
    kind: str  # file (downloaded) | sparse (listed size, never read) | dir | link
    size: int
    fingerprint: str  # ETag (S3) or modification time (SFTP)

    def record(self) -> dict[str, object]:
        return {"kind": self.kind, "size": self.size, "fp": self.fingerprint}


def _fingerprint(info: Mapping[str, Any]) -> str:
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return "etag:" + str(etag).strip('"')
    mtime = info.get("mtime") or info.get("LastModified")
    if isinstance(mtime, datetime):
        return f"mtime:{mtime.timestamp():.0f}"
    return f"mtime:{mtime}"


def _md5_etag(fingerprint: str) -> str | None:
    """The MD5 an S3 ETag states (single-part uploads; a multipart ETag holds a '-')."""
    etag = fingerprint.removeprefix("etag:")
    if fingerprint.startswith("etag:") and len(etag) == 32 and "-" not in etag:
        return etag.lower()
    return None


@dataclass
class _Puller:
    source: Source
    blocks: BlockReader | None
    cache: Path
    logger: LineLogger
    files: int = 0
    bytes: int = 0
    folders: int = 0
    unchanged: int = 0
    _fs: Any = None
    _scrub: list[str] = field(default_factory=list)

    def connect(self) -> Any:
        if self._fs is None:
            self._fs = _list_root(self.source, self.blocks)
            self._scrub = secrets_of(credentials(self.source, self.blocks))
        return self._fs

    def close(self) -> None:
        self._fs = None  # fsspec closes the connection when the filesystem is collected

    def _call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        """fn(filesystem), retried on a new connection after a failure (tenacity: ATTEMPTS in
        all, BACKOFF_SECONDS apart); a missing file is an answer, a refused key is final."""
        retrying = Retrying(
            stop=stop_after_attempt(ATTEMPTS),
            wait=wait_chain(*(wait_fixed(s) for s in BACKOFF_SECONDS)),
            retry=retry_if_not_exception_type((FileNotFoundError, PermissionError)),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    try:
                        return fn(self.connect())
                    except FileNotFoundError:
                        raise
                    except Exception:
                        self._fs = None  # the next attempt connects anew
                        raise
        except FileNotFoundError:
            raise
        except Exception as exc:
            tried = retrying.statistics.get("attempt_number", 1)
            raise PullFailed(
                f"{what}: {describe(exc, self._scrub)} (after {tried} attempt(s))"
            ) from None
        raise AssertionError("unreachable")

    def _ls(self, path: str) -> list[dict[str, Any]]:
        try:
            found = self._call(
                f"listing {self._shown(path)}",
                lambda fs: fs.ls(path, detail=True, timeout=OP_TIMEOUT),
            )
        except FileNotFoundError:
            return []
        return [e for e in found if _base(e["name"]) not in ("", ".", "..")]

    def _shown(self, path: str) -> str:
        return self.source.shown.rstrip("/") + "/" + path[len(self.source.root) :].strip("/")

    def pull_partner(
        self, partner: str, contract: Contract, start: date, end: date, settings: Any
    ) -> list[tuple[date, str]]:
        """Mirror the partner's folders in [start, end]; the partner-days that failed, with why."""
        local = self.cache / partner
        if local.is_symlink():
            local.unlink()  # the partner delivered into a local area before
        remote = f"{self.source.root}/{partner}"
        listing = self._ls(remote)
        if listing:
            local.mkdir(exist_ok=True)
        elif not local.is_dir():
            return []
        days: dict[date, str] = {}
        for entry in listing:
            name = _base(entry["name"])
            try:
                day = date.fromisoformat(name)
            except ValueError:
                continue
            if entry.get("type") == "directory" and name == day.isoformat() and start <= day <= end:
                days[day] = entry["name"].rstrip("/")
        for folder in list(local.iterdir()):
            try:
                day = date.fromisoformat(folder.name)
            except ValueError:
                continue
            if start <= day <= end and day not in days and folder.name == day.isoformat():
                _remove(folder)  # gone from the remote side: gone from the cache
                (self.cache / ".state" / partner / f"{folder.name}.json").unlink(missing_ok=True)
        failed = []
        for day in sorted(days):
            self.folders += 1
            try:
                self._sync(partner, day, days[day], contract.on(day), settings)
            except PullFailed as exc:
                failed.append((day, str(exc)))
        return failed

    def _wanted(
        self, listing: list[dict[str, Any]], contract: Contract, settings: Any
    ) -> list[_Want]:
        """The folder's entries as the cache should hold them; files the pipeline never reads
        (outside the pattern, unsafe names, over a size cap) become sparse stand-ins."""
        data = [
            e for e in listing
            if e.get("type") == "file" and fnmatch.fnmatchcase(_base(e["name"]), contract.files.pattern)
            and not _UNSAFE_NAME.search(_base(e["name"])) and _base(e["name"]) not in (SUCCESS, MANIFEST)
        ]  # fmt: skip
        oversize = sum(int(e["size"]) for e in data) > settings.max_day_bytes or any(
            int(e["size"]) > settings.max_file_bytes for e in data
        )
        read = {id(e) for e in data} if not oversize else set()
        wants = []
        for e in listing:
            name, kind = _base(e["name"]), e.get("type")
            if "/" in name or "\x00" in name or name == SUCCESS:
                continue
            size = int(e.get("size") or 0)
            if kind == "directory":
                wants.append(_Want(name, "dir", 0, ""))
            elif kind != "file":
                wants.append(_Want(name, "link", 0, ""))
            elif id(e) in read or (name == MANIFEST and size <= MAX_MANIFEST_BYTES):
                wants.append(_Want(name, "file", size, _fingerprint(e)))
            else:
                wants.append(_Want(name, "sparse", size, _fingerprint(e)))
        return wants

    def _sync(
        self, partner: str, day: date, remote: str, contract: Contract, settings: Any
    ) -> None:
        local = self.cache / partner / day.isoformat()
        state_path = self.cache / ".state" / partner / f"{day.isoformat()}.json"
        listing = self._ls(remote)
        delivered = any(_base(e["name"]) == SUCCESS and e.get("type") == "file" for e in listing)
        local.mkdir(exist_ok=True)
        marker = local / SUCCESS
        if not delivered:
            # not (or not yet) delivered: so it is here too, whatever the cache held before
            if marker.exists() or marker.is_symlink():
                _remove(marker)
                fsync_dir(local)
            self.unchanged += 1
            return
        state = _read_state(state_path, self.source.shown)
        wants = self._wanted(listing, contract, settings)
        todo = [
            w for w in wants if state.get(w.name) != w.record() or not _holds(local / w.name, w)
        ]
        names = {w.name for w in wants} | {SUCCESS}
        extra = [p for p in local.iterdir() if p.name not in names]
        if not todo and not extra and marker.is_file() and not marker.is_symlink():
            self.unchanged += 1
            return
        partial = self.cache / ".partial"
        partial.mkdir(exist_ok=True, mode=0o700)
        staged: list[tuple[_Want, Path]] = []
        try:
            for want in todo:
                staged.append((want, self._stage(want, f"{remote}/{want.name}", partial)))
        except PullFailed:
            for _, path in staged:
                _remove(path)
            raise
        # commit: withdraw _SUCCESS, put every file in place, forget what left, then _SUCCESS
        if marker.exists() or marker.is_symlink():
            _remove(marker)
            fsync_dir(local)
        for want, path in staged:
            final = local / want.name
            if want.kind == "dir" or (final.is_dir() and not final.is_symlink()):
                _remove(final)
            if want.kind == "dir":
                final.mkdir()
            else:
                os.replace(path, final)
        for path in extra:
            _remove(path)
        fsync_dir(local)
        _write_state(state_path, self.source.shown, {w.name: w.record() for w in wants})
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fsync(fd)
        os.close(fd)
        fsync_dir(local)

    def _stage(self, want: _Want, remote: str, partial: Path) -> Path:
        """The entry, complete, under a temporary name in `partial`."""
        path = partial / uuid.uuid4().hex
        if want.kind == "dir":
            return path  # made at commit
        if want.kind == "link":
            os.symlink("remote-link-not-followed", path)
            return path
        if want.kind == "sparse":
            with open(path, "wb") as handle:
                handle.truncate(want.size)
            return path
        expected_md5 = _md5_etag(want.fingerprint)

        def fetch(fs: Any) -> None:
            try:
                fs.get_file(remote, str(path), timeout=OP_TIMEOUT + want.size / MIN_RATE)
                got = path.stat().st_size
                if got != want.size:
                    raise PullFailed(f"{got:,} of {want.size:,} bytes arrived")
                if expected_md5 and _md5(path) != expected_md5:
                    raise PullFailed("the content does not match the listed ETag")
            except BaseException:
                with contextlib.suppress(OSError):
                    self.bytes += path.stat().st_size
                    path.unlink()
                raise
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())

        try:
            self._call(f"pulling {self._shown(remote)}", fetch)
        except FileNotFoundError:
            raise PullFailed(
                f"{self._shown(remote)} vanished while it was pulled (a delivery in progress?)"
            ) from None
        self.files += 1
        self.bytes += want.size
        return path


def _base(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1]


def _holds(path: Path, want: _Want) -> bool:
    """Whether the cache holds `want` at `path` (a regular file of the listed size, ...)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if want.kind == "dir":
        return stat.S_ISDIR(st.st_mode)
    if want.kind == "link":
        return stat.S_ISLNK(st.st_mode)
    return stat.S_ISREG(st.st_mode) and st.st_size == want.size


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _read_state(path: Path, source: str) -> dict[str, Any]:
    """What the cache holds of a folder, by file name; empty when it came from elsewhere."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict) or found.get("source") != source:
        return {}
    entries = found.get("entries")
    return entries if isinstance(entries, dict) else {}


def _write_state(path: Path, source: str, entries: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"source": source, "entries": entries}, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# What a nightly run found


def nothing_due_delivered(
    contracts: Mapping[str, Contract],
    partners: list[str] | None,
    day: date,
    delivered: list[PartnerDay] | list[Any],
    landing: str,
) -> str | None:
    """The warning of a nightly run that found no delivery from any partner due on `day`
    (None when one did, or when no partner is due that day)."""
    due = [p for p in (partners or list(contracts)) if contracts[p].is_scheduled(day)]
    found = {d.partner for d in delivered if d.export_date == day}
    if not due or found & set(due):
        return None
    return (
        f"no delivery for {day.isoformat()} from any partner due that day "
        f"({', '.join(due)}) in {shown_url(landing)}: nothing new was loaded"
    )
