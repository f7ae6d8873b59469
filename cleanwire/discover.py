"""Which raw files to process: walk the input dir, skip what an earlier run saw.

Discovery only calls stat(): a file whose size and modification time match the
state index is skipped without being read, which is what makes a no-op rerun
cheap. A file whose stat changed is handed to a batch with the content hash
seen before; the batch re-hashes it and skips it if only the mtime changed.
Anything that is not a plain file inside the input dir (a symlink leading
out of it, a FIFO, a device) becomes a record with the reason, never an open().
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cleanwire.batch import FileRef


@dataclass(frozen=True)
class Discovery:
    to_process: list[FileRef]   # new or changed files (and the ones with a problem)
    unchanged: int              # skipped by size + mtime
    seen_total: int             # files known to the state index
    missing: int                # known files no longer on disk (their records are kept)


def display_path(rel: str) -> str:
    """A unique, valid-UTF-8 name for a relative path.

    Undecodable bytes of a file name are written as backslash escapes ('a\\xff.txt'),
    so two such names never collide; a '#' before a final number is written '%23'
    ('feed.jsonl%231'), so a file name never looks like a record of a feed ('feed.jsonl#1').
    """
    name = rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _RECORD_LIKE.sub(r"%23\1", name)


_RECORD_LIKE = re.compile(r"#(\d+)$")


def walk(input_dir: Path) -> list[FileRef]:
    """Every entry below input_dir that is not a directory, sorted by relative path."""
    root = Path(os.path.realpath(input_dir))
    out: list[FileRef] = []
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError as e:
            rel = display_path(os.path.relpath(d, root).replace(os.sep, "/"))
            out.append(FileRef(rel, str(d), 0, 0, problem=f"directory cannot be listed: {e.strerror or e}"))
            continue
        for e in entries:
            rel = os.path.relpath(e.path, root).replace(os.sep, "/")
            ref = _entry(e, rel, root)
            if ref == "dir":
                stack.append(Path(e.path))
            elif ref is not None:
                out.append(ref)
    return sorted(out, key=lambda r: r.source_file)


def _entry(e: os.DirEntry, rel: str, root: Path):
    name = display_path(rel)
    try:
        if e.is_symlink():
            target = os.path.realpath(e.path)
            inside = target == str(root) or target.startswith(str(root) + os.sep)
            if not inside:
                return FileRef(name, e.path, 0, 0, problem="symlink pointing outside the input directory (not followed)")
            if os.path.isdir(target):
                return FileRef(name, e.path, 0, 0, problem="symlink to a directory (not followed)")
            st = os.stat(target)
            if not stat.S_ISREG(st.st_mode):
                return FileRef(name, e.path, 0, 0, problem="symlink to something that is not a regular file")
            return FileRef(name, target, st.st_size, st.st_mtime_ns)
        if e.is_dir(follow_symlinks=False):
            return "dir"
        st = e.stat(follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            return FileRef(name, e.path, 0, 0, problem="not a regular file (FIFO, socket or device)")
        return FileRef(name, e.path, st.st_size, st.st_mtime_ns)
    except OSError as err:
        return FileRef(name, e.path, 0, 0, problem=f"cannot stat: {err.strerror or err}")


def discover(input_dir: Path, seen: pl.DataFrame | None, only: set[str] | None = None) -> Discovery:
    """Files to process now, given the state index of seen files (or None on a first run).

    With `only` (reprocessing quarantined records after the rules or thresholds
    changed), exactly those files are processed again, seen or not.
    """
    refs = walk(input_dir)
    if only is not None:
        todo = [FileRef(r.source_file, r.path, r.size, r.mtime_ns, None, r.problem) for r in refs if r.source_file in only]
        return Discovery(todo, len(refs) - len(todo), 0 if seen is None else seen.height,
                         len(only - {r.source_file for r in refs}))
    if seen is None or seen.height == 0:
        return Discovery(refs, 0, 0, 0)
    known = {r[0]: r[1:] for r in seen.select("source_file", "size", "mtime_ns", "content_hash").iter_rows()}
    todo: list[FileRef] = []
    unchanged = 0
    on_disk = set()
    for r in refs:
        on_disk.add(r.source_file)
        prev = known.get(r.source_file)
        if prev is not None and r.problem is None and prev[0] == r.size and prev[1] == r.mtime_ns:
            unchanged += 1  # same size and mtime: same content (even one refused, e.g. over the size cap)
            continue
        if prev is not None and r.problem is not None and prev[2] is None:
            unchanged += 1  # the same problem as last time: already accounted for
            continue
        todo.append(FileRef(r.source_file, r.path, r.size, r.mtime_ns, prev[2] if prev else None, r.problem))
    missing = sum(1 for k in known if k not in on_disk)
    return Discovery(todo, unchanged, len(known), missing)
