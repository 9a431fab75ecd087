"""A delivered file's bytes streamed once into DuckDB, decompressed and decoded on the way.

DuckDB reads a path; a gzip file given to it directly would be decompressed without any limit,
and DuckDB reads no Windows-1252. So a feeder thread reads the file once, decompresses it
(refusing past the size cap and the compression-ratio cap as it goes), transcodes it strictly
to UTF-8 where the contract says so, and writes the result into a pipe whose path DuckDB reads:
every byte is read once, decompressed once, and nothing holds the whole file. When the feeder
stops early (a bomb, damaged gzip, a byte the encoding does not define) the pipe ends, DuckDB
sees a short file, and the feeder's reason refuses the partner-day.
"""

from __future__ import annotations

import codecs
import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pipelines.contracts import SINGLE_BYTE
from pipelines.intake.landing import DeliveredFile, DeliveryRefused, open_regular

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = codecs.BOM_UTF8
# a gzip member expanding more than this is refused as a possible bomb, whatever the size cap
MAX_GZIP_RATIO = 1000
_RATIO_FLOOR = 16 << 20  # small files may compress very well (a header-only file, say)


class Damaged(Exception):
    """The compressed stream is damaged or ends inside a member."""


class Inflater:
    """Gzip decompression of a stream of chunks, member after member (concatenated gzip is
    gzip), never producing more than CHUNK bytes at a time, however well the data compresses."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(wbits=31)  # 31: with a gzip header and trailer
        self._started = False

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        data = chunk
        try:
            while True:
                if self._z.eof and data:  # a next member starts
                    if not GZIP_MAGIC.startswith(data[:2]):
                        raise Damaged("data after the end of the gzip stream")
                    self._z = zlib.decompressobj(wbits=31)
                self._started = self._started or bool(data)
                out = self._z.decompress(data, CHUNK)
                if out:
                    yield out
                data = self._z.unused_data if self._z.eof else self._z.unconsumed_tail
                if not data and not out:
                    return
        except zlib.error as exc:
            raise Damaged(str(exc)) from None

    def finish(self) -> None:
        if not self._started or not self._z.eof:
            raise Damaged("the gzip stream ends inside a member (truncated)")


@dataclass
class Feed:
    """What the feeder found; `refusal` is set when the file cannot be read as its contract says."""

    path: str  # what DuckDB reads
    refusal: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    _done: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        """Wait for the feeder; raise its refusal, if any."""
        self._done.wait()
        if self.refusal:
            raise DeliveryRefused(self.refusal)


@contextmanager
def feed(
    file: DeliveredFile, *, gzip: bool, encoding: str, max_uncompressed: int
) -> Iterator[Feed]:
    """A pipe path from which DuckDB reads the file's bytes as UTF-8 text (decompressed; a
    Windows-1252 file transcoded strictly). The pipe and thread are cleaned up whatever DuckDB
    did; call `Feed.check()` after DuckDB has read it."""
    read_fd, write_fd = os.pipe()
    out = Feed(f"/dev/fd/{read_fd}")
    worker = threading.Thread(
        target=_pump, args=(file, gzip, encoding, max_uncompressed, write_fd, out), daemon=True,
        name=f"feed {file.shown}",
    )  # fmt: skip
    worker.start()
    try:
        yield out
    finally:
        os.close(read_fd)  # the feeder's next write fails (EPIPE) if DuckDB stopped early
        worker.join()


def _pump(file: DeliveredFile, gzip: bool, encoding: str, cap: int, write_fd: int, out: Feed) -> None:  # fmt: skip
    shown = f"file {file.shown!r}"
    codec = SINGLE_BYTE.get(encoding)
    transcode = codec is not None
    single = codecs.getincrementaldecoder(codec or "utf-8")("strict")
    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    non_ascii, utf8_too = False, True
    inflater = Inflater() if gzip else None
    try:
        with open_regular(file.path) as raw:
            first = raw.read(CHUNK)
            if gzip and not first.startswith(GZIP_MAGIC):
                out.refusal = f"{shown} is not gzip (its first bytes say otherwise)"
                return
            if transcode and first.startswith(UTF8_BOM):
                out.refusal = f"{shown} starts with a UTF-8 byte order mark; contract says {shown_encoding(encoding)}"  # fmt: skip
                return
            chunk = first
            while chunk:
                out.bytes_in += len(chunk)
                pieces = inflater.feed(chunk) if inflater else iter((chunk,))
                for data in pieces:
                    out.bytes_out += len(data)
                    ratio = out.bytes_out // max(out.bytes_in, 1)
                    if out.bytes_out > cap:
                        out.refusal = (
                            f"{shown} expands beyond {cap:,} bytes (compression ratio over {ratio:,}:1); "
                            "refused as a possible gzip bomb"
                        )
                        return
                    if inflater and out.bytes_out > _RATIO_FLOOR and ratio > MAX_GZIP_RATIO:
                        out.refusal = (
                            f"{shown} expands more than {MAX_GZIP_RATIO:,}:1 ({out.bytes_out:,} bytes from "
                            f"{out.bytes_in:,}); refused as a possible gzip bomb"
                        )
                        return
                    if transcode:
                        non_ascii = non_ascii or not data.isascii()
                        if utf8_too:
                            try:
                                utf8.decode(data)
                            except UnicodeDecodeError:
                                utf8_too = False
                        try:
                            text = single.decode(data)
                        except UnicodeDecodeError as exc:
                            at = out.bytes_out - len(data) + exc.start
                            out.refusal = f"{shown}: byte 0x{data[exc.start]:02x} at offset {at:,} is not {shown_encoding(encoding)} (never decoded lossily)"  # fmt: skip
                            return
                        data = text.encode("utf-8")
                    _write_all(write_fd, data)
                chunk = raw.read(CHUNK)
            if inflater:
                inflater.finish()
            if transcode:
                try:
                    utf8.decode(b"", final=True)
                except UnicodeDecodeError:
                    utf8_too = False
                if non_ascii and utf8_too:
                    out.refusal = (
                        f"{shown} is UTF-8 encoded; contract says {shown_encoding(encoding)}"
                    )
    except Damaged as exc:
        out.refusal = f"{shown} is not a readable gzip file ({exc})"
    except BrokenPipeError:
        pass  # DuckDB stopped reading: the file is malformed, and DuckDB's error says how
    except OSError as exc:
        out.refusal = f"{shown} cannot be read ({exc.strerror or exc})"
    finally:
        os.close(write_fd)
        out._done.set()


def shown_encoding(encoding: str) -> str:
    """An encoding as people write it (`windows-1252` -> Windows-1252)."""
    return {"windows-1252": "Windows-1252", "iso-8859-1": "ISO-8859-1"}.get(encoding, encoding)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def head(file: DeliveredFile, gzip: bool, limit: int = 1 << 16) -> bytes:
    """The first `limit` bytes of a file, decompressed (for its header line)."""
    with open_regular(file.path) as raw:
        if not gzip:
            return raw.read(limit)
        inflater, out = Inflater(), b""
        start = raw.read(2)
        if start != GZIP_MAGIC:
            raise DeliveryRefused(
                f"file {file.shown!r} is not gzip (its first bytes say otherwise)"
            )
        chunk = start + raw.read(1 << 16)
        try:
            while chunk and len(out) < limit:
                for data in inflater.feed(chunk):
                    out += data
                    if len(out) >= limit:
                        break
                chunk = raw.read(1 << 16)
        except Damaged as exc:
            raise DeliveryRefused(
                f"file {file.shown!r} is not a readable gzip file ({exc})"
            ) from None
        return out[:limit]
