"""`cleanwire ...`: parse arguments, call the flows, print what happened.

Typer (on Click) gives typed options, --help and shell completion; Rich draws
the progress bar and tables. Prefect is imported only after the environment
defaults below are set, because Prefect reads its settings at import time.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cleanwire.memory import flow_malloc_conf_defaults

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="cleanwire: raw news scrapes -> clean, validated Parquet (Prefect + Great Expectations).")
# Messages are never wrapped at 80 columns when the output is a log or a pipe.
console = Console(stderr=True, soft_wrap=True)
out_console = Console(soft_wrap=True)

# Prefect's local API needs ~15 s to start on a small machine; its default timeout (20 s)
# fails a newcomer's first run. The console handler is quietened (logs still reach the API).
ENV_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
}


@app.callback()
def _root() -> None:
    """cleanwire: raw news scrapes -> clean, validated Parquet."""
    _env_defaults()  # for every command, before it imports Prefect or polars


def _env_defaults() -> None:
    for k, v in ENV_DEFAULTS.items():
        os.environ.setdefault(k, v)
    # The flow process gives freed memory back at once (cleanwire.memory says why): set before
    # polars is imported, and removed again before the parse workers start.
    if "polars" not in sys.modules:
        os.environ.update(flow_malloc_conf_defaults())


def _fail(msg: str, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {msg}", highlight=False)
    raise typer.Exit(code)


class _LocalApi:
    """Prefect's local API for this command: its URL exported at once, the server started in a thread.

    The URL is exported before this process imports Prefect (which reads its
    settings once, at import: else the flow would start a second API of its own),
    and so that worker processes (process pool, local Dask) report to this API
    instead of each starting a server of their own. Nothing happens when
    PREFECT_API_URL is already set (a server of the user's). A command that makes
    several runs (`eval` of several corpora) starts its API again for each, at the
    URL it exported first: the one Prefect read.
    """

    exported: str | None = None          # the URL this process exported, if it did

    def __init__(self):
        self.url: str | None = None
        self.error: str | None = None
        self._api = None                 # flows.local_api.LocalApi, once started
        self._thread: threading.Thread | None = None
        url = os.environ.get("PREFECT_API_URL")
        if url and url != _LocalApi.exported:
            return
        if not url:
            from flows.local_api import reserve

            url = _LocalApi.exported = os.environ["PREFECT_API_URL"] = reserve()
        self.url = url
        self._thread = threading.Thread(target=self._start, daemon=True)
        self._thread.start()

    def _start(self) -> None:
        from flows.local_api import start

        try:
            self._api = start(self.url)
        except Exception as e:  # noqa: BLE001 - reported in one line by wait()
            self.error = str(e)

    def stop(self) -> None:
        """Send the logs and events still buffered, then stop the API (else they go to a dead server)."""
        if self._api is None:
            return
        if "prefect" in sys.modules:
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=10)
            EventsWorker.drain_all(timeout=10)
        self._api.stop()
        self._api = None

    def wait(self) -> None:
        """Until the API answers; a CleanwireError (one line) when it could not start."""
        if self._thread is not None:
            self._thread.join()
        if self.error:
            from cleanwire.errors import CleanwireError

            raise CleanwireError(f"Prefect's local API did not start: {self.error}")


def _config(**kw):
    from pydantic import ValidationError

    from cleanwire.config import RunConfig

    try:
        return RunConfig(**{k: v for k, v in kw.items() if v is not None})
    except ValidationError as e:
        err = e.errors()[0]
        if not err.get("loc"):  # a rule between options: the message names them
            _fail(err["msg"].removeprefix("Value error, "))
        option = "--" + str(err["loc"][0]).replace("_", "-")
        _fail(f"bad option {option} {err.get('input')!r}: {err['msg']}")


@app.command()
def run(
    input: Path = typer.Option(Path("data/raw"), "--input", "-i", help="Folder of raw files (read recursively)."),
    output: Path = typer.Option(Path("data"), "--output", "-o", help="Folder for published/, quarantine/, reports/."),
    suites: Optional[Path] = typer.Option(None, help="Folder with articles.json and batch.json (default: expectations/)."),
    max_quarantined_share: Optional[float] = typer.Option(None, help="Override the batch gate's maximum quarantined share."),
    processes: Optional[int] = typer.Option(None, help="Worker processes of the default local pool (default: CPU count)."),
    batch_files: Optional[int] = typer.Option(None, help="Raw files per batch task, at most (default 4000)."),
    batch_mb: Optional[float] = typer.Option(
        None, help="About this many MB of raw bytes per batch task; a WARC archive bigger than this is read in "
                   "slices of its records, a task each (default 128)."),
    max_file_mb: Optional[float] = typer.Option(None, help="Size cap per raw file in MB (default 10)."),
    max_decompressed_mb: Optional[float] = typer.Option(
        None, help="Cap on what a compressed file (or an archive's record) decompresses to, in MB (default 100)."),
    dask_address: Optional[str] = typer.Option(None, help="Run batch tasks on this Dask scheduler (tcp://host:8786)."),
    workers: Optional[int] = typer.Option(None, help="Start a local Dask cluster with N workers for the batch tasks."),
    keep_versions: Optional[int] = typer.Option(None, help="Published versions kept for rollback (default 10)."),
    min_containment: Optional[float] = typer.Option(
        None, help="A duplicate has at least this share of its word 3-grams in the record it names (default 0.6)."),
    data_docs: bool = typer.Option(True, help="Render Great Expectations Data Docs (HTML) for the run."),
    alert_webhook: str | None = typer.Option(
        None, help="POST a JSON alert (Slack-compatible) here when the gate refuses, a batch expectation fails "
                   "or the run fails (default: $CLEANWIRE_ALERT_WEBHOOK)."),
    table_format: Optional[str] = typer.Option(
        None, help="parquet (versioned folders; the default for a local output) or delta (Delta tables; the "
                   "default, and the only choice, for an s3:// output). An existing output keeps its format."),
) -> None:
    """Run the news-etl flow once on Prefect's local API (no server needed).

    --input and --output take local folders or s3://bucket/prefix (endpoint and credentials from
    AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ALLOW_HTTP)."""
    cfg = _config(input=str(input), output=str(output), suites=str(suites) if suites else None,
                  max_quarantined_share=max_quarantined_share, processes=processes, workers=workers,
                  batch_files=batch_files, batch_mb=batch_mb, max_file_mb=max_file_mb,
                  max_decompressed_mb=max_decompressed_mb,
                  dask_address=dask_address,
                  keep_versions=keep_versions, min_containment=min_containment, data_docs=data_docs,
                  alert_webhook=alert_webhook, table_format=table_format)
    summary, ok = execute(cfg)
    print_summary(summary)
    if not ok:
        raise typer.Exit(1)


def execute(cfg) -> tuple:
    """Check the config, run the flow with a progress bar; (the run's RunSummary, whether it completed).

    A refused gate or a failed run still has a summary (its reports were written);
    anything that stops a run before that is reported in one line with its exit code.
    """
    from cleanwire.checks.gx import check_suites, start_suite_check
    from cleanwire.config import check_paths
    from cleanwire.errors import CleanwireError, GateRefused, OutputLocked
    from cleanwire.report.summary import latest_summary

    try:
        check_paths(cfg)
        if _locked(cfg.output_dir):
            raise OutputLocked(f"another cleanwire run (pid {_locked(cfg.output_dir)}) is writing to "
                               f"{cfg.output_dir}; wait for it to finish or use another --output")
        unchanged = _nothing_new(cfg)
        if unchanged is not None:
            return unchanged, True
        started = time.time()
        # Prefect's local API starts in a subprocess while another checks the suites (with Great
        # Expectations, kept out of this process until the checks need it): the slow start-up steps overlap.
        start_suite_check(cfg.suites_dir, cfg.max_quarantined_share)
        api = _LocalApi()
        try:
            with console.status("checking expectation suites"):
                check_suites(cfg.suites_dir, cfg.max_quarantined_share)
            state = _run_with_progress(cfg, api)
            if state.is_completed():
                from cleanwire.report.summary import RunSummary

                return RunSummary.from_dict(state.result()), True
            try:
                state.result()
            except GateRefused as e:
                why = str(e)
            except CleanwireError:
                raise
            except Exception as e:  # noqa: BLE001 - the flow's own error, shown in one line
                why = f"{type(e).__name__}: {e}"
            else:
                why = state.message or "flow run failed"
        finally:
            api.stop()
    except CleanwireError as e:
        _fail(str(e), e.exit_code)
    summary = latest_summary(cfg.output_dir)
    if summary and summary.started_at and _after(summary.started_at, started):
        console.print(f"[bold red]run failed:[/] {why}", highlight=False)
        return summary, False
    _fail(f"run failed: {why}", 1)


def _run_with_progress(cfg, api: _LocalApi):
    """The flow run, with a progress bar of its stages; its final state."""
    from cleanwire import progress

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        t_start = bar.add_task("starting Prefect's local API", total=None)
        api.wait()
        bar.update(t_start, description="running flow news-etl")
        stages: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            label = {"parse": "parsing files", "check": "checking (dedup + Great Expectations)",
                     "publish": "publishing"}.get(stage, stage)
            if stage not in stages:
                bar.update(t_start, visible=False)
                for tid in stages.values():
                    bar.update(tid, completed=bar.tasks[tid].total)
                stages[stage] = bar.add_task(label, total=total)
            bar.update(stages[stage], completed=done)

        progress.listen(on_progress)
        try:
            from flows.news_etl import news_etl

            return news_etl(config=cfg, return_state=True)
        finally:
            progress.forget(on_progress)


def _locked(out: Path) -> str | None:
    """The pid holding OUT_DIR's lock, if a run holds it now (checked before any start-up)."""
    from cleanwire.errors import OutputLocked
    from cleanwire.paths import Layout
    from cleanwire.publish.lock import output_lock

    if not Layout(out).lock.exists():
        return None
    try:
        with output_lock(out):
            return None
    except OutputLocked as e:
        return str(e).split("pid ")[1].split(")")[0] if "pid " in str(e) else "unknown"


def _nothing_new(cfg):
    """The summary of a run that would find nothing to do, or None.

    Checked by stat() alone against the current version's state, before any
    Prefect or Great Expectations start-up: a no-op rerun costs a directory walk.
    """
    if cfg.reprocess_quarantine:
        return None
    from cleanwire.ingest.discover import discover
    from cleanwire.paths import Layout
    from cleanwire.publish.store import open_store
    from cleanwire.publish.tables import seen_files
    from cleanwire.report.summary import FileCounts, RunSummary

    store = open_store(cfg.output_dir, cfg.table_format)
    if store.current_version() is None:
        return None
    found = discover(cfg.input_dir, seen_files(store))
    if found.to_process.height:
        return None
    if _sources_past_a_threshold(cfg, store):
        return None  # a source has gone quiet: the flow checks its freshness (and alerts) though nothing is new
    m = store.manifest(store.current_version())
    console.print(f"nothing new below {cfg.input_dir}: {found.unchanged} files unchanged since version "
                  f"{m['version']}; no run started.", highlight=False)
    layout = Layout(cfg.output_dir)
    return RunSummary("(none)", str(cfg.output_dir), input=str(cfg.input_dir), version=m["version"],
                      files=FileCounts(found=found.unchanged, unchanged=found.unchanged), issues={},
                      published_total=m.get("published_total"),
                      reports={"summary": str(layout.latest_summary), "data_docs": str(layout.data_docs / "index.html")})


def _sources_past_a_threshold(cfg, store) -> bool:
    """Whether a source's freshness could fail a batch expectation (no GX, no Prefect: a stat-only check)."""
    import datetime as dt

    from cleanwire.checks import freshness
    from cleanwire.checks.gx import BATCH_SUITE, read_suite_json
    from cleanwire.errors import SuiteError
    from cleanwire.report.metrics import read_history

    try:
        expectations = read_suite_json(cfg.suites_dir / BATCH_SUITE)["expectations"]
    except SuiteError:
        return True  # the flow's own suite check reports it
    history = read_history(store.out)
    fresh = freshness.measure(None, history, dt.datetime.now(dt.UTC),
                              freshness.retired_sources(cfg.input_dir, history))
    return freshness.could_fail(fresh, expectations)


def _after(iso: str, t: float) -> bool:
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(iso).timestamp() >= t - 5
    except ValueError:
        return False


def print_summary(s) -> None:
    t = Table(title=f"cleanwire run {s.run_id}", show_header=True, header_style="bold")
    t.add_column("")
    t.add_column("records", justify="right")
    t.add_row("files found", str(s.files.found))
    t.add_row("files processed", str(s.files.processed))
    t.add_row("files unchanged (skipped)", str(s.files.unchanged))
    t.add_row("records", str(s.records))
    t.add_row("[green]published[/]", str(s.published))
    t.add_row("[yellow]quarantined[/]", str(s.quarantined))
    for code, n in s.issues.items():
        if n:
            t.add_row(f"  {code}", str(n))
    out_console.print(t)
    if s.reasons:
        out_console.print("why: " + ", ".join(f"{r} {n}" for r, n in s.reasons.items()), highlight=False)
    if s.skipped_records:
        out_console.print("archive records skipped (no article): "
                          + ", ".join(f"{k} {n}" for k, n in s.skipped_records.items()), highlight=False)
    if not s.gate.ok:
        out_console.print("[bold red]batch gate refused the publish[/] (previous published version kept):")
        for g in s.gate.failures:
            out_console.print(f"  - {g['expectation']} (observed {g['observed']})", highlight=False)
    from cleanwire.storage import location

    out = location(s.output)  # a folder, or an s3:// prefix
    total = s.published_total if s.published_total is not None else s.published
    out_console.print(f"published:  {out / 'published/articles'}  (version {s.version}, {total} records in all)",
                      highlight=False)
    out_console.print(f"quarantine: {out / 'quarantine/articles'}", highlight=False)
    out_console.print(f"report:     {s.reports.get('html') or s.reports.get('summary', out / 'reports')}",
                      highlight=False)
    if s.reports.get("data_docs"):
        out_console.print(f"data docs:  {s.reports['data_docs']}", highlight=False)


def _absolute(p: Path) -> str:
    """A local path made absolute (a deployment runs from anywhere); an s3:// URL as it is."""
    from cleanwire.storage import is_url, location

    return str(location(p)) if is_url(p) else str(Path(p).resolve())


def _server_url() -> str:
    """The Prefect server to talk to, or a clear error when there is none."""
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        try:
            from prefect.settings import PREFECT_API_URL

            url = PREFECT_API_URL.value()
        except Exception:  # noqa: BLE001
            url = None
    if not url:
        _fail("no Prefect server: start one with `prefect server start` and set "
              "PREFECT_API_URL=http://127.0.0.1:4200/api (or `prefect config set PREFECT_API_URL=...`)")
    import urllib.request

    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=10) as r:
            r.read()
    except Exception as e:  # noqa: BLE001
        _fail(f"the Prefect server at {url} does not answer ({e}); is `prefect server start` running?")
    return url


@app.command()
def serve(
    input: Path = typer.Option(Path("data/raw"), "--input", "-i", help="Landing folder of raw files."),
    output: Path = typer.Option(Path("data"), "--output", "-o", help="Output folder."),
    cron: str = typer.Option("0 * * * *", help="Cron schedule of the runs."),
    timezone: str = typer.Option("UTC", help="Time zone of the cron schedule (IANA name)."),
    every: Optional[float] = typer.Option(None, help="Instead of cron: run every N seconds."),
    max_quarantined_share: Optional[float] = typer.Option(None, help="Batch gate's maximum quarantined share."),
    processes: Optional[int] = typer.Option(None, help="Worker processes of the local pool per run."),
    workers: Optional[int] = typer.Option(None, help="Start a local Dask cluster with N workers per run."),
    dask_address: Optional[str] = typer.Option(None, help="Run batch tasks on this Dask scheduler."),
    alert_webhook: str | None = typer.Option(
        None, help="Alert webhook of the runs, stored in the deployment's parameters (or set "
                   "$CLEANWIRE_ALERT_WEBHOOK where the runs execute, to keep it out of them)."),
    notify_block: str | None = typer.Option(
        None, help="Also create a Prefect automation that sends this notification block (TYPE/NAME, e.g. "
                   "slack-webhook/ops) when a news-etl run fails."),
    table_format: Optional[str] = typer.Option(None, help="parquet or delta (see `cleanwire run --help`)."),
) -> None:
    """Serve the `news-etl/scheduled` deployment on the server at PREFECT_API_URL (runs until stopped)."""
    url = _server_url()
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron, timezone=timezone)
    except Exception as e:  # noqa: BLE001 - pydantic names the bad field
        why = next((ln.split("Value error, ")[1].split(" [type")[0] for ln in str(e).splitlines()
                    if "Value error, " in ln), str(e).splitlines()[0])
        _fail(f"bad schedule: {why}")
    cfg = _config(input=_absolute(input), output=_absolute(output), table_format=table_format,
                  max_quarantined_share=max_quarantined_share, processes=processes, workers=workers,
                  dask_address=dask_address, alert_webhook=alert_webhook)
    from cleanwire.config import check_paths
    from cleanwire.errors import ConfigError

    try:
        check_paths(cfg)
    except ConfigError as e:
        _fail(str(e), e.exit_code)
    from flows.deploy import FULL_NAME, serve_scheduled

    if notify_block:
        from flows.deploy import FAILED_RUN_AUTOMATION, ensure_failed_run_automation

        try:
            ensure_failed_run_automation(notify_block)
        except Exception as e:  # noqa: BLE001 - no such block, bad name: one line
            _fail(f"cannot create the automation with notification block {notify_block!r}: {type(e).__name__}: {e}")
        console.print(f"automation '{FAILED_RUN_AUTOMATION}': a failed news-etl run sends {notify_block}",
                      highlight=False)
    when = f"every {every:g} s" if every else f"cron '{cron}' ({timezone})"
    console.print(f"serving [bold]{FULL_NAME}[/] on {url}: {when}, {cfg.input} -> {cfg.output}. "
                  "Trigger a run with `cleanwire trigger`; stop with Ctrl-C.", highlight=False)
    serve_scheduled(cfg, cron, timezone, every)


@app.command()
def trigger(
    input: Optional[Path] = typer.Option(None, "--input", "-i", help="Override the deployment's input folder."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Override the deployment's output folder."),
    max_quarantined_share: Optional[float] = typer.Option(None, help="Override the gate's maximum quarantined share."),
    timeout: float = typer.Option(3600, help="Seconds to wait for the run to finish."),
) -> None:
    """Start a run of `news-etl/scheduled` on the server and wait for its result."""
    url = _server_url()
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    from flows.deploy import FULL_NAME

    async def _params() -> dict:
        async with get_client() as client:
            dep = await client.read_deployment_by_name(FULL_NAME)
            return dict(dep.parameters or {})

    try:
        params = asyncio.run(_params())
    except Exception as e:  # noqa: BLE001
        _fail(f"no deployment {FULL_NAME} on {url} ({type(e).__name__}); start `cleanwire serve` first")
    config = dict(params.get("config") or {})
    for key, value in (("input", input), ("output", output), ("max_quarantined_share", max_quarantined_share)):
        if value is not None:
            config[key] = _absolute(value) if isinstance(value, Path) else value
    console.print(f"triggered {FULL_NAME} on {url}; waiting for the run...", highlight=False)
    run = run_deployment(FULL_NAME, parameters={"config": config}, timeout=timeout, poll_interval=2)
    state = run.state
    name = state.type.value if state else "UNKNOWN"
    out_console.print(f"flow run {run.name} ({run.id}): {name}"
                      + (f" - {state.message}" if state and state.message and name != "COMPLETED" else ""),
                      highlight=False)
    if not state or not state.is_completed():
        raise typer.Exit(1)


@app.command()
def history(output: Path = typer.Option(Path("data"), "--output", "-o", help="Output folder.")) -> None:
    """List the published versions of OUT_DIR with their counts (the current one marked)."""
    from cleanwire.errors import CleanwireError
    from cleanwire.publish.store import open_store
    from cleanwire.storage import location

    output = location(output)  # a folder, or an s3:// prefix
    try:
        rows = open_store(output).history()
    except CleanwireError as e:
        _fail(str(e), e.exit_code)
    if not rows:
        _fail(f"{output} holds no published version yet", 1)
    t = Table(title=f"versions of {output}", header_style="bold")
    for col in ("", "version", "created (UTC)", "run", "gate", "published", "quarantined", "files"):
        t.add_column(col, justify="right" if col in ("version", "published", "quarantined", "files") else "left")
    for m in rows:
        t.add_row("*" if m["current"] else "", str(m["version"]), m["created_at"][:19], m.get("run_id", ""),
                  "ok" if m.get("gate_ok", True) else "refused", str(m.get("published_total", "")),
                  str(m.get("quarantined_total", "")), str(m.get("files_processed", "")))
    out_console.print(t)


@app.command()
def rollback(
    output: Path = typer.Option(Path("data"), "--output", "-o", help="Output folder."),
    to: Optional[int] = typer.Option(None, "--to", help="Version to restore (default: the one before the current)."),
) -> None:
    """Make the previous published version current again, atomically."""
    from cleanwire.errors import CleanwireError
    from cleanwire.publish.lock import output_lock
    from cleanwire.publish.store import open_store
    from cleanwire.storage import location

    output = location(output)  # a folder, or an s3:// prefix
    try:
        store = open_store(output)
        with output_lock(output):
            before = store.current_version()
            now = store.rollback(to)
    except CleanwireError as e:
        _fail(str(e), e.exit_code)
    # A Delta output restores its tables in a new version (Delta's history keeps every version).
    restored = f" (restored as version {store.current_version()})" if store.table_format == "delta" else ""
    out_console.print(f"{output}: version {before} -> {now} (current){restored}. The next run continues from it; "
                      "files processed after it are processed again.", highlight=False)


@app.command("reprocess-quarantine")
def reprocess_quarantine(
    input: Path = typer.Option(Path("data/raw"), "--input", "-i", help="Folder of raw files."),
    output: Path = typer.Option(Path("data"), "--output", "-o", help="Output folder."),
    suites: Optional[Path] = typer.Option(None, help="Folder with articles.json and batch.json."),
    max_quarantined_share: Optional[float] = typer.Option(None, help="Override the gate's maximum quarantined share."),
) -> None:
    """Run the checks again on the quarantined records (after the rules or thresholds changed);
    those that now pass are published."""
    cfg = _config(input=str(input), output=str(output), suites=str(suites) if suites else None,
                  max_quarantined_share=max_quarantined_share, reprocess_quarantine=True)
    summary, ok = execute(cfg)
    print_summary(summary)
    if not ok:
        raise typer.Exit(1)


@app.command()
def report(output: Path = typer.Argument(Path("data"), help="The output folder of cleanwire run.")) -> None:
    """Print the latest run's summary and where its HTML report is."""
    from cleanwire.report.summary import latest_summary

    s = latest_summary(output)
    if s is None:
        _fail(f"no run report in {output / 'reports'} (has `cleanwire run --output {output}` run yet?)", 1)
    print_summary(s)
    if s.stage_seconds:
        out_console.print("stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in s.stage_seconds.items()), highlight=False)
    if s.reports.get("latest_html"):
        out_console.print(f"HTML report: {s.reports['latest_html']}", highlight=False)


@app.command("eval")
def eval_(
    labels: list[Path] = typer.Option(..., "--labels", "-l",
                                      help="Labels (JSON Lines, one object per source_path); repeat for several corpora."),
    input: Optional[Path] = typer.Option(None, "--input", "-i",
                                         help="Raw files to run the job on (one --labels only; default: raw/ beside the labels)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Where the job writes (one --labels only; default: a new temporary folder)."),
    skip_run: bool = typer.Option(False, "--skip-run", help="Score an existing --output without running the job."),
    errors: int = typer.Option(0, "--errors", help="Also list up to N examples of each kind of error."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the metrics as JSON to this file."),
    suites: Optional[Path] = typer.Option(None, help="Folder with articles.json and batch.json (default: expectations/)."),
) -> None:
    """Run the job on labelled corpora and print the quality metrics (macro-F1, purity, recall, fields);
    with several --labels, each corpus's and their macro average."""
    import json
    import tempfile

    from cleanwire.evaluate.score import average, evaluate, format_report, format_table, load_labels, read_output

    if len(labels) > 1 and (input or output or skip_run):
        _fail("--input, --output and --skip-run go with one --labels: each corpus runs on the raw/ beside its labels")
    results = {}
    for path in labels:
        try:
            truth = load_labels(path)
        except ValueError as e:
            _fail(str(e))
        out = output or Path(tempfile.mkdtemp(prefix="cleanwire-eval-"))
        if not skip_run:
            raw = input or path.resolve().parent / "raw"
            # The gate is about publishing; an evaluation scores every record's decision.
            execute(_config(input=str(raw), output=str(out), suites=str(suites) if suites else None,
                            max_quarantined_share=1.0, data_docs=False))
        problems: list[str] = []
        try:
            frame = read_output(out, problems)
        except ValueError as e:
            _fail(str(e))
        results[str(path)] = result = evaluate(truth, frame, problems)
        if len(labels) > 1:
            print(f"\n######## {path}", flush=True)
        print(format_report(result, errors), flush=True)  # plain text: never wrapped, easy to grep
        console.print(f"output scored: {out}", highlight=False)
    if len(labels) > 1:
        print("\n" + format_table(results), flush=True)
    if json_path:
        data = {k: r.to_dict() for k, r in results.items()}
        if len(labels) > 1:
            data["average"] = average(list(results.values()))
        json_path.write_text(json.dumps(data if len(labels) > 1 else next(iter(data.values())), indent=1, default=str))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
