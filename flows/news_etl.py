"""The `news-etl` Prefect flow: wiring only, the steps live in `cleanwire`.

    discover -> parse-batches (one task per batch, in parallel) -> checks (dedup + GX)
             -> publish (new version, atomic) -> report

Batch tasks run on a process pool by default, on Dask when the run config
names a scheduler (`dask_address`) or asks for a local cluster of N workers (`workers`);
`run_batches` is where that choice is applied, so the same
deployment serves every mode.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import time
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.states import Failed

from cleanwire import progress
from cleanwire.checks import dedup
from cleanwire.checks import run as checks
from cleanwire.report import html as html_report
from cleanwire.report import metrics
from cleanwire.ingest.batch import CHUNK_FILES, BatchResult, chunk_bounds, process_batch
from cleanwire.config import RunConfig, check_paths
from cleanwire.ingest.discover import Discovery, discover, file_refs
from cleanwire.publish.lock import OutputLocked, output_lock
from cleanwire.memory import release_free_memory, withhold_flow_malloc_conf_from_workers
from cleanwire.publish.tables import published_bodies, published_index, publish_run, quarantined_files, seen_files
from cleanwire.report.summary import (gate_message, gate_summary, issue_counts, summary_table, write_summary,
                              write_validations, reports_dir)
from cleanwire.publish.store import STATE_DIR, Store
from cleanwire.checks.gx import Validator, check_suites, load_suites


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
def parse_batch(files: pl.DataFrame, work_dir: str, batch_no: int, run_id: str, max_bytes: int) -> BatchResult:
    # The batch's files travel as a frame (discover.FILES_SCHEMA): Prefect walks a task's
    # arguments item by item, and thousands of FileRefs per task kept the flow process
    # busy for ~10 % of a core during the parse stage (py-spy), slowing the workers.
    return process_batch(file_refs(files), work_dir, batch_no, run_id, max_bytes)


@task(name="checks", cache_policy=NO_CACHE)
def run_checks(results: list[BatchResult], store: Store, suites, docs_dir: Path,
               thresholds: dedup.DedupThresholds, replaced: pl.Series) -> checks.RunChecks:
    paths = [r.records_path for r in results if r.records_path]
    src = checks.Sources.of(paths, published_index(store, exclude_files=replaced), published_bodies(store))
    rows_suite, batch_suite = suites
    return checks.run_checks(src, rows_suite, batch_suite, Validator(docs_dir), thresholds,
                             metrics.read_history(store.out))


@task(name="publish", cache_policy=NO_CACHE)
def publish(store: Store, results: list[BatchResult], decided: checks.RunChecks, run_id: str, extra: dict):
    files = pl.concat([pl.read_parquet(r.files_path) for r in results])
    paths = [r.records_path for r in results if r.records_path]
    return publish_run(store, paths, files, decided.decisions, run_id, decided.gate_ok, extra, decided.fills)


@task(name="report", cache_policy=NO_CACHE)
def report(config: RunConfig, run_id: str, summary: dict, decided: checks.RunChecks | None) -> dict:
    out = config.output_dir
    if decided is not None:
        summary["reports"]["validation"] = write_validations(out, run_id, [decided.rows, decided.batch])
        rows = metrics.relabel(decided.metrics, run_id, dt.datetime.now(dt.timezone.utc).isoformat(),
                               decided.gate_ok)
        summary["reports"]["metrics_history"] = str(metrics.append_history(out, rows))
        page = html_report.write_reports(out, run_id, summary, decided.sample, decided.word_counts,
                                         metrics.read_history(out))
        summary["reports"]["html"] = str(page)
        summary["reports"]["latest_html"] = str(page.parent.parent / "latest.html")
    summary["reports"]["summary"] = str(write_summary(out, run_id, summary))
    create_table_artifact(key="news-etl-summary", table=summary_table(summary),
                          description=f"cleanwire run {run_id}")
    create_markdown_artifact(key="news-etl-report", markdown=_markdown(summary),
                             description=f"cleanwire run {run_id}")
    return summary


def _markdown(s: dict) -> str:
    lines = [f"# cleanwire run `{s['run_id']}`", "",
             f"- files processed: **{s['files']['processed']}** (unchanged: {s['files']['unchanged']})",
             f"- published: **{s['published']}**, quarantined: **{s['quarantined']}**",
             f"- version: {s.get('version')}, gate: {'passed' if s['gate']['ok'] else 'REFUSED'}", "",
             "| issue | records |", "| --- | ---: |"]
    lines += [f"| {k} | {v} |" for k, v in s["issues"].items()]
    return "\n".join(lines)


# ------------------------------------------------------------------ flows

def run_batches(config: RunConfig, files: pl.DataFrame, batches: list[tuple[int, int]], work_dir: str,
                run_id: str) -> tuple[list[BatchResult], str]:
    """One parse-batch task per batch (a slice of `files`), on the task runner the config asks for.

    The runner is entered here rather than given to the flow, so the same flow
    (and deployment) runs on a process pool, a new local Dask cluster or an
    existing one. The file lists travel to the workers, never to the API.
    """
    done, total = 0, files.height
    progress.report("parse", 0, total)
    results = []
    runner, where = task_runner_for(config, len(batches))
    get_run_logger().info("%d batch tasks on %s", len(batches), where)
    todo = iter(enumerate(batches))

    def submit_next(in_flight: set) -> None:
        nxt = next(todo, None)
        if nxt is not None:
            i, (start, end) = nxt
            in_flight.add(runner.submit(parse_batch, parameters={
                "files": files.slice(start, end - start), "work_dir": work_dir, "batch_no": i,
                "run_id": run_id, "max_bytes": config.max_bytes}))

    with runner:
        # A window of tasks in flight, not all at once: a submitted task holds its pickled
        # file list until a worker takes it (150 MB for a million files).
        in_flight: set = set()
        for _ in range(in_flight_window(config)):
            submit_next(in_flight)
        while in_flight:
            fut = next(as_completed(list(in_flight)))
            in_flight.discard(fut)
            res = fut.result()
            results.append(res)
            done += res.n_files
            progress.report("parse", done, total)
            submit_next(in_flight)
    return sorted(results, key=lambda r: r.files_path), where


def in_flight_window(config: RunConfig) -> int:
    """Batch tasks submitted ahead: two per worker keep every worker busy.

    The size of an existing Dask cluster is not known here: a wider window there.
    """
    if config.dask_address:
        return 64
    return 2 * planned_workers(config)


def planned_workers(config: RunConfig) -> int:
    """Worker processes the run plans for: --workers, else --processes, else the CPU count."""
    return config.workers or config.processes or os.cpu_count() or 1


def files_per_task(config: RunConfig, n_files: int) -> int:
    """config.batch_files, made smaller when that would leave workers idle (2 tasks per worker).

    Never below one parse chunk: a small run stays one task, on a thread, without
    the seconds it takes to start worker processes.
    """
    workers = planned_workers(config)
    return max(1, min(config.batch_files, max(CHUNK_FILES, math.ceil(n_files / (2 * workers)))))


def task_runner_for(config: RunConfig, n_batches: int):
    """(task runner, where it runs): Dask when asked; a process pool for real work; a thread for one batch.

    Local worker processes get one polars thread each: the parallelism is the
    processes, and N processes x N threads would only fight over the cores.
    """
    os.environ.setdefault("POLARS_MAX_THREADS", "1")  # read by the workers' polars at import
    withhold_flow_malloc_conf_from_workers()
    if config.dask_address or config.workers:
        from prefect_dask import DaskTaskRunner

        if config.dask_address:
            return DaskTaskRunner(address=config.dask_address), f"the Dask cluster at {config.dask_address}"
        return (DaskTaskRunner(cluster_class="distributed.LocalCluster",
                               cluster_kwargs={"n_workers": config.workers, "threads_per_worker": 1,
                                               "processes": True, "dashboard_address": None}),
                f"a new local Dask cluster of {config.workers} workers")
    workers = planned_workers(config)  # config.workers is unset here: the Dask branch took it
    if n_batches <= 1 or workers <= 1:
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=1), "a thread of the flow process"
    from prefect.task_runners import ProcessPoolTaskRunner

    n = min(workers, n_batches)
    return ProcessPoolTaskRunner(max_workers=n), f"a process pool of {n} processes"


def runner_summary(where: str, results: list[BatchResult], wall: float) -> dict:
    """Where the batches ran, and where the parse stage's time went (seconds from its start)."""
    return {"where": where, "processes": len({r.worker for r in results}),  # that parsed
            "batches": len(results),
            "first_batch_started": round(min(r.started for r in results) - wall, 2),
            "last_batch_ended": round(max(r.ended for r in results) - wall, 2),
            "batch_seconds": round(sum(r.ended - r.started for r in results), 2),
            "batch_cpu_seconds": round(sum(r.cpu_seconds for r in results), 2)}


def _after_stage() -> int:
    """Give the stage's freed heap back (cleanwire.memory), so the next stage starts lower;
    return this process's peak resident memory so far (MB)."""
    import resource

    release_free_memory()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    fr = flow_run.get_id()
    return f"{stamp}-{str(fr)[-8:]}" if fr else stamp  # the random end of the id (its start is a timestamp)


@flow(name="news-etl")
def news_etl(config: RunConfig = RunConfig()) -> dict:
    """Turn the raw files below `config.input` into published and quarantined Parquet."""
    log = get_run_logger()
    t0 = time.perf_counter()
    run_id = new_run_id()
    check_config(config)
    out = config.output_dir
    store = Store(out, keep=config.keep_versions)
    try:
        with output_lock(out):
            return _run(config, log, t0, run_id, out, store)
    except OutputLocked as e:
        return Failed(message=str(e))  # another run holds the output: one line, no traceback


def _run(config: RunConfig, log, t0: float, run_id: str, out: Path, store: Store):
    """The run itself, under the output lock."""
    store.prepare(clean_work=True)
    stages: dict[str, float] = {}
    peaks: dict[str, int] = {}  # this process's peak resident memory after each stage (MB)
    tick = time.perf_counter()
    found = discover_files(config, store)
    stages["discover"] = time.perf_counter() - tick
    peaks["discover"] = _after_stage()
    files_total = found.unchanged + found.to_process.height
    summary = {"run_id": run_id, "flow_run_id": str(flow_run.get_id() or ""),
               "started_at": dt.datetime.now(dt.timezone.utc).isoformat(),
               "input": str(config.input_dir), "output": str(out),
               "files": {"found": files_total, "processed": 0, "unchanged": found.unchanged,
                         "missing_since_last_run": found.missing},
               "records": 0, "published": 0, "quarantined": 0,
               "issues": issue_counts(pl.DataFrame(schema={"issues": pl.List(pl.String)})),
               "gate": {"ok": True, "failures": [], "skipped": []},
               "version": store.current_version(),
               "reports": {"data_docs": str(reports_dir(out) / "data_docs" / "index.html")}}
    if found.to_process.height == 0:
        log.info("nothing new below %s: %d files unchanged", config.input_dir, found.unchanged)
        summary["stage_seconds"] = {k: round(v, 2) for k, v in stages.items()}
        summary["seconds"] = round(time.perf_counter() - t0, 2)
        return report(config, run_id, summary, None)
    work = out / STATE_DIR / "work" / run_id
    todo, unchanged_before = found.to_process, found.unchanged
    batches = chunk_bounds(todo["size"].to_list(), files_per_task(config, todo.height), int(config.batch_mb * 1e6))
    log.info("%d files to process in %d batches", todo.height, len(batches))
    try:
        tick, wall = time.perf_counter(), time.time()
        results, where = run_batches(config, todo, batches, str(work), run_id)
        # Of the files' rows only their names are needed from here on (~100 MB less at 1M files).
        todo = todo.select("source_file")
        found = None
        stages["parse"] = time.perf_counter() - tick
        summary["runner"] = runner_summary(where, results, wall)
        peaks["parse"] = _after_stage()
        if not any(r.records_path for r in results):
            # Files whose stat changed but whose bytes did not (touched, downloaded again):
            # nothing to check or publish, and no new version.
            summary["files"].update(unchanged=files_total)
            summary["stage_seconds"] = {k: round(v, 2) for k, v in stages.items()}
            summary["seconds"] = round(time.perf_counter() - t0, 2)
            log.info("%d files re-read: content unchanged, nothing to publish", todo.height)
            return report(config, run_id, summary, None)
        progress.report("check", 0, 1)
        # Great Expectations enters this process only now, the workers gone (see
        # validate.start_suite_check): a fixed start-up cost, timed apart from the stages.
        tick = time.perf_counter()
        suites = load_suites(config.suites_dir, config.max_quarantined_share)
        summary["startup_seconds"] = {"great_expectations": round(time.perf_counter() - tick, 2)}
        tick = time.perf_counter()
        thresholds = dedup.DedupThresholds(config.min_containment)
        replaced = todo["source_file"]  # a column, not a set of strings (Prefect walks a set's items)
        decided = run_checks(results, store, suites, reports_dir(out) / "data_docs", thresholds, replaced)
        stages["checks"] = time.perf_counter() - tick
        peaks["checks"] = _after_stage()
        progress.report("publish", 0, 1)
        tick = time.perf_counter()
        counts = issue_counts(decided.decisions)
        published = publish(store, results, decided, run_id, {"issues": counts})
        stages["publish"] = time.perf_counter() - tick
        peaks["publish"] = _after_stage()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    unchanged_in_batches = sum(r.n_unchanged for r in results)
    summary["files"].update(processed=todo.height - unchanged_in_batches,
                            unchanged=unchanged_before + unchanged_in_batches)
    summary.update(records=decided.decisions.height, published=published.published_rows,
                   quarantined=published.quarantined_rows, issues=counts, gate=gate_summary(decided.batch),
                   version=published.version, duplicate_groups=decided.groups,
                   published_total=published.manifest["published_total"],
                   quarantined_total=published.manifest["quarantined_total"])
    tick = time.perf_counter()
    summary["stage_seconds"] = {k: round(v, 2) for k, v in stages.items()}
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    report(config, run_id, summary, decided)
    summary["stage_seconds"]["report"] = round(time.perf_counter() - tick, 2)
    summary["stage_peak_rss_mb"] = {**peaks, "report": _after_stage()}
    write_summary(out, run_id, summary)
    if not decided.gate_ok:
        # A failed final state, not an exception: the refusal is a verdict on the data,
        # reported in one line, not a crash with a traceback.
        return Failed(message=gate_message(decided.batch))
    return summary
