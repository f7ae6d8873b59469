"""Scale-out: the batch tasks on a real dask.distributed LocalCluster give the same datasets.

The cluster is started by the test (2 worker processes, like an existing cluster
a user points cleanwire at with --dask-address); its workers import cleanwire
like any worker would.
"""
from __future__ import annotations

import polars as pl
import pytest

import helpers as h

COLUMNS = ["article_id", "source_path", "title", "published_date", "body", "word_count", "issues", "duplicate_of"]


def _mixed_input(raw) -> None:
    """Clean articles, defects, a duplicate across files, a feed: enough to cross batches."""
    h.write_clean_articles(raw, range(900, 912), prefix="a")
    a, b = h.make_article(950), h.make_article(951)
    h.write(raw, "dups/page.txt", h.full_page_dump(a))
    h.write(raw, "dups/clean-undated.txt", h.clean_dump(a, date=False))
    h.write(raw, "defects/cut.txt", h.cut_mid_sentence_dump(b))
    h.write(raw, "defects/untitled.txt", h.no_title_dump(h.make_article(952)))
    h.write(raw, "feeds/f.jsonl", "\n".join(h.json_record(h.make_article(s)) for s in (960, 961, 962)) + "\n{bad\n")
    h.write(raw, "junk/empty.txt", b"")


def _frame(out, name) -> pl.DataFrame:
    return h.read_dataset(out, name).select(COLUMNS).sort("source_path")


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def local_run(run_etl, tmp_path_factory):
    """The mixed input and its output from a run on a thread of the flow process (the reference)."""
    base = tmp_path_factory.mktemp("dask")
    raw, out = base / "raw", base / "local"
    _mixed_input(raw)
    state = run_etl(raw, out, batch_files=4, max_quarantined_share=1.0, processes=1)
    assert state.is_completed(), state.message
    runner = state.result()["runner"]
    assert _where(runner) == {"where": "a thread of the flow process", "processes": 1}
    # Where the parse stage's time went: 5 batch tasks of at most 4 files, one after the other.
    assert runner["batches"] == 5
    assert 0 <= runner["first_batch_started"] <= runner["last_batch_ended"]
    assert 0 < runner["batch_cpu_seconds"] and 0 < runner["batch_seconds"] <= runner["last_batch_ended"]
    return raw, out


def _where(runner: dict) -> dict:
    return {k: runner[k] for k in ("where", "processes")}


def _assert_same_datasets(local, other) -> None:
    for name in ("published", "quarantine"):
        a, b = _frame(local, name), _frame(other, name)
        assert a.height > 0
        assert a.equals(b), f"{name} differs between the local run and the Dask run"


def test_dask_cluster_gives_the_same_datasets_as_the_local_run(run_etl, tmp_path, dask_cluster, local_run):
    raw, local = local_run
    # Small batches so that several batch tasks run, on both workers of the cluster.
    state = run_etl(raw, tmp_path / "dask", batch_files=4, max_quarantined_share=1.0,
                    dask_address=dask_cluster.scheduler_address)
    assert state.is_completed(), state.message
    _assert_same_datasets(local, tmp_path / "dask")
    # The batch tasks really ran on the cluster: its scheduler saw them.
    seen = {str(k) for k in dask_cluster.scheduler.task_prefixes}
    assert "parse_batch" in seen, f"the batch tasks did not run on the Dask cluster (saw {seen})"
    assert state.result()["runner"]["where"] == f"the Dask cluster at {dask_cluster.scheduler_address}"


def test_workers_option_starts_a_local_dask_cluster_with_the_same_result(run_etl, tmp_path, local_run):
    """`--workers 2`: the run starts its own LocalCluster of 2 worker processes, and both parse batches."""
    pytest.importorskip("distributed")
    raw, local = local_run
    state = run_etl(raw, tmp_path / "dask", batch_files=2, max_quarantined_share=1.0, workers=2)
    assert state.is_completed(), state.message
    assert _where(state.result()["runner"]) == {"where": "a new local Dask cluster of 2 workers", "processes": 2}
    _assert_same_datasets(local, tmp_path / "dask")
