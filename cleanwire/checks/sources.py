"""The per-source checks: drift and freshness, validated by GX on one row per source folder.

The batch suite (expectations/batch.json) holds two kinds of expectations:
on the run's records (at least one record, unique ids, the quarantined
share), validated on one row per record (checks.run.batch_frame), and on each
source folder (the drift_* and freshness columns), validated here on one row
per source. A source that delivered no file this run has no record, yet must
be able to fail ("the wire scraper has been silent for 3 days"); and a
failure names its sources, with their values, straight from GX's failing rows.

The two validations make one verdict (`merge`): a critical failure of either
refuses the publish, and the run's `validation/batch.json` holds the results
of every expectation of batch.json.
"""
from __future__ import annotations

import polars as pl

from cleanwire.checks.drift import DRIFT_METRICS
from cleanwire.checks.freshness import FRESHNESS_COLUMNS, FRESHNESS_SCHEMA
from cleanwire.checks.gx import SuiteFile, Validation, Validator

SOURCE_COLUMNS = {*[d for _, d, _ in DRIFT_METRICS], *FRESHNESS_COLUMNS}
SEVERITY_RANK = {"critical": 2, "warning": 1, "info": 0}
# How a failing source is named in the failure's message (default: "wire (drift_missing_date = 1.00)").
_NAMED = {"newest_file_age_hours": "{source} (newest file {value:.1f} h old)",
          "new_files_share": "{source} (share of the run's new files = {value:.2f})"}


def split(batch_suite: SuiteFile) -> tuple[SuiteFile, SuiteFile]:
    """(the record expectations of the batch suite, its per-source expectations)."""
    return batch_suite.split(SOURCE_COLUMNS, f"{batch_suite.name}-per-source")


def source_frame(fresh: pl.DataFrame, drift: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per source: its freshness and, when it has records in this run, its drift
    (every per-source column present: null where not measured, which passes)."""
    frame = fresh if drift is None else fresh.join(drift, on="source", how="full", coalesce=True)
    missing = [pl.lit(None, dtype=pl.Float64).alias(c) for c in sorted(SOURCE_COLUMNS) if c not in frame.columns]
    return frame.with_columns(missing).sort("source")


def validate(frame: pl.DataFrame, suite: SuiteFile, validator: Validator, docs: bool = True) -> Validation | None:
    """The per-source expectations on `frame` (None when the suite has none or there is no source).

    Each failure's message names its failing sources with their values, and its
    `observed_value` becomes {source: value}: the alert and the report show them.
    """
    if not suite.raw["expectations"] or frame.height == 0:
        return None
    v = validator.run(frame, suite, docs=docs, id_column="source")
    for f in v.failures:
        if f.article_ids is None or not f.column or f.column not in frame.columns:
            continue
        bad = (frame.filter(pl.col("source").is_in(f.article_ids.implode())).select("source", f.column)
               .sort("source"))
        f.observed_value = {s: value for s, value in bad.iter_rows()}
        template = _NAMED.get(f.column, "{source} ({column} = {value:.2f})")
        named = ", ".join(template.format(source=s, column=f.column, value=value)
                          for s, value in f.observed_value.items() if value is not None)
        f.message = f"{f.message}: {named}" if named else f.message
    return v


def merge(records: Validation, sources: Validation | None) -> Validation:
    """One verdict of the batch suite from its record and per-source validations."""
    if sources is None:
        return records
    return Validation(records.suite, records.success and sources.success, records.evaluated + sources.evaluated,
                      records.failures + sources.failures, _merged_json(records.result_json, sources.result_json),
                      records.skipped + sources.skipped)


def _merged_json(a: dict | None, b: dict | None) -> dict | None:
    """The two GX results as one (the record suite's, with the per-source results appended)."""
    if not a or not b:
        return a or b
    results = [*a.get("results", []), *b.get("results", [])]
    ok = sum(bool(r.get("success")) for r in results)
    statistics = {**(a.get("statistics") or {}), "evaluated_expectations": len(results),
                  "successful_expectations": ok, "unsuccessful_expectations": len(results) - ok,
                  "success_percent": 100.0 * ok / len(results) if results else None}
    return {**a, "success": bool(a.get("success")) and bool(b.get("success")), "results": results,
            "statistics": statistics}


def summary_rows(fresh: pl.DataFrame, batch: Validation | None = None) -> list[dict]:
    """Each source's freshness for the run summary and the report: the measures, whether it is
    quiet (it has a history and delivered nothing this run), and the most severe freshness
    expectation it failed (`alarm`: critical, warning, or None)."""
    alarms: dict[str, str] = {}
    for f in (batch.failures if batch else []):
        if f.column in FRESHNESS_COLUMNS and isinstance(f.observed_value, dict):
            for s in f.observed_value:
                if SEVERITY_RANK.get(f.severity, 0) > SEVERITY_RANK.get(alarms.get(s, "info"), 0):
                    alarms[s] = f.severity
    rows = []
    for r in fresh.select(list(FRESHNESS_SCHEMA)).iter_rows(named=True):
        at = r["newest_file_at"]
        rows.append({**r, "newest_file_at": at.isoformat() if at is not None else None,
                     "newest_file_age_hours": _round(r["newest_file_age_hours"], 2),
                     "new_files_share": _round(r["new_files_share"], 4),
                     "quiet": r["earlier_runs"] > 0 and r["new_files"] == 0,
                     "alarm": alarms.get(r["source"])})
    return rows


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)
