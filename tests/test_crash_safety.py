"""Crashes, concurrent runs and a full disk never corrupt the published dataset, and never lose a file.

* SIGKILL of `cleanwire run` (a subprocess, its whole process group: the
  worker processes die too) at several points: while parsing, while the new
  version is being built, with a half-written quarantine file in the build,
  with the new version sealed but not yet current, and right after the switch.
  After each kill the dataset a reader sees is the previous one (or, after the
  switch, the complete new one), every file of it reads, the lock is free, and
  the next run completes and accounts for every file exactly once.
* Two runs on one output at once: the second refuses in one line, exit 1,
  and touches nothing.
* The disk fills up while publishing: the run fails loudly, the old dataset
  stays current and readable, and the next run (with space) publishes.

The exact points inside a publish are reached with a small hook (a wrapper
around `cleanwire.cli.main`) that pauses the real run there until the test
kills it; the kill itself is always an external SIGKILL.
"""
from __future__ import annotations

import errno
import fcntl
import glob
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

import helpers as h

STABLE = ["article_id", "source_path", "title", "published_date", "body", "word_count", "duplicate_of", "issues"]

# Runs `cleanwire run ARGS` after patching one step of the store to pause there (marker file written)
# until CW_RESUME appears (or forever, until the test kills the process group).
HOOK = h.PAUSE_HOOK + r"""
from cleanwire.publish import store
if point == "quarantine-half-written":
    _flush = store.TableWriter._flush
    def flush(self, pdir, plan):
        _flush(self, pdir, plan)
        if self.spec.rel.startswith("quarantine"):
            pause(point)  # the quarantine part file is open, rows written, no footer yet
    store.TableWriter._flush = flush
elif point == "version-sealed":
    _switch = store.Store._switch
    def switch(self, v):
        pause(point)  # versions/vNNNNNN is complete and renamed into place; `current` not switched yet
        _switch(self, v)
    store.Store._switch = switch
elif point == "current-switched":
    _links = store.Store._ensure_links
    def links(self):
        pause(point)  # `current` points at the new version; links, pruning and reports not done yet
        _links(self)
    store.Store._ensure_links = links
elif point == "publish-begun":
    _begin = store.Store.begin
    def begin(self):
        res = _begin(self)
        pause(point)  # the lock is held and versions/vNNNNNN.tmp exists
        return res
    store.Store.begin = begin
else:
    raise SystemExit(f"unknown point {point}")
sys.argv = ["cleanwire", *sys.argv[1:]]
from cleanwire.cli import main
main()
"""


class Run:
    """A `cleanwire run` subprocess in its own process group (so its workers can be killed with it)."""

    started: list["Run"] = []

    def __init__(self, args: list[str], log_dir: Path, name: str, hook: dict | None = None):
        log_dir.mkdir(parents=True, exist_ok=True)
        self.out_path, self.err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
        self._out, self._err = open(self.out_path, "w"), open(self.err_path, "w")
        env = h.cli_env(**(hook or {}))
        cmd = [sys.executable, "-c", HOOK, *args] if hook else [str(h.CLI_PATH), *args]
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=self._err, env=env, start_new_session=True)
        Run.started.append(self)

    def wait_for(self, check, timeout: float = 180, every: float = 0.002) -> bool:
        """Poll `check()` until true (True), or until the process exits or time runs out (False)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if check():
                return True
            if self.proc.poll() is not None:
                return bool(check())
            time.sleep(every)
        return False

    def kill(self) -> None:
        """SIGKILL the process group (the run and its worker processes) while its leader is not reaped."""
        if self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(30)
        self._close()

    def finish(self, timeout: float = 240) -> int:
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.kill()
        self._close()
        return rc

    def _close(self):
        for fh in (self._out, self._err):
            if not fh.closed:
                fh.close()

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()


@pytest.fixture(scope="module", autouse=True)
def _no_run_left_behind():
    yield
    for r in Run.started:
        if r.proc.poll() is None:
            r.kill()
    Run.started.clear()


def _run_args(raw: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--input", str(raw), "--output", str(out), *extra]


def _rows(out: Path, name: str) -> pl.DataFrame:
    return h.read_dataset(out, name).select(STABLE).sort("source_path")


def _snapshot(out: Path) -> dict:
    return {"target": h.current_target(out), "published": _rows(out, "published"),
            "quarantine": _rows(out, "quarantine"),
            "files": (h.dataset_files(out, "published"), h.dataset_files(out, "quarantine"))}


def _every_file_reads(out: Path) -> int:
    """Open every Parquet file a reader of the contract's globs would open; return the row count."""
    rows = 0
    for name in ("published", "quarantine"):
        for f in glob.glob(h.dataset_pattern(out, name), recursive=True):
            rows += pq.ParquetFile(f).read().num_rows
    return rows


def _lock_is_free(out: Path) -> bool:
    fd = os.open(out / ".cleanwire" / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _sealed_versions(out: Path) -> list[str]:
    return sorted(p.name for p in (out / ".cleanwire" / "versions").iterdir() if (p / "manifest.json").is_file())


def _write_generated(raw: Path, seeds) -> list[str]:
    """Small articles under gen/: three in four clean, one in four without a date."""
    names = []
    for s in seeds:
        a = h.make_article(s, n_paragraphs=2)
        name = f"gen/{s % 7}/g_{s:05d}.txt"
        h.write(raw, name, h.clean_dump(a, date=(s % 4 != 0)))
        names.append(name)
    return names


def _check_accounted(out: Path, expected: set[str]) -> None:
    recs = h.all_records(out)
    seen = Counter(recs["source_path"].to_list())
    dupes = {p: n for p, n in seen.items() if n > 1}
    assert not dupes, f"duplicate source_path: {list(dupes.items())[:5]}"
    lost = expected - set(seen)
    assert not lost, f"{len(lost)} files lost, e.g. {sorted(lost)[:5]}"
    assert set(seen) == expected, f"records of no input: {sorted(set(seen) - expected)[:5]}"


# ------------------------------------------------------------------ the crash scenario

KILL_POINTS = ["parsing", "publish-begun", "quarantine-half-written", "version-sealed", "current-switched"]
N_GENERATED = 300


def _published_baseline(run_etl, raw: Path, out: Path, base_ids, generated_ids) -> tuple[set[str], dict]:
    """A first run publishes clean `base_ids`; then the `generated_ids` files land for the run under test.

    Returns the source paths every later run must account for, and the snapshot of the first run.
    """
    expected = set(h.write_clean_articles(raw, base_ids, prefix="base"))
    state = run_etl(raw, out)
    assert state.is_completed(), state.message
    baseline = _snapshot(out)
    expected |= set(_write_generated(raw, generated_ids))
    return expected, baseline


@pytest.fixture(scope="module")
def crash_scenario(run_etl, prefect_api, tmp_path_factory):
    """baseline -> 4 kills that must leave the baseline -> a complete run -> a kill after the switch -> a rerun.

    Returns what was observed at each step; the tests below assert on it.
    """
    base = tmp_path_factory.mktemp("crash")
    raw, out, logs = base / "raw", base / "out", base / "logs"
    expected, baseline = _published_baseline(run_etl, raw, out, range(700, 710), range(10_000, 10_000 + N_GENERATED))
    obs: dict[str, dict] = {}
    common = ("--batch-files", "50", "--max-quarantined-share", "1.0")

    def after_kill(point: str, run: Run, reached: bool) -> None:
        run.kill()
        work_dirs = sorted(p.name for p in (out / ".cleanwire" / "work").glob("*")) \
            if (out / ".cleanwire" / "work").is_dir() else []
        obs[point] = {"reached": reached, "exit": run.proc.returncode, "stderr": run.stderr[-3000:],
                      "snapshot": _snapshot(out), "rows_read": _every_file_reads(out),
                      "lock_free": _lock_is_free(out), "lock_holder": (out / ".cleanwire" / "lock").read_text(),
                      "pid": run.proc.pid, "work_dirs": work_dirs, "sealed": _sealed_versions(out),
                      "tmp_versions": sorted(p.name for p in (out / ".cleanwire" / "versions").glob("*.tmp"))}

    # 1. while parsing: the first batch file of the run is in the work dir (process-pool workers running)
    run = Run(_run_args(raw, out, *common), logs, "parsing")
    reached = run.wait_for(lambda: bool(glob.glob(str(out / ".cleanwire" / "work" / "*" / "batch-*.parquet"))))
    after_kill("parsing", run, reached)

    # 2. while publishing: the new version's build folder exists (found by polling, no hook)
    run = Run(_run_args(raw, out, *common, "--processes", "1"), logs, "publish-begun")
    reached = run.wait_for(lambda: bool(glob.glob(str(out / ".cleanwire" / "versions" / "*.tmp"))), every=0.001)
    after_kill("publish-begun", run, reached)

    # 3.-4. inside the publish, paused by the hook, then killed from outside
    for point in ("quarantine-half-written", "version-sealed"):
        marker = logs / f"{point}.marker"
        run = Run(_run_args(raw, out, *common, "--processes", "1"), logs, point,
                  hook={"CW_POINT": point, "CW_MARKER": str(marker)})
        after_kill(point, run, run.wait_for(marker.exists, every=0.02))

    # 5. a normal run: the lock is free, the leftovers are ignored, everything is published once
    run = Run(_run_args(raw, out, *common, "--processes", "1"), logs, "complete")
    rc = run.finish()
    obs["complete"] = {"exit": rc, "stdout": run.stdout, "stderr": run.stderr[-3000:], "snapshot": _snapshot(out),
                       "expected": set(expected), "rows_read": _every_file_reads(out),
                       "work_dirs": sorted(p.name for p in (out / ".cleanwire" / "work").glob("*")),
                       "tmp_versions": sorted(p.name for p in (out / ".cleanwire" / "versions").glob("*.tmp"))}
    _check_accounted(out, expected)  # (asserted again in the tests; fail early if the scenario is broken)

    # 6. new files; killed right after `current` switched to the version holding them
    expected |= set(_write_generated(raw, range(20_000, 20_025)))
    marker = logs / "current-switched.marker"
    run = Run(_run_args(raw, out, *common, "--processes", "1"), logs, "current-switched",
              hook={"CW_POINT": "current-switched", "CW_MARKER": str(marker)})
    after_kill("current-switched", run, run.wait_for(marker.exists, every=0.02))
    obs["current-switched"]["expected"] = set(expected)

    # 7. the next run finds nothing new and leaves the dataset as it is
    before = _snapshot(out)
    run = Run(_run_args(raw, out, *common), logs, "rerun")
    rc = run.finish()
    obs["rerun"] = {"exit": rc, "stdout": run.stdout, "stderr": run.stderr, "before": before,
                    "snapshot": _snapshot(out), "expected": set(expected)}
    return {"out": out, "raw": raw, "baseline": baseline, "obs": obs}


@pytest.mark.parametrize("point", KILL_POINTS[:4])
def test_kill_leaves_the_previous_dataset_in_place(crash_scenario, point):
    o = crash_scenario["obs"][point]
    base = crash_scenario["baseline"]
    assert o["reached"], f"the run ended before reaching '{point}' (exit {o['exit']}): {o['stderr']}"
    assert o["exit"] == -signal.SIGKILL
    snap = o["snapshot"]
    assert snap["target"] == base["target"], f"after a kill at '{point}' `current` moved to {snap['target']}"
    assert snap["published"].equals(base["published"]), f"published changed after a kill at '{point}'"
    assert snap["quarantine"].equals(base["quarantine"]), f"quarantine changed after a kill at '{point}'"
    assert snap["files"] == base["files"], "the files a reader sees changed"
    assert o["rows_read"] == base["published"].height + base["quarantine"].height


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_leaves_no_lock_behind(crash_scenario, point):
    o = crash_scenario["obs"][point]
    assert o["reached"], point
    assert o["lock_free"], f"the lock is still held after the run was killed at '{point}'"
    # the killed run did hold the lock (its pid is in the lock file): the next run meets a stale lock file
    assert o["lock_holder"].strip() == str(o["pid"]), o["lock_holder"]


def test_kill_points_left_what_they_should(crash_scenario):
    """The kills really happened where they were meant to (so the tests above test something)."""
    obs = crash_scenario["obs"]
    assert obs["parsing"]["work_dirs"], "killed while parsing, but no work dir"
    assert obs["publish-begun"]["tmp_versions"], "killed while publishing, but no version build folder"
    half = obs["quarantine-half-written"]["tmp_versions"]
    assert half, "killed while writing quarantine, but no version build folder"
    # the build renamed into place (sealed, with its manifest) but never made current
    before, after = obs["quarantine-half-written"]["sealed"], obs["version-sealed"]["sealed"]
    assert len(after) == len(before) + 1, (before, after)
    assert obs["version-sealed"]["snapshot"]["target"] != f"versions/{after[-1]}"


def test_next_run_after_the_kills_completes_and_accounts_for_every_file(crash_scenario):
    o = crash_scenario["obs"]["complete"]
    assert o["exit"] == 0, o["stdout"] + o["stderr"]
    assert "Traceback" not in o["stderr"]
    assert o["snapshot"]["target"] != crash_scenario["baseline"]["target"]
    assert o["rows_read"] == len(o["expected"])
    assert o["tmp_versions"] == [], "a version build folder left by a killed run is still there"
    pub, qua = o["snapshot"]["published"], o["snapshot"]["quarantine"]
    paths = pub["source_path"].to_list() + qua["source_path"].to_list()
    assert len(paths) == len(set(paths)) == len(o["expected"])
    assert set(paths) == o["expected"]
    no_date = {p for p in o["expected"] if p.startswith("gen/") and int(p[-9:-4]) % 4 == 0}
    assert no_date and no_date <= set(qua["source_path"].to_list())
    assert pub.height == len(o["expected"]) - len(no_date)


def test_kill_after_the_switch_leaves_the_complete_new_dataset(crash_scenario):
    o = crash_scenario["obs"]["current-switched"]
    complete = crash_scenario["obs"]["complete"]
    assert o["reached"] and o["exit"] == -signal.SIGKILL, o["stderr"]
    snap = o["snapshot"]
    assert snap["target"] != complete["snapshot"]["target"], "the kill came before the switch"
    paths = snap["published"]["source_path"].to_list() + snap["quarantine"]["source_path"].to_list()
    assert len(paths) == len(set(paths)), "duplicate source_path in the switched-to version"
    assert set(paths) == o["expected"], "the version made current by the killed run is incomplete"
    assert o["rows_read"] == len(o["expected"])


def test_run_after_a_kill_after_the_switch_finds_nothing_new(crash_scenario):
    o = crash_scenario["obs"]["rerun"]
    assert o["exit"] == 0, o["stdout"] + o["stderr"]
    assert "Traceback" not in o["stderr"]
    assert o["snapshot"]["target"] == o["before"]["target"]
    assert o["snapshot"]["published"].equals(o["before"]["published"])
    _check_accounted(crash_scenario["out"], o["expected"])


def test_no_work_files_left_after_the_next_run(crash_scenario):
    o = crash_scenario["obs"]["complete"]
    assert o["exit"] == 0
    assert o["work_dirs"] == [], f"stale work dirs of killed runs: {o['work_dirs']}"


# ------------------------------------------------------------------ 5. two runs at once

@pytest.fixture(scope="module")
def concurrent_runs(run_etl, prefect_api, tmp_path_factory):
    """Run A pauses inside its publish (holding the lock); run B starts on the same output; A resumes."""
    base = tmp_path_factory.mktemp("concurrent")
    raw, out, logs = base / "raw", base / "out", base / "logs"
    expected, baseline = _published_baseline(run_etl, raw, out, range(720, 730), range(30_000, 30_040))
    marker, resume = logs / "a.marker", logs / "a.resume"
    a = Run(_run_args(raw, out, "--processes", "1"), logs, "a",
            hook={"CW_POINT": "publish-begun", "CW_MARKER": str(marker), "CW_RESUME": str(resume)})
    a_paused = a.wait_for(marker.exists, every=0.02)
    b = Run(_run_args(raw, out, "--processes", "1"), logs, "b")
    b_rc = b.finish()
    during = _snapshot(out)
    resume.touch()
    a_rc = a.finish()
    after_a = _snapshot(out)
    state = run_etl(raw, out)  # a normal run afterwards
    return {"out": out, "baseline": baseline, "a_paused": a_paused, "a_rc": a_rc, "a": a, "b": b, "b_rc": b_rc,
            "during": during, "after_a": after_a, "final_state": state, "expected": expected}


def test_second_run_refuses_with_exit_1_and_says_why(concurrent_runs):
    c = concurrent_runs
    assert c["a_paused"], c["a"].stderr
    assert c["b_rc"] == 1, c["b"].stdout + c["b"].stderr
    last = [ln for ln in c["b"].stderr.splitlines() if ln.strip()][-1]
    assert last.startswith("error:") and "another cleanwire run" in last and str(c["out"]) in last, last
    assert f"pid {c['a'].proc.pid}" in last, last


def test_refused_run_touches_nothing(concurrent_runs):
    c = concurrent_runs
    assert c["b_rc"] == 1
    assert c["during"]["target"] == c["baseline"]["target"]
    assert c["during"]["files"] == c["baseline"]["files"]
    assert c["during"]["published"].equals(c["baseline"]["published"])


def test_first_run_completes_and_the_output_stays_consistent(concurrent_runs):
    c = concurrent_runs
    assert c["a_rc"] == 0, c["a"].stdout + c["a"].stderr
    assert c["after_a"]["target"] != c["baseline"]["target"]
    assert c["final_state"].is_completed(), c["final_state"].message
    assert c["final_state"].result()["files"]["processed"] == 0
    _check_accounted(c["out"], c["expected"])
    assert _every_file_reads(c["out"]) == len(c["expected"])


def test_refusal_is_one_line_without_a_traceback(concurrent_runs):
    c = concurrent_runs
    assert c["b_rc"] == 1
    lines = [ln for ln in c["b"].stderr.splitlines() if ln.strip()]
    assert "Traceback" not in c["b"].stderr, c["b"].stderr
    assert len(lines) == 1, c["b"].stderr


# ------------------------------------------------------------------ 7. disk full while publishing

@pytest.fixture(scope="module")
def small_disk(tmp_path_factory):
    """A 64 MB tmpfs (we are root in CI), or None when it cannot be mounted."""
    mnt = tmp_path_factory.mktemp("disk")
    mounted = False
    if os.geteuid() == 0 and shutil.which("mount"):
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)], capture_output=True)
        mounted = r.returncode == 0
    try:
        yield mnt if mounted else None
    finally:
        if mounted:
            import gc

            for _ in range(10):
                gc.collect()  # a failed publish's writer stays open while its exception is alive
                if subprocess.run(["umount", str(mnt)], capture_output=True).returncode == 0:
                    break
                time.sleep(0.2)
            else:  # still busy: detach it now (the kernel frees it when the last file is closed)
                subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _open_files_below(root: Path) -> list[str]:
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(root)):
            held.append(target)
    return held


def _fill(path: Path) -> Path:
    """Write a ballast file until the file system is full."""
    ballast = path / "ballast"
    with open(ballast, "wb", buffering=0) as fh:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            while True:
                try:
                    fh.write(b"\0" * size)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    return ballast


@pytest.fixture(scope="module")
def disk_full(run_etl, small_disk, tmp_path_factory):
    """baseline -> the disk fills up as the publish begins -> space freed -> the next run."""
    import gc

    from cleanwire.publish import store

    base = tmp_path_factory.mktemp("diskfull")
    raw = base / "raw"
    # on the tmpfs; without one, the same failure injected where the store writes Parquet
    out = (small_disk if small_disk is not None else base) / "out"
    expected, baseline = _published_baseline(run_etl, raw, out, range(740, 750), range(40_000, 40_060))
    obs: dict = {"out": out, "mode": "tmpfs" if small_disk is not None else "injected", "baseline": baseline,
                 "baseline_summary": h.summary_json(out)}

    filled: list[Path] = []
    real_begin = store.Store.begin

    def begin_then_fill(self):
        res = real_begin(self)
        if small_disk is not None:
            filled.append(_fill(small_disk))
        return res

    def no_space(self, *a, **kw):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store.Store, "begin", begin_then_fill)
        if small_disk is None:
            mp.setattr(pq.ParquetWriter, "write_table", no_space)
        state = run_etl(raw, out)
    obs.update(completed=state.is_completed(), failed=state.is_failed(), message=state.message or "",
               snapshot=_snapshot(out), rows_read=_every_file_reads(out), summary=h.summary_json(out))
    state = None
    gc.collect()
    obs["held"] = _open_files_below(out)

    for b in filled:  # space again
        b.unlink()
    state = run_etl(raw, out)
    obs.update(next_completed=state.is_completed(), next_message=state.message, expected=expected,
               next_rows_read=_every_file_reads(out),
               next_tmp=list((out / ".cleanwire" / "versions").glob("*.tmp")))
    _check_accounted(out, expected)
    obs["accounted"] = True
    return obs


def test_disk_full_fails_the_run_loudly(disk_full):
    d = disk_full
    assert not d["completed"], "a publish that could not be written was reported as a success"
    assert d["failed"]
    msg = d["message"]
    assert "No space left on device" in msg or "errno 28" in msg.lower(), msg
    assert d["summary"]["run_id"] == d["baseline_summary"]["run_id"], "the failed run wrote a run summary"


def test_disk_full_keeps_the_old_dataset_current_and_readable(disk_full):
    d = disk_full
    base, snap = d["baseline"], d["snapshot"]
    assert snap["target"] == base["target"], "a half-written version became current"
    assert snap["files"] == base["files"]
    assert snap["published"].equals(base["published"]) and snap["quarantine"].equals(base["quarantine"])
    assert d["rows_read"] == base["published"].height + base["quarantine"].height


def test_after_space_is_freed_the_next_run_publishes_everything(disk_full):
    d = disk_full
    assert d["next_completed"], d["next_message"]
    assert d["accounted"]
    assert d["next_rows_read"] == len(d["expected"])
    assert d["next_tmp"] == [], "the failed build was not cleaned up"


def test_failed_publish_leaves_no_file_open(disk_full):
    if disk_full["mode"] != "tmpfs":
        pytest.skip("needs the real ENOSPC of a full tmpfs")
    assert disk_full["held"] == [], disk_full["held"]
