"""WARC archives (Common Crawl's CC-NEWS, any crawler's output): each page response one record.

A WARC file holds thousands of HTTP exchanges. Each record of the archive is
numbered (1-based, over all its records), and becomes:

- a `Page` (one article record, `source_path` `archive.warc.gz#N`): a `response`
  with an HTML (or plain text) payload and HTTP status 200; its target URI goes
  into `url` and its WARC-Date into `crawled_at` (never into `published_date`);
- a `Refused` record (one unreadable record): a page response with another HTTP
  status (`http_status`), a payload over the size cap (`too_large`), a payload
  that cannot be decoded (`cannot_read`), or the damage that stops the reading
  (`damaged`, naming the offset: a cut-off or corrupt archive yields the records
  before it, then this one);
- `Skipped`, counted by kind in the run summary: `request`, `metadata`,
  `warcinfo`, `revisit`... and `response:non-html` (images, scripts, JSON).

Archives are read with warcio (Webrecorder's WARC library): streaming (a 1 GB
archive is never in memory, one payload is), per-record gzip and plain WARC,
the byte offset of every record (what slicing an archive between batch tasks
needs), and a writer the tests build their archives with. fastwarc reads
faster, but reading is not where the time goes: this reader walks a `.warc.gz`
at ~14,000 records/s (bench/warc_bench.py), ~0.07 ms a page against the ~5-13 ms
the HTML parser takes over it; and a pure-Python wheel installs on every worker.

An archive compressed as one stream (not one gzip member per record: a whole-file
gzip, bzip2, xz or zstd) is read through the decompressor, so its offsets are
those of the decompressed archive, and it cannot be sliced.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cleanwire.ingest import decompress
from cleanwire.rules.unreadable import CANNOT_READ, DAMAGED, HTTP_STATUS, TOO_LARGE, Why

WARC_SUFFIX = ".warc"
HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"text/plain"}
NON_HTML = "response:non-html"   # the skipped kind of a response whose payload is not a page
READ_BLOCK = 1 << 20             # bytes read at a time when draining, indexing, hashing
PROBE_BYTES = 8 << 20            # compressed bytes read to tell per-record gzip from one whole-file stream...
PROBE_OUTPUT = 64 << 20          # ... and bytes inflated for it (a first record bigger than this is no page)
# Drained past the cap, a record whose bytes came at more than this ratio to its compressed
# bytes is a bomb: real pages compress 3-20:1, the zeros of a bomb 1000:1.
MAX_RECORD_RATIO = 100


@dataclass(frozen=True, slots=True)
class Page:
    """A response to parse as an article."""
    number: int                      # 1-based, over all the archive's records
    offset: int
    url: str | None
    crawled_at: dt.datetime | None
    fmt: str                         # html | text
    charset: str | None              # from the HTTP Content-Type, when given
    payload: bytes


@dataclass(frozen=True, slots=True)
class Refused:
    """A record that stands in the output as one unreadable record, with the reason."""
    number: int
    offset: int
    url: str | None
    crawled_at: dt.datetime | None
    why: Why
    final: bool = False              # the archive is not read past it (damage, a bomb)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record that is no article by its kind (counted, not output)."""
    number: int
    kind: str


def is_warc_name(name: str) -> bool:
    """'x.warc', 'x.warc.gz', 'x.warc.zst'...: an archive by its name."""
    return decompress.inner_name(name).lower().endswith(WARC_SUFFIX)


def is_warc_bytes(head: bytes) -> bool:
    """The bytes (compressed or not) start with a WARC record."""
    return decompress.decompressed_head(head, 8).startswith(b"WARC/")


def is_warc_file(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return is_warc_bytes(fh.read(64 << 10))
    except OSError:
        return False


# ------------------------------------------------------------------ reading

def read_archive(raw: BinaryIO, max_payload: int, max_record: int, start: int = 0, end: int | None = None,
                 first_number: int = 1) -> Iterator[Page | Refused | Skipped]:
    """The archive's records, streamed, from byte `start` (a record's offset) up to the record that
    starts at `end` (None: to the end); `first_number` is the number of the record at `start`.

    `max_payload` caps a page's payload (as the size cap caps a file); `max_record`
    is where a record drained at a bomb's ratio stops the reading.
    """
    from warcio.archiveiterator import ArchiveIterator

    size = raw.seek(0, 2)
    raw.seek(start)
    sliced = start > 0 or end is not None
    stream_kind = None if sliced else _whole_stream_compression(raw, start)
    fh = _CutOffIsDamage(decompress.open_decompressed(raw, stream_kind)) if stream_kind else raw
    where = "of the decompressed archive" if stream_kind else "of the file"
    it = ArchiveIterator(fh, block_size=64 << 10)
    records = iter(it)
    number = first_number - 1
    while True:
        offset = it.offset
        try:
            record = next(records)
        except StopIteration:
            if not stream_kind and end is None and it.offset < size:
                # warcio stops quietly at a member or record it cannot parse: the bytes left are the damage.
                yield Refused(number + 1, it.offset, None, None, Why(
                    DAMAGED, f"archive cut off or corrupt at byte {it.offset:,} {where}: the last {size - it.offset:,} "
                             f"bytes hold no whole WARC record (record {number + 1} and any after it are lost)"), True)
            return
        except Exception as e:  # noqa: BLE001 - a corrupt archive is data: report where it broke
            yield _damage(number + 1, max(it.offset, offset), where, e)
            return
        offset = it.offset
        if end is not None and offset >= end:
            return  # the next slice's first record
        number += 1
        try:
            item = _record(record, number, offset, raw, max_payload, max_record)
        except Exception as e:  # noqa: BLE001
            yield _damage(number, offset, where, e)
            return
        yield item
        if isinstance(item, Refused) and item.final:
            return


class _CutOffIsDamage:
    """A decompressed stream for warcio, which takes an EOFError from its stream for the archive's
    clean end: a stream cut off must read as damage."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream

    def read(self, n: int = -1) -> bytes:
        try:
            return self.stream.read(n)
        except EOFError as e:
            raise OSError(f"compressed stream cut off: {e}") from None

    def tell(self) -> int:
        return self.stream.tell()


def _damage(number: int, offset: int, where: str, e: BaseException) -> Refused:
    return Refused(number, offset, None, None, Why(
        DAMAGED, f"archive cut off or corrupt at byte {offset:,} {where} (record {number}): "
                 f"{type(e).__name__}: {str(e).strip()[:160]} (any records after it are lost)"), True)


def _whole_stream_compression(raw: BinaryIO, start: int) -> str | None:
    """The compression to read through, when the archive is compressed as one stream.

    None for a plain WARC and for a gzip of one member per record (warcio reads
    those itself, with file offsets); 'gzip' for a gzip whose first member is the
    whole file, or runs on past PROBE_BYTES read or PROBE_OUTPUT inflated (read as
    one stream: always right, only not sliceable); bzip2, xz and zstd always.
    """
    head = raw.read(16)
    raw.seek(start)
    kind = decompress.compression_of(head)
    if kind != decompress.GZIP:
        return kind
    d = zlib.decompressobj(31)
    read = produced = 0
    try:
        while read < PROBE_BYTES and produced < PROBE_OUTPUT and not d.eof:
            block = raw.read(READ_BLOCK)
            if not block:
                break
            read += len(block)
            produced += len(d.decompress(block, 1 << 20))  # the output is not kept: 1 MB at a time
            while d.unconsumed_tail and not d.eof and produced < PROBE_OUTPUT:
                produced += len(d.decompress(d.unconsumed_tail, 1 << 20))
        more_members = d.eof and (d.unused_data or raw.read(1))
    except zlib.error:
        return None  # damaged in the first member: warcio reports it at its offset
    finally:
        raw.seek(start)
    # A first member followed by others: one member per record (Common Crawl's, every WARC
    # writer's). One member for the whole file (or one too long to tell): read as one stream.
    return None if more_members else decompress.GZIP


def _record(record, number: int, offset: int, raw: BinaryIO, max_payload: int,
            max_record: int) -> Page | Refused | Skipped:
    headers = record.rec_headers
    kind = record.rec_type
    if not kind:
        raise ValueError("record without WARC-Type (a cut-off header)")
    declared = headers.get_header("Content-Length")
    if declared is None or not declared.strip().isdigit():
        raise ValueError(f"record without a valid Content-Length ({declared!r})")
    url = headers.get_header("WARC-Target-URI")
    crawled_at = _warc_date(headers.get_header("WARC-Date"))
    if kind != "response":
        return _drained(record, raw, max_record, number, offset, url, crawled_at) or Skipped(number, kind)
    http = record.http_headers
    content_type = (http.get_header("Content-Type") if http else headers.get_header("Content-Type")) or ""
    mime, charset = _content_type(content_type)
    if mime and mime not in HTML_TYPES and mime not in TEXT_TYPES:
        return _drained(record, raw, max_record, number, offset, url, crawled_at) or Skipped(number, NON_HTML)
    payload, why = None, None
    try:
        payload = record.content_stream().read(max_payload + 1)
    except Exception as e:  # noqa: BLE001 - a bad Content-Encoding or chunking: this record, not the archive
        why = Why(CANNOT_READ, f"payload cannot be decoded: {type(e).__name__}: {str(e)[:160]}")
    stop = _drained(record, raw, max_record, number, offset, url, crawled_at)
    if stop:
        return stop
    fmt = "html" if mime in HTML_TYPES else "text" if mime in TEXT_TYPES else _sniff(payload)
    if fmt is None:
        return Skipped(number, NON_HTML)
    status = http.get_statuscode() if http else "200"
    if status != "200":
        line = http.protocol + " " + http.statusline if http else status
        return Refused(number, offset, url, crawled_at, Why(
            HTTP_STATUS, f"the server answered {line.strip()[:120]}: an error page or a redirect, not the article"))
    if why is not None:
        return Refused(number, offset, url, crawled_at, why)
    if len(payload) > max_payload:
        return Refused(number, offset, url, crawled_at, Why(
            TOO_LARGE, f"page larger than the size cap ({max_payload / 1e6:g} MB)"))
    return Page(number, offset, url, crawled_at, fmt, charset, payload)


def _drained(record, raw: BinaryIO, max_record: int, number: int, offset: int, url, crawled_at) -> Refused | None:
    """Read the rest of the record; a Refused record when it is cut off or a bomb, else None."""
    stream = record.raw_stream
    start = raw.tell()
    drained = 0
    while True:
        block = stream.read(READ_BLOCK)
        if not block:
            break
        drained += len(block)
        if drained > max_record and drained > MAX_RECORD_RATIO * max(raw.tell() - start, 1):
            ratio = drained / max(raw.tell() - start, 1)
            return Refused(number, offset, url, crawled_at, Why(
                TOO_LARGE, f"record {number} at byte {offset:,} decompresses past the cap ({max_record / 1e6:g} MB, "
                           f"max_decompressed_mb) at a ratio of {ratio:,.0f}:1: a decompression bomb (the archive is "
                           "not read further)"), True)
    left = getattr(stream, "limit", 0)
    if left:
        declared = int(record.rec_headers.get_header("Content-Length"))
        return Refused(number, offset, url, crawled_at, Why(
            DAMAGED, f"archive cut off at record {number} (byte {offset:,}): it holds {declared - left:,} of its "
                     f"{declared:,} bytes (any records after it are lost)"), True)
    return None


def _content_type(value: str) -> tuple[str, str | None]:
    mime, _, params = value.partition(";")
    charset = None
    for p in params.split(";"):
        k, _, v = p.partition("=")
        if k.strip().lower() == "charset" and v.strip():
            charset = v.strip().strip("\"'")
    return mime.strip().lower(), charset


def _sniff(payload: bytes | None) -> str | None:
    """A response without a Content-Type: a page if it starts like HTML."""
    head = (payload or b"")[:1024].lstrip().lower()
    return "html" if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) else None


def _warc_date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


# ------------------------------------------------------------------ slicing

@dataclass(frozen=True)
class ArchiveIndex:
    """Where an archive's records start (what slicing needs), and its content hash."""
    content_hash: str
    starts: list[int]          # byte offset of each record, in order (up to any damage)
    splittable: bool           # records at file offsets (plain WARC, one gzip member per record)


def index_archive(path: str) -> ArchiveIndex:
    """Record offsets and the content hash of an archive, in one streaming pass (no payload kept).

    A per-record gzip is walked member by member with zlib (inflated, the output
    thrown away: ~2x faster than warcio's walk, and zlib lets other threads run);
    a plain WARC by warcio without parsing the records. The hash is the one
    `parse.content_hash` gives the whole file's bytes: an archive is keyed by hash
    like any file.
    """
    with open(path, "rb") as raw:
        kind = _whole_stream_compression(raw, 0)
        head = raw.read(16)
        raw.seek(0)
        hashing = _HashingReader(raw)
        if kind is not None:
            starts, splittable = [], False
        elif decompress.compression_of(head) == decompress.GZIP:
            starts, splittable = _gzip_members(hashing), True
        else:
            starts, splittable = _plain_records(hashing), True
        return ArchiveIndex(hashing.finish(), starts, splittable)


def _gzip_members(fh: _HashingReader) -> list[int]:
    """Where each gzip member starts (up to the first one that holds no WARC record, is damaged,
    or inflates at a bomb's ratio: the slice that reaches it reports it)."""
    starts: list[int] = []
    d, member, pos, first, produced = None, 0, 0, b"", 0   # pos: file offset of `data`'s first byte
    while block := fh.read(READ_BLOCK):
        data = block
        while data:
            if d is None:
                d, member, first, produced = zlib.decompressobj(31), pos, b"", 0
            try:
                out = d.decompress(data, 1 << 24)  # bounded: a big member is inflated 16 MB at a time
                while True:
                    first, produced = first or out[:8], produced + len(out)
                    if produced > PROBE_OUTPUT and produced > MAX_RECORD_RATIO * (pos + len(data) - member):
                        return [*starts, member]
                    if not d.unconsumed_tail or d.eof:
                        break
                    out = d.decompress(d.unconsumed_tail, 1 << 24)
            except zlib.error:
                return [*starts, member] if first.startswith(b"WARC/") else starts
            if not d.eof:
                pos += len(data)
                break
            if not first.startswith(b"WARC/"):
                return starts
            starts.append(member)
            pos += len(data) - len(d.unused_data)
            data, d = d.unused_data, None
    if d is not None and first.startswith(b"WARC/"):
        starts.append(member)  # cut off: its slice reports the damage
    return starts


def _plain_records(fh: _HashingReader) -> list[int]:
    from warcio.archiveiterator import ArchiveIterator

    starts: list[int] = []
    it = ArchiveIterator(fh, no_record_parse=True, block_size=READ_BLOCK)
    try:
        for _ in it:
            starts.append(it.offset)
    except Exception:  # noqa: BLE001, S110 - damage: the slice that reaches it reports it
        pass
    return starts


def slices(starts: list[int], slice_bytes: int) -> list[tuple[int, int, int | None]]:
    """(number of its first record, start offset, end offset or None) of consecutive slices of the
    records, each starting at a record and spanning about slice_bytes bytes of the file."""
    if not starts:
        return [(1, 0, None)]
    out: list[tuple[int, int, int | None]] = []
    first = 0
    for i, s in enumerate(starts):
        if i > first and s - starts[first] >= slice_bytes:
            out.append((first + 1, starts[first], s))
            first = i
    out.append((first + 1, starts[first], None))
    return out


class _HashingReader:
    """A file object that hashes what is read through it (and the rest, at `finish`)."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.hash = hashlib.blake2b(digest_size=16)  # parse.content_hash's digest

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hash.update(data)
        return data

    def tell(self) -> int:
        return self.raw.tell()

    def finish(self) -> str:
        while self.read(READ_BLOCK):
            pass
        return self.hash.hexdigest()
