"""`cleanwire run` as a user runs it: a subprocess, its exit code and what it prints."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import helpers as h

CLI = str(Path(sys.executable).with_name("cleanwire"))


def _run(args: list[str], env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "1000", "NO_COLOR": "1", **(env or {})}
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=timeout)


def _table_count(stdout: str, label: str) -> int:
    m = re.search(rf"^\W*{re.escape(label)}\W+(\d+)\W*$", stdout, re.M)
    assert m, f"no '{label}' row in:\n{stdout}"
    return int(m.group(1))


def test_cli_run_on_the_seeds(prefect_api, seeds_copy, out_dir):
    proc = _run(["run", "--input", str(seeds_copy), "--output", str(out_dir)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    pub, qua = h.published(out_dir), h.quarantine(out_dir)
    assert pub.height == 1 and qua.height == 4
    assert _table_count(proc.stdout, "published") == pub.height
    assert _table_count(proc.stdout, "quarantined") == qua.height
    for code in ("missing_date", "missing_title", "duplicate"):
        n = sum(code in issues for issues in qua["issues"])
        assert _table_count(proc.stdout, code) == n, code
    assert str(out_dir / "published" / "articles") in proc.stdout
    # The Data Docs site of both suites, linked from the run's report.
    docs = out_dir / "reports" / "data_docs"
    assert (docs / "index.html").is_file()
    for suite in ("articles", "batch"):
        assert (docs / "expectations" / f"{suite}.html").is_file()
        assert list((docs / "validations" / suite).rglob("*.html")), f"no validation page of {suite}"
    assert "data_docs/index.html" in (out_dir / "reports" / "latest.html").read_text()


def test_cli_missing_input_fails_in_one_line_before_any_prefect_work(tmp_path):
    missing = tmp_path / "no-such-dir"
    untouched_home = tmp_path / "prefect-home"  # importing prefect creates its home folder
    proc = _run(["run", "--input", str(missing), "--output", str(tmp_path / "out")],
                env={"PREFECT_HOME": str(untouched_home), "PREFECT_API_URL": "http://127.0.0.1:9/api"}, timeout=60)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "error" in lines[0].lower() and str(missing) in lines[0], lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not untouched_home.exists(), "prefect was imported before the config was checked"
    assert not (tmp_path / "out").exists(), "the output folder was created for a run that cannot start"


@pytest.fixture(scope="module")
def refused_cli_run(prefect_api, tmp_path_factory):
    """`cleanwire run` over 24 files, 20 of them without a date: the batch gate refuses."""
    base = tmp_path_factory.mktemp("cli-gate")
    raw, out = base / "raw", base / "out"
    for s in range(800, 820):
        h.write(raw, f"nodate_{s}.txt", h.clean_dump(h.make_article(s), date=False))
    h.write_clean_articles(raw, range(820, 824))
    return _run(["run", "--input", str(raw), "--output", str(out)]), out


def test_cli_gate_refusal_exits_nonzero(refused_cli_run):
    proc, out = refused_cli_run
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "batch gate refused the publish" in proc.stdout
    assert _table_count(proc.stdout, "quarantined") == 24
    assert h.published(out).height == 0
    assert h.summary_json(out)["gate"]["ok"] is False


def test_cli_gate_refusal_has_no_traceback(refused_cli_run):
    proc, _ = refused_cli_run
    assert "Traceback" not in proc.stderr, proc.stderr


def _descendants(pid: int) -> list[int]:
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    kids = [int(c) for c in fh.read().split()]
                out += kids
                stack += kids
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def _is_api(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"prefect.server.api.server" in fh.read()
    except OSError:
        return False


def test_eval_of_two_corpora_without_a_server_runs_and_scores_both(seeds_copy, tmp_path):
    """`cleanwire eval -l A -l B` makes one run per corpus: the second must find an API too (it once
    found the first run's URL exported and its server stopped: 'Connection refused')."""
    import json
    import shutil

    labels = []
    for name in ("first", "second"):
        raw = tmp_path / name / "raw"
        shutil.copytree(seeds_copy, raw)
        path = tmp_path / name / "labels.jsonl"
        path.write_text("".join(json.dumps({"source_path": p.name, "issues": ["missing_date"]}) + "\n"
                                for p in sorted(raw.iterdir())))
        labels += ["-l", str(path)]
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(COLUMNS="200", NO_COLOR="1")
    r = subprocess.run([CLI, "eval", *labels], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    table = r.stdout[r.stdout.index("macro_f1"):]
    assert re.search(r"^first\s+\d", table, re.M) and re.search(r"^second\s+\d", table, re.M), table
    assert "macro average" in table


def test_cli_without_a_server_runs_on_one_local_api_and_stops_it(seeds_copy, out_dir):
    """The README's command: no PREFECT_API_URL. One temporary API serves the whole run (the CLI's
    own process included: a second one costs ~220 MB), every log reaches it, and it is gone after."""
    import time

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(COLUMNS="1000", NO_COLOR="1")
    proc = subprocess.Popen([CLI, "run", "--input", str(seeds_copy), "--output", str(out_dir)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    apis: set[int] = set()
    most = 0
    while proc.poll() is None:
        running = [p for p in _descendants(proc.pid) if _is_api(p)]
        apis.update(running)
        most = max(most, len(running))
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stdout + stderr
    assert apis and most == 1, f"{len(apis)} API processes, {most} at once"
    assert "Error logging to API" not in stderr and "Traceback" not in stderr, stderr
    assert not [p for p in apis if os.path.exists(f"/proc/{p}") and _is_api(p)], "the API outlived the run"
    assert h.published(out_dir).height == 1
