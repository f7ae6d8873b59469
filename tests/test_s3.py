"""Input and output on S3 (a real endpoint: moto's server as a separate process, see conftest.py).

* The seeds end to end, s3:// -> s3:// with the CLI: the published article and the
  four quarantined ones in Delta tables; a rerun adds no version; `cleanwire history`
  lists the version; the same run to a local Delta output gives the same records.
* Incremental input: unchanged objects are skipped by their listing (size, LastModified),
  a changed object's records are replaced.
* SIGKILL of a run before its commit and in the middle of applying it: the last
  committed version stays readable and whole, and the next run completes.
* Two runs at once: one commits, the other fails in one line and publishes nothing.
* An unreachable endpoint, a missing bucket, refused credentials: one line, before any work.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import helpers as h

CLI = str(Path(sys.executable).with_name("cleanwire"))
RAW, OUT = "s3://news/raw", "s3://news/out"
STABLE = ["article_id", "source_path", "title", "published_date", "body", "word_count", "duplicate_of", "issues"]

# `cleanwire run ARGS` with one step of the Delta store patched to pause there (a marker file written)
# until CW_RESUME appears, or until the test kills the process group.
HOOK = h.PAUSE_HOOK + r"""
from cleanwire.publish import delta
if point == "before-commit":      # the run's files and plan are written; the run log not committed
    _commit = delta.DeltaStore.commit
    def commit(self, *a, **k):
        pause(point)
        return _commit(self, *a, **k)
    delta.DeltaStore.commit = commit
elif point == "mid-apply":        # the version is committed, applied to quarantine, not yet to published
    _apply = delta.DeltaStore._apply
    def apply(self, rel, n, plan):
        if rel == "published/articles":
            pause(point)
        return _apply(self, rel, n, plan)
    delta.DeltaStore._apply = apply
else:
    raise SystemExit(f"unknown point {point}")
sys.argv = ["cleanwire", *sys.argv[1:]]
from cleanwire.cli import main
main()
"""


def _options() -> dict:
    from cleanwire import storage

    return storage.settings().polars_options()


def _read(name: str, out: str = OUT, version: int | None = None) -> pl.DataFrame:
    return pl.read_delta(f"{out}/{name}/articles", storage_options=_options(), version=version)


def _stable(df: pl.DataFrame) -> pl.DataFrame:
    return df.select(STABLE).sort("source_path")


def _put(rel: str, data: bytes | str, prefix: str = RAW) -> None:
    from cleanwire import storage

    storage.write_bytes(f"{prefix}/{rel}", data.encode() if isinstance(data, str) else data)


def _upload_seeds() -> None:
    for f in sorted(h.SEED_DIR.iterdir()):
        _put(f.name, f.read_bytes())


def _runs_version(out: str = OUT) -> int | None:
    from cleanwire.publish.delta import DeltaStore

    return DeltaStore(out).current_version()


def _cli(args: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    env = h.cli_env(COLUMNS="1000")
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=timeout)


def _hooked(args: list[str], point: str, tmp: Path, name: str, resume: Path | None = None):
    marker = tmp / f"{name}.marker"
    env = h.cli_env(COLUMNS="1000", CW_POINT=point, CW_MARKER=str(marker), CW_RESUME=str(resume or ""))
    out, err = open(tmp / f"{name}.out", "w"), open(tmp / f"{name}.err", "w")
    proc = subprocess.Popen([sys.executable, "-c", HOOK, *args], stdout=out, stderr=err, env=env,
                            start_new_session=True)
    return proc, marker, tmp / f"{name}.err"


def _wait_for(path: Path, proc, timeout: float = 180) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the run ended ({proc.returncode}) before reaching its pause point"
        assert time.monotonic() < end, "the run never reached its pause point"
        time.sleep(0.02)


def _orphans(out: str, name: str) -> set[str]:
    """Parquet objects in a table's prefix that no version of the table references (a loser's left-overs)."""
    from deltalake import DeltaTable
    from pyarrow import fs as pafs

    from cleanwire import storage

    where = storage.location(f"{out}/{name}/articles")
    t = DeltaTable(str(where), storage_options=storage.delta_options(where))
    referenced = {u.split("/articles/", 1)[1] for v in range(t.version() + 1)
                  for u in DeltaTable(str(where), version=v, storage_options=storage.delta_options(where)).file_uris()}
    listed = storage.settings().filesystem().get_file_info(pafs.FileSelector(where.key_path, recursive=True))
    files = {i.path.split("/articles/", 1)[1] for i in listed
             if i.type == pafs.FileType.File and i.path.endswith(".parquet") and "_delta_log" not in i.path}
    return files - referenced


# ------------------------------------------------------------------ the seeds, end to end

def test_seeds_s3_to_s3_then_rerun_history_and_the_same_run_to_a_local_delta_output(s3, prefect_api, run_etl,
                                                                                      tmp_path):
    _upload_seeds()
    proc = _cli(["run", "--input", RAW, "--output", OUT])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{OUT}/published/articles" in proc.stdout
    pub, qua = _read("published"), _read("quarantine")
    assert pub.height == 1
    assert pub["title"][0] == "Blinken talks to Japanese, South Korean counterparts ahead of China trip"
    assert str(pub["published_date"][0]) == "2023-06-17"
    assert qua.height == 4 and all(len(i) > 0 for i in qua["issues"])
    assert sorted(pub["source_path"].to_list() + qua["source_path"].to_list()) == sorted(
        f.name for f in h.SEED_DIR.iterdir())
    dup = qua.filter(pl.col("issues").list.contains("duplicate"))
    assert dup.height == 1 and dup["duplicate_of"][0] == pub["article_id"][0]
    assert _runs_version() == 1
    # The reports and the metrics history are on the same storage.
    from cleanwire import storage

    assert storage.location(f"{OUT}/reports/summary.json").is_file()
    assert storage.location(f"{OUT}/reports/latest.html").is_file()
    assert storage.location(f"{OUT}/reports/data_docs/index.html").is_file()
    history = pl.read_parquet(f"{OUT}/reports/metrics_history.parquet", storage_options=_options())
    assert "ALL" in history["source"].to_list()

    again = _cli(["run", "--input", RAW, "--output", OUT])
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing new" in again.stderr + again.stdout
    assert _runs_version() == 1, "a rerun with nothing new made a version"

    hist = _cli(["history", "--output", OUT])
    assert hist.returncode == 0, hist.stderr
    assert f"versions of {OUT}" in hist.stdout and "│ * │       1 │" in hist.stdout

    local = tmp_path / "local"
    assert run_etl(RAW, local, table_format="delta").is_completed()
    for name in ("published", "quarantine"):
        mine = pl.read_delta(str(local / name / "articles"))
        assert _stable(mine).equals(_stable(_read(name))), name


# ------------------------------------------------------------------ incremental input

def test_unchanged_objects_are_skipped_and_a_changed_object_is_replaced(s3, run_etl):
    arts = {}
    for seed in (21, 22, 23):
        a = h.make_article(seed)
        arts[f"wire/clean_{seed}.txt"] = a
        _put(f"wire/clean_{seed}.txt", h.clean_dump(a))
    first = run_etl(RAW, OUT)
    assert first.is_completed() and first.result()["files"]["processed"] == 3
    assert sorted(_read("published")["title"]) == sorted(a.title for a in arts.values())

    noop = run_etl(RAW, OUT)
    assert noop.is_completed() and noop.result()["files"]["processed"] == 0
    assert noop.result()["files"]["unchanged"] == 3
    assert _runs_version() == 1

    time.sleep(1.1)  # S3's LastModified has a resolution of one second
    new = h.make_article(24)
    _put("wire/clean_22.txt", h.clean_dump(new))
    changed = run_etl(RAW, OUT)
    assert changed.is_completed()
    assert changed.result()["files"]["processed"] == 1 and changed.result()["files"]["unchanged"] == 2
    assert _runs_version() == 2
    pub = _read("published")
    assert pub.height == 3 and h.by_path(pub)["wire/clean_22.txt"]["title"] == new.title
    assert _stable(_read("published", version=1)).height == 3  # time travel: the version before
    assert arts["wire/clean_22.txt"].title in _read("published", version=1)["title"].to_list()


# ------------------------------------------------------------------ crashes

@pytest.mark.parametrize("point", ["before-commit", "mid-apply"])
def test_sigkill_leaves_the_last_version_readable_and_the_next_run_completes(s3, prefect_api, run_etl, tmp_path,
                                                                              point):
    for seed in (31, 32):
        _put(f"clean_{seed}.txt", h.clean_dump(h.make_article(seed)))
    assert run_etl(RAW, OUT).is_completed()
    v1_pub = _stable(_read("published"))
    _put("clean_33.txt", h.clean_dump(h.make_article(33)))
    _put("empty.txt", "")

    proc, marker, _ = _hooked(["run", "--input", RAW, "--output", OUT], point, tmp_path, "killed")
    try:
        _wait_for(marker, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    # The last committed dataset is whole: the published table reads, and reads as version 1.
    assert _stable(_read("published")).equals(v1_pub)
    quarantine = _read("quarantine")
    if point == "before-commit":
        assert _runs_version() == 1 and quarantine.height == 0
    else:  # committed, and applied to quarantine only: a reader of each table sees one whole version
        assert _runs_version() == 2 and quarantine["source_path"].to_list() == ["empty.txt"]

    after = run_etl(RAW, OUT)
    assert after.is_completed()
    assert _runs_version() == 2, "the next run must complete the version (not make another)"
    pub, qua = _read("published"), _read("quarantine")
    assert sorted(pub["source_path"]) == ["clean_31.txt", "clean_32.txt", "clean_33.txt"]
    assert qua["source_path"].to_list() == ["empty.txt"]
    assert run_etl(RAW, OUT).result()["files"]["processed"] == 0


# ------------------------------------------------------------------ two runs at once

def test_two_runs_at_once_one_commits_the_other_fails_in_one_line(s3, prefect_api, tmp_path):
    _upload_seeds()
    go = tmp_path / "go"
    runs = [_hooked(["run", "--input", RAW, "--output", OUT], "before-commit", tmp_path, f"run{i}", resume=go)
            for i in (1, 2)]
    try:
        for proc, marker, _ in runs:
            _wait_for(marker, proc)
        go.write_text("both runs built version 1 on version 0: commit now")
        codes = [proc.wait(180) for proc, _, _ in runs]
    finally:
        for proc, _, _ in runs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert sorted(codes) == [0, 1], (codes, [err.read_text()[-3000:] for _, _, err in runs])
    loser_err = runs[codes.index(1)][2].read_text()
    lines = [ln for ln in loser_err.splitlines() if ln.strip()]
    assert "Traceback" not in loser_err
    assert len(lines) == 1 and "another cleanwire run committed version 1 of s3://news/out" in lines[0], loser_err
    assert _runs_version() == 1
    assert _read("published").height == 1 and _read("quarantine").height == 4
    assert not _orphans(OUT, "published") and not _orphans(OUT, "quarantine"), "the loser left files behind"


# ------------------------------------------------------------------ a store that cannot be used

def test_unreachable_endpoint_missing_bucket_and_refused_credentials_stop_before_any_work(s3, monkeypatch):
    from cleanwire.config import RunConfig, check_paths
    from cleanwire.errors import ConfigError

    def problem(inp=RAW, out=OUT) -> str:
        with pytest.raises(ConfigError) as e:
            check_paths(RunConfig(input=inp, output=out))
        assert "\n" not in str(e.value)
        return str(e.value)

    assert "the bucket does not exist" in problem(out="s3://no-such-bucket/out")
    assert "input" in problem(inp="s3://no-such-bucket/raw")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed}")
    assert "does not answer" in problem()

    # A server that knows no access key at all (moto with authentication from its first request).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    strict = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import urllib.request

        end = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
                break
            except OSError:
                assert time.monotonic() < end, "the second moto server did not start"
                time.sleep(0.1)
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        assert "access key is not known" in problem()
    finally:
        strict.terminate()
        strict.wait(10)


def test_cli_missing_bucket_fails_in_one_line_with_exit_2(s3):
    proc = _cli(["run", "--input", RAW, "--output", "s3://no-such-bucket/out"], timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "the bucket does not exist" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
