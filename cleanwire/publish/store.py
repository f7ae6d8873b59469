"""Versioned, partitioned Parquet tables with an atomic switch between versions.

Layout under OUT_DIR:

    .cleanwire/versions/v000007/published/articles/year=2023/month=6/part-....parquet
                               quarantine/articles/ingested=2026-11/part-....parquet
                               state/records/part-....parquet   (index for dedup and replacement)
                               state/files/part-....parquet     (raw files seen: size, mtime, hash)
                               manifest.json
    .cleanwire/current  -> versions/v000007          (the one switch: a symlink, replaced atomically)
    published           -> .cleanwire/current/published
    quarantine          -> .cleanwire/current/quarantine

A new version is built in `vNNNNNN.tmp/` and renamed into place; then the
`current` link is replaced with os.replace (an atomic rename), so a reader of
`OUT_DIR/published/articles/**/*.parquet` sees the old version or the new one,
never a mix, and a crash at any point leaves the old version current. Files are
never modified: an unchanged partition is hard-linked from the previous
version (no copy, no rewrite); a partition that receives rows gets one new
file, and is compacted into a single file when it holds too many files or
when rows are removed from it.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from cleanwire.errors import StoreError
from cleanwire.paths import STATE_DIR, Layout
VERSIONS = "versions"
CURRENT = "current"
DEFAULT_KEEP = 10
MAX_FILES_PER_PARTITION = 8
_ROW_GROUP = 50_000              # rows buffered per partition before a row group is written
_PARTITION_BUFFER = 8 * 2**20    # ... or this many bytes
# All partitions of a table together: memory stays flat whatever the run's size. A run
# writes three tables at once; 16 MB each instead of 48 took 70 MB off publish's peak
# (300k records, measured) for row groups of 8 MB or more.
_TOTAL_BUFFER = 16 * 2**20
# Dictionary encoding only for columns whose values repeat (labels, codes, run ids). On bodies,
# titles, ids and signatures Parquet builds a dictionary page by page and then drops it: a
# quarter of the write time, for files 5 % larger (measured on 35k benchmark records).
_DICTIONARY = {"format", "encoding", "section", "title_kind", "cut_marker", "date_kind", "run_id", "dataset",
               "issues", "status", "ingested", "read_error"}


def parquet_writer(where, schema: pa.Schema) -> pq.ParquetWriter:
    """The writer of every table file: zstd, dictionaries only where values repeat."""
    return pq.ParquetWriter(where, schema, compression="zstd",
                            use_dictionary=[n for n in schema.names if n in _DICTIONARY])


# ------------------------------------------------------------------ tables

@dataclass
class TableSpec:
    """A table of a version: its folder and how its rows are partitioned."""
    rel: str                                   # e.g. "published/articles"
    partition_by: tuple[str, ...] = ()         # hive partition columns (not stored in the files)
    key: str = "source_file"                   # rows are removed by this column's values


@dataclass
class _PartitionPlan:
    old_files: list[Path] = field(default_factory=list)
    new_file: Path | None = None
    writer: pq.ParquetWriter | None = None
    sink: pa.NativeFile | None = None   # the open file under the writer: closed even when the writer fails
    buffer: list[pa.Table] = field(default_factory=list)
    buffered_rows: int = 0
    buffered_bytes: int = 0


def _partition_dir(spec: TableSpec, values: tuple) -> str:
    parts = []
    for col, v in zip(spec.partition_by, values):
        parts.append(f"{col}={'__HIVE_DEFAULT_PARTITION__' if v is None else v}")
    return "/".join(parts)


def _existing_partitions(table_root: Path) -> dict[str, list[Path]]:
    """partition dir (relative, '' for an unpartitioned table) -> its parquet files."""
    out: dict[str, list[Path]] = {}
    if not table_root.is_dir():
        return out
    for f in sorted(table_root.rglob("*.parquet")):
        rel = f.parent.relative_to(table_root).as_posix()
        out.setdefault("" if rel == "." else rel, []).append(f)
    return out


def rollback_target(to: int | None, current: int | None, parent: int | None, versions: list[int]) -> int:
    """The version a rollback makes current: `to` when given, else the version the current one was
    built on (after an earlier rollback that is not simply the next lower number), else the next
    lower number; a StoreError when there is none or `to` is not kept."""
    if to is None:
        older = [v for v in versions if current is not None and v < current]
        if parent in versions:
            to = parent
        elif older:
            to = older[-1]
        else:
            raise StoreError("no earlier version to roll back to")
    if to not in versions:
        raise StoreError(f"version {to} does not exist or is no longer kept (have {versions})")
    return to


class PartitionedWriter:
    """Rows of one table buffered per partition folder and written a row group at a time.

    `write` splits a frame by the table's partition columns and buffers each part;
    a partition is flushed (`_flush`, the subclass's: a Parquet file of a version,
    or a file of a Delta table) once it holds a row group's rows or bytes, and the
    biggest buffers are flushed when all of them together pass _TOTAL_BUFFER, so
    memory stays bounded however many partitions a run touches. Subclasses give
    `_arrow` (a frame as the file's Arrow rows) and `_part` (a partition's plan).
    """
    spec: TableSpec
    rows_written: int
    buffered_bytes: int

    def _arrow(self, df: pl.DataFrame) -> pa.Table:
        raise NotImplementedError

    def _part(self, pdir: str, values: tuple):
        raise NotImplementedError

    def _flush(self, pdir: str, part) -> None:
        raise NotImplementedError

    def _close_all(self) -> None:
        """Close every partition's open writer and file, dropping its buffer (after a failure)."""
        for part in self.parts.values():
            for closable in (part.writer, part.sink):
                if closable is not None:
                    try:
                        closable.close()
                    except Exception:  # noqa: BLE001 - a full disk, a lost connection: closing may fail too
                        pass
            part.writer = part.sink = None
            part.buffer = []

    def write(self, df: pl.DataFrame) -> None:
        if df.height == 0:
            return
        keys = list(self.spec.partition_by)
        # One conversion and cast per frame, then one `take` per partition: converting each
        # partition's frame (dozens of year/month partitions per frame) cost more than writing.
        whole = self._arrow(df.drop(keys))
        if keys:
            groups = df.select(keys).with_row_index("_row").group_by(keys, maintain_order=True).agg("_row")
            parts = [(values, whole.take(rows.to_arrow()))
                     for values, rows in zip(groups.select(keys).iter_rows(), groups["_row"])]
        else:
            parts = [((), whole)]
        for values, table in parts:
            pdir = _partition_dir(self.spec, values)
            part = self._part(pdir, values)
            part.buffer.append(table)
            size = table.get_total_buffer_size()  # compact tables (taken): the same as nbytes, 15x faster
            part.buffered_rows += table.num_rows
            part.buffered_bytes += size
            self.buffered_bytes += size
            self.rows_written += table.num_rows
            if part.buffered_rows >= _ROW_GROUP or part.buffered_bytes >= _PARTITION_BUFFER:
                self._flush(pdir, part)
        if self.buffered_bytes > _TOTAL_BUFFER:
            # Many partitions each below their limit: write the biggest buffers out.
            for pdir, part in sorted(self.parts.items(), key=lambda kv: -kv[1].buffered_bytes):
                if self.buffered_bytes <= _TOTAL_BUFFER // 2:
                    break
                self._flush(pdir, part)


class TableWriter(PartitionedWriter):
    """Streams rows into one table of a new version, reusing the previous version's files."""

    def __init__(self, spec: TableSpec, old_root: Path | None, new_root: Path, version: int,
                 remove_keys: pl.Series, schema: pa.Schema, max_files: int = MAX_FILES_PER_PARTITION):
        self.spec, self.version, self.max_files = spec, version, max_files
        # remove_keys: a column, not a set of Python strings (a million file names: ~100 MB as a
        # set), kept as given, not a unique() copy: publish hands the same column to three tables.
        self.remove_keys = remove_keys if remove_keys.dtype == pl.String else remove_keys.cast(pl.String)
        self.schema = pa.schema([f for f in schema if f.name not in spec.partition_by])
        self.old_table = old_root / spec.rel if old_root else None
        self.new_table = new_root / spec.rel
        self.new_table.mkdir(parents=True, exist_ok=True)
        self.parts: dict[str, _PartitionPlan] = {}
        for pdir, files in (_existing_partitions(self.old_table) if self.old_table else {}).items():
            self.parts[pdir] = _PartitionPlan(old_files=files)
        self.rows_written = 0
        self.buffered_bytes = 0

    def _arrow(self, df: pl.DataFrame) -> pa.Table:
        return df.to_arrow().select(self.schema.names).cast(self.schema)

    def _part(self, pdir: str, values: tuple) -> _PartitionPlan:
        return self.parts.setdefault(pdir, _PartitionPlan())

    def _flush(self, pdir: str, plan: _PartitionPlan) -> None:
        if not plan.buffer:
            return
        if plan.writer is None:
            d = self.new_table / pdir if pdir else self.new_table
            d.mkdir(parents=True, exist_ok=True)
            plan.new_file = d / f"part-v{self.version:06d}.parquet"
            plan.sink = pa.OSFile(str(plan.new_file), "wb")
            plan.writer = parquet_writer(plan.sink, self.schema)
        plan.writer.write_table(pa.concat_tables(plan.buffer))
        self.buffered_bytes -= plan.buffered_bytes
        plan.buffer, plan.buffered_rows, plan.buffered_bytes = [], 0, 0

    def abort(self) -> None:
        """Close every open file after a failure (the build folder is then removed)."""
        self._close_all()

    def close(self) -> dict:
        """Finish every partition: link, append or compact. Returns counts."""
        n_files = 0
        for pdir, plan in self.parts.items():
            self._flush(pdir, plan)
            if plan.writer is not None:
                plan.writer.close()
                plan.sink.close()
            d = self.new_table / pdir if pdir else self.new_table
            touched_by_removal = self.remove_keys.len() > 0 and any(
                _has_keys(f, self.spec.key, self.remove_keys) for f in plan.old_files)
            too_many = plan.new_file is not None and len(plan.old_files) + 1 > self.max_files
            # Files of a version written before a column was added: rewritten once with the column (null),
            # so that every file of a version has the same columns and a glob over them reads as one table.
            older_schema = any(set(pq.read_schema(f).names) != set(self.schema.names) for f in plan.old_files)
            if touched_by_removal or too_many or older_schema:
                n_files += self._compact(d, plan)
            else:
                d.mkdir(parents=True, exist_ok=True)
                for f in plan.old_files:
                    _link_or_copy(f, d / f.name)
                n_files += len(plan.old_files) + (1 if plan.new_file else 0)
        return {"rows_written": self.rows_written, "files": n_files}

    def _compact(self, d: Path, plan: _PartitionPlan) -> int:
        """Rewrite a partition into one file, without the removed keys."""
        d.mkdir(parents=True, exist_ok=True)
        sources = list(plan.old_files) + ([plan.new_file] if plan.new_file else [])
        target = d / f"part-v{self.version:06d}-c.parquet"
        rows = 0
        with parquet_writer(target, self.schema) as w:
            for i, f in enumerate(sources):
                pf = pq.ParquetFile(f)
                for rg in range(pf.num_row_groups):
                    t = pf.read_row_group(rg)
                    if f in plan.old_files and self.remove_keys.len() > 0:
                        keep = pl.from_arrow(t.select([self.spec.key])).to_series().is_in(
                            self.remove_keys.implode()).not_().to_arrow()
                        t = t.filter(keep)
                    if t.num_rows:
                        w.write_table(_with_columns_of(t, self.schema))
                        rows += t.num_rows
        if plan.new_file:
            plan.new_file.unlink()
        if rows == 0:
            target.unlink()
            return 0
        return 1


def _with_columns_of(t: pa.Table, schema: pa.Schema) -> pa.Table:
    """`t` with the columns of `schema`, in its order and types; a column `t` lacks is null."""
    missing = [f for f in schema if f.name not in t.column_names]
    for f in missing:
        t = t.append_column(f.name, pa.nulls(t.num_rows, f.type))
    return t.select(schema.names).cast(schema)


def _has_keys(path: Path, col: str, keys: pl.Series) -> bool:
    values = pl.read_parquet(path, columns=[col])[col]
    return bool(values.is_in(keys.implode()).any())


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# ------------------------------------------------------------------ versions

class Store:
    """The versions of one OUT_DIR and the switch between them."""

    table_format = "parquet"

    def __init__(self, out_dir: Path, keep: int = DEFAULT_KEEP, max_files: int = MAX_FILES_PER_PARTITION):
        self.out = Path(out_dir)
        self.max_files = max_files
        self.root = self.out / STATE_DIR
        self.versions = self.root / VERSIONS
        self.keep = keep

    # -- reading
    def current_version(self) -> int | None:
        link = self.root / CURRENT
        if not link.is_symlink():
            return None
        return int(Path(os.readlink(link)).name.lstrip("v"))

    def version_dir(self, v: int) -> Path:
        return self.versions / f"v{v:06d}"

    def current_dir(self) -> Path | None:
        v = self.current_version()
        return self.version_dir(v) if v is not None else None

    def list_versions(self) -> list[int]:
        if not self.versions.is_dir():
            return []
        return sorted(int(p.name[1:]) for p in self.versions.iterdir()
                      if p.name.startswith("v") and p.name[1:].isdigit() and (p / "manifest.json").is_file())

    def manifest(self, v: int) -> dict:
        return json.loads((self.version_dir(v) / "manifest.json").read_text())

    def history(self) -> list[dict]:
        cur = self.current_version()
        out = []
        for v in self.list_versions():
            m = self.manifest(v)
            m["current"] = v == cur
            out.append(m)
        return out

    def scan(self, rel: str, v: int | None = None, hive: bool = False) -> pl.LazyFrame | None:
        """A table of the current (or given) version; with `hive`, its partition columns from the paths."""
        base = self.version_dir(v) if v is not None else self.current_dir()
        if base is None:
            return None
        files = sorted((base / rel).rglob("*.parquet"))
        if not files:
            return None
        return pl.scan_parquet(files, hive_partitioning=hive)

    # -- writing
    def prepare(self, clean_work: bool = False) -> None:
        """Create the layout; refuse an OUT_DIR whose published/quarantine are not ours.

        With clean_work (at the start of a run, under the output lock, so no run is
        alive): remove the work folders that killed runs left behind.
        """
        self.versions.mkdir(parents=True, exist_ok=True)
        for name in ("published", "quarantine"):
            p = self.out / name
            if p.exists() and not p.is_symlink():
                raise StoreError(f"{p} exists and is not managed by cleanwire (expected a link into "
                                 f"{STATE_DIR}/); move it away or choose another --output")
        for stale in self.versions.glob("*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)  # a build a crash left behind; never current
        if clean_work:
            for stale in Layout(self.out).work_root.glob("*"):
                shutil.rmtree(stale, ignore_errors=True)

    def begin(self) -> tuple[int, Path, Path | None]:
        """A new version number, its build dir, and the current version's dir (or None)."""
        self.prepare()
        existing = self.list_versions()
        v = (max(existing) + 1) if existing else 1
        build = self.versions / f"v{v:06d}.tmp"
        build.mkdir(parents=True)
        return v, build, self.current_dir()

    def discard(self, build: Path) -> None:
        """Remove a build that failed; the current version was never touched."""
        shutil.rmtree(build, ignore_errors=True)

    def commit(self, v: int, build: Path, manifest: dict) -> Path:
        """Seal the build and switch `current` to it atomically."""
        manifest = {**manifest, "version": v, "created_at": dt.datetime.now(dt.timezone.utc).isoformat()}
        (build / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
        _fsync_tree(build)
        final = self.version_dir(v)
        os.replace(build, final)
        _fsync_dir(self.versions)
        self._switch(v)
        self._ensure_links()
        self.prune()
        return final

    def _switch(self, v: int) -> None:
        link = self.root / CURRENT
        tmp = self.root / f".{CURRENT}.{os.getpid()}.tmp"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(f"{VERSIONS}/v{v:06d}", tmp)
        os.replace(tmp, link)
        _fsync_dir(self.root)

    def _ensure_links(self) -> None:
        for name in ("published", "quarantine"):
            p = self.out / name
            if not p.is_symlink():
                tmp = self.out / f".{name}.{os.getpid()}.tmp"
                if tmp.is_symlink():
                    tmp.unlink()
                os.symlink(f"{STATE_DIR}/{CURRENT}/{name}", tmp)
                os.replace(tmp, p)
        _fsync_dir(self.out)

    def rollback(self, to: int | None = None) -> int:
        """Make the version before the current one (or `to`) current again, atomically."""
        cur = self.current_version()
        versions = self.list_versions()
        parent = self.manifest(cur).get("parent") if cur is not None else None
        to = rollback_target(to, cur, parent, versions)
        self._switch(to)
        self._ensure_links()
        return to

    def prune(self) -> list[int]:
        """Delete versions beyond the newest `keep` (never the current one)."""
        cur = self.current_version()
        versions = self.list_versions()
        doomed = [v for v in versions[:-self.keep] if v != cur] if len(versions) > self.keep else []
        for v in doomed:
            shutil.rmtree(self.version_dir(v), ignore_errors=True)
        return doomed


# ------------------------------------------------------------------ which format an output has

def table_format_of(out_dir, asked: str | None = None) -> str:
    """The table format of an output: what it already holds, else `asked`, else parquet (delta for s3://).

    An output keeps the format it was created with: asking for the other one is an error.
    """
    from cleanwire.storage import is_url

    if is_url(out_dir):
        if asked == "parquet":
            raise StoreError(f"{out_dir}: an s3:// output is always a Delta table (--table-format delta): object "
                             "storage has no atomic switch for the Parquet format's versions")
        return "delta"
    from cleanwire.publish.delta import RUN_LOG, has_delta_layout

    out = Path(out_dir)
    # A look at the folder first: a Parquet output never loads deltalake.
    holds = ("delta" if (out / STATE_DIR / RUN_LOG / "_delta_log").is_dir() and has_delta_layout(out)
             else "parquet" if Store(out).list_versions() or (out / "published").is_symlink() else None)
    if asked and holds and asked != holds:
        raise StoreError(f"{out} holds the {holds} table format, not {asked}: run without --table-format, "
                         f"or choose another --output")
    return holds or asked or "parquet"


def open_store(out_dir, table_format: str | None = None, keep: int = DEFAULT_KEEP,
               max_files: int = MAX_FILES_PER_PARTITION):
    """The store of an output in its table format: Store (versioned Parquet folders) or DeltaStore."""
    if table_format_of(out_dir, table_format) == "delta":
        from cleanwire.publish.delta import DeltaStore

        return DeltaStore(out_dir, keep=keep, max_files=max_files)
    return Store(Path(out_dir), keep=keep, max_files=max_files)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError:
                pass
        _fsync_dir(Path(dirpath))
