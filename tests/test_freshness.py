"""Freshness: a source folder that stops delivering files is seen, even though it has no bad record.

Unit tests of the pure measure (checks/freshness.py) on invented frames, then
real runs: a source silent past the critical threshold fails the run with a
message naming it and its age, whether other sources delivered or nothing at
all came in (the flow and `cleanwire run`, which otherwise skips a run with
nothing new), and the quiet source shows in the summary, the report and the
metrics history.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import helpers as h
import polars as pl
import pytest

from cleanwire.checks import freshness
from cleanwire.checks.drift import drift
from cleanwire.checks.gx import read_suite_json
from cleanwire.config import DEFAULT_SUITES

NOW = dt.datetime(2026, 3, 14, 12, 0, tzinfo=dt.UTC)
BATCH_EXPECTATIONS = read_suite_json(DEFAULT_SUITES / "batch.json")["expectations"]


def _ns(hours_ago: float) -> int:
    return int((NOW - dt.timedelta(hours=hours_ago)).timestamp() * 1e9)


def _files(*rows: tuple[str, float]) -> pl.DataFrame:
    """This run's new files: (source_file, hours since it was modified)."""
    return pl.DataFrame({"source_file": [r[0] for r in rows], "mtime_ns": [_ns(r[1]) for r in rows]},
                        schema={"source_file": pl.String, "mtime_ns": pl.Int64})


def _history(*rows: tuple[str, str, float | None], with_newest: bool = True) -> pl.DataFrame:
    """Metrics history rows: (run_id, source, hours since its newest file, or None)."""
    data = {"run_id": [r[0] for r in rows], "source": [r[1] for r in rows], "records": [5] * len(rows)}
    if with_newest:
        data["newest_file_at"] = [None if r[2] is None else NOW - dt.timedelta(hours=r[2]) for r in rows]
    return pl.DataFrame(data).with_columns(pl.col("^newest_file_at$").cast(pl.Datetime("us", "UTC")))


def _by_source(frame: pl.DataFrame) -> dict[str, dict]:
    return {r["source"]: r for r in frame.iter_rows(named=True)}


# ------------------------------------------------------------------ the measure

def test_a_source_that_delivered_nothing_has_a_row_with_its_age_and_a_zero_share():
    history = _history(("r1", "wire", 100.0), ("r1", "feeds", 30.0), ("r1", "ALL", None))
    fresh = _by_source(freshness.measure(_files(("feeds/a.txt", 1.0), ("feeds/b.txt", 3.0)), history, NOW))
    assert set(fresh) == {"wire", "feeds"}, "ALL is no source"
    assert fresh["wire"]["new_files"] == 0 and fresh["wire"]["earlier_runs"] == 1
    assert fresh["wire"]["newest_file_age_hours"] == pytest.approx(100.0)
    assert fresh["wire"]["new_files_share"] == 0.0
    assert fresh["feeds"]["new_files"] == 2 and fresh["feeds"]["new_files_share"] == 1.0
    assert fresh["feeds"]["newest_file_age_hours"] == pytest.approx(1.0), "the newest of this run's files"


def test_the_newest_file_is_the_newest_of_this_run_and_the_history():
    history = _history(("r1", "wire", 2.0))
    fresh = _by_source(freshness.measure(_files(("wire/old-backfill.txt", 500.0)), history, NOW))
    assert fresh["wire"]["newest_file_age_hours"] == pytest.approx(2.0)
    assert fresh["wire"]["newest_file_at"] == NOW - dt.timedelta(hours=2)


def test_a_source_without_history_is_never_stale():
    fresh = _by_source(freshness.measure(_files(("fresh/a.txt", 900.0), ("top.txt", 800.0)), None, NOW))
    assert set(fresh) == {"fresh", "."}
    for row in fresh.values():
        assert row["newest_file_age_hours"] is None and row["new_files_share"] is None
        assert row["newest_file_at"] is not None, "its newest file is still recorded, for the next run"


def test_a_run_with_nothing_new_measures_age_but_no_share():
    fresh = _by_source(freshness.measure(None, _history(("r1", "wire", 30.0), ("r2", "wire", 26.0)), NOW))
    assert fresh["wire"]["earlier_runs"] == 2
    assert fresh["wire"]["newest_file_age_hours"] == pytest.approx(26.0)
    assert fresh["wire"]["new_files_share"] is None, "no source delivered: a share of nothing says nothing"


def test_an_old_history_without_newest_file_is_unknown_not_stale():
    fresh = _by_source(freshness.measure(None, _history(("r1", "wire", None), with_newest=False), NOW))
    assert fresh["wire"]["newest_file_age_hours"] is None


def test_a_source_whose_folder_is_gone_is_retired(tmp_path):
    (tmp_path / "feeds").mkdir()
    history = _history(("r1", "feeds", 100.0), ("r1", "gone", 100.0), ("r1", ".", 100.0))
    retired = freshness.retired_sources(tmp_path, history)
    assert retired == {"gone"}, "top-level files ('.') never retire"
    assert set(freshness.measure(None, history, NOW, retired)["source"]) == {"feeds", "."}


def test_a_file_that_could_not_be_stated_counts_as_delivered_but_not_as_its_date():
    files = pl.DataFrame({"source_file": ["wire/broken-link"], "mtime_ns": [0]})
    fresh = _by_source(freshness.measure(files, _history(("r1", "wire", 40.0)), NOW))
    assert fresh["wire"]["new_files"] == 1
    assert fresh["wire"]["newest_file_age_hours"] == pytest.approx(40.0)


def test_could_fail_follows_the_suite_thresholds():
    def fresh(age, share):
        return pl.DataFrame({"newest_file_age_hours": [age], "new_files_share": [share]},
                            schema={"newest_file_age_hours": pl.Float64, "new_files_share": pl.Float64})

    assert not freshness.could_fail(fresh(3.0, 0.5), BATCH_EXPECTATIONS)
    assert not freshness.could_fail(fresh(None, None), BATCH_EXPECTATIONS), "unmeasured is not stale"
    assert freshness.could_fail(fresh(25.0, None), BATCH_EXPECTATIONS), "past the 24 h warning"
    assert freshness.could_fail(fresh(3.0, 0.0), BATCH_EXPECTATIONS), "the share must be above 0 (strict)"
    as_info = [{**e, "severity": "info"} for e in BATCH_EXPECTATIONS]
    assert not freshness.could_fail(fresh(500.0, 0.0), as_info), "info expectations hold and alert nothing"
    other = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "newest_file_age_hours"}}]
    assert freshness.could_fail(fresh(3.0, 0.5), other), "what it cannot judge, GX decides"


def test_history_rows_keep_a_quiet_source_with_zero_records():
    metric_rows = pl.DataFrame({"run_id": ["x", "x"], "source": ["feeds", "ALL"], "records": [4, 4],
                                "share_missing_date": [0.25, 0.25]})
    fresh = freshness.measure(_files(("feeds/a.txt", 1.0)), _history(("r1", "wire", 50.0), ("r1", "feeds", 9.0)), NOW)
    rows = _by_source(freshness.history_rows(metric_rows, fresh))
    assert set(rows) == {"feeds", "ALL", "wire"}
    assert rows["wire"]["records"] == 0 and rows["wire"]["share_missing_date"] is None
    assert rows["wire"]["newest_file_age_hours"] == pytest.approx(50.0)
    assert rows["feeds"]["records"] == 4 and rows["feeds"]["new_files"] == 1
    assert rows["ALL"]["new_files"] is None


def test_drift_ignores_runs_where_the_source_delivered_nothing():
    base = {"finished_at": ["1", "2", "3"], "gate_ok": [True] * 3, "source": ["wire"] * 3,
            "share_missing_date": [0.0, 0.0, None], "share_empty_body": [0.0, 0.0, None],
            "share_truncated_body": [0.0, 0.0, None], "median_body_words": [300.0, 300.0, None]}
    history = pl.DataFrame({**base, "run_id": ["a", "b", "c"], "records": [30, 30, 0]})
    current = pl.DataFrame({"source": ["wire"], "records": [30], "share_missing_date": [1.0], "share_empty_body": [0.0],
                            "share_truncated_body": [0.0], "median_body_words": [300.0]})
    row = drift(current, history).row(0, named=True)
    assert row["history_runs"] == 2, "the silent run is no norm"
    assert row["drift_missing_date"] == pytest.approx(1.0)


# ------------------------------------------------------------------ real runs

def _two_sources(raw: Path, batch: int, n: int = 3, wire: bool = True) -> None:
    for k in range(n):
        if wire:
            h.write(raw, f"wire/b{batch}-{k}.txt", h.clean_dump(h.make_article(7000 + batch * 10 + k)))
        h.write(raw, f"feeds/b{batch}-{k}.txt", h.clean_dump(h.make_article(7500 + batch * 10 + k)))


def _age_files(folder: Path, hours: float) -> None:
    then = time.time() - hours * 3600
    for p in folder.rglob("*"):
        if p.is_file():
            os.utime(p, (then, then))


def test_a_source_silent_past_the_critical_threshold_fails_the_run(run_etl, raw_dir, out_dir):
    _two_sources(raw_dir, 1)
    _age_files(raw_dir / "wire", 100)  # the wire scraper's last files are four days old
    first = run_etl(raw_dir, out_dir)
    assert first.is_completed(), "a source's first run has no history: never stale"
    published = h.published(out_dir).height

    _two_sources(raw_dir, 2, wire=False)
    state = run_etl(raw_dir, out_dir)
    assert state.is_failed()
    message = state.message or ""
    assert "freshness" in message and "wire" in message and "72 h" in message, message
    ages = [float(x) for x in re.findall(r"wire \(newest file ([\d.]+) h old\)", message)]
    assert ages and 99 < ages[0] < 101, message
    assert "feeds (newest" not in message, "the delivering source must not be named"
    assert h.published(out_dir).height == published, "the publish is held"

    summary = h.summary_json(out_dir)
    wire = next(q for q in summary["freshness"] if q["source"] == "wire")
    assert wire["quiet"] and wire["alarm"] == "critical" and wire["new_files"] == 0
    assert 99 < wire["newest_file_age_hours"] < 101
    assert next(q for q in summary["freshness"] if q["source"] == "feeds")["alarm"] is None
    page = (out_dir / "reports" / "latest.html").read_text()
    assert "Sources: freshness" in page and "STALE (critical)" in page
    history = pl.read_parquet(out_dir / "reports" / "metrics_history.parquet")
    last = history.filter(pl.col("run_id") == summary["run_id"])
    wire_row = last.filter(pl.col("source") == "wire").row(0, named=True)
    assert wire_row["records"] == 0 and 99 < wire_row["newest_file_age_hours"] < 101
    assert last.filter(pl.col("source") == "feeds")["new_files"].to_list() == [3]
    batch_result = json.loads((out_dir / "reports" / summary["run_id"] / "validation" / "batch.json").read_text())
    assert any(r["expectation_config"]["kwargs"].get("column") == "newest_file_age_hours" and not r["success"]
               for r in batch_result["results"]), "validation/batch.json holds every batch expectation's result"


def test_a_run_with_nothing_new_still_fails_on_a_silent_source(run_etl, raw_dir, out_dir):
    _two_sources(raw_dir, 1, wire=False)
    assert run_etl(raw_dir, out_dir).is_completed()
    # The history says when the newest file came; age it as if the run had been 3 days ago.
    hist_path = out_dir / "reports" / "metrics_history.parquet"
    history = pl.read_parquet(hist_path)
    history.with_columns(pl.col("newest_file_at") - pl.duration(hours=80)).write_parquet(hist_path)

    state = run_etl(raw_dir, out_dir)  # nothing new below raw_dir
    assert state.is_failed()
    assert "feeds (newest file" in (state.message or "") and "72 h" in state.message, state.message
    summary = h.summary_json(out_dir)
    assert summary["files"]["processed"] == 0 and summary["gate"]["ok"] is False
    assert {f["column"] for f in summary["gate"]["failures"]} == {"newest_file_age_hours"}, "drift is not measured"
    assert "great_expectations" in summary["startup_seconds"], "GX validated the sources"
    assert (out_dir / "reports" / summary["run_id"] / "report.html").is_file()


def test_a_run_with_nothing_new_and_fresh_sources_loads_no_gx(run_etl, raw_dir, out_dir):
    _two_sources(raw_dir, 1)
    assert run_etl(raw_dir, out_dir).is_completed()
    state = run_etl(raw_dir, out_dir)
    assert state.is_completed()
    summary = h.summary_json(out_dir)
    assert summary["gate"]["failures"] == [] and "great_expectations" not in summary["startup_seconds"]
    assert {q["source"] for q in summary["freshness"] if q["quiet"]} == {"wire", "feeds"}


def test_cli_runs_the_flow_on_a_silent_source_though_nothing_is_new(prefect_api, run_etl, raw_dir, out_dir):
    _two_sources(raw_dir, 1, wire=False)
    assert run_etl(raw_dir, out_dir).is_completed()
    hist_path = out_dir / "reports" / "metrics_history.parquet"
    history = pl.read_parquet(hist_path)
    history.with_columns(pl.col("newest_file_at") - pl.duration(hours=80)).write_parquet(hist_path)

    command = [sys.executable, "-m", "cleanwire.cli", "run", "--input", str(raw_dir), "--output", str(out_dir),
               "--no-data-docs"]
    proc = subprocess.run(command, check=False, capture_output=True, text=True, env=h.cli_env(), timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no run started" not in proc.stderr
    assert "feeds (newest file" in proc.stderr + proc.stdout, proc.stdout + proc.stderr
