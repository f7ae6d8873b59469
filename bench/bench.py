"""Benchmark cleanwire against the floor of its I/O, at N documents.

    python bench/bench.py --n 100000 [--repeat 3] [--html-share 0.1] [--processes 2 | --workers 2]
                          [--table-format delta] [--keep]

1. makes (or reuses) a corpus of N records with a news feed's structure (bench/make_corpus.py:
   shared ledes and paragraphs, true copies, stories syndicated by the hundred, defects;
   `--html-share`: that share of the single-record files as HTML pages);
2. parse stage: CPU milliseconds per record of `process_batch` (one worker's whole job: read,
   decode, parse, features, signatures, write) on 2,000-record corpora of each format apart
   (text dumps, JSON Lines, HTML pages), median of 3, in a fresh process each;
3. (a) floor: reads every raw file's bytes and writes them as one Parquet column with polars;
4. (b) `cleanwire run` on the same files into a fresh output, as a subprocess (`--repeat` times:
   the median run is reported);
5. (b') the same command again: a no-op rerun (nothing new to process).

For each it prints wall time, docs/s and peak RSS (the sum over the run's process
tree: the CLI, the Prefect local API and the worker processes, sampled every 0.2 s),
and the ratio (b)/(a). The fixed start-up of Prefect's local API and of Great
Expectations is reported apart: it is the run's wall time minus the pipeline
time the flow measures itself (`stage_seconds` in the run summary).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_corpus import generate  # noqa: E402


def tree_rss(pid: int) -> dict[int, int]:
    """Resident memory (bytes) of a process and each of its descendants."""
    out: dict[int, int] = {}
    stack = [pid]
    while stack:
        p = stack.pop()
        if p in out:
            continue
        try:
            with open(f"/proc/{p}/statm") as fh:
                out[p] = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{p}/task"):  # children of every thread (pools spawn from threads)
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
            continue
    return out


def _role(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    if "uvicorn" in cmd or "prefect.server" in cmd:
        return "Prefect API"
    if "spawn_main" in cmd or "multiprocessing" in cmd:
        return "worker"
    return "cleanwire (flow)"


PEAKS: dict[str, int] = {}  # role -> peak RSS of one process of that role, over the last command
LAUNCHED = [0.0]            # when the last command was launched (epoch seconds)


def first_batch_after(summary: dict, launched: float) -> float | None:
    """Seconds from the command's launch to its first batch task's start (the run's start-up)."""
    import datetime as dt

    r = summary.get("runner", {})
    if "first_batch_started" not in r or "started_at" not in summary:
        return None
    return dt.datetime.fromisoformat(summary["started_at"]).timestamp() + r["first_batch_started"] - launched


def run_measured(cmd: list[str], env: dict, trace: Path | None = None) -> tuple[float, int, int, str]:
    """(seconds, peak tree RSS in bytes, exit code, stderr) of a command."""
    t0 = time.perf_counter()
    LAUNCHED[0] = time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()
    PEAKS.clear()
    roles: dict[int, str] = {}

    lines = ["seconds,tree_mb,flow_mb,api_mb,workers_mb"]

    def sample():
        nonlocal peak
        while not stop.is_set():
            rss = tree_rss(proc.pid)
            peak = max(peak, sum(rss.values()))
            by_role: dict[str, int] = {}
            for p, r in rss.items():
                role = roles.setdefault(p, _role(p))
                PEAKS[role] = max(PEAKS.get(role, 0), r)
                by_role[role] = by_role.get(role, 0) + r
            if trace is not None:
                mb = [sum(rss.values())] + [by_role.get(k, 0) for k in ("cleanwire (flow)", "Prefect API", "worker")]
                lines.append(f"{time.perf_counter() - t0:.1f}," + ",".join(str(v // 2**20) for v in mb))
            stop.wait(0.05)  # every 50 ms: the checks' transient peaks last a fraction of a second

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, err = proc.communicate()
    stop.set()
    th.join()
    if trace is not None:
        trace.write_text("\n".join(lines) + "\n")
    if proc.returncode not in (0, 1):
        print(err[-3000:], file=sys.stderr)
    return time.perf_counter() - t0, peak, proc.returncode, err


def floor(raw: Path, out: Path) -> tuple[float, int]:
    """(a): read every file's bytes, write them as one Parquet column."""
    code = (
        "import os, sys, polars as pl\n"
        "paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs)\n"
        "data = []\n"
        "for p in paths:\n"
        "    with open(p, 'rb') as fh: data.append(fh.read())\n"
        "pl.DataFrame({'path': paths, 'raw': data}).write_parquet(sys.argv[2])\n"
    )
    secs, peak, _, _ = run_measured([sys.executable, "-c", code, str(raw), str(out)], dict(os.environ))
    return secs, peak


PARSE_SAMPLE = 2000   # records of each format the parse stage is measured on
# (jsonl_files, html_share) of a corpus of one format (make_corpus.generate)
FORMAT_CORPORA = {"text dumps": (0.0, 0.0), "JSON Lines": (1.0, 0.0), "HTML pages": (0.0, 1.0)}
_PARSE_CPU = """
import os, statistics, sys, tempfile, time
from cleanwire.ingest.batch import process_batch
from cleanwire.ingest.discover import file_refs, walk
refs = file_refs(walk(sys.argv[1]))
process_batch(refs[:100], tempfile.mkdtemp(), 0, "warm-up", 10**7)   # imports, compiled patterns
runs = []
for _ in range(3):
    cpu = time.process_time()
    r = process_batch(refs, tempfile.mkdtemp(), 1, "bench", 10**7)
    runs.append((time.process_time() - cpu) / r.n_records * 1000)
print(statistics.median(runs))
"""


def parse_stage(folder: Path) -> dict[str, float]:
    """CPU ms per record of the parse stage, for each format apart (median of 3)."""
    out = {}
    for name, (jsonl_files, html_share) in FORMAT_CORPORA.items():
        raw = folder / f"parse-{name.split()[0].lower()}-{PARSE_SAMPLE}"
        if not raw.is_dir():
            generate(PARSE_SAMPLE, raw, seed=7, jsonl_files=jsonl_files, html_share=html_share)
        env = {**os.environ, "POLARS_MAX_THREADS": "1"}  # as the flow sets it for its workers
        done = subprocess.run([sys.executable, "-c", _PARSE_CPU, str(raw)], env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"parse stage on {raw} failed:\n{done.stderr[-2000:]}")
        out[name] = float(done.stdout.split()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--processes", type=int, default=None, help="size of the default process pool")
    ap.add_argument("--workers", type=int, default=None, help="run on a new local Dask cluster of N workers")
    ap.add_argument("--dir", type=Path, default=HERE / "out")
    ap.add_argument("--keep", action="store_true", help="keep the output folders")
    ap.add_argument("--trace", type=Path, default=None,
                    help="write the run's resident memory over time (CSV, MiB by role) to this file")
    ap.add_argument("--repeat", type=int, default=1, help="full runs to make; the median one is reported")
    ap.add_argument("--html-share", type=float, default=0.0,
                    help="share of the corpus's single-record files written as HTML pages")
    ap.add_argument("--table-format", choices=["parquet", "delta"], default=None,
                    help="the output's table format (cleanwire run --table-format; default: parquet)")
    ap.add_argument("--no-parse-stage", action="store_true", help="skip the per-format parse stage measurement")
    ap.add_argument("--dupcheck", action="store_true",
                    help="also check every duplicate against the record it names, and the clean stories published "
                         "(bench/dupcheck.py; a few minutes at 1M)")
    a = ap.parse_args()
    raw = a.dir / (f"raw-{a.n}" if not a.html_share else f"raw-{a.n}-html{a.html_share:g}")
    if not raw.is_dir():
        t = time.perf_counter()
        made = generate(a.n, raw, html_share=a.html_share)
        print(f"corpus: {made['records']} records in {made['files']} files ({time.perf_counter() - t:.1f} s)")
    n_docs = a.n
    out = a.dir / f"out-{a.n}"
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ)
    env.setdefault("PREFECT_HOME", str(a.dir / "prefect-home"))
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    cli = [sys.executable, "-m", "cleanwire.cli", "run", "--input", str(raw), "--output", str(out),
           "--max-quarantined-share", "1"]
    if a.processes:
        cli += ["--processes", str(a.processes)]
    if a.workers:
        cli += ["--workers", str(a.workers)]
    if a.table_format:
        cli += ["--table-format", a.table_format]

    parse_cpu = {} if a.no_parse_stage else parse_stage(a.dir)
    fa, ra = floor(raw, a.dir / f"floor-{a.n}.parquet")
    runs = []
    for k in range(max(1, a.repeat)):
        shutil.rmtree(out, ignore_errors=True)
        fb, rb, code, _ = run_measured(cli, env, a.trace)
        summary = json.loads((out / "reports" / "summary.json").read_text())
        stages = summary.get("stage_seconds", {})
        summary["_first_batch_after"] = first_batch_after(summary, LAUNCHED[0])
        runs.append((fb, rb, code, summary, stages, sum(stages.values()) or summary.get("seconds", fb), dict(PEAKS)))
        if a.repeat > 1:
            print(f"run {k + 1}: {fb:.1f} s wall, {runs[-1][5]:.1f} s without start-up")
    fb, rb, code, summary, stages, pipeline, run_peaks = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    fc, rc, _, rerun_err = run_measured(cli, env)
    noop = "nothing new" in rerun_err

    rows = [
        ("(a) floor: read + write one Parquet column", fa, ra, n_docs / fa),
        ("(b) cleanwire run (wall)", fb, rb, n_docs / fb),
        ("(b) pipeline, without start-up", pipeline, rb, n_docs / pipeline),
        ("(b') no-op rerun (wall)", fc, rc, None),
    ]
    if parse_cpu:
        print(f"parse stage, CPU ms per record ({PARSE_SAMPLE} records of each format, median of 3): "
              + ", ".join(f"{k} {v:.3f} ({1000 / v:.0f} records/s per core)" for k, v in parse_cpu.items()))
    print(f"\nN = {n_docs} records, {summary['files']['found']} files; exit code {code}; "
          f"published {summary['published']}, quarantined {summary['quarantined']}")
    print(f"{'':46} {'seconds':>9} {'peak RSS':>10} {'docs/s':>9}")
    for name, secs, rss, rate in rows:
        print(f"{name:46} {secs:9.1f} {rss / 2**20:7.0f}MiB {'' if rate is None else f'{rate:9.0f}'}")
    print("peak RSS of one process, by role: " + ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in run_peaks.items()))
    if summary.get("_first_batch_after") is not None:
        print(f"from the command to its first batch task: {summary['_first_batch_after']:.1f} s")
    print(f"start-up (Prefect local API, GX import, process spawn): {fb - pipeline:.1f} s; of it, "
          + ", ".join(f"{k} {v:.1f} s" for k, v in summary.get("startup_seconds", {}).items()))
    print("stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in stages.items()))
    r = summary.get("runner", {})
    if "batch_cpu_seconds" in r:
        print(f"parse stage: {r['batches']} batch tasks on {r['where']}; first started at {r['first_batch_started']}s, "
              f"last ended at {r['last_batch_ended']}s; batches took {r['batch_seconds']}s of wall "
              f"and {r['batch_cpu_seconds']}s of CPU in all")
    print("flow process peak RSS after each stage: "
          + ", ".join(f"{k} {v} MiB" for k, v in summary.get("stage_peak_rss_mb", {}).items()))
    print(f"ratio (b)/(a), pipeline: {pipeline / fa:.2f}   (wall: {fb / fa:.2f})")
    print(f"no-op rerun / full run (wall): {fc / fb:.1%}; "
          + ("the rerun found nothing new and started no flow run" if noop else "the rerun ran the flow"))
    if a.dupcheck:
        from dupcheck import near_copy_report

        d = near_copy_report(out, raw.parent / f"{raw.name}.labels.jsonl")
        print(f"duplicates: {d['duplicates']} held, {d['near_copy_share']:.2%} of them copies of the record they "
              f"name; clean stories published: {d['clean_published']}/{d['clean_stories']} "
              f"({d['clean_published_share']:.2%}); duplicate groups: {summary.get('duplicate_groups')}")
    if not a.keep:
        shutil.rmtree(out, ignore_errors=True)
        (a.dir / f"floor-{a.n}.parquet").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
