"""Freshness: has each source folder delivered files lately?

A scraper that dies produces no bad records, only silence, so no row check
fires. For each source folder (the top folder of the input,
`metrics.source_folder`) a run measures:

* `newest_file_age_hours`: hours since the source's newest raw file was
  modified: the newest of this run's new or changed files, or, when it
  delivered none, the newest an earlier run recorded (`newest_file_at` in the
  metrics history, so the walk never has to stat unchanged files again);
* `new_files`: the source's new or changed files in this run, and
  `new_files_share`: its share of all the run's new files (0 for a source that
  delivered nothing while others did; null when nothing new came at all).

The two checked columns are null for a source without a history (no earlier
run in the metrics history): a new source, a first run or a backfill of old
files is never stale. A source whose folder is no longer in the input is
retired, not stale: moving its folder away stops its checks.

The thresholds are batch expectations (expectations/batch.json), validated on
one row per source (checks/sources.py), so a source that delivered no file,
and so has no record in this run, still has its row and can fail.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path

import polars as pl

from cleanwire.report.metrics import ALL, source_folder

FRESHNESS_COLUMNS = ("newest_file_age_hours", "new_files_share")  # what batch.json may test per source
FRESHNESS_MIN_HISTORY = 1  # earlier runs a source needs before its silence means anything
FRESHNESS_SCHEMA = {"source": pl.String, "new_files": pl.Int64, "newest_file_at": pl.Datetime("us", "UTC"),
                    "earlier_runs": pl.Int64, "newest_file_age_hours": pl.Float64, "new_files_share": pl.Float64}
_HOUR_US = 3_600_000_000


def measure(new_files: pl.DataFrame | None, history: pl.DataFrame | None, now: dt.datetime,
            retired: Collection[str] = ()) -> pl.DataFrame:
    """One row per source of this run or of the history (FRESHNESS_SCHEMA), sorted by source.

    `new_files`: this run's new or changed files (`source_file`, `mtime_ns`: discover's
    FILES_SCHEMA); `history`: the metrics history before this run; `retired`: sources of
    the history to leave out (their folder is gone).
    """
    files = new_files if new_files is not None else pl.DataFrame(schema={"source_file": pl.String,
                                                                          "mtime_ns": pl.Int64})
    # A file that could not be stat'ed has mtime 0: it counts as delivered, not as its date.
    delivered = (files.select(source_folder(), "mtime_ns").group_by("source")
                 .agg(pl.len().cast(pl.Int64).alias("new_files"),
                      pl.col("mtime_ns").filter(pl.col("mtime_ns") > 0).max().alias("newest_ns")))
    past = _past(history)
    f = (delivered.join(past, on="source", how="full", coalesce=True)
         .filter(pl.col("new_files").is_not_null() | ~pl.col("source").is_in(list(retired)))
         .with_columns(pl.col("new_files").fill_null(0), pl.col("earlier_runs").fill_null(0)))
    this_run = pl.from_epoch(pl.col("newest_ns"), time_unit="ns").dt.replace_time_zone("UTC").dt.cast_time_unit("us")
    f = f.with_columns(pl.max_horizontal(this_run, pl.col("past_newest")).alias("newest_file_at"))
    has_history = pl.col("earlier_runs") >= FRESHNESS_MIN_HISTORY
    total_new = pl.col("new_files").sum()
    age = ((pl.lit(now).dt.convert_time_zone("UTC").dt.cast_time_unit("us") - pl.col("newest_file_at"))
           .dt.total_microseconds() / _HOUR_US).clip(lower_bound=0)  # a clock ahead of ours is not negative age
    f = f.with_columns(
        pl.when(has_history).then(age).otherwise(None).cast(pl.Float64).alias("newest_file_age_hours"),
        pl.when(has_history & (total_new > 0)).then(pl.col("new_files") / total_new).otherwise(None)
        .cast(pl.Float64).alias("new_files_share"))
    return f.select(list(FRESHNESS_SCHEMA)).cast(FRESHNESS_SCHEMA).sort("source")


def _past(history: pl.DataFrame | None) -> pl.DataFrame:
    """source -> earlier_runs, past_newest (the newest file any earlier run recorded)."""
    empty = pl.DataFrame(schema={"source": pl.String, "earlier_runs": pl.Int64,
                                 "past_newest": pl.Datetime("us", "UTC")})
    if history is None or history.height == 0:
        return empty
    h = history.filter(pl.col("source") != ALL)
    # Histories written before freshness was measured have no newest_file_at: unknown, not stale.
    newest = (pl.col("newest_file_at") if "newest_file_at" in h.columns
              else pl.lit(None, dtype=pl.Datetime("us", "UTC")))
    return (h.group_by("source").agg(pl.col("run_id").n_unique().cast(pl.Int64).alias("earlier_runs"),
                                     newest.max().cast(pl.Datetime("us", "UTC")).alias("past_newest"))
            .select(empty.columns))


def retired_sources(input_dir: Path, history: pl.DataFrame | None) -> set[str]:
    """Sources of the history whose folder is no longer in the input (top-level files, '.', never retire)."""
    if history is None or history.height == 0:
        return set()
    known = set(history.filter(pl.col("source") != ALL)["source"].unique().to_list())
    from cleanwire.storage import location

    root = location(input_dir)  # a folder, or an s3:// prefix (a "folder" there: a prefix holding objects)
    return {s for s in known if s != "." and not (root / s).is_dir()}


def could_fail(fresh: pl.DataFrame, expectations: list[dict]) -> bool:
    """Whether a freshness expectation (the suite file's raw JSON) could fail on `fresh`.

    A run with nothing new uses it to skip Great Expectations (~4 s to import,
    ~175 MB) when every source is within every threshold; when it says yes, GX
    validates and decides. Anything it cannot judge (another expectation type,
    `mostly`) counts as a yes.
    """
    for e in expectations:
        kwargs = e.get("kwargs") or {}
        column = kwargs.get("column")
        if column not in FRESHNESS_COLUMNS or e.get("severity", "critical") == "info":
            continue
        if e.get("type") != "expect_column_values_to_be_between" or column not in fresh.columns:
            return True
        values = fresh[column].drop_nulls()
        lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
        if lo is not None and ((values < lo) | ((values == lo) & bool(kwargs.get("strict_min")))).any():
            return True
        if hi is not None and ((values > hi) | ((values == hi) & bool(kwargs.get("strict_max")))).any():
            return True
    return False


def history_rows(metric_rows: pl.DataFrame | None, fresh: pl.DataFrame) -> pl.DataFrame:
    """This run's metrics history rows with the freshness columns, and a row (0 records) for each
    source that delivered nothing, so its silence and its newest file are kept in the history."""
    fresh = fresh.select("source", "new_files", "newest_file_at", "newest_file_age_hours", "new_files_share")
    zero = [pl.lit(0, dtype=pl.Int64).alias(c) for c in ("records", "published", "quarantined")]
    if metric_rows is None or metric_rows.height == 0:
        return fresh.with_columns(zero)
    with_fresh = metric_rows.join(fresh, on="source", how="left")
    quiet = fresh.join(metric_rows.select("source"), on="source", how="anti").with_columns(zero)
    reason_counts = metric_rows.schema.get("reason_counts")
    if reason_counts is not None:
        quiet = quiet.with_columns(pl.lit([], dtype=reason_counts).alias("reason_counts"))
    return pl.concat([with_fresh, quiet], how="diagonal_relaxed")
