"""Quality metrics of a run, per source folder, and their history across runs.

One row per (run, source folder) plus an `ALL` row: record counts, the share of
records carrying each issue code, and body length. The history is one Parquet
file, `OUT_DIR/reports/metrics_history.parquet`, rewritten atomically on each
run (it holds a few rows per run, so a rewrite costs nothing); the drift
checks and the HTML report read it.
"""
from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from cleanwire.schema import ISSUE_CODES

HISTORY = "metrics_history.parquet"
ALL = "ALL"


def source_folder() -> pl.Expr:
    """The top folder of a raw file below the input dir ('.' for files at the top)."""
    return (pl.when(pl.col("source_file").str.contains("/"))
            .then(pl.col("source_file").str.split("/").list.first())
            .otherwise(pl.lit(".")).alias("source"))


def run_metrics(records: pl.DataFrame, run_id: str, finished_at: str) -> pl.DataFrame:
    """records: source_file, word_count, issues (list) for every record of the run."""
    df = records.select(source_folder(), "word_count", "issues")
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
    return out.with_columns(pl.lit(run_id).alias("run_id"), pl.lit(finished_at).alias("finished_at")) \
              .select("run_id", "finished_at", "source", *[c for c in out.columns if c != "source"])


def history_path(out_dir: Path) -> Path:
    return Path(out_dir) / "reports" / HISTORY


def read_history(out_dir: Path) -> pl.DataFrame | None:
    p = history_path(out_dir)
    return pl.read_parquet(p) if p.is_file() else None


def append_history(out_dir: Path, rows: pl.DataFrame) -> Path:
    """Add this run's rows to the history (atomic replace; a crash leaves the old file)."""
    p = history_path(out_dir)
    p.parent.mkdir(parents=True, exist_ok=True)
    old = read_history(out_dir)
    new = rows if old is None else pl.concat([old.filter(pl.col("run_id") != rows["run_id"][0]), rows],
                                             how="diagonal_relaxed")
    tmp = p.with_suffix(".parquet.tmp")
    new.write_parquet(tmp)
    os.replace(tmp, p)
    return p
