"""Configuration errors stop `cleanwire run` before any work: one line that says what to fix, exit code 2.

Every case runs the real CLI as a subprocess (COLUMNS=200, so Rich never
wraps); the cases run a few at a time. For each: exit code 2, exactly one
non-empty line on stderr starting with `error:`, no traceback anywhere, the
line names what to fix, and nothing was created or changed on disk (no
output folder, input untouched).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import helpers as h

SUITES = h.REPO / "expectations"
IS_ROOT = os.geteuid() == 0


def _suite_copy(base: Path, name: str, rows=None, batch=None, rows_text: str | None = None) -> Path:
    """expectations/ copied to base/name, with `rows(json)` / `batch(json)` applied (or articles.json replaced)."""
    d = base / name
    shutil.copytree(SUITES, d)
    for fname, edit in (("articles.json", rows), ("batch.json", batch)):
        if edit is not None:
            data = json.loads((d / fname).read_text())
            edit(data)
            (d / fname).write_text(json.dumps(data, indent=1))
    if rows_text is not None:
        (d / "articles.json").write_text(rows_text)
    return d


def _row(data: dict, expectation_type: str, column: str) -> dict:
    for e in data["expectations"]:
        if e["type"] == expectation_type and e["kwargs"].get("column") == column:
            return e
    raise LookupError((expectation_type, column))


def _between(column: str, **kw):
    def edit(data):
        _row(data, "expect_column_values_to_be_between", column)["kwargs"].update(kw)
    return edit


def _in_set(column: str, **kw):
    def edit(data):
        _row(data, "expect_column_values_to_be_in_set", column)["kwargs"].update(kw)
    return edit


def _add_unknown(data):
    data["expectations"].append({"type": "expect_column_values_to_be_awesome", "kwargs": {"column": "body_words"},
                                 "meta": {"issue_code": "empty_body"}, "severity": "critical"})


def _drop_issue_code(data):
    del _row(data, "expect_column_values_to_be_in_set", "has_date")["meta"]["issue_code"]


def _unknown_column(data):
    _row(data, "expect_column_values_to_be_in_set", "has_date")["kwargs"]["column"] = "has_dat"


def _paths(base: Path, raw: Path) -> dict:
    afile = base / "afile.txt"
    afile.write_text("a regular file\n")
    xfile = base / "xfile.sh"
    xfile.write_text("#!/bin/sh\n")
    xfile.chmod(0o755)
    return {"afile": afile, "xfile": xfile}


# case -> (build(base, raw, paths) -> CLI args, substrings the error line must hold,
#          known bug of the one-line test or None, known bug of the writes-nothing test or None)
CASES = {
    "missing input dir": (
        lambda b, raw, p: ["--input", str(b / "no-such-dir"), "--output", str(b / "out")],
        ["does not exist", "no-such-dir", "--input"], None),
    "input is a file": (
        lambda b, raw, p: ["--input", str(p["afile"]), "--output", str(b / "out")],
        ["not a folder", "afile.txt", "--input"], None),
    "output inside input": (
        lambda b, raw, p: ["--input", str(raw), "--output", str(raw / "out")],
        ["inside the input", "--output"], None),
    "output below a regular file": (
        lambda b, raw, p: ["--input", str(raw), "--output", str(p["afile"] / "out")],
        ["afile.txt", "--output"], None),
    "output is a regular file": (
        lambda b, raw, p: ["--input", str(raw), "--output", str(p["afile"])],
        ["afile.txt"], None),
    "output below an executable file": (
        lambda b, raw, p: ["--input", str(raw), "--output", str(p["xfile"] / "out")],
        ["xfile.sh", "--output"]),
    "output under /proc (unwritable, even for root)": (
        lambda b, raw, p: ["--input", str(raw), "--output", f"/proc/cleanwire-test-{os.getpid()}/out"],
        ["/proc/cleanwire-test", "--output"]),
    "suite is not valid JSON": (
        lambda b, raw, p: ["--input", str(raw), "--output", str(b / "out"), "--suites",
                           str(_suite_copy(b, "s-notjson", rows_text='{"name": "articles", "expectations": [{"type": '))],
        ["articles.json", "not valid JSON"], None),
    "suite lists an unknown expectation type": (
        lambda b, raw, p: ["--input", str(raw), "--output", str(b / "out"), "--suites",
                           str(_suite_copy(b, "s-unknown", rows=_add_unknown))],
        ["articles.json", "expect_column_values_to_be_awesome"], None),
    "row expectation without meta.issue_code": (
        lambda b, raw, p: ["--input", str(raw), "--output", str(b / "out"), "--suites",
                           str(_suite_copy(b, "s-noissue", rows=_drop_issue_code))],
        ["articles.json", "meta.issue_code"], None),
    "threshold min_value is not a number": (
        lambda b, raw, p: ["--input", str(raw), "--output", str(b / "out"), "--suites",
                           str(_suite_copy(b, "s-abc", rows=_between("title_body_score", min_value="abc")))],
        ["articles.json", "min_value"]),
    "threshold mostly is 1.5": (
        lambda b, raw, p: ["--input", str(raw), "--output", str(b / "out"), "--suites",
                           str(_suite_copy(b, "s-mostly", rows=_in_set("is_readable", mostly=1.5)))],
        ["articles.json", "mostly"]),
    "threshold min_value above max_value": (
        lambda b, raw, p: ["--input", str(raw), "--output", str(b / "out"), "--suites",
                           str(_suite_copy(b, "s-minmax", rows=_between("title_body_score", min_value=0.9,
                                                                        max_value=0.1)))],
        ["articles.json", "min_value"]),
    "row expectation on a column that is no feature": (
        lambda b, raw, p: ["--input", str(raw), "--output", str(b / "out"), "--suites",
                           str(_suite_copy(b, "s-column", rows=_unknown_column))],
        ["articles.json", "has_dat"]),
    "batch gate share 1.5": (
        lambda b, raw, p: ["--input", str(raw), "--output", str(b / "out"), "--max-quarantined-share", "1.5"],
        ["max-quarantined-share", "1"]),
    "batch files 0": (
        lambda b, raw, p: ["--input", str(raw), "--output", str(b / "out"), "--batch-files", "0"],
        ["batch-files", "1"]),
    "two places to run the batches": (
        lambda b, raw, p: ["--input", str(raw), "--output", str(b / "out"), "--workers", "2",
                           "--dask-address", "tcp://127.0.0.1:8786"],
        ["--workers", "--dask-address", "give one"]),
}


def _run_case(case: str, base: Path, raw: Path) -> dict:
    base.mkdir(parents=True)
    paths = _paths(base, raw)
    build = CASES[case][0]
    args = build(base, raw, paths)
    before = {"base": _listing(base), "raw": h.tree_snapshot(raw)}
    proc = subprocess.run([str(h.CLI_PATH), "run", *args], capture_output=True, text=True, env=h.cli_env(),
                          timeout=240)
    out = Path(args[args.index("--output") + 1])
    return {"args": args, "rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr, "out": out,
            "out_exists": out.exists(), "before": before,
            "after": {"base": _listing(base), "raw": h.tree_snapshot(raw)}}


def _listing(base: Path) -> dict:
    """Every path below base (suite copies and marker files included) with its size and mtime."""
    return {p.relative_to(base).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) for p in base.rglob("*")
            if not p.is_symlink()}


@pytest.fixture(scope="module")
def results(prefect_api, tmp_path_factory) -> dict[str, dict]:
    """Every case's CLI run, three at a time (most of the time is GX's import)."""
    root = tmp_path_factory.mktemp("config-errors")
    raw = root / "raw"
    shutil.copytree(h.SEED_DIR, raw)
    cases = list(CASES)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {c: pool.submit(_run_case, c, root / f"case{i:02d}", raw) for i, c in enumerate(cases)}
        return {c: f.result() for c, f in futures.items()}


def _params(which: int):
    """Cases, with the xfail mark of the known bug for this test (element `which` of the case)."""
    for case, spec in CASES.items():
        bug = spec[which] if len(spec) > which else None
        marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
        yield pytest.param(case, id=case.replace(" ", "-"), marks=marks)


@pytest.mark.parametrize("case", list(_params(2)))
def test_config_error_stops_the_run_in_one_line(results, case):
    r = results[case]
    must_say = CASES[case][1]
    everything = r["stdout"] + r["stderr"]
    assert "Traceback" not in everything, f"traceback for {case}:\n{r['stderr'][-3000:]}"
    lines = [ln for ln in r["stderr"].splitlines() if ln.strip()]
    assert len(lines) == 1, f"{case}: {len(lines)} lines on stderr:\n{r['stderr'][-3000:]}"
    line = lines[0]
    assert line.startswith("error:"), line
    for s in must_say:
        assert s in line, f"{case}: the error does not say {s!r}: {line}"
    assert r["rc"] == 2, f"{case}: exit code {r['rc']}: {line}"


@pytest.mark.parametrize("case", list(_params(3)))
def test_config_error_writes_nothing(results, case):
    r = results[case]
    created = r["out_exists"] and not str(r["out"]).endswith("afile.txt")
    assert not created, f"{case}: the output folder {r['out']} was created"
    assert r["after"]["raw"] == r["before"]["raw"], f"{case}: the input changed"
    assert r["after"]["base"] == r["before"]["base"], f"{case}: files were written next to the input"


def test_a_deployment_run_refuses_a_bad_suite_before_any_work(run_etl, tmp_path):
    """The flow itself (as a deployment runs it, without the CLI) checks the suites first:
    in a child process (Great Expectations stays out of the flow until the checks), with
    the same message, and nothing is written."""
    raw = tmp_path / "raw"
    shutil.copytree(h.SEED_DIR, raw)
    suites = _suite_copy(tmp_path, "s-unknown", rows=_add_unknown)
    state = run_etl(raw, tmp_path / "out", suites=str(suites))
    assert state.is_failed()
    with pytest.raises(Exception) as err:
        state.result()
    assert "expect_column_values_to_be_awesome" in str(err.value)
    assert type(err.value).__name__ == "SuiteError"
    assert not (tmp_path / "out").exists()


def test_a_suite_verdict_is_kept_and_a_changed_suite_is_checked_again(tmp_path):
    """The verdict on unchanged suites is reused (no child process); a changed suite is checked anew."""
    import shutil

    from cleanwire.checks import gx
    from cleanwire.config import DEFAULT_SUITES
    from cleanwire.errors import SuiteError

    suites = tmp_path / "suites"
    shutil.copytree(DEFAULT_SUITES, suites)
    gx.check_suites(suites)                                   # checked in a child, verdict kept on disk
    key = gx.verdict_key(suites, None)
    assert (gx.verdict_cache() / f"{key}.json").is_file()
    gx._CHECKS.clear()                                        # as a new process would start
    assert gx.start_suite_check(suites).done()                # the kept verdict: no child started
    gx.check_suites(suites)

    rows = suites / "articles.json"
    rows.write_text(rows.read_text().replace('"min_value": 20', '"min_value": 200, "max_value": 10'))
    with pytest.raises(SuiteError, match="min_value 200 is above max_value 10"):
        gx.check_suites(suites)
    gx._CHECKS.clear()
    with pytest.raises(SuiteError, match="min_value 200 is above max_value 10"):  # the refusal is kept too
        gx.check_suites(suites)
