"""One batch of raw files -> one Parquet file of parsed, featured, signed records.

This is the unit of parallel work (a process-pool worker or a Dask worker runs
`process_batch`); it is pure apart from reading the raw files and writing its
own output file, so it can run anywhere that sees the same file system.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from cleanwire import rules
from cleanwire.checks import dedup
from cleanwire.ingest.parse import content_hash, parse_files, unreadable
from cleanwire.ingest.read import read_capped
from cleanwire.memory import release_free_memory
from cleanwire.paths import atomic_path, atomic_write
from cleanwire.rules.unreadable import Why
from cleanwire.types import PARSED, BatchResult, FileRef, conform

SIGNATURE_SLICE = 500          # records per MinHash pass
CHUNK_FILES = 1000             # files parsed together inside a batch: bounds a worker's memory...
CHUNK_BYTES = 16 * 10**6       # ... as do their raw bytes

FILE_STATUS_SCHEMA = {
    "source_file": pl.String, "size": pl.Int64, "mtime_ns": pl.Int64, "content_hash": pl.String,
    "status": pl.String, "n_records": pl.Int32,
}


def read_and_parse(files: list[FileRef], max_bytes: int) -> tuple[list[dict], list[dict]]:
    """Records of the files whose content changed, and one status row per file."""
    status: list[dict] = []
    readable: list[tuple[str, bytes]] = []
    digests: list[str] = []              # their content hashes (computed once, here)
    slots: list[list[dict] | None] = []  # per changed file: its records, or None to take from the parse
    slot_rows: list[dict] = []           # per changed file: its status row
    for f in files:
        if f.problem:
            slots.append([unreadable(f.source_file, Why(f.problem_reason, f.problem))])
            digest = None
        else:
            data, err = read_capped(f.path, max_bytes)
            digest = content_hash(data) if data is not None else None
            if digest is not None and digest == f.prev_hash:
                status.append({"source_file": f.source_file, "size": f.size, "mtime_ns": f.mtime_ns,
                               "content_hash": digest, "status": "unchanged", "n_records": 0})
                continue
            if data is None:
                slots.append([unreadable(f.source_file, err)])
            else:
                readable.append((f.source_file, data))
                digests.append(digest)
                slots.append(None)
        row = {"source_file": f.source_file, "size": f.size, "mtime_ns": f.mtime_ns,
               "content_hash": digest, "status": "changed" if f.prev_hash else "new", "n_records": 0}
        status.append(row)
        slot_rows.append(row)
    parsed = iter(parse_files(readable, digests))
    records: list[dict] = []
    for row, recs in zip(slot_rows, slots):
        recs = recs if recs is not None else next(parsed)
        row["n_records"] = len(recs)
        records.extend(recs)
    return records, status


def build_frame(records: list[dict], run_id: str) -> pl.DataFrame:
    """Parsed records -> typed frame with check features and dedup signatures."""
    df = conform(pl.DataFrame(records, schema_overrides=PARSED, infer_schema_length=None)
                 if records else pl.DataFrame(schema=PARSED), PARSED)
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
    """Consecutive runs of at most max_files files and (about) max_bytes bytes."""
    return [refs[a:b] for a, b in chunk_bounds([r.size for r in refs], max_files, max_bytes)]


def process_batch(files: list[FileRef], out_dir: str, batch_no: int, run_id: str, max_bytes: int) -> BatchResult:
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
    n_records = 0
    writer = None
    with atomic_path(records_path) as tmp:
        try:
            for chunk in chunk_files(files, CHUNK_FILES, CHUNK_BYTES):
                records, chunk_status = read_and_parse(chunk, max_bytes)
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
                       started, time.time(), time.process_time() - cpu)
