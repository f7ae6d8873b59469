"""Write a run's decisions into a new version of the output, batch file by batch file.

Bodies never leave the batch files until here: each batch file is read once,
joined with the decisions, split into published and quarantined rows, and
streamed into the new version's tables (see store.py), so memory stays at
one batch whatever the size of the run.

Records of a file processed by this run replace that file's records from
earlier runs (a changed file is re-parsed), in every table. When the batch
gate refuses the run, the published table is carried over untouched, every
record of the run goes to quarantine (the ones that passed with
`batch_rejected`), and the raw files are not marked as seen, so the next run
processes them again.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
import pyarrow.parquet as pq

from cleanwire import rules
from cleanwire.checks import dedup
from cleanwire.publish.store import Store, TableSpec, TableWriter
from cleanwire.report.html import SAMPLE
from cleanwire.types import BATCH_REJECTED, FILE_STATUS_SCHEMA, OUTPUT, conform

PUBLISHED = TableSpec("published/articles", ("year", "month"))
QUARANTINE = TableSpec("quarantine/articles", ("ingested",))
RECORDS = TableSpec("state/records")
FILES = TableSpec("state/files")

# The state index of records: where each record lives, and what dedup needs of published ones.
RECORD_INDEX = {
    "article_id": pl.String, "source_path": pl.String, "source_file": pl.String, "dataset": pl.String,
    "run_id": pl.String, "published_date": pl.Date, "title": pl.String, "subtitle": pl.String,
    "section": pl.String, "author": pl.String, "dateline": pl.String, "word_count": pl.Int64,
    "title_body_score": pl.Float64, "n_shingles": pl.Int32, "sig": pl.List(pl.UInt32),
    "sig_head": pl.List(pl.UInt32), **{c: pl.UInt32 for c in dedup.BAND_COLUMNS},
}
FILE_INDEX = {"source_file": pl.String, "size": pl.Int64, "mtime_ns": pl.Int64, "content_hash": pl.String,
              "run_id": pl.String}


@dataclass
class PublishResult:
    version: int
    published_rows: int
    quarantined_rows: int
    manifest: dict
    sample: pl.DataFrame       # the first SAMPLE quarantined records by path (source_path, title, issues, detail)
    word_counts: pl.Series     # the body length of every record of the run (the report's chart)


@dataclass(frozen=True)
class RunFiles:
    """The status rows of a run's raw files (types.FILE_STATUS_SCHEMA, a small Parquet file per
    batch), read when needed: held as one frame through publish they were ~120 MB at a million files."""
    paths: list[str]

    def _scan(self) -> pl.LazyFrame:
        return pl.scan_parquet(self.paths) if self.paths else pl.LazyFrame(schema=FILE_STATUS_SCHEMA)

    def names(self) -> pl.Series:
        """Every file of the run: its state row is written anew."""
        return self._scan().select("source_file").collect()["source_file"]

    def replaced(self) -> pl.Series:
        """The files whose records this run replaces (new or changed content)."""
        return self._scan().filter(pl.col("status") != "unchanged").select("source_file").collect()["source_file"]

    def index_parts(self, run_id: str):
        """The state rows of the run's files (FILE_INDEX), a batch's at a time."""
        for path in self.paths:
            yield conform(pl.read_parquet(path).with_columns(pl.lit(run_id).alias("run_id")), FILE_INDEX)


@dataclass(frozen=True)
class Explain:
    """What `detail` needs besides the records: the suite's words and limits, the gate's verdict."""
    messages: dict[str, str]                              # issue code -> the suite's message
    limits: dict[str, tuple[float | None, float | None]]  # feature -> the suite's (min, max)
    gate_message: str = ""                                # why the gate refused (when it did)




def _arrow_schema(schema: dict, extra: dict | None = None):
    return pl.DataFrame(schema={**schema, **(extra or {})}).to_arrow().schema


def table_schemas() -> dict[str, tuple[TableSpec, object]]:
    """Each table of a version: its spec and its Arrow schema, partition columns included."""
    return {PUBLISHED.rel: (PUBLISHED, _arrow_schema(OUTPUT, {"year": pl.Int32, "month": pl.Int8})),
            QUARANTINE.rel: (QUARANTINE, _arrow_schema(OUTPUT, {"ingested": pl.String})),
            RECORDS.rel: (RECORDS, _arrow_schema(RECORD_INDEX)),
            FILES.rel: (FILES, _arrow_schema(FILE_INDEX))}


def finalise(batch: pl.DataFrame, decisions: pl.DataFrame, gate_ok: bool, ingested: str,
             explain: Explain) -> pl.DataFrame:
    """A batch's records with their decision applied: filled fields, issues, reasons, detail, dataset."""
    f = batch.join(decisions, on="article_id", how="left")
    f = f.with_columns([pl.coalesce(pl.col(c), pl.col(f"fill_{c}")).alias(c) for c in dedup.MERGED_FIELDS])
    none = pl.lit([], dtype=pl.List(pl.String))
    f = f.with_columns(pl.col("issues").fill_null(none), pl.col("reasons").fill_null(none),
                       pl.col("filled_from").fill_null(pl.lit([], dtype=OUTPUT["filled_from"])))
    if not gate_ok:
        passed = pl.col("issues").list.len() == 0
        f = f.with_columns(pl.when(passed).then(pl.lit([BATCH_REJECTED])).otherwise(pl.col("issues")).alias("issues"),
                           pl.when(passed).then(pl.lit([rules.GATE_REASON])).otherwise(pl.col("reasons")).alias("reasons"))
    return f.with_columns(pl.lit(explain.gate_message).alias("gate_message")).with_columns(
        rules.detail(explain.messages, explain.limits),
        pl.when(pl.col("issues").list.len() == 0).then(pl.lit("published")).otherwise(pl.lit("quarantine")).alias("dataset"),
        pl.col("published_date").dt.year().alias("year"),
        pl.col("published_date").dt.month().alias("month"),
        pl.lit(ingested).alias("ingested"),
    )


def publish_run(store: Store, records_paths: list[str], files: RunFiles, decisions: pl.DataFrame,
                run_id: str, gate_ok: bool, manifest_extra: dict, explain: Explain,
                fills: pl.DataFrame | None = None) -> PublishResult:
    """Build and switch to a new version holding this run's records.

    `decisions`: article_id, issues, reasons, and either the duplicate_of,
    duplicate_share, filled_from and fill_* columns or `fill_row`, a row number
    into `fills` that holds them (checks.run.RunChecks).
    """
    if store.table_format == "delta":
        from cleanwire.publish import delta  # the same records, committed as Delta tables

        return delta.publish_run(store, records_paths, files, decisions, run_id, gate_ok, manifest_extra, explain,
                                 fills)
    now = dt.datetime.now(dt.timezone.utc)
    ingested = now.strftime("%Y-%m")
    replaced = files.replaced()
    none = pl.Series(dtype=pl.String)
    v, build, old = store.begin()
    schemas = {rel: schema for rel, (_, schema) in table_schemas().items()}
    w_pub = TableWriter(PUBLISHED, old, build, v, replaced if gate_ok else none, schemas[PUBLISHED.rel],
                        store.max_files)
    w_qua = TableWriter(QUARANTINE, old, build, v, replaced, schemas[QUARANTINE.rel], store.max_files)
    w_rec = TableWriter(RECORDS, old, build, v, replaced, schemas[RECORDS.rel], store.max_files)
    w_files = TableWriter(FILES, old, build, v, files.names() if gate_ok else none, schemas[FILES.rel],
                          store.max_files)
    writers = (w_pub, w_qua, w_rec, w_files)
    try:
        n_pub, n_qua, sample, word_counts = _write_records(records_paths, decisions, fills, gate_ok, ingested,
                                                           explain, w_pub, w_qua, w_rec)
        if gate_ok:
            for part in files.index_parts(run_id):
                w_files.write(part)
        counts = {"published": w_pub.close(), "quarantine": w_qua.close(), "records": w_rec.close(),
                  "files": w_files.close()}
        manifest = {"run_id": run_id, "gate_ok": gate_ok, "parent": store.current_version(),
                    "published_added": n_pub, "quarantined_added": n_qua, "files_processed": replaced.n_unique(),
                    "tables": counts, **manifest_extra}
        manifest["published_total"] = _count(build / PUBLISHED.rel)
        manifest["quarantined_total"] = _count(build / QUARANTINE.rel)
    except BaseException:
        # Disk full, a crash of a writer...: close what is open and drop the build; the
        # current version was never touched.
        for w in writers:
            w.abort()
        store.discard(build)
        raise
    store.commit(v, build, manifest)
    return PublishResult(v, n_pub, n_qua, manifest, sample, word_counts)


def _write_records(records_paths, decisions, fills, gate_ok, ingested, explain, w_pub, w_qua, w_rec
                   ) -> tuple[int, int, pl.DataFrame, pl.Series]:
    n_pub = n_qua = 0
    word_counts = []
    take = _decisions_for(decisions, fills)
    sample = pl.DataFrame(schema={"source_path": pl.String, "title": pl.String, "issues": pl.List(pl.String),
                                  "detail": pl.String})
    for group in _row_groups(records_paths):
        f = finalise(group, take(group["article_id"]), gate_ok, ingested, explain)
        pub = f.filter(pl.col("dataset") == "published")
        qua = f.filter(pl.col("dataset") == "quarantine")
        # The report's sample: the first SAMPLE by path, kept as the row groups stream by.
        sample = pl.concat([sample, qua.select(sample.columns)]).bottom_k(SAMPLE, by="source_path")
        word_counts.append(f["word_count"].cast(pl.Int32))
        if gate_ok:
            w_pub.write(conform(pub, {**OUTPUT, "year": pl.Int32, "month": pl.Int8}))
            n_pub += pub.height
        w_qua.write(conform(qua, {**OUTPUT, "ingested": pl.String}))
        n_qua += qua.height
        index = f.with_columns([pl.when(pl.col("dataset") == "published").then(pl.col(c)).alias(c)
                                for c in ["n_shingles", "sig", "sig_head", *dedup.BAND_COLUMNS]])
        w_rec.write(conform(index, RECORD_INDEX))
    return n_pub, n_qua, sample.sort("source_path"), pl.concat(word_counts) if word_counts else pl.Series([], dtype=pl.Int32)


def _decisions_for(decisions: pl.DataFrame, fills: pl.DataFrame | None = None):
    """A function: a row group's ids -> their decisions, row group after row group.

    The checks read the batch files in the order publish does, so the decisions
    are normally the next rows, taken as a slice (no copy); verified by their
    ids, and otherwise found by binary search in a sorted copy (a run's worth of
    memory, so only when needed). The fill columns are then gathered from
    `fills` by `fill_row`, for this row group only.
    """
    offset, ordered = 0, None

    def take(ids: pl.Series) -> pl.DataFrame:
        nonlocal offset, ordered
        if ordered is None:
            part = decisions.slice(offset, ids.len())
            if part.height == ids.len() and bool((part["article_id"] == ids).all()):
                offset += ids.len()
                return _with_fills(part, fills)
            ordered = decisions.sort("article_id")
        return _with_fills(_decisions_of(ordered, ids), fills)

    return take


def _with_fills(part: pl.DataFrame, fills: pl.DataFrame | None) -> pl.DataFrame:
    if fills is None or "fill_row" not in part.columns:
        return part
    rows = part["fill_row"]
    return part.drop("fill_row").hstack(fills.drop("article_id").select(pl.all().gather(rows)))


def _decisions_of(ordered: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
    """The decisions (sorted by article_id) of one row group's records, by binary search.

    A join of each row group with all of the run's decisions hashes them all every
    time: publish time grew with the square of the run (140 s at a million records).
    """
    if ordered.height == 0:
        return ordered
    pos = ordered["article_id"].search_sorted(ids).clip(0, ordered.height - 1)
    found = ordered.select(pl.all().gather(pos))
    return found.filter(found["article_id"] == ids)


def _row_groups(paths: list[str]):
    """A frame per row group of the batch files, without the shingle sets (the checks' only): one parse
    chunk in memory at a time."""
    for path in paths:
        pf = pq.ParquetFile(path)
        try:
            columns = [c for c in pf.schema_arrow.names if c != dedup.SETS]
            for i in range(pf.num_row_groups):
                yield pl.from_arrow(pf.read_row_group(i, columns=columns))
        finally:
            pf.close()


def _count(table_root) -> int:
    files = sorted(table_root.rglob("*.parquet"))
    if not files:
        return 0
    return pl.scan_parquet(files, hive_partitioning=False).select(pl.len()).collect().item()


# ------------------------------------------------------------------ reading state

def seen_files(store: Store) -> pl.DataFrame | None:
    lf = store.scan(FILES.rel)
    return lf.collect() if lf is not None else None


def quarantined_files(store: Store) -> set[str]:
    """Raw files with at least one record in the current quarantine."""
    lf = store.scan(QUARANTINE.rel)
    if lf is None:
        return set()
    return set(lf.select("source_file").unique().collect()["source_file"].to_list())


def published_bodies(store: Store) -> pl.LazyFrame | None:
    """The published table with its year/month partition columns (a filter on them reads those files only)."""
    return store.scan(PUBLISHED.rel, hive=True)


def published_index(store: Store, run_files: RunFiles | None = None) -> pl.LazyFrame | None:
    """The published records' index rows (fields for merging, signatures and bands for dedup), lazily.

    Records of the files this run replaces (`run_files`) are left out: they are
    about to be replaced, so nothing may be judged a duplicate of them.
    """
    lf = store.scan(RECORDS.rel)
    if lf is None:
        return None
    pub = lf.filter(pl.col("dataset") == "published")
    replaced = run_files.replaced() if run_files is not None else pl.Series(dtype=pl.String)
    if replaced.len():
        pub = pub.filter(~pl.col("source_file").is_in(replaced.implode()))
    return pub
