"""One batch of raw files -> one Parquet file of parsed, featured, signed records.

This is the unit of parallel work (a process-pool worker or a Dask worker runs
`process_batch`); it is pure apart from reading the raw files and writing its
own output file, so it can run anywhere that sees the same file system.

A WARC archive (by its name, or by its first bytes) is streamed, its records
parsed a chunk at a time like files; a big one comes as slices (FileRef
slice_start/slice_end, see discover.split_archives), one per task.
"""
from __future__ import annotations

import io
import os
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from cleanwire import rules
from cleanwire.checks import dedup
from cleanwire.ingest import decompress, parse
from cleanwire.ingest.formats import warc
from cleanwire.ingest.parse import content_hash, parse_files, unreadable
from cleanwire.ingest.read import hash_stream, open_regular, read_capped
from cleanwire.memory import release_free_memory
from cleanwire.paths import atomic_path, atomic_write
from cleanwire.rules import unreadable as reasons
from cleanwire.rules.unreadable import Why
from cleanwire.types import FILE_STATUS_SCHEMA, PARSED, BatchResult, FileRef

SIGNATURE_SLICE = 500          # records per MinHash pass
# Files parsed together inside a batch: bounds a worker's memory, as do their raw bytes. Each
# chunk pays fixed costs (polars compiles the rules' ~45 patterns again: it keeps 32 per
# thread), ~60 ms: 2,000 files to a chunk cost 0.37 ms CPU a record, 1,000 cost 0.42, for
# ~20 MB more of a worker's memory (measured on the bench corpus).
CHUNK_FILES = 2000
CHUNK_BYTES = 16 * 10**6
# A compressed file counts as this many times its size in a chunk: news text and HTML
# compress 4-8x, and a chunk's memory is what the files hold, not what they weigh.
COMPRESSED_WEIGHT = 5


def read_and_parse(files: list[FileRef], max_bytes: int,
                   max_decompressed_bytes: int = decompress.DEFAULT_MAX_DECOMPRESSED,
                   skipped: Counter | None = None) -> tuple[list[dict], list[dict]]:
    """Records of the files whose content changed, and one status row per file (archives' records
    too, all at once: process_batch takes them a chunk at a time); `skipped` counts archive
    records that are no article, by kind."""
    records: list[dict] = []
    status: list[dict] = []
    for recs, rows in parsed_chunks(files, max_bytes, max_decompressed_bytes,
                                    Counter() if skipped is None else skipped):
        records += recs
        status += rows
    return records, status


def parsed_chunks(files: list[FileRef], max_bytes: int, max_decompressed_bytes: int,
                  skipped: Counter) -> Iterator[tuple[list[dict], list[dict]]]:
    """(records, status rows), a chunk at a time: a chunk of files, then each archive among them
    in chunks of its records, so a worker holds one chunk whatever an archive's size."""
    for chunk in chunk_files(files, CHUNK_FILES, CHUNK_BYTES):
        archives: list[_Archive] = []
        yield _read_and_parse_files(chunk, max_bytes, max_decompressed_bytes, archives)
        for archive in archives:
            yield from _archive_chunks(archive, max_bytes, max_decompressed_bytes, skipped)


def _read_and_parse_files(files: list[FileRef], max_bytes: int, max_decompressed_bytes: int,
                          archives: list[_Archive]) -> tuple[list[dict], list[dict]]:
    """Records and status rows of a chunk of files; the WARC archives among them go to `archives`."""
    status: list[dict] = []
    readable: list[tuple[str, bytes]] = []
    digests: list[str] = []              # their content hashes (computed once, here)
    slots: list[list[dict] | None] = []  # per changed file: its records, or None to take from the parse
    slot_rows: list[dict] = []           # per changed file: its status row
    for f in files:
        if f.problem:
            slots.append([unreadable(f.source_file, Why(f.problem_reason, f.problem))])
            digest = None
        elif f.slice_start is not None or warc.is_warc_name(f.source_file):
            archives.append(_Archive(f))
            continue
        else:
            data, err = read_capped(f.path, max_bytes)
            if data is not None and warc.is_warc_bytes(data[:decompress.READ_BLOCK]):
                archives.append(_Archive(f, data))  # an archive by its content, whatever its name
                continue
            if err is not None and err.reason == reasons.TOO_LARGE and warc.is_warc_file(f.path):
                archives.append(_Archive(f))         # archives have no size cap: they are streamed
                continue
            digest = content_hash(data) if data is not None else None
            if digest is not None and digest == f.prev_hash:
                status.append(_status(f, digest, "unchanged"))
                continue
            if data is None:
                slots.append([unreadable(f.source_file, err)])
            else:
                readable.append((f.source_file, data))
                digests.append(digest)
                slots.append(None)
        row = _status(f, digest, "changed" if f.prev_hash else "new")
        status.append(row)
        slot_rows.append(row)
    parsed = iter(parse_files(readable, digests, max_decompressed_bytes))
    records: list[dict] = []
    for row, recs in zip(slot_rows, slots):
        recs = recs if recs is not None else next(parsed)
        row["n_records"] = len(recs)
        records.extend(recs)
    return records, status


def _status(f: FileRef, digest: str | None, status: str) -> dict:
    return {"source_file": f.source_file, "size": f.size, "mtime_ns": f.mtime_ns, "content_hash": digest,
            "status": status, "n_records": 0}


@dataclass(frozen=True)
class _Archive:
    """A WARC archive (or a slice of one) to stream; `data`: its bytes, when a small one was read whole."""
    ref: FileRef
    data: bytes | None = None


def _archive_chunks(archive: _Archive, max_bytes: int, max_decompressed_bytes: int,
                    skipped: Counter) -> Iterator[tuple[list[dict], list[dict]]]:
    """Records of an archive (or of its slice), CHUNK_FILES records or CHUNK_BYTES of pages at a time.

    The archive is keyed by its content hash like any file (computed by the
    planner for a sliced one): unchanged, it is not read. Only the first slice
    gives the archive's status row (its n_records: that slice's), so the state
    holds one row per archive.
    """
    f = archive.ref
    sf = f.source_file
    whole = f.slice_start is None
    first_slice = (f.first_record or 1) == 1
    if archive.data is not None:
        raw, why = io.BytesIO(archive.data), None
    else:
        raw, why = open_regular(f.path)
    digest = None
    if raw is not None:
        try:
            digest = content_hash(archive.data) if archive.data is not None else f.archive_hash or hash_stream(raw)
        except OSError as e:
            raw.close()
            raw, why = None, Why(reasons.CANNOT_READ, f"cannot read: {e.strerror or e}")
    row = _status(f, digest, "unchanged" if digest is not None and digest == f.prev_hash else
                  "changed" if f.prev_hash else "new")
    if raw is None:
        row["n_records"] = 1
        yield [unreadable(sf, why)], [row] if first_slice else []
        return
    if row["status"] == "unchanged":
        raw.close()
        yield [], [row] if first_slice else []
        return
    records: list[dict] = []
    pages: list[warc.Page] = []
    held = n_records = 0
    seen: Counter = Counter()  # this archive's skipped records, by kind
    with raw:
        for item in warc.read_archive(raw, max_bytes, max_decompressed_bytes, f.slice_start or 0, f.slice_end,
                                      f.first_record or 1):
            if isinstance(item, warc.Skipped):
                seen[item.kind] += 1
                continue
            if isinstance(item, warc.Refused):
                records.append(parse.refused_record(sf, item, digest))
            else:
                pages.append(item)
                held += len(item.payload)
            if len(records) + len(pages) >= CHUNK_FILES or held >= CHUNK_BYTES:
                chunk = records + parse.parse_pages(sf, pages, digest)
                n_records += len(chunk)
                yield chunk, []
                records, pages, held = [], [], 0
        records += parse.parse_pages(sf, pages, digest)
    if whole and n_records + len(records) == 0:
        # Nothing lost: an archive without a page still appears once, with what it held.
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(seen.items())) or "no record"
        why = (Why(reasons.EMPTY, "empty file") if f.size == 0 else
               Why(reasons.NOT_AN_ARTICLE, f"WARC archive holds no page ({kinds})"))
        records = [unreadable(sf, why, digest, "warc")]
    skipped.update(seen)
    row["n_records"] = n_records + len(records)
    yield records, [row] if first_slice else []


def build_frame(records: list[dict], run_id: str) -> pl.DataFrame:
    """Parsed records -> typed frame with check features and dedup signatures."""
    # Column by column, in PARSED's columns and types: polars reading a list of dicts took 3x the
    # CPU (0.008 ms a record, measured).
    df = pl.DataFrame({c: [r.get(c) for r in records] for c in PARSED}, schema=PARSED, strict=False)
    df = rules.add_features(df).with_columns(pl.lit(run_id).alias("run_id"))
    # Signatures in slices: the token lists and hash blocks of a whole batch would double its memory.
    sigs = [dedup.signature_frame(s["article_id"].to_list(), s["body"].to_list())
            for s in df.select("article_id", "body").iter_slices(SIGNATURE_SLICE)]
    return df.join(pl.concat(sigs) if sigs else dedup.signature_frame([], []), on="article_id", how="left")


def chunk_bounds(sizes: list[int], max_files: int, max_bytes: int) -> list[tuple[int, int]]:
    """(start, end) of consecutive runs of at most max_files files and (about) max_bytes bytes."""
    bounds: list[tuple[int, int]] = []
    start, size = 0, 0
    for i, n in enumerate(sizes):
        if i > start and (i - start >= max_files or size + n > max_bytes):
            bounds.append((start, i))
            start, size = i, 0
        size += n
    if start < len(sizes):
        bounds.append((start, len(sizes)))
    return bounds


def chunk_files(refs: list[FileRef], max_files: int, max_bytes: int) -> list[list[FileRef]]:
    """Consecutive runs of at most max_files files and (about) max_bytes bytes (of what a compressed
    file holds, estimated)."""
    sizes = [r.size * COMPRESSED_WEIGHT if decompress.inner_name(r.source_file) != r.source_file else r.size
             for r in refs]
    return [refs[a:b] for a, b in chunk_bounds(sizes, max_files, max_bytes)]


def process_batch(files: list[FileRef], out_dir: str, batch_no: int, run_id: str, max_bytes: int,
                  max_decompressed_bytes: int = decompress.DEFAULT_MAX_DECOMPRESSED) -> BatchResult:
    """Parse a batch and write `batch-NNNNN.records.parquet` and `.files.parquet` into out_dir.

    A batch (one task) is parsed in chunks, one row group each: a task then
    costs its fixed overhead (~0.4 s of CPU across worker, flow and API, measured)
    once for several chunks, while memory stays at one chunk.
    """
    started, cpu = time.time(), time.process_time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files_path = out / f"batch-{batch_no:05d}.files.parquet"
    records_path = out / f"batch-{batch_no:05d}.records.parquet"
    status: list[dict] = []
    skipped: Counter = Counter()
    n_records = 0
    writer = None
    with atomic_path(records_path) as tmp:
        try:
            for records, chunk_status in parsed_chunks(files, max_bytes, max_decompressed_bytes, skipped):
                status += chunk_status
                if not records:
                    continue
                table = build_frame(records, run_id).to_arrow()
                n_records += len(records)
                del records
                if writer is None:
                    # lz4, no dictionaries: a work file, read once: fast beats small
                    writer = pq.ParquetWriter(tmp, table.schema, compression="lz4", use_dictionary=False)
                writer.write_table(table.cast(writer.schema))
                del table
                release_free_memory()  # a chunk's texts and dicts: without this a worker grows batch after batch
        finally:
            if writer is not None:
                writer.close()
    atomic_write(files_path, lambda tmp: pl.DataFrame(status, schema=FILE_STATUS_SCHEMA).write_parquet(
        tmp, compression="lz4"))
    return BatchResult(str(records_path) if writer is not None else None, str(files_path), len(files), n_records,
                       sum(s["status"] == "unchanged" for s in status), f"{socket.gethostname()}:{os.getpid()}",
                       started, time.time(), time.process_time() - cpu, dict(skipped))


def skipped_counts(results: list[BatchResult]) -> dict[str, int]:
    """The archive records the batches skipped, by kind, most frequent first (the run summary's)."""
    total: Counter = Counter()
    for r in results:
        total.update(r.skipped)
    return dict(total.most_common())
