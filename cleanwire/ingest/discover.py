"""Which raw files to process: walk the input dir, skip what an earlier run saw.

Discovery only calls stat(): a file whose size and modification time match the
state index is skipped without being read, which is what makes a no-op rerun
cheap. A file whose stat changed is handed to a batch with the content hash
seen before; the batch re-hashes it and skips it if only the mtime changed.
Anything that is not a plain file inside the input dir (a symlink leading
out of it, a FIFO, a device) becomes a record with the reason, never an open().

On S3 (`--input s3://bucket/prefix`) the listing gives each object's size and
LastModified: the same skip by size and mtime, no object read (a listing is one
request per 1,000 objects). An object is read by its URL, by whichever process
parses its batch.

A big WARC archive is split into slices of its records for the batch tasks
(`split_archives`), after one streaming pass that finds where its records start
and hashes it (so an archive whose bytes did not change is not read again).
"""
from __future__ import annotations

import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cleanwire import storage
from cleanwire.ingest.formats import warc
from cleanwire.rules.unreadable import CANNOT_READ, NOT_A_FILE, OUTSIDE_INPUT
from cleanwire.types import FileRef

# The files to process, one row each: a column per FileRef field. A frame, not a list of
# FileRefs: a million refs as Python objects cost ~0.3 GB in the flow for the whole run,
# as columns ~0.1 GB; FileRefs are made per batch, when it is handed to a worker. `path` is
# the OS's bytes (os.fsencode): a name that is not UTF-8 is no valid polars string.
FILES_SCHEMA = {"source_file": pl.String, "path": pl.Binary, "size": pl.Int64, "mtime_ns": pl.Int64,
                "prev_hash": pl.String, "problem": pl.String, "problem_reason": pl.String,
                # a slice of a big WARC archive (split_archives; null: the whole file)
                "slice_start": pl.Int64, "slice_end": pl.Int64, "first_record": pl.Int64, "archive_hash": pl.String}
_WALK_SLICE = 50_000  # entries held as Python objects at a time while walking


@dataclass(frozen=True)
class Discovery:
    to_process: pl.DataFrame    # new or changed files (and the ones with a problem): FILES_SCHEMA
    unchanged: int              # skipped by size + mtime
    seen_total: int             # files known to the state index
    missing: int                # known files no longer on disk (their records are kept)


def file_refs(files: pl.DataFrame) -> list[FileRef]:
    """The rows of a FILES_SCHEMA frame as FileRefs (what a batch task takes)."""
    cols = {c: files[c].to_list() for c in FILES_SCHEMA}
    cols["path"] = [os.fsdecode(p) for p in cols["path"]]
    return [FileRef(**dict(zip(cols, row))) for row in zip(*cols.values())]


def display_path(rel: str) -> str:
    """A unique, valid-UTF-8 name for a relative path.

    Undecodable bytes of a file name are written as backslash escapes ('a\\xff.txt'),
    so two such names never collide; a '#' before a final number is written '%23'
    ('feed.jsonl%231'), so a file name never looks like a record of a feed ('feed.jsonl#1').
    """
    name = rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _RECORD_LIKE.sub(r"%23\1", name)


_RECORD_LIKE = re.compile(r"#(\d+)$")


def walk(input_dir: Path) -> pl.DataFrame:
    """Every entry below input_dir that is not a directory, sorted by relative path (FILES_SCHEMA)."""
    if storage.is_url(input_dir):
        return walk_objects(storage.location(input_dir))
    root = Path(os.path.realpath(input_dir))
    parts: list[pl.DataFrame] = []
    rows: list[FileRef] = []
    # Each folder with its path relative to root ('' for root, else ending in '/'): a file's relative
    # path is its folder's and its name (os.path.relpath of each file was half the walk's time).
    stack = [(str(root), "")]
    while stack:
        d, d_rel = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError as e:
            rows.append(FileRef(display_path(d_rel[:-1] or "."), d, 0, 0,
                                problem=f"directory cannot be listed: {e.strerror or e}", problem_reason=CANNOT_READ))
            continue
        for e in entries:
            rel = d_rel + e.name
            ref = _entry(e, rel, root)
            if ref == "dir":
                stack.append((e.path, rel + "/"))
            elif ref is not None:
                rows.append(ref)
        if len(rows) >= _WALK_SLICE:
            parts.append(_frame(rows))
            rows = []
    parts.append(_frame(rows))
    return pl.concat(parts).sort("source_file")


def walk_objects(root: storage.ObjectPath) -> pl.DataFrame:
    """Every object below an s3:// prefix (FILES_SCHEMA): its key below the prefix, size, LastModified.

    `path` is the object's URL. A key ending in '/' (a folder marker some tools write)
    is no file. S3 has no links, FIFOs or devices: nothing here is a problem.
    """
    from pyarrow import fs as pafs

    fs = storage.settings().filesystem()
    infos = fs.get_file_info(pafs.FileSelector(root.key_path, allow_not_found=True, recursive=True))
    base = root.key_path.rstrip("/") + "/"
    rows = {c: [] for c in ("source_file", "path", "size", "mtime_ns")}
    for info in infos:
        if info.type != pafs.FileType.File or not info.path.startswith(base):
            continue
        rel = info.path[len(base):]
        rows["source_file"].append(display_path(rel))
        rows["path"].append(f"{storage.S3}{info.path}".encode())
        rows["size"].append(info.size or 0)
        rows["mtime_ns"].append(info.mtime_ns or 0)
    frame = pl.DataFrame(rows, schema={c: FILES_SCHEMA[c] for c in rows})
    return frame.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in FILES_SCHEMA.items() if c not in rows]
                              ).select(list(FILES_SCHEMA)).sort("source_file")


def _frame(refs: list[FileRef]) -> pl.DataFrame:
    cols = {c: [getattr(r, c) for r in refs] for c in FILES_SCHEMA}
    cols["path"] = [os.fsencode(p) for p in cols["path"]]
    return pl.DataFrame(cols, schema=FILES_SCHEMA)


def _entry(e: os.DirEntry, rel: str, root: Path):
    name = display_path(rel)
    try:
        if e.is_symlink():
            target = os.path.realpath(e.path)
            inside = target == str(root) or target.startswith(str(root) + os.sep)
            if not inside:
                return _problem(name, e.path, OUTSIDE_INPUT, "symlink pointing outside the input directory (not followed)")
            if os.path.isdir(target):
                return _problem(name, e.path, NOT_A_FILE, "symlink to a directory (not followed)")
            st = os.stat(target)
            if not stat.S_ISREG(st.st_mode):
                return _problem(name, e.path, NOT_A_FILE, "symlink to something that is not a regular file")
            return FileRef(name, target, st.st_size, st.st_mtime_ns)
        if e.is_dir(follow_symlinks=False):
            return "dir"
        st = e.stat(follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            return _problem(name, e.path, NOT_A_FILE, "not a regular file (FIFO, socket or device)")
        return FileRef(name, e.path, st.st_size, st.st_mtime_ns)
    except OSError as err:
        return _problem(name, e.path, CANNOT_READ, f"cannot stat: {err.strerror or err}")


def _problem(name: str, path: str, reason: str, message: str) -> FileRef:
    return FileRef(name, path, 0, 0, problem=message, problem_reason=reason)


def discover(input_dir: Path, seen: pl.DataFrame | None, only: set[str] | None = None) -> Discovery:
    """Files to process now, given the state index of seen files (or None on a first run).

    With `only` (reprocessing quarantined records after the rules or thresholds
    changed), exactly those files are processed again, seen or not.
    """
    found = walk(input_dir)
    if only is not None:
        wanted = pl.Series(sorted(only), dtype=pl.String)
        todo = found.filter(pl.col("source_file").is_in(wanted.implode()))
        missing = wanted.len() - wanted.is_in(found["source_file"].implode()).sum()
        return Discovery(todo, found.height - todo.height, 0 if seen is None else seen.height, missing)
    if seen is None or seen.height == 0:
        return Discovery(found, 0, 0, 0)
    known = (seen.unique("source_file", keep="last", maintain_order=True)
             .select("source_file", pl.col("size").alias("seen_size"), pl.col("mtime_ns").alias("seen_mtime"),
                     pl.col("content_hash").alias("seen_hash"), pl.lit(True).alias("known")))
    f = found.drop("prev_hash").join(known, on="source_file", how="left", maintain_order="left")
    known_file = pl.col("known").fill_null(False)
    # Same size and mtime: same content (even a file refused last time, e.g. over the size cap).
    same_stat = (known_file & pl.col("problem").is_null() & (pl.col("size") == pl.col("seen_size"))
                 & (pl.col("mtime_ns") == pl.col("seen_mtime")))
    same_problem = known_file & pl.col("problem").is_not_null() & pl.col("seen_hash").is_null()  # already accounted for
    skip = (same_stat | same_problem).fill_null(False)
    todo = f.filter(~skip).select(*[c for c in FILES_SCHEMA if c != "prev_hash"],
                                  pl.col("seen_hash").alias("prev_hash")).select(list(FILES_SCHEMA))
    missing = known.height - known["source_file"].is_in(found["source_file"].implode()).sum()
    return Discovery(todo, found.height - todo.height, known.height, missing)


def split_archives(files: pl.DataFrame, slice_bytes: int, threads: int = 2) -> pl.DataFrame:
    """`files` with each WARC archive bigger than slice_bytes as slices of its records.

    A slice is a row of its own (the archive's row with slice_start, slice_end,
    first_record and archive_hash set), about slice_bytes of the file: each goes
    to a batch task, so one archive's records spread over the workers. Finding
    where the records start takes a streaming pass over the archive (a gzip
    member per record must be inflated to find the next one: ~33 MB/s of
    .warc.gz, measured), done here in `threads` threads (zlib and the hash release
    the GIL); the same pass hashes it, and an archive whose bytes did not change
    is left whole: its task sees the hash and skips it unread. An archive
    compressed as one stream has no record offsets in the file: it stays one task.
    """
    big = (pl.col("problem").is_null() & (pl.col("size") > slice_bytes)
           & pl.col("source_file").str.to_lowercase().str.contains(_WARC_NAME))
    archives = files.filter(big)
    if archives.height == 0:
        return files
    paths = [os.fsdecode(p) for p in archives["path"]]
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        indexes = list(pool.map(_index_or_none, paths))
    parts = []
    for row, index in zip(archives.iter_rows(named=True), indexes):
        if index is None or not index.splittable or index.content_hash == row["prev_hash"]:
            parts.append({**row, "archive_hash": index.content_hash if index else None})
            continue
        for first, start, end in warc.slices(index.starts, slice_bytes):
            parts.append({**row, "slice_start": start, "slice_end": end, "first_record": first,
                          "archive_hash": index.content_hash})
    sliced = pl.DataFrame(parts, schema=FILES_SCHEMA)
    return (pl.concat([files.filter(~big), sliced])
            .sort("source_file", pl.col("first_record").fill_null(1), maintain_order=True))


# warc.is_warc_name as a pattern: an archive by its name, compressed or not.
_WARC_NAME = r"\.warc(?:\.(?:gz|gzip|bz2|xz|zst|zstd))?$"


def _index_or_none(path: str) -> warc.ArchiveIndex | None:
    try:
        return warc.index_archive(path)
    except OSError:
        return None  # the batch task reports why it cannot be read
