"""Freed heap goes back to the OS between batches (cleanwire.memory)."""
import sys

import pytest

from cleanwire.memory import release_free_memory


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return int(fh.read().split("VmRSS:")[1].split()[0]) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux-only")
def test_freed_fragmented_heap_is_returned_to_the_os():
    # Texts of a parsed chunk: many blocks over 512 bytes (glibc's, not pymalloc's), freed
    # but for a few survivors scattered through the heap, which keep it from shrinking by itself.
    blocks = [bytes(2000) + i.to_bytes(4, "little") for i in range(60_000)]
    survivors = blocks[::500]
    del blocks
    before = _rss_mb()
    assert release_free_memory() is True
    after = _rss_mb()
    assert before - after > 50, (before, after)
    assert len(survivors) == 120


def test_the_suites_are_checked_without_importing_great_expectations_here():
    """GX (~175 MB once imported) stays out of the flow process until its checks: the
    suites are loaded in a child process, which says what is wrong with them."""
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    code = ("import sys; from pathlib import Path\n"
            "from cleanwire.checks.gx import check_suites\nfrom cleanwire.errors import SuiteError\n"
            "check_suites(Path(sys.argv[1]))\n"
            "print('imported' if 'great_expectations' in sys.modules else 'not imported')\n"
            "try:\n    check_suites(Path(sys.argv[2]))\nexcept SuiteError as e:\n    print('refused:', e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(repo / "expectations"), str(repo / "no-such-suites")],
                         capture_output=True, text=True, timeout=300, cwd=repo)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "not imported"
    assert lines[1].startswith("refused:") and "not found" in lines[1], lines


_ALLOCATOR_SCRIPT = """
import multiprocessing as mp, os, sys
import cleanwire.cli as cli
cli._env_defaults()                      # what every cleanwire command does first
import polars                            # polars reads (and rewrites) the variable at import
print("flow:", os.environ.get("_RJEM_MALLOC_CONF"))
from cleanwire.config import RunConfig
from cleanwire.runner import plan_runner
from flows.news_etl import task_runner_for
task_runner_for(plan_runner(RunConfig(input=sys.argv[1], output=sys.argv[2], processes=2), 3))
ctx = mp.get_context("spawn")            # how the process pool starts its workers
with ctx.Pool(1) as pool:
    print("worker:", pool.apply(os.getenv, ("_RJEM_MALLOC_CONF",)))
"""


@pytest.mark.parametrize("user_setting", [None, "narenas:2", "dirty_decay_ms:0,muzzy_decay_ms:0",
                                          "background_thread:true,dirty_decay_ms:0,muzzy_decay_ms:0"])
def test_the_flow_gives_memory_back_at_once_and_the_workers_keep_the_default(tmp_path, user_setting):
    """The CLI sets polars' allocator to return freed pages at once in the flow process;
    parse workers (where that costs CPU) start without it; a user's own setting is kept for both."""
    import os
    import subprocess
    from pathlib import Path

    from cleanwire.memory import FLOW_MALLOC_CONF, MALLOC_CONF_OURS, MALLOC_CONF_VAR

    repo = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in (MALLOC_CONF_VAR, MALLOC_CONF_OURS)}
    if user_setting:
        env[MALLOC_CONF_VAR] = user_setting
    out = subprocess.run([sys.executable, "-c", _ALLOCATOR_SCRIPT, str(repo / "data" / "raw"), str(tmp_path / "out")],
                         env=env, cwd=repo, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    if user_setting:
        assert lines["flow"].endswith(user_setting), lines
        assert lines["worker"].endswith(user_setting), lines
    else:
        assert lines["flow"].endswith(FLOW_MALLOC_CONF), lines
        assert lines["worker"] == "None", lines


@pytest.mark.parametrize("with_docs", [False, True])
def test_a_validation_keeps_no_copy_of_the_records_it_validated(tmp_path, monkeypatch, with_docs):
    """GX caches the last batch it validated; the pandas view of a run's records must not
    outlive its validation (at a million records it stayed through publish)."""
    import gc
    import weakref
    from pathlib import Path

    import polars as pl

    from cleanwire.checks import gx
    from cleanwire.checks.gx import Validator, load_suites

    rows_suite, _ = load_suites(Path(__file__).resolve().parents[1] / "expectations", 1.0)
    frame = pl.DataFrame({
        "article_id": ["a1", "a2", "a3"], "is_readable": [True, True, True], "has_date": [True, False, True],
        "has_title": [True, True, True], "body_words": [300, 250, 0], "ends_cleanly": [True, True, False],
        "title_body_score": [0.8, 0.6, None], "duplicate_of": [None, None, None]},
        schema_overrides={"duplicate_of": pl.String})
    views = []
    to_pandas = gx.to_pandas_for_gx
    monkeypatch.setattr(gx, "to_pandas_for_gx", lambda df: views.append(to_pandas(df)) or views[-1])
    validator = Validator(tmp_path / "docs" if with_docs else None)
    first = validator.run(frame, rows_suite, docs=with_docs)
    seen = weakref.ref(views.pop())
    gc.collect()
    assert seen() is None
    assert {f.issue_code for f in first.failures} >= {"missing_date", "empty_body"}
    # The next validation works as the first did.
    again = validator.run(frame, rows_suite, docs=with_docs)
    assert sorted(f.message for f in again.failures) == sorted(f.message for f in first.failures)
