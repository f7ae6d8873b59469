"""The output as Delta tables (`--table-format delta`; always for an s3:// output).

Layout (OUT may be a local folder or an s3:// prefix):

    OUT/published/articles           Delta table, partitioned by year/month   (what readers read)
    OUT/quarantine/articles          Delta table, partitioned by ingested
    OUT/.cleanwire/state/records     Delta table: the dedup index of every record
    OUT/.cleanwire/state/files       Delta table: the raw files seen (size, mtime, hash)
    OUT/.cleanwire/runs              the run log: a Delta table without rows, one empty commit per
                                     cleanwire version, its manifest in the commit's metadata
    OUT/.cleanwire/plans/<run>.json  a version's file actions on each table (written before its commit)
    OUT/reports/                     as for the Parquet format, on the same storage

**One run, one commit.** A run writes its new Parquet files into the tables' folders
(invisible: no table references them yet), then its plan (for each table, the files
to add and to remove), then commits version N of the run log with max_commit_retries=0:
a put-if-absent of `runs/_delta_log/N.json`. That commit is the run's commit point.
Then the plan is applied to each table, one Delta commit each (adds and removes
together: the records of a changed raw file are replaced in one transaction), tagged
with the app transaction (`txn`) `cleanwire` = N.

**A crash at any point.** Before the run-log commit, nothing references the new
files: every table is at its last version, whole (vacuum later deletes the orphans).
After it, a table whose `txn` is below N has not had its part applied: whoever opens
the store next (a run, a rollback) applies it first, from the plan (roll forward).
A reader of one table sees its last commit, whole.

**Two runs at once.** Both read version N-1 and both try to commit N: the put-if-absent
lets one through; the other fails in one line (ConcurrentCommit) without touching a
table. We fail rather than retry on top of the winner: the loser's records were
checked against the state before the winner's (duplicates, replaced files), so
committing them later could publish two copies of one story; a rerun redoes its work
on the new state.

**History, rollback, compaction, vacuum.** `history` is the run log's; `rollback --to K`
restores every table to the Delta version it had at K (Delta `restore`), as a new
version. A partition that holds more than MAX_FILES files is compacted with
`optimize.compact`. `--keep-versions K`: Delta `vacuum` keeps the files of the tables'
versions at the last K cleanwire versions, and any file removed or written less than
VACUUM_MIN_HOURS ago (a reader still on the previous version, a run still writing).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cleanwire.errors import ConcurrentCommit, StoreError
from cleanwire.paths import STATE_DIR, Layout
from cleanwire.publish.store import (DEFAULT_KEEP, MAX_FILES_PER_PARTITION, PartitionedWriter, TableSpec,
                                     _partition_dir, rollback_target, _with_columns_of, parquet_writer)
from cleanwire.storage import ObjectPath, delta_options, filesystem, location, polars_options, uri, write_bytes

log = logging.getLogger(__name__)

APP_ID = "cleanwire"               # the app transaction id of every table commit (its version: N)
TAG = "cleanwire_version"          # commit metadata: the cleanwire version a table commit belongs to
RUN_LOG = "runs"
PLANS = "plans"
VACUUM_MIN_HOURS = 1               # never delete a file removed or written less than this long ago
_LOG_SCHEMA = pa.schema([("run_id", pa.string())])


def has_delta_layout(out) -> bool:
    """Whether `out` holds cleanwire's Delta layout (its run log)."""
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(uri(location(out) / STATE_DIR / RUN_LOG), delta_options(out))


# ------------------------------------------------------------------ plans

@dataclass
class TablePlan:
    """What a run does to one table: files to add and to remove, and the table's totals afterwards."""
    adds: list[dict] = field(default_factory=list)      # path, size, partition_values, modification_time, stats
    removes: list[dict] = field(default_factory=list)   # path, size, partition_values
    rows_total: int = 0
    files_total: int = 0
    rows_written: int = 0

    @property
    def empty(self) -> bool:
        return not self.adds and not self.removes


def _stats(rows: int, key: str, kmin, kmax, nulls: int) -> str:
    """The add action's statistics: the row count, and the key column's range (replacement prunes on it)."""
    s: dict = {"numRecords": rows}
    if kmin is not None:
        s.update(minValues={key: kmin}, maxValues={key: kmax}, nullCount={key: nulls})
    return json.dumps(s)


@dataclass
class _Part:
    values: dict                                   # partition column -> value as a string (or None)
    writer: pq.ParquetWriter | None = None
    sink: object = None
    path: str = ""
    buffer: list = field(default_factory=list)
    buffered_rows: int = 0
    buffered_bytes: int = 0
    rows: int = 0
    kmin: object = None
    kmax: object = None
    nulls: int = 0


class DeltaTableWriter(PartitionedWriter):
    """Streams a run's rows of one table into new Parquet files; `close` says what to commit.

    The same buffering as the Parquet format's TableWriter (store.py): a row group per
    partition once it holds enough rows, memory bounded across partitions. Rows of
    the raw files this run replaces are removed by rewriting only the files that hold
    them (found by the key column's range in the table's statistics, then read).
    """

    def __init__(self, store: "DeltaStore", spec: TableSpec, version: int, remove_keys: pl.Series,
                 schema: pa.Schema):
        self.spec, self.version = spec, version
        self.remove_keys = remove_keys if remove_keys.dtype == pl.String else remove_keys.cast(pl.String)
        # The rows as cleanwire types them, and as the files store them (signed: Delta has no unsigned type).
        self.source_schema = pa.schema([f for f in schema if f.name not in spec.partition_by])
        self.schema = _signed(self.source_schema)
        self.fs, self.root = filesystem(store.table_location(spec.rel))
        self.old = store.files_of(spec.rel)
        self.parts: dict[str, _Part] = {}
        self.written: list[str] = []
        self.rows_written = 0
        self.buffered_bytes = 0
        self.tag = uuid.uuid4().hex[:12]   # file names never collide with a concurrent run's

    def _name(self, suffix: str = "") -> str:
        return f"part-v{self.version:06d}-{self.tag}-{len(self.written):04d}{suffix}.parquet"

    def _arrow(self, df: pl.DataFrame) -> pa.Table:
        whole = df.to_arrow().select(self.schema.names).cast(self.source_schema)
        if self.schema != self.source_schema:
            whole = whole.cast(self.schema, safe=False)  # UInt32 bits kept as Int32 (see _signed)
        return whole

    def _part(self, pdir: str, values: tuple) -> _Part:
        part = self.parts.get(pdir)
        if part is None:
            part = self.parts[pdir] = _Part({c: None if v is None else str(v)
                                             for c, v in zip(self.spec.partition_by, values)})
        return part

    def _open(self, pdir: str, part: _Part, suffix: str = "") -> None:
        rel = f"{pdir}/{self._name(suffix)}" if pdir else self._name(suffix)
        part.path = rel
        full = f"{self.root}/{rel}"
        if self.fs.type_name == "local":
            self.fs.create_dir(full.rsplit("/", 1)[0], recursive=True)
        part.sink = self.fs.open_output_stream(full)
        self.written.append(full)
        part.writer = parquet_writer(part.sink, self.schema)

    def _flush(self, pdir: str, part: _Part) -> None:
        if not part.buffer:
            return
        if part.writer is None:
            self._open(pdir, part)
        table = pa.concat_tables(part.buffer)
        self._track(part, table)
        part.writer.write_table(table)
        self.buffered_bytes -= part.buffered_bytes
        part.buffer, part.buffered_rows, part.buffered_bytes = [], 0, 0

    def _track(self, part: _Part, table: pa.Table) -> None:
        part.rows += table.num_rows
        key = self.spec.key
        if key in table.column_names and table.num_rows:
            col = table[key]
            mm = pc.min_max(col)
            lo, hi = mm["min"].as_py(), mm["max"].as_py()
            part.nulls += col.null_count
            if lo is not None:
                part.kmin = lo if part.kmin is None else min(part.kmin, lo)
                part.kmax = hi if part.kmax is None else max(part.kmax, hi)

    def _seal(self, part: _Part) -> dict:
        part.writer.close()
        size = part.sink.tell()
        part.sink.close()
        part.writer = part.sink = None
        return {"path": part.path, "size": int(size), "partition_values": part.values,
                "modification_time": int(time.time() * 1000),
                "stats": _stats(part.rows, self.spec.key, part.kmin, part.kmax, part.nulls)}

    def abort(self) -> None:
        """Close what is open and delete what this writer wrote (never referenced by a commit)."""
        self._close_all()
        for path in self.written:
            try:
                self.fs.delete_file(path)
            except Exception:  # noqa: BLE001 - left for vacuum
                pass

    def close(self) -> TablePlan:
        plan = TablePlan(rows_written=self.rows_written)
        for pdir, part in self.parts.items():
            self._flush(pdir, part)
            if part.writer is not None:
                plan.adds.append(self._seal(part))
        touched = self._files_with_removed_keys()
        by_partition: dict[str, list[dict]] = {}
        for f in touched:
            by_partition.setdefault(f["pdir"], []).append(f)
        kept_rows = 0
        for pdir, files in by_partition.items():
            add, rows = self._rewrite(pdir, files)
            kept_rows += rows
            if add is not None:
                plan.adds.append(add)
            now = int(time.time() * 1000)
            plan.removes += [{"path": f["path"], "size": f["size"], "partition_values": f["partition_values"],
                              "deletion_timestamp": now} for f in files]
        gone = {f["path"] for f in touched}
        plan.rows_total = sum(f["num_records"] for f in self.old if f["path"] not in gone) + self.rows_written + kept_rows
        plan.files_total = len(self.old) - len(gone) + len(plan.adds)
        return plan

    def _files_with_removed_keys(self) -> list[dict]:
        if self.remove_keys.len() == 0 or not self.old:
            return []
        keys = self.remove_keys.drop_nulls().unique().sort()
        if keys.len() == 0:
            return []
        implode = keys.implode()
        out = []
        for f in self.old:
            lo, hi = f.get("min"), f.get("max")
            if lo is not None and hi is not None:
                i = keys.search_sorted(lo, side="left")
                if i >= keys.len() or keys[i] > hi:
                    continue  # no key in the file's range: it holds none of them
            values = pq.read_table(f"{self.root}/{f['path']}", columns=[self.spec.key], filesystem=self.fs)
            if bool(pl.from_arrow(values).to_series().is_in(implode).any()):
                out.append(f)
        return out

    def _rewrite(self, pdir: str, files: list[dict]) -> tuple[dict | None, int]:
        """The rows of `files` that stay, in one new file of the partition; (its add action, its rows)."""
        part = _Part(dict(files[0]["partition_values"]))
        implode = self.remove_keys.implode()
        for f in files:
            with self.fs.open_input_file(f"{self.root}/{f['path']}") as raw:
                pf = pq.ParquetFile(raw)
                for rg in range(pf.num_row_groups):
                    t = pf.read_row_group(rg)
                    keep = pl.from_arrow(t.select([self.spec.key])).to_series().is_in(implode).not_().to_arrow()
                    t = t.filter(keep)
                    if t.num_rows:
                        if part.writer is None:
                            self._open(pdir, part, "-r")
                        t = _with_columns_of(t, self.schema)
                        self._track(part, t)
                        part.writer.write_table(t)
        if part.writer is None:
            return None, 0
        return self._seal(part), part.rows


# ------------------------------------------------------------------ the store

class DeltaStore:
    """The Delta tables of one output, its run log, and the versions it has published."""

    table_format = "delta"

    def __init__(self, out_dir, keep: int = DEFAULT_KEEP, max_files: int = MAX_FILES_PER_PARTITION):
        self.out = location(out_dir)
        self.keep = keep
        self.max_files = max_files
        self.state = self.out / STATE_DIR
        self._log = None                   # the run log, pinned at the version this run builds on
        self._tables: dict[str, object] = {}

    # -- where
    def table_location(self, rel: str):
        return (self.out if rel.split("/")[0] in ("published", "quarantine") else self.state) / rel

    def _opts(self):
        return delta_options(self.out)

    @staticmethod
    def _specs() -> dict[str, tuple[TableSpec, pa.Schema]]:
        from cleanwire.publish import tables

        return tables.table_schemas()

    # -- the run log
    def _run_log(self, create: bool = False):
        from deltalake import DeltaTable

        if self._log is None:
            where = uri(self.state / RUN_LOG)
            if DeltaTable.is_deltatable(where, self._opts()):
                self._log = DeltaTable(where, storage_options=self._opts())
            elif create:
                self._log = DeltaTable.create(where, schema=_LOG_SCHEMA, mode="ignore", name="cleanwire runs",
                                              storage_options=self._opts())
        return self._log

    def _entries(self) -> list[dict]:
        """Every version's manifest, oldest first (the run log's commit metadata)."""
        runs = self._run_log()
        if runs is None:
            return []
        out = []
        for h in runs.history():
            m = h.get("cleanwire")
            if isinstance(m, str):
                m = json.loads(m)
            if not isinstance(m, dict):
                continue
            out.append({**m, "version": h["version"],
                        "created_at": dt.datetime.fromtimestamp(h["timestamp"] / 1000, dt.UTC).isoformat()})
        return sorted(out, key=lambda m: m["version"])

    def current_version(self) -> int | None:
        runs = self._run_log()
        if runs is None:
            return None
        v = runs.version()
        return v if v >= 1 else None

    def manifest(self, v: int) -> dict:
        for m in self._entries():
            if m["version"] == v:
                return m
        raise StoreError(f"version {v} of {self.out} does not exist")

    def _kept_versions(self) -> list[int]:
        """The versions whose files vacuum keeps: the newest `keep` (as the latest version recorded it)."""
        entries = self._entries()
        if not entries:
            return []
        keep = int(entries[-1].get("keep", self.keep))
        return [m["version"] for m in entries[-keep:]]

    def list_versions(self) -> list[int]:
        return self._kept_versions()

    def history(self) -> list[dict]:
        entries = self._entries()
        kept = set(self._kept_versions())
        cur = entries[-1]["version"] if entries else None
        return [{**m, "current": m["version"] == cur} for m in entries if m["version"] in kept]

    # -- the tables
    def _table(self, rel: str, create: bool = False, fresh: bool = False):
        """The table at `rel` (pinned at its first load unless `fresh`), created empty with `create`."""
        from deltalake import DeltaTable

        if rel in self._tables and not fresh:
            return self._tables[rel]
        where = uri(self.table_location(rel))
        t = None
        if DeltaTable.is_deltatable(where, self._opts()):
            t = DeltaTable(where, storage_options=self._opts())
        elif create:
            spec, schema = self._specs()[rel]
            try:
                t = DeltaTable.create(where, schema=_delta_schema(schema), partition_by=list(spec.partition_by) or None,
                                      mode="ignore", storage_options=self._opts())
            except Exception:  # noqa: BLE001 - created by another run at the same moment: open it
                t = DeltaTable(where, storage_options=self._opts())
        self._tables[rel] = t
        return t

    def files_of(self, rel: str) -> list[dict]:
        """The files of a table's pinned version: path, size, partition values, rows, the key's range."""
        t = self._table(rel)
        if t is None:
            return []
        spec, _ = self._specs()[rel]
        actions = pa.table(t.get_add_actions(flatten=True)).to_pylist()
        out = []
        for a in actions:
            pv = {c: (None if a.get(f"partition.{c}") is None else str(a[f"partition.{c}"]))
                  for c in spec.partition_by}
            rows = a.get("num_records")
            if rows is None:
                fs, root = filesystem(self.table_location(rel))
                rows = pq.read_metadata(f"{root}/{a['path']}", filesystem=fs).num_rows
            out.append({"path": a["path"], "size": a["size_bytes"], "partition_values": pv, "num_records": int(rows),
                        "min": a.get(f"min.{spec.key}"), "max": a.get(f"max.{spec.key}"),
                        "pdir": _partition_dir(spec, tuple(None if pv[c] is None else pv[c] for c in spec.partition_by))})
        return out

    def scan(self, rel: str, v: int | None = None, hive: bool = False) -> pl.LazyFrame | None:
        """A table at the version this run builds on (or at cleanwire version `v`), None when it holds no file.

        Partition columns come with every scan (Delta stores them in the log): `hive` changes nothing.
        """
        t = self._table(rel)
        if t is None:
            return None
        version = t.version() if v is None else self._table_version_at(rel, v)
        if v is None and not t.file_uris():
            return None
        lf = pl.scan_delta(uri(self.table_location(rel)), version=version, storage_options=polars_options(self.out))
        unsigned = _unsigned_columns(self._specs()[rel][1])
        return lf.with_columns(unsigned) if unsigned else lf

    def _table_version_at(self, rel: str, v: int) -> int:
        """The table's Delta version at cleanwire version `v`: its last commit tagged v or earlier (0: empty)."""
        t = self._table(rel, fresh=True)
        if t is None:
            return 0
        tagged = [h["version"] for h in t.history() if isinstance(h.get(TAG), int) and h[TAG] <= v]
        return max(tagged, default=0)

    # -- a run
    def prepare(self, clean_work: bool = False) -> None:
        """Open the output for a run: refuse a folder that is not ours, finish a version a crash
        left half-applied, and pin every table at the version this run builds on."""
        if not isinstance(self.out, ObjectPath):
            for name in ("published", "quarantine"):
                p = self.out / name
                if p.is_symlink():
                    raise StoreError(f"{self.out} holds the parquet table format; choose another --output "
                                     "for --table-format delta")
        self._log = None
        self._tables = {}
        self._run_log(create=True)
        self._roll_forward()
        self._tables = {}
        self._log = None
        self._run_log()
        if clean_work:
            import shutil

            # A local output is locked for the run: every work folder there is a dead run's. An S3 output
            # has no lock, and another run on this machine may be working: only day-old folders go.
            oldest = time.time() - (86_400 if isinstance(self.out, ObjectPath) else -1)
            for stale in Layout(self.out).work_root.glob("*"):
                try:
                    if stale.stat().st_mtime < oldest:
                        shutil.rmtree(stale, ignore_errors=True)
                except OSError:
                    pass

    def _roll_forward(self) -> None:
        entries = self._entries()
        if not entries:
            return
        m = entries[-1]
        n = m["version"]
        for rel in m.get("changed", []):
            t = self._table(rel, create=True, fresh=True)
            if (t.transaction_version(APP_ID) or 0) >= n:
                continue
            log.warning("version %d of %s was committed but not yet applied to %s: applying it now", n, self.out, rel)
            self._apply(rel, n, self._plan_of(m, rel))

    def _plan_of(self, m: dict, rel: str) -> dict:
        if m.get("kind") == "rollback":
            return {"restore": m["restore"][rel]}
        return json.loads((self.state / m["plan"]).read_text())["tables"][rel]

    def next_version(self) -> int:
        runs = self._run_log(create=True)
        return runs.version() + 1

    def commit(self, n: int, run_id: str, plans: dict[str, TablePlan | dict], manifest: dict) -> list[str]:
        """Commit version `n`: the run log's put-if-absent (ConcurrentCommit when another run took n).

        From here the version is committed: apply() puts it into the tables, and if this
        process dies first, the next to open the store does (prepare). Returns the tables to apply to.
        """
        from deltalake.exceptions import CommitFailedError
        from deltalake.transaction import CommitProperties

        changed = [rel for rel, p in plans.items() if (not p.empty if isinstance(p, TablePlan) else True)]
        manifest = {**manifest, "changed": changed, "keep": self.keep}
        if any(isinstance(p, TablePlan) for p in plans.values()):
            manifest["plan"] = f"{PLANS}/{run_id}.json"
            body = {"version": n, "run_id": run_id,
                    "tables": {rel: {"adds": p.adds, "removes": p.removes} for rel, p in plans.items()
                               if rel in changed}}
            write_bytes(self.state / manifest["plan"], json.dumps(body).encode())
        runs = self._run_log(create=True)
        if runs.version() + 1 != n:
            raise ConcurrentCommit(self._lost(n))
        try:
            runs.create_write_transaction([], "append", _LOG_SCHEMA, commit_properties=CommitProperties(
                custom_metadata={"cleanwire": json.loads(json.dumps(manifest, default=str))}, max_commit_retries=0))
        except CommitFailedError:
            raise ConcurrentCommit(self._lost(n)) from None
        return changed

    def apply(self, n: int, plans: dict[str, TablePlan | dict], changed: list[str]) -> None:
        """Committed version n into each changed table, in order (quarantine, published, then the state)."""
        for rel in changed:
            p = plans[rel]
            self._apply(rel, n, {"adds": p.adds, "removes": p.removes} if isinstance(p, TablePlan) else p)
        for rel in ("published/articles", "quarantine/articles"):
            self._table(rel, create=True, fresh=True)  # both datasets exist for readers, even while empty
        self._log = None
        self._tables = {}

    def _lost(self, n: int) -> str:
        return (f"another cleanwire run committed version {n} of {self.out} while this run was working; "
                "nothing of this run was published: run again to process what is left")

    def _apply(self, rel: str, n: int, plan: dict) -> None:
        """Version n's part for one table, in one Delta commit (skipped when already applied)."""
        from deltalake.exceptions import CommitFailedError
        from deltalake.transaction import AddAction, CommitProperties, RemoveAction, Transaction

        props = CommitProperties(custom_metadata={TAG: n}, app_transactions=[Transaction(APP_ID, n)],
                                 max_commit_retries=0)
        for attempt in range(3):
            t = self._table(rel, create=True, fresh=True)
            if (t.transaction_version(APP_ID) or 0) >= n:
                return
            try:
                if "restore" in plan:
                    t.restore(plan["restore"], commit_properties=props)
                    return
                spec, schema = self._specs()[rel]
                self._add_missing_columns(t, schema)
                actions = [RemoveAction(r["path"], True, r.get("deletion_timestamp", int(time.time() * 1000)),
                                        r["size"], r["partition_values"]) for r in plan["removes"]]
                actions += [AddAction(a["path"], a["size"], a["partition_values"], a["modification_time"], True,
                                      a["stats"]) for a in plan["adds"]]
                t.create_write_transaction(actions, "append", _delta_schema(schema),
                                           partition_by=list(spec.partition_by) or None, commit_properties=props)
                return
            except CommitFailedError:
                if attempt == 2:
                    raise
                # Someone else (a roll-forward of this same version) committed first: look again.

    @staticmethod
    def _add_missing_columns(t, schema: pa.Schema) -> None:
        """A column added to cleanwire's schema since the table was created: added to the table (null before)."""
        have = {f.name for f in t.schema().fields}
        missing = [f for f in _delta_schema(schema).fields if f.name not in have]
        if missing:
            t.alter.add_columns(missing)

    # -- after a commit: compaction and vacuum (maintenance: data unchanged, failures only logged)
    def maintain(self, n: int, rels: list[str]) -> dict:
        done = {}
        for rel in rels:
            try:
                done[rel] = {"compacted": self._compact(rel, n), "vacuumed": self._vacuum(rel, n)}
            except Exception as e:  # noqa: BLE001 - the version is committed; the next run tries again
                log.warning("maintenance of %s after version %d failed: %s", rel, n, e)
        return done

    def _compact(self, rel: str, n: int) -> int:
        """optimize.compact on each partition holding more than max_files files; the partitions compacted."""
        from deltalake.transaction import CommitProperties

        t = self._table(rel, fresh=True)
        if t is None:
            return 0
        spec, _ = self._specs()[rel]
        files = pl.from_arrow(pa.table(t.get_add_actions(flatten=True)))
        if files.height == 0:
            return 0
        cols = [f"partition.{c}" for c in spec.partition_by]
        crowded = (files.group_by(cols).len().filter(pl.col("len") > self.max_files) if cols
                   else (files.select(pl.len()).filter(pl.col("len") > self.max_files)))
        for row in crowded.iter_rows(named=True):
            if any(row[f"partition.{c}"] is None for c in spec.partition_by):
                continue  # a null partition (no date): left as it is
            filters = [(c, "=", str(row[f"partition.{c}"])) for c in spec.partition_by]
            t.optimize.compact(partition_filters=filters or None,
                               commit_properties=CommitProperties(custom_metadata={TAG: n}))
            t = self._table(rel, fresh=True)
        return crowded.height

    def _vacuum(self, rel: str, n: int) -> int:
        """Delete files no kept version needs (--keep-versions), none younger than VACUUM_MIN_HOURS."""
        from deltalake.transaction import CommitProperties

        t = self._table(rel, fresh=True)
        if t is None:
            return 0
        tagged = [(h[TAG], h["version"]) for h in t.history() if isinstance(h.get(TAG), int)]
        kept = sorted({max((tv for cv, tv in tagged if cv <= k), default=0) for k in self._kept_versions()}
                      | {t.version()})
        gone = t.vacuum(retention_hours=VACUUM_MIN_HOURS, enforce_retention_duration=False, dry_run=False,
                        keep_versions=kept, full=True, commit_properties=CommitProperties(custom_metadata={TAG: n}))
        return len(gone)

    # -- rollback
    def rollback(self, to: int | None = None) -> int:
        """Restore every table to what it held at version `to` (default: the version the current one
        was built on), as a new version; returns `to`."""
        self.prepare()
        entries = self._entries()
        cur = entries[-1] if entries else None
        kept = self._kept_versions()
        if cur is None:
            raise StoreError("no earlier version to roll back to")
        to = rollback_target(to, cur["version"], cur.get("parent"), kept)
        target = next(m for m in entries if m["version"] == to)
        restore = {}
        for rel in self._specs():
            t = self._table(rel, fresh=True)
            if t is None:
                continue
            want = self._table_version_at(rel, to)
            if want != t.version():
                restore[rel] = want
        n = cur["version"] + 1
        manifest = {k: target.get(k) for k in ("run_id", "gate_ok", "published_total", "quarantined_total",
                                               "files_processed")}
        manifest.update(kind="rollback", restored=to, parent=target.get("parent"), restore=restore)
        self._log = None
        self._run_log()
        plans = {rel: {"restore": v} for rel, v in restore.items()}
        self.apply(n, plans, self.commit(n, f"rollback-{to}", plans, manifest))
        return to


def _delta_schema(schema: pa.Schema):
    """The Delta schema of an Arrow schema (its unsigned integers as signed ones: Delta has none)."""
    from deltalake import Schema

    return Schema.from_arrow(_signed(schema))


_UNSIGNED = {pa.uint8(): pa.int8(), pa.uint16(): pa.int16(), pa.uint32(): pa.int32(), pa.uint64(): pa.int64()}


def _signed_type(t: pa.DataType) -> pa.DataType:
    if t in _UNSIGNED:
        return _UNSIGNED[t]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = _signed_type(t.value_type)
        return pa.large_list(inner) if pa.types.is_large_list(t) else pa.list_(inner)
    return t


def _signed(schema: pa.Schema) -> pa.Schema:
    """`schema` with each unsigned integer (MinHash values and bands: UInt32) as the signed one of its width.

    Delta has no unsigned types; the bits are kept as they are (a cast without overflow
    check), and `_unsigned_columns` gives them back as unsigned on reading: lossless, and
    no wider (Int64 would double the dedup index's memory).
    """
    return pa.schema([pa.field(f.name, _signed_type(f.type), f.nullable) for f in schema])


def _unsigned_columns(schema: pa.Schema) -> list[pl.Expr]:
    """Expressions that read back the unsigned columns `_signed` stored as signed ones."""
    out = []
    for f in schema:
        if f.type in _UNSIGNED:
            out.append(pl.col(f.name).reinterpret(signed=False))
        elif (pa.types.is_list(f.type) or pa.types.is_large_list(f.type)) and f.type.value_type in _UNSIGNED:
            out.append(pl.col(f.name).list.eval(pl.element().reinterpret(signed=False)))
    return out


# ------------------------------------------------------------------ publishing a run

def publish_run(store: DeltaStore, records_paths, files, decisions: pl.DataFrame, run_id: str,
                gate_ok: bool, manifest_extra: dict, explain, fills=None):
    """tables.publish_run for a Delta output: the same records, one version committed as described above."""
    from cleanwire.publish import tables

    now = dt.datetime.now(dt.timezone.utc)
    ingested = now.strftime("%Y-%m")
    replaced = files.replaced()
    none = pl.Series(dtype=pl.String)
    n = store.next_version()
    parent = store.current_version()
    schemas = tables.table_schemas()

    def writer(spec, remove):
        return DeltaTableWriter(store, spec, n, remove, schemas[spec.rel][1])

    w_pub = writer(tables.PUBLISHED, replaced if gate_ok else none)
    w_qua = writer(tables.QUARANTINE, replaced)
    w_rec = writer(tables.RECORDS, replaced)
    w_files = writer(tables.FILES, files.names() if gate_ok else none)
    writers = (w_qua, w_pub, w_rec, w_files)
    try:
        n_pub, n_qua, sample, word_counts = tables._write_records(records_paths, decisions, fills, gate_ok, ingested,
                                                                  explain, w_pub, w_qua, w_rec)
        if gate_ok:
            for part in files.index_parts(run_id):
                w_files.write(part)
        # Quarantine first, the state last: a reader of published sees a version whose quarantine is
        # at least as new (nothing lost from sight), and a run's files are marked seen only once all
        # of its records are in place.
        plans = {w.spec.rel: w.close() for w in writers}
        counts = {name: {"rows_written": plans[spec.rel].rows_written, "files": plans[spec.rel].files_total}
                  for name, spec in (("published", tables.PUBLISHED), ("quarantine", tables.QUARANTINE),
                                     ("records", tables.RECORDS), ("files", tables.FILES))}
        manifest = {"run_id": run_id, "gate_ok": gate_ok, "parent": parent,
                    "published_added": n_pub, "quarantined_added": n_qua, "files_processed": replaced.n_unique(),
                    "tables": counts, **manifest_extra,
                    "published_total": plans[tables.PUBLISHED.rel].rows_total,
                    "quarantined_total": plans[tables.QUARANTINE.rel].rows_total}
        changed = store.commit(n, run_id, plans, manifest)
    except BaseException:
        # Not committed (another run took version n, a write failed, the process is being stopped):
        # the files written are referenced by nothing; delete them.
        for w in writers:
            w.abort()
        raise
    store.apply(n, plans, changed)
    store.maintain(n, [rel for rel, p in plans.items() if not p.empty])
    return tables.PublishResult(n, n_pub, n_qua, {**manifest, "version": n}, sample, word_counts)
