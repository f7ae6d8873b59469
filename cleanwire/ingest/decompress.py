"""Compressed raw files: gzip, bzip2, xz and zstd, read as what they hold, through a cap.

Feeds and crawls deliver `.jsonl.gz`, `.html.gz`, `.txt.zst`: a compressed file
is read as the file it holds (`a.txt.gz` is a text dump, `feed.jsonl.zst` a
feed), and its records keep the compressed file's `source_path`. The
compression is recognised by its magic bytes, so a gzip file named `.txt` is
read too; the inner format comes from the name without its compression suffix.

Decompression streams and stops at a cap on the decompressed size
(`max_decompressed_mb`): a decompression bomb (a 1 MB gzip of 1 GB of zeros)
is refused as `unreadable/too_large` with its ratio after reading up to the
cap, never held in memory. A stream cut off or corrupt is `unreadable/damaged`.

gzip, bzip2 and xz are the standard library's; zstd is `zstandard` (the
reference bindings of the zstd library).
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import zlib
from typing import BinaryIO

from cleanwire.rules.unreadable import DAMAGED, TOO_LARGE, Why

GZIP, BZIP2, XZ, ZSTD = "gzip", "bzip2", "xz", "zstd"
# Magic bytes of each format (bzip2: 'BZh', a block size digit, then a block or end-of-stream
# marker: 'BZh' alone starts ordinary words too).
_MAGIC = ((re.compile(rb"\x1f\x8b\x08"), GZIP), (re.compile(rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)"), BZIP2),
          (re.compile(rb"\xfd7zXZ\x00"), XZ), (re.compile(rb"\x28\xb5\x2f\xfd"), ZSTD))
SUFFIXES = {".gz": GZIP, ".gzip": GZIP, ".bz2": BZIP2, ".xz": XZ, ".zst": ZSTD, ".zstd": ZSTD}
# What the readers below raise on a stream cut off (EOFError) or corrupt (the others).
ERRORS = (EOFError, OSError, ValueError, zlib.error, lzma.LZMAError)
READ_BLOCK = 1 << 20          # compressed bytes read at a time
OUTPUT_BLOCK = 1 << 20        # decompressed bytes taken at a time (the most held beyond the cap)
DEFAULT_MAX_DECOMPRESSED = 100 * 10**6  # RunConfig.max_decompressed_mb's default, for callers without a config


def compression_of(head: bytes) -> str | None:
    """gzip | bzip2 | xz | zstd when the bytes start like that format, else None."""
    for magic, kind in _MAGIC:
        if magic.match(head):
            return kind
    return None


def inner_name(name: str) -> str:
    """The name without one compression suffix: 'a/b.txt.gz' -> 'a/b.txt' (the name of what it holds)."""
    base = name.rsplit("/", 1)[-1]
    if "." in base.lstrip("."):
        suffix = "." + base.rsplit(".", 1)[-1].lower()
        if suffix in SUFFIXES:
            return name[: -len(suffix)]
    return name


def open_decompressed(raw: BinaryIO, kind: str) -> BinaryIO:
    """A reader of the decompressed bytes (every member or frame, one after the other).

    Each raises EOFError when the stream is cut off, and one of the other ERRORS
    when it is corrupt.
    """
    if kind == GZIP:
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == BZIP2:
        return bz2.BZ2File(raw, mode="rb")
    if kind == XZ:
        return lzma.LZMAFile(raw, mode="rb")
    if kind == ZSTD:
        return ZstdReader(raw)
    raise ValueError(f"unknown compression {kind!r}")


def decompress_capped(data: bytes, max_bytes: int) -> tuple[bytes | None, str | None, Why | None]:
    """(what `data` holds, its compression, None); (data, None, None) when it is not compressed;
    (None, compression, why) when it is over the cap, cut off or corrupt."""
    kind = compression_of(data[:16])
    if kind is None:
        return data, None, None
    raw = io.BytesIO(data)
    out = bytearray()
    try:
        reader = open_decompressed(raw, kind)
        while len(out) <= max_bytes:
            block = reader.read(min(OUTPUT_BLOCK, max_bytes + 1 - len(out)))
            if not block:
                return bytes(out), kind, None
            out += block
    except ERRORS as e:
        return None, kind, damaged(kind, len(out), raw.tell(), len(data), e)
    return None, kind, bomb(kind, len(out), raw.tell(), len(data), max_bytes)


def bomb(kind: str, produced: int, consumed: int, size: int, max_bytes: int) -> Why:
    """Too large once decompressed: how far it got, from how little, and the ratio."""
    ratio = produced / max(consumed, 1)
    return Why(TOO_LARGE, f"{kind} file decompresses to more than the cap ({max_bytes / 1e6:g} MB, "
                          f"max_decompressed_mb): {produced / 1e6:,.0f} MB from the first {consumed / 1e6:.2g} MB "
                          f"of {size / 1e6:.2g} MB, a ratio of {ratio:,.0f}:1 (a decompression bomb, or a file to split)")


def damaged(kind: str, produced: int, consumed: int, size: int, e: BaseException) -> Why:
    what = "cut off" if isinstance(e, EOFError) else "corrupt"
    return Why(DAMAGED, f"{kind} stream {what} near compressed byte {consumed:,} of {size:,} "
                        f"(after {produced:,} decompressed bytes): {type(e).__name__}: {str(e)[:160]}")


def decompressed_head(data: bytes, n: int = 64) -> bytes:
    """The first n bytes `data` holds (itself when not compressed; b'' when they cannot be had)."""
    kind = compression_of(data[:16])
    if kind is None:
        return data[:n]
    try:
        return open_decompressed(io.BytesIO(data[:READ_BLOCK]), kind).read(n)
    except ERRORS:
        return b""


class ZstdReader(io.RawIOBase):
    """Decompressed bytes of one or more zstd frames, raising EOFError when the last one is cut off.

    zstandard's own stream reader returns what it has and stops without a word
    at a cut-off frame, and its decompressor object returns all the output of the
    input it is given (a few KB of a bomb: GBs). This feeds it FEED bytes at a time:
    at most ~8 MB of output per step (zstd's densest block: 128 KB from 4 bytes).
    """
    FEED = 256

    def __init__(self, raw: BinaryIO):
        import zstandard  # only zstd files pay for the import

        self._error = zstandard.ZstdError
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._frame = None          # the decompressor of the frame being read
        self._pending = b""         # compressed bytes not fed yet
        self._out = bytearray()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._out) < n:
            if not self._pending:
                self._pending = self._raw.read(READ_BLOCK)
                if not self._pending:
                    if self._frame is not None and not self._frame.eof:
                        raise EOFError("zstd frame cut off before its end")
                    break
            if self._frame is None or self._frame.eof:
                self._frame = self._dctx.decompressobj()
            feed, self._pending = self._pending[:self.FEED], self._pending[self.FEED:]
            try:
                self._out += self._frame.decompress(feed)
            except self._error as e:
                raise OSError(f"zstd: {e}") from None  # one of ERRORS, like the other formats' readers
            if self._frame.eof:
                self._pending = self._frame.unused_data + self._pending
        take = len(self._out) if n < 0 else min(n, len(self._out))
        out = bytes(self._out[:take])
        del self._out[:take]
        return out

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)
