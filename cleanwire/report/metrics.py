"""Quality metrics of a run, per source folder, their history across runs, and drift.

One row per (run, source folder) plus an `ALL` row: record counts, the share of
records carrying each issue code, and body length. The history is one Parquet
file, `OUT_DIR/reports/metrics_history.parquet`, rewritten atomically on each
run (it holds a few rows per run, so a rewrite costs nothing); the drift
checks and the HTML report read it.

Drift: for each source folder, this run's metric is compared with the median of
the same metric over the source's last `DRIFT_WINDOW` runs whose publish was
not refused (a refused run's metrics are kept for the report but are not the
norm). The comparison becomes columns of the batch frame that the batch suite
tests (`expectations/batch.json`): a scraper that broke shows as a jump.
"""
from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from cleanwire.types import ISSUE_CODES

HISTORY = "metrics_history.parquet"
ALL = "ALL"
DRIFT_WINDOW = 10       # runs of history a source is compared with
DRIFT_MIN_HISTORY = 2   # below this many earlier runs of a source, no drift is measured
DRIFT_MIN_RECORDS = 20  # nor on fewer records of the source in this run: a share of 3 files says nothing
# (metric column, drift column, how): the metrics the batch suite watches.
DRIFT_METRICS = [("share_missing_date", "drift_missing_date", "difference"),
                 ("share_empty_body", "drift_empty_body", "difference"),
                 ("share_truncated_body", "drift_truncated_body", "difference"),
                 ("median_body_words", "drift_body_words", "ratio")]


def source_folder() -> pl.Expr:
    """The top folder of a raw file below the input dir ('.' for files at the top)."""
    return (pl.when(pl.col("source_file").str.contains("/"))
            .then(pl.col("source_file").str.split("/").list.first())
            .otherwise(pl.lit(".")).alias("source"))


def run_metrics(records: pl.DataFrame, run_id: str, finished_at: str, gate_ok: bool = True) -> pl.DataFrame:
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
    return relabel(out, run_id, finished_at, gate_ok).select(
        "run_id", "finished_at", "gate_ok", "source", *[c for c in out.columns if c != "source"])


def relabel(rows: pl.DataFrame, run_id: str, finished_at: str, gate_ok: bool) -> pl.DataFrame:
    """run_metrics rows computed before the run's id, end and gate verdict were known, labelled with them."""
    return rows.with_columns(pl.lit(run_id).alias("run_id"), pl.lit(finished_at).alias("finished_at"),
                             pl.lit(gate_ok).alias("gate_ok"))


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


def drift(current: pl.DataFrame, history: pl.DataFrame | None) -> pl.DataFrame:
    """Per source of this run: each drift column (null where the source has too little history).

    `difference`: this run's share minus the historical median (0.6 - 0.02 = 0.58
    when a source suddenly loses its dates); `ratio`: this run's value over the
    historical median (0.1 when bodies shrink to a tenth).
    """
    cols = [d for _, d, _ in DRIFT_METRICS]
    base = current.filter(pl.col("source") != ALL).select("source", "records", *[m for m, _, _ in DRIFT_METRICS])
    if history is None or history.height == 0:
        return base.select("source", *[pl.lit(None, dtype=pl.Float64).alias(c) for c in cols],
                           pl.lit(0).alias("history_runs"))
    past = history.filter((pl.col("source") != ALL) & pl.col("gate_ok").fill_null(True))
    past = (past.sort("finished_at").group_by("source").tail(DRIFT_WINDOW)
            .group_by("source").agg(pl.len().alias("history_runs"),
                                    *[pl.col(m).median().alias(f"{m}_norm") for m, _, _ in DRIFT_METRICS]))
    j = base.join(past, on="source", how="left").with_columns(pl.col("history_runs").fill_null(0))
    enough = (pl.col("history_runs") >= DRIFT_MIN_HISTORY) & (pl.col("records") >= DRIFT_MIN_RECORDS)
    exprs = []
    for metric, col, how in DRIFT_METRICS:
        norm = pl.col(f"{metric}_norm")
        value = (pl.col(metric) - norm) if how == "difference" else (
            pl.when(norm > 0).then(pl.col(metric) / norm).otherwise(None))
        exprs.append(pl.when(enough).then(value).otherwise(None).cast(pl.Float64).alias(col))
    return j.select("source", *exprs, "history_runs")
