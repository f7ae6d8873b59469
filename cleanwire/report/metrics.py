"""Quality metrics of a run, per source folder, and their history across runs.

One row per (run, source folder) plus an `ALL` row: record counts, the share of
records carrying each issue code, body length, and how many records each fine
reason held (`reason_counts`: which rules fired, so a rule that starts firing
after a scraper changed shows). The history is one Parquet file,
`OUT_DIR/reports/metrics_history.parquet` (on S3 too, for an s3:// output), rewritten atomically on each run (it
holds a few rows per run, so a rewrite costs nothing); the drift checks
(checks/drift.py) and the HTML report read it.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from cleanwire.paths import Layout, atomic_write
from cleanwire.storage import ObjectPath, polars_options
from cleanwire.types import ISSUE_CODES

ALL = "ALL"
def source_folder() -> pl.Expr:
    """The top folder of a raw file below the input dir ('.' for files at the top)."""
    return (pl.when(pl.col("source_file").str.contains("/"))
            .then(pl.col("source_file").str.split("/").list.first())
            .otherwise(pl.lit(".")).alias("source"))


REASON_COUNTS = pl.List(pl.Struct({"reason": pl.String, "records": pl.Int64}))


def run_metrics(records: pl.DataFrame, run_id: str, finished_at: str, gate_ok: bool = True) -> pl.DataFrame:
    """records: source (folder, `source_folder`), word_count, issues (list), reasons (list) for every record of the run."""
    df = records.select("source", "word_count", "issues", "reasons")
    aggs = [
        pl.len().cast(pl.Int64).alias("records"),
        (pl.col("issues").list.len() == 0).sum().cast(pl.Int64).alias("published"),
        (pl.col("issues").list.len() > 0).sum().cast(pl.Int64).alias("quarantined"),
        *[pl.col("issues").list.contains(code).mean().alias(f"share_{code}") for code in ISSUE_CODES],
        pl.col("word_count").mean().alias("mean_body_words"),
        pl.col("word_count").median().cast(pl.Float64).alias("median_body_words"),
    ]
    per_source = df.group_by("source").agg(aggs)
    total = df.select(aggs).with_columns(pl.lit(ALL).alias("source"))
    out = pl.concat([per_source, total.select(per_source.columns)]).sort("source")
    out = out.join(_reason_counts(df), on="source", how="left").with_columns(
        pl.col("reason_counts").fill_null(pl.lit([], dtype=REASON_COUNTS)))
    return relabel(out, run_id, finished_at, gate_ok).select(
        "run_id", "finished_at", "gate_ok", "source", *[c for c in out.columns if c != "source"])


COUNT_SLICE = 200_000  # records whose reasons are counted at a time


def _reason_counts(df: pl.DataFrame) -> pl.DataFrame:
    """source -> [{reason, records}] (and the same for ALL), most frequent first.

    Counted a slice of records at a time and the counts summed: the reasons of a
    whole run exploded into one string per reason, then copied for the ALL rows,
    were the checks' last peak (+170 MB at a million records, measured).
    """
    parts = [part.select("source", pl.col("reasons").alias("reason")).explode("reason").drop_nulls("reason")
             .group_by("source", "reason").agg(pl.len().cast(pl.Int64).alias("records"))
             for part in df.iter_slices(COUNT_SLICE)]
    if not parts:
        parts = [pl.DataFrame(schema={"source": pl.String, "reason": pl.String, "records": pl.Int64})]
    per_source = pl.concat(parts).group_by("source", "reason").agg(pl.col("records").sum())
    total = per_source.group_by("reason").agg(pl.col("records").sum()).select(
        pl.lit(ALL).alias("source"), "reason", "records")
    counts = pl.concat([per_source, total]).sort(["source", "records", "reason"], descending=[False, True, False])
    return counts.group_by("source", maintain_order=True).agg(
        pl.struct("reason", "records").alias("reason_counts")).cast({"reason_counts": REASON_COUNTS})


def relabel(rows: pl.DataFrame, run_id: str, finished_at: str, gate_ok: bool) -> pl.DataFrame:
    """run_metrics rows computed before the run's id, end and gate verdict were known, labelled with them."""
    return rows.with_columns(pl.lit(run_id).alias("run_id"), pl.lit(finished_at).alias("finished_at"),
                             pl.lit(gate_ok).alias("gate_ok"))


def read_history(out_dir: Path) -> pl.DataFrame | None:
    p = Layout(out_dir).metrics_history
    if isinstance(p, ObjectPath):  # an s3:// output: the same file, on the same storage
        return pl.read_parquet(str(p), storage_options=polars_options(p)) if p.is_file() else None
    return pl.read_parquet(p) if p.is_file() else None


def append_history(out_dir: Path, rows: pl.DataFrame) -> Path:
    """Add this run's rows to the history (atomic replace; a crash leaves the old file)."""
    old = read_history(out_dir)
    new = rows if old is None else pl.concat([old.filter(pl.col("run_id") != rows["run_id"][0]), rows],
                                             how="diagonal_relaxed")
    return atomic_write(Layout(out_dir).metrics_history, new.write_parquet)
