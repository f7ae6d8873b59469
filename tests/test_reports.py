"""Quality you can see: the HTML run report, the drift alarm, the Prefect artifacts.

Three batches land in one landing folder: two normal ones, then one where the
`wire` scraper broke and lost every date. The third is held by the drift alarm
(a critical batch expectation) with a message naming the source and the
metric; the reports of every run exist, open offline and show the run's numbers.
"""
from __future__ import annotations

import re
import subprocess
import sys

import polars as pl

import helpers as h

N = 24  # articles per source and batch: above the drift alarm's minimum of 20


def _batch(raw, batch: int, wire_broken: bool = False) -> None:
    for k in range(N):
        seed = 3000 + batch * 100 + k
        h.write(raw, f"wire/b{batch}-{k:02d}.txt", h.clean_dump(h.make_article(seed), date=not wire_broken))
        h.write(raw, f"feeds/b{batch}-{k:02d}.txt", h.clean_dump(h.make_article(seed + 50)))


def test_drift_alarm_holds_a_batch_whose_source_lost_its_dates(run_etl, raw_dir, out_dir):
    _batch(raw_dir, 1)
    assert run_etl(raw_dir, out_dir).is_completed()
    _batch(raw_dir, 2)
    assert run_etl(raw_dir, out_dir).is_completed()
    published_before = h.published(out_dir).height
    _batch(raw_dir, 3, wire_broken=True)
    state = run_etl(raw_dir, out_dir, data_docs=True)

    assert state.is_failed()
    message = state.message or ""
    assert "missing_date" in message and "wire" in message, message
    assert "feeds" not in message, "the healthy source must not be named"
    assert h.published(out_dir).height == published_before, "the publish must be held"
    summary = h.summary_json(out_dir)
    assert summary["gate"]["ok"] is False
    failure = next(f for f in summary["gate"]["failures"] if "missing_date" in f["expectation"])
    assert failure["severity"] == "critical" and "wire" in failure["expectation"]

    # Every run has its HTML report; the latest shows this run's numbers and is self-contained.
    runs = sorted(p for p in (out_dir / "reports").iterdir() if (p / "report.html").is_file())
    assert len(runs) == 3
    page = (out_dir / "reports" / "latest.html").read_text()
    assert summary["run_id"] in page
    assert f"<td>issue: missing_date</td><td>{summary['issues']['missing_date']}</td>" in page
    assert f"<td>records</td><td>{summary['records']}</td>" in page
    assert "REFUSED" in page and "wire" in page
    assert page.count("<svg") == 3  # issue bars, body lengths, history
    assert "data_docs/index.html" in page
    # Offline: no external resource of any kind, not even a namespace URL.
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page, re.I)
    assert not re.search(r"<(script|link|img|iframe)\b", page, re.I)

    history = pl.read_parquet(out_dir / "reports" / "metrics_history.parquet")
    wire = history.filter(pl.col("source") == "wire").sort("finished_at")
    assert wire["share_missing_date"].to_list() == [0.0, 0.0, 1.0]
    assert wire["gate_ok"].to_list() == [True, True, False]


def test_cleanwire_report_prints_the_latest_summary(run_etl, seeds_copy, out_dir):
    assert run_etl(seeds_copy, out_dir).is_completed()
    done = subprocess.run([sys.executable, "-m", "cleanwire.cli", "report", str(out_dir)],
                          capture_output=True, text=True, env={**__import__("os").environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    summary = h.summary_json(out_dir)
    assert summary["run_id"] in done.stdout
    assert "missing_date" in done.stdout and "published" in done.stdout
    assert str(out_dir / "reports" / "latest.html") in done.stdout


def test_run_summary_is_a_prefect_table_and_markdown_artifact(run_etl, seeds_copy, out_dir):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    state = run_etl(seeds_copy, out_dir)
    flow_run_id = state.state_details.flow_run_id

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))

    found = {a.key: a for a in asyncio.run(artifacts())}
    assert {"news-etl-summary", "news-etl-report"} <= set(found)
    table = found["news-etl-summary"].data
    assert "issue: missing_date" in str(table) and "published" in str(table)
    assert "published: **1**" in found["news-etl-report"].data
