"""The `news-etl` Prefect flow: wiring only, the steps live in `cleanwire`.

    discover -> parse-batch (one task per batch, in parallel) -> checks (dedup + GX)
             -> publish (new version, atomic) -> report

Batch tasks run where `cleanwire.runner.plan_runner` says: a process pool by
default, a new local Dask cluster (`workers`) or an existing one
(`dask_address`); `task_runner_for` builds that runner, so the same
deployment serves every mode.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.states import Failed

from cleanwire import progress
from cleanwire.checks import dedup, freshness, sources
from cleanwire.checks import run as checks
from cleanwire.checks.gx import (BATCH_SUITE, Validator, check_suites, load_suites, read_suite_json, suite_limits,
                                 suite_messages)
from cleanwire.config import RunConfig, check_paths
from cleanwire.errors import ConcurrentCommit, GateRefused, OutputLocked
from cleanwire.ingest.batch import process_batch, skipped_counts
from cleanwire.ingest.discover import Discovery, discover, file_refs, split_archives
from cleanwire.memory import withhold_flow_malloc_conf_from_workers
from cleanwire.paths import Layout
from cleanwire.publish.lock import output_lock
from cleanwire.publish.store import Store, open_store
from cleanwire.publish.tables import (Explain, PublishResult, RunFiles, published_bodies, published_index,
                                     publish_run, quarantined_files, seen_files)
from cleanwire.report import alerts
from cleanwire.report import html as html_report
from cleanwire.report import metrics
from cleanwire.report.summary import (FileCounts, RunSummary, gate_verdict, issue_counts, markdown, reason_counts,
                                      summary_table, write_validations)
from cleanwire.runner import (DASK_ADDRESS, DASK_LOCAL, PROCESSES, THREAD, RunnerPlan, batch_bounds,
                              in_flight_window, plan_runner, planned_workers)
from cleanwire.types import BatchResult


# ------------------------------------------------------------------ tasks
# No task is cached (NO_CACHE): each run must redo its steps, and Prefect's default policy
# would hash every task's inputs to make the key, pickling whole-run frames for it (a frame
# of 300k narrow rows: +284 MB of peak memory and 0.4 s, measured).

@task(name="check-config", cache_policy=NO_CACHE)
def check_config(config: RunConfig) -> None:
    """Refuse bad paths and bad suites before any work (the suites are checked in a child process)."""
    check_paths(config)
    check_suites(config.suites_dir, config.max_quarantined_share)


@task(name="discover", cache_policy=NO_CACHE)
def discover_files(config: RunConfig, store: Store) -> Discovery:
    if config.reprocess_quarantine:
        return discover(config.input_dir, seen_files(store), only=quarantined_files(store))
    return discover(config.input_dir, seen_files(store))


@task(name="parse-batch", cache_policy=NO_CACHE)
def parse_batch(files: pl.DataFrame, work_dir: str, batch_no: int, run_id: str, max_bytes: int,
                max_decompressed_bytes: int) -> BatchResult:
    # The batch's files travel as a frame (discover.FILES_SCHEMA): Prefect walks a task's
    # arguments item by item, and thousands of FileRefs per task kept the flow process
    # busy for ~10 % of a core during the parse stage (py-spy), slowing the workers.
    return process_batch(file_refs(files), work_dir, batch_no, run_id, max_bytes, max_decompressed_bytes)


@task(name="checks", cache_policy=NO_CACHE)
def run_checks(results: list[BatchResult], store: Store, suites, docs_dir, thresholds: dedup.DedupThresholds,
               fresh: pl.DataFrame) -> checks.RunChecks:
    paths = [r.records_path for r in results if r.records_path]
    src = checks.Sources.of(paths, published_index(store, run_files_of(results)), published_bodies(store))
    rows_suite, batch_suite = suites
    # The batch suite's drift and freshness expectations run on one row per source (checks/sources.py):
    # a source that delivered nothing has no record, yet can fail. One verdict of both.
    records_suite, per_source = sources.split(batch_suite)
    validator = Validator(docs_dir)
    decided = checks.run_checks(src, rows_suite, records_suite, validator, thresholds,
                                metrics.read_history(store.out))
    decided.batch = sources.merge(decided.batch, sources.validate(sources.source_frame(fresh, decided.drift),
                                                                  per_source, validator))
    return decided


@task(name="publish", cache_policy=NO_CACHE)
def publish(store: Store, results: list[BatchResult], decided: checks.RunChecks, run_id: str, explain: Explain,
            extra: dict) -> PublishResult:
    paths = [r.records_path for r in results if r.records_path]
    try:
        return publish_run(store, paths, run_files_of(results), decided.decisions, run_id, decided.gate_ok, extra,
                           explain, decided.fills)
    except ConcurrentCommit as e:
        return e  # another run took the version (an S3 output has no lock): the flow fails in one line, no traceback


def run_files_of(results: list[BatchResult]) -> RunFiles:
    return RunFiles([r.files_path for r in results])


@task(name="report", cache_policy=NO_CACHE)
def report_run(summary: RunSummary, decided: checks.RunChecks, published: PublishResult,
               fresh: pl.DataFrame) -> dict:
    """The validation results, the metrics history and the HTML report of a run that checked records;
    returns where they are."""
    out = summary.output
    validation = write_validations(out, summary.run_id, [decided.rows, decided.batch])
    rows = metrics.relabel(freshness.history_rows(decided.metrics, fresh), summary.run_id,
                           dt.datetime.now(dt.UTC).isoformat(), decided.gate_ok)
    history = metrics.append_history(out, rows)
    page = html_report.write_reports(summary, published.sample, published.word_counts, metrics.read_history(out))
    Layout(out).publish_data_docs()  # an s3:// output's Data Docs, rendered locally, go to OUT/reports/data_docs
    return {"validation": validation, "metrics_history": str(history), "html": str(page),
            "latest_html": str(Layout(out).latest_html)}


# ------------------------------------------------------------------ running the batches

def batch_files(files: pl.DataFrame, batches: list[tuple[int, int]]) -> list[pl.DataFrame]:
    """Each batch's rows of `files` in a frame of its own (a copy, not a slice): once the caller lets
    `files` go, a batch's rows are freed when its task is done, so the flow's share of the run's file
    rows shrinks through the parse stage (~100 MB at a million files, held to the end as slices)."""
    return [files.gather(pl.int_range(start, end, eager=True)) for start, end in batches]


def run_batches(config: RunConfig, batches: list[pl.DataFrame], work_dir: str,
                run_id: str) -> tuple[list[BatchResult], str, threading.Thread | None]:
    """One parse-batch task per batch (a frame of its files, `batch_files`), on the task runner the
    config asks for. The list is emptied as the tasks are submitted.

    The runner is entered here rather than given to the flow, so the same
    flow (and deployment) runs on a process pool, a new local Dask cluster or an
    existing one. The file lists travel to the workers, never to the API.
    Returns the results, where they ran, and the thread closing a process pool
    (`close_in_background`), or None when the runner is closed already.
    """
    done, total, n_batches = 0, sum(b.height for b in batches), len(batches)
    progress.update("parse", 0, total)
    results = []
    plan = plan_runner(config, n_batches)
    runner = task_runner_for(plan)
    get_run_logger().info("%d batch tasks on %s", n_batches, plan.where)
    batches.reverse()  # popped from the end: first batch first

    def submit_next(in_flight: set) -> None:
        if batches:
            i = n_batches - len(batches)
            in_flight.add(runner.submit(parse_batch, parameters={
                "files": batches.pop(), "work_dir": work_dir, "batch_no": i,
                "run_id": run_id, "max_bytes": config.max_bytes,
                "max_decompressed_bytes": config.max_decompressed_bytes}))

    runner.__enter__()
    try:
        in_flight: set = set()
        for _ in range(in_flight_window(config)):
            submit_next(in_flight)
        while in_flight:
            fut = next(as_completed(list(in_flight)))
            in_flight.discard(fut)
            res = fut.result()
            results.append(res)
            done += res.n_files
            progress.update("parse", done, total)
            submit_next(in_flight)
    except BaseException as e:
        runner.__exit__(type(e), e, e.__traceback__)
        raise
    closing = None
    if plan.kind == PROCESSES:
        closing = close_in_background(runner)
    else:
        runner.__exit__(None, None, None)
    return sorted(results, key=lambda r: r.files_path), plan.where, closing


def close_in_background(runner) -> threading.Thread:
    """Shut a process pool down on a thread: its workers take ~0.5 s to exit (the gap between the last
    batch's end and the parse stage's at 100k records, measured), time the checks can use. The
    flow joins the thread before the run ends."""
    closing = threading.Thread(target=runner.__exit__, args=(None, None, None), name="close-batch-pool",
                               daemon=True)
    closing.start()
    return closing


def task_runner_for(plan: RunnerPlan):
    """Prefect's task runner for a plan.

    Local worker processes get one polars thread each: the parallelism is the
    processes, and N processes x N threads would only fight over the cores.
    """
    os.environ.setdefault("POLARS_MAX_THREADS", "1")  # read by the workers' polars at import
    withhold_flow_malloc_conf_from_workers()
    if plan.kind == DASK_ADDRESS:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=plan.address)
    if plan.kind == DASK_LOCAL:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                              cluster_kwargs={"n_workers": plan.workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    if plan.kind == THREAD:
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=1)
    from prefect.task_runners import ProcessPoolTaskRunner

    return ProcessPoolTaskRunner(max_workers=plan.workers)


def runner_summary(where: str, results: list[BatchResult], wall: float) -> dict:
    """Where the batches ran, and where the parse stage's time went (seconds from its start)."""
    return {"where": where, "processes": len({r.worker for r in results}),  # that parsed
            "batches": len(results),
            "first_batch_started": round(min(r.started for r in results) - wall, 2),
            "last_batch_ended": round(max(r.ended for r in results) - wall, 2),
            "batch_seconds": round(sum(r.ended - r.started for r in results), 2),
            "batch_cpu_seconds": round(sum(r.cpu_seconds for r in results), 2)}


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    fr = flow_run.get_id()
    return f"{stamp}-{str(fr)[-8:]}" if fr else stamp  # the random end of the id (its start is a timestamp)


# ------------------------------------------------------------------ the flow

# One hook for every ending: it sends the run's alert, if any (cleanwire/report/alerts.py).
@flow(name="news-etl", on_completion=[alerts.on_run_end], on_failure=[alerts.on_run_end],
      on_crashed=[alerts.on_run_end])
def news_etl(config: RunConfig = RunConfig()) -> dict:
    """Turn the raw files below `config.input` into published and quarantined Parquet."""
    t0 = time.perf_counter()
    run_id = new_run_id()
    check_config(config)
    try:
        with output_lock(config.output_dir):
            summary = _run(config, run_id)
    except OutputLocked as e:
        return Failed(message=str(e), data=e)  # another run holds the output: one line, no traceback
    summary.seconds = round(time.perf_counter() - t0, 2)
    summary.write()
    create_table_artifact(key="news-etl-summary", table=summary_table(summary), description=f"cleanwire run {run_id}")
    create_markdown_artifact(key="news-etl-report", markdown=markdown(summary), description=f"cleanwire run {run_id}")
    if not summary.gate.ok:
        # A failed final state, not a crash with a traceback: the refusal is a verdict on the data.
        return Failed(message=summary.gate.message, data=GateRefused(summary.gate.message))
    return summary.to_dict()


def _run(config: RunConfig, run_id: str) -> RunSummary:
    """The run itself, under the output lock: each stage timed into the summary."""
    log = get_run_logger()
    out = config.output_dir
    store = open_store(out, config.table_format, keep=config.keep_versions)  # versioned Parquet or Delta tables
    store.prepare(clean_work=True)
    summary = RunSummary(run_id, str(out), input=str(config.input_dir), flow_run_id=str(flow_run.get_id() or ""),
                         started_at=dt.datetime.now(dt.timezone.utc).isoformat(), version=store.current_version(),
                         reports={"data_docs": str(Layout(out).data_docs / "index.html") if config.data_docs else None})
    with summary.stage("discover"):
        found = discover_files(config, store)
    summary.files = FileCounts(found=found.unchanged + found.to_process.height, unchanged=found.unchanged,
                               missing_since_last_run=found.missing)
    fresh = measure_freshness(config, found)
    summary.freshness = sources.summary_rows(fresh)
    if found.to_process.height == 0:
        log.info("nothing new below %s: %d files unchanged", config.input_dir, found.unchanged)
        return check_sources_alone(config, summary, fresh)
    todo = found.to_process
    # A WARC archive bigger than a batch becomes slices of its records, a task each (ingest/discover.py):
    # finding where its records start reads it once (~33 MB/s of .warc.gz), timed as "plan".
    with summary.stage("plan"):
        to_parse = split_archives(todo, int(config.batch_mb * 1e6), planned_workers(config))
    bounds = batch_bounds(config, to_parse["size"].to_list())
    log.info("%d files to process in %d batches", todo.height, len(bounds))
    # Of the files' rows only their count is needed past the batches: the batches' status files say
    # the rest (~140 MB less at 1M files), and each batch's rows go with its task.
    n_todo, batches = todo.height, batch_files(to_parse, bounds)
    del todo, found, to_parse
    work = Layout(out).work(run_id)
    closing = charts = None  # threads: the one closing the batches' process pool, the one importing charts
    try:
        wall = time.time()
        with summary.stage("parse"):
            results, where, closing = run_batches(config, batches, str(work), run_id)
        summary.runner = runner_summary(where, results, wall)
        summary.skipped_records = skipped_counts(results)
        unchanged = sum(r.n_unchanged for r in results)
        summary.files.processed = n_todo - unchanged
        summary.files.unchanged += unchanged
        if not any(r.records_path for r in results):
            # Files whose stat changed but whose bytes did not (touched, downloaded again):
            # nothing to check or publish, and no new version.
            log.info("%d files re-read: content unchanged, nothing to publish", n_todo)
            return check_sources_alone(config, summary, fresh)
        progress.update("check", 0, 1)
        # Great Expectations enters this process only now, the workers gone (see
        # gx.start_suite_check): a fixed start-up cost, timed apart from the stages.
        tick = time.perf_counter()
        suites = load_suites(config.suites_dir, config.max_quarantined_share)
        summary.startup_seconds["great_expectations"] = round(time.perf_counter() - tick, 2)
        with summary.stage("checks"):
            decided = run_checks(results, store, suites, Layout(out).data_docs_build if config.data_docs else None,
                                 dedup.DedupThresholds(config.min_containment), fresh)
        summary.issues, summary.reasons = issue_counts(decided.decisions), reason_counts(decided.decisions)
        summary.freshness = sources.summary_rows(fresh, decided.batch)
        summary.gate, summary.duplicate_groups = gate_verdict(decided.batch), decided.groups
        explain = Explain(suite_messages(suites[0]), suite_limits(suites[0]), summary.gate.message)
        progress.update("publish", 0, 1)
        charts = html_report.load_charts_in_background()  # the report's charts: imported while publish writes
        with summary.stage("publish"):
            published = publish(store, results, decided, run_id, explain,
                                {"issues": summary.issues, "reasons": summary.reasons})
        if isinstance(published, ConcurrentCommit):
            raise published
    finally:
        for thread in (closing, charts):
            if thread is not None:
                thread.join()
        shutil.rmtree(work, ignore_errors=True)
    summary.records, summary.version = decided.decisions.height, published.version
    summary.published, summary.quarantined = published.published_rows, published.quarantined_rows
    summary.published_total = published.manifest["published_total"]
    summary.quarantined_total = published.manifest["quarantined_total"]
    with summary.stage("report"):
        summary.reports.update(report_run(summary, decided, published, fresh))
    return summary


def measure_freshness(config: RunConfig, found: Discovery) -> pl.DataFrame:
    """Each source folder's newest file and new files (checks/freshness.py), from the discovery and the history."""
    history = metrics.read_history(config.output_dir)
    # Quarantined files read again are old files, not deliveries.
    new = None if config.reprocess_quarantine else found.to_process
    return freshness.measure(new, history, dt.datetime.now(dt.UTC),
                             freshness.retired_sources(config.input_dir, history))


def check_sources_alone(config: RunConfig, summary: RunSummary, fresh: pl.DataFrame) -> RunSummary:
    """A run with nothing to publish still checks its sources' freshness: a scraper that died delivers nothing.

    Great Expectations is loaded only when a source is past a threshold
    (freshness.could_fail): a quiet hour costs no GX start-up. Then the verdict,
    the metrics history and the report are written as for a run that checked records.
    """
    if not freshness.could_fail(fresh, read_suite_json(config.suites_dir / BATCH_SUITE)["expectations"]):
        return summary
    out = config.output_dir
    tick = time.perf_counter()
    _, per_source = sources.split(load_suites(config.suites_dir, config.max_quarantined_share)[1])
    summary.startup_seconds["great_expectations"] = round(time.perf_counter() - tick, 2)
    checked = sources.validate(sources.source_frame(fresh), per_source,
                               Validator(Layout(out).data_docs_build if config.data_docs else None))
    if checked is None:
        return summary
    summary.gate, summary.freshness = gate_verdict(checked), sources.summary_rows(fresh, checked)
    rows = metrics.relabel(freshness.history_rows(None, fresh), summary.run_id,
                           dt.datetime.now(dt.UTC).isoformat(), summary.gate.ok)
    history = metrics.append_history(out, rows)
    page = html_report.write_reports(summary, pl.DataFrame(), pl.Series(dtype=pl.Int64), metrics.read_history(out))
    Layout(out).publish_data_docs()
    summary.reports.update({"validation": write_validations(out, summary.run_id, [checked]),
                            "metrics_history": str(history), "html": str(page),
                            "latest_html": str(Layout(out).latest_html)})
    return summary
