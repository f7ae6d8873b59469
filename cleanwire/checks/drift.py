"""Drift: has a source folder's data changed against its own history?

A scraper that breaks shows as a jump in its source folder's metrics. For each
source folder, this run's metric is compared with the median of the same
metric over the source's last DRIFT_WINDOW runs whose publish was not refused
(a refused run's metrics are kept for the report but are not the norm). The
comparison becomes one row per source that the batch suite's drift
expectations test (expectations/batch.json, validated by checks/sources.py).
"""
from __future__ import annotations

import polars as pl

from cleanwire.report.metrics import ALL

DRIFT_WINDOW = 10       # runs of history a source is compared with
DRIFT_MIN_HISTORY = 2   # below this many earlier runs of a source, no drift is measured
DRIFT_MIN_RECORDS = 20  # nor on fewer records of the source in this run: a share of 3 files says nothing
# (metric column, drift column, how): the metrics the batch suite watches.
DRIFT_METRICS = [("share_missing_date", "drift_missing_date", "difference"),
                 ("share_empty_body", "drift_empty_body", "difference"),
                 ("share_truncated_body", "drift_truncated_body", "difference"),
                 ("median_body_words", "drift_body_words", "ratio")]


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
    # Rows of runs where the source delivered nothing (0 records: checks/freshness.py keeps its
    # silence in the history) are no norm either.
    past = history.filter((pl.col("source") != ALL) & pl.col("gate_ok").fill_null(True) & (pl.col("records") > 0))
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
