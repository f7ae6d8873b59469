"""Incremental, idempotent publishing: what a second (third, tenth) run over a landing folder does.

Every test runs the real `news-etl` flow on the session's local Prefect API
(`run_etl`) and reads the real Parquet output: new files are added, changed
files replace their records, copies are caught as duplicates across runs, a
rerun with nothing new does no work, unchanged partitions are hard-linked (never
rewritten), versions can be rolled back and are pruned, the readers named in the
README agree, quarantined records can be re-checked, and the metrics history grows.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import helpers as h
from cleanwire.report.metrics import read_history
from cleanwire.publish.store import MAX_FILES_PER_PARTITION, Store

CLI = str(Path(sys.executable).with_name("cleanwire"))
PUBLISHED_REL = Path("published") / "articles"


# ------------------------------------------------------------------ helpers

def _ok(state) -> dict:
    assert state.is_completed(), f"run did not complete: {state.type}: {state.message}"
    return state.result()


def _dated(seed: int, date: dt.date, n_paragraphs: int = 6) -> h.Article:
    a = h.make_article(seed, n_paragraphs)
    a.date = date
    return a


def _write_dated(raw: Path, rel: str, seed: int, date: dt.date) -> h.Article:
    a = _dated(seed, date)
    h.write(raw, rel, h.clean_dump(a))
    return a


def _bump_mtime(path: Path, seconds: int = 10) -> None:
    """Make a rewrite visible to the size+mtime check even on a coarse clock."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort("source_path")


def _version_files(out: Path, v: int, partition: str) -> dict[str, int]:
    """file name -> inode of the published Parquet files of one partition in version v."""
    d = Store(out).version_dir(v) / PUBLISHED_REL / partition
    return {f.name: f.stat().st_ino for f in sorted(d.glob("*.parquet"))}


def _cli(args: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "1000", "NO_COLOR": "1"}
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=timeout)


def _task_names(flow_run_id: str) -> list[str]:
    """Names of the task runs the session's API recorded for one flow run (without Prefect's suffix)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return sorted(t.name.rsplit("-", 1)[0] for t in tasks)


# ------------------------------------------------------------------ new and changed files

def test_added_files_are_published_and_old_rows_untouched(run_etl, raw_dir, out_dir):
    first = h.write_clean_articles(raw_dir, range(1000, 1003))
    s1 = _ok(run_etl(raw_dir, out_dir))
    v1 = Store(out_dir).current_version()
    assert s1["published"] == 3 and v1 == s1["version"]
    before = _sorted(h.published(out_dir))

    added = h.write_clean_articles(raw_dir, range(1003, 1005))
    s2 = _ok(run_etl(raw_dir, out_dir))
    assert s2["files"]["processed"] == len(added)
    assert s2["files"]["unchanged"] == len(first)
    v2 = Store(out_dir).current_version()
    assert v2 == s2["version"] and v2 > v1, "adding files must publish a new version"
    assert v1 in Store(out_dir).list_versions(), "the previous version must be kept"

    after = h.published(out_dir)
    assert sorted(after["source_path"]) == sorted([*first, *added])
    old_rows = _sorted(after.filter(pl.col("source_path").is_in(list(first))))
    assert old_rows.equals(before), "rows published by the first run changed"
    new_rows = h.by_path(after)
    for rel, a in added.items():
        assert new_rows[rel]["title"] == a.title and new_rows[rel]["body"] == a.body
        assert new_rows[rel]["issues"] == []


def test_changed_file_replaces_its_record(run_etl, raw_dir, out_dir):
    a, b, c = h.make_article(1010), h.make_article(1011), h.make_article(1012)
    pa_ = h.write(raw_dir, "a.txt", h.clean_dump(a))
    h.write(raw_dir, "b.txt", h.clean_dump(b))
    pc = h.write(raw_dir, "c.txt", h.clean_dump(c, date=False))   # quarantined: missing_date
    _ok(run_etl(raw_dir, out_dir))
    ids = {p: r["article_id"] for p, r in h.by_path(h.published(out_dir)).items()}
    assert sorted(ids) == ["a.txt", "b.txt"]
    assert "missing_date" in h.by_path(h.quarantine(out_dir))["c.txt"]["issues"]
    b_before = _sorted(h.published(out_dir).filter(pl.col("source_path") == "b.txt"))

    # a.txt now holds another story; c.txt gets its date line.
    other = h.make_article(1013)
    pa_.write_text(h.clean_dump(other), encoding="utf-8")
    _bump_mtime(pa_)
    pc.write_text(h.clean_dump(c), encoding="utf-8")
    _bump_mtime(pc)
    s2 = _ok(run_etl(raw_dir, out_dir))
    assert s2["files"]["processed"] == 2 and s2["files"]["unchanged"] == 1

    pub, qua = h.published(out_dir), h.quarantine(out_dir)
    assert pub["source_path"].to_list().count("a.txt") == 1, "a changed file must replace its record"
    assert sorted(pub["source_path"]) == ["a.txt", "b.txt", "c.txt"]
    rec = h.by_path(pub)["a.txt"]
    assert rec["title"] == other.title and rec["body"] == other.body
    assert rec["article_id"] == ids["a.txt"], "article_id is a hash of source_path: stable across a change"
    assert a.title not in pub["title"].to_list()
    assert h.by_path(pub)["c.txt"]["published_date"] == c.date
    assert qua.height == 0, f"the fixed file's old record must leave quarantine: {qua['source_path'].to_list()}"
    assert _sorted(pub.filter(pl.col("source_path") == "b.txt")).equals(b_before)


def test_shorter_feed_file_replaces_all_its_records(run_etl, raw_dir, out_dir):
    """A JSON Lines feed rewritten with fewer records: the file's old records go, none is left behind."""
    arts = [h.make_article(s) for s in range(1025, 1029)]
    feed = h.write(raw_dir, "feed.jsonl", "\n".join(h.json_record(a) for a in arts[:3]) + "\n")
    _ok(run_etl(raw_dir, out_dir))
    assert sorted(h.published(out_dir)["source_path"]) == ["feed.jsonl#1", "feed.jsonl#2", "feed.jsonl#3"]

    feed.write_text("\n".join(h.json_record(a) for a in [arts[3], arts[1]]) + "\n", encoding="utf-8")
    _bump_mtime(feed)
    _ok(run_etl(raw_dir, out_dir))
    pub = h.by_path(h.published(out_dir))
    assert sorted(pub) == ["feed.jsonl#1", "feed.jsonl#2"]
    assert pub["feed.jsonl#1"]["title"] == arts[3].title
    assert pub["feed.jsonl#2"]["title"] == arts[1].title
    assert h.quarantine(out_dir).height == 0


def test_edited_article_replaces_its_record_and_is_not_its_own_duplicate(run_etl, raw_dir, out_dir):
    """A correction of the same story (new headline, an added paragraph) is the same file's new version."""
    a = h.make_article(1015)
    p = h.write(raw_dir, "story.txt", h.clean_dump(a))
    h.write_clean_articles(raw_dir, [1016])
    _ok(run_etl(raw_dir, out_dir))
    old_id = h.by_path(h.published(out_dir))["story.txt"]["article_id"]

    edited = h.make_article(1015)
    edited.title = a.title + " after late vote"
    edited.paragraphs = a.paragraphs + ["The vote was taken late on Thursday evening after a long debate."]
    p.write_text(h.clean_dump(edited), encoding="utf-8")
    _bump_mtime(p)
    s2 = _ok(run_etl(raw_dir, out_dir))
    assert s2["files"]["processed"] == 1

    pub, qua = h.published(out_dir), h.quarantine(out_dir)
    assert "story.txt" not in qua["source_path"].to_list(), h.by_path(qua).get("story.txt")
    rows = pub.filter(pl.col("source_path") == "story.txt")
    assert rows.height == 1
    rec = rows.row(0, named=True)
    assert rec["article_id"] == old_id and rec["duplicate_of"] is None
    assert rec["title"] == edited.title and rec["body"] == edited.body


def test_touched_file_next_to_a_new_one_is_not_reprocessed(run_etl, raw_dir, out_dir):
    """Only the mtime changed: the content hash says unchanged, its record is kept as it was."""
    files = h.write_clean_articles(raw_dir, range(1020, 1022))
    _ok(run_etl(raw_dir, out_dir))
    pub = _sorted(h.published(out_dir))
    _bump_mtime(raw_dir / next(iter(files)))
    added = h.write_clean_articles(raw_dir, [1022])
    s2 = _ok(run_etl(raw_dir, out_dir))
    assert s2["files"]["processed"] == 1 and s2["files"]["unchanged"] == 2
    assert s2["records"] == 1
    after = h.published(out_dir)
    assert _sorted(after.filter(pl.col("source_path").is_in(list(files)))).equals(pub)
    assert sorted(after["source_path"]) == sorted([*files, *added])


def test_touched_but_unchanged_file_is_not_reprocessed(run_etl, raw_dir, out_dir):
    """Only the mtime changed: the content hash says unchanged; the run succeeds and publishes nothing new."""
    files = h.write_clean_articles(raw_dir, range(1020, 1022))
    _ok(run_etl(raw_dir, out_dir))
    pub = _sorted(h.published(out_dir))
    _bump_mtime(raw_dir / next(iter(files)))
    s2 = _ok(run_etl(raw_dir, out_dir))
    assert s2["files"]["processed"] == 0
    assert s2["files"]["unchanged"] == 2
    assert s2["records"] == 0
    assert _sorted(h.published(out_dir)).equals(pub)


# ------------------------------------------------------------------ duplicates across runs

def test_copies_of_published_articles_in_a_later_run_are_duplicates(run_etl, raw_dir, out_dir):
    a, b = h.make_article(1030), h.make_article(1031)
    h.write(raw_dir, "site/a.txt", h.clean_dump(a))
    h.write(raw_dir, "site/b.txt", h.clean_dump(b))
    _ok(run_etl(raw_dir, out_dir))
    ids = {p: r["article_id"] for p, r in h.by_path(h.published(out_dir)).items()}
    pub_before = _sorted(h.published(out_dir))

    # the same text under another name, and b re-scraped as a whole page (other boilerplate)
    shutil.copyfile(raw_dir / "site/a.txt", raw_dir / "site/a-copy.txt")
    h.write(raw_dir, "mirror/b-page.txt", h.full_page_dump(b))
    s2 = _ok(run_etl(raw_dir, out_dir))
    assert s2["files"]["processed"] == 2
    assert s2["issues"]["duplicate"] == 2

    assert _sorted(h.published(out_dir)).equals(pub_before), "a copy must not change the published dataset"
    qua = h.by_path(h.quarantine(out_dir))
    assert sorted(qua) == ["mirror/b-page.txt", "site/a-copy.txt"]
    assert "duplicate" in qua["site/a-copy.txt"]["issues"]
    assert qua["site/a-copy.txt"]["duplicate_of"] == ids["site/a.txt"]
    assert "duplicate" in qua["mirror/b-page.txt"]["issues"]
    assert qua["mirror/b-page.txt"]["duplicate_of"] == ids["site/b.txt"]


def test_article_moved_to_a_new_file_while_its_old_file_changes_is_still_published(run_etl, raw_dir, out_dir):
    a, b = h.make_article(1035), h.make_article(1036)
    slot = h.write(raw_dir, "slot1.txt", h.clean_dump(a))
    h.write_clean_articles(raw_dir, [1037])
    _ok(run_etl(raw_dir, out_dir))
    # the site moved story a to archive/a.txt; slot1.txt now holds story b
    h.write(raw_dir, "archive/a.txt", h.clean_dump(a))
    slot.write_text(h.clean_dump(b), encoding="utf-8")
    _bump_mtime(slot)
    _ok(run_etl(raw_dir, out_dir))
    pub, qua = h.by_path(h.published(out_dir)), h.by_path(h.quarantine(out_dir))
    assert pub["slot1.txt"]["title"] == b.title
    assert "archive/a.txt" in pub, (f"story a is published nowhere; archive/a.txt is quarantined as "
                                    f"{qua['archive/a.txt']['issues']} of {qua['archive/a.txt']['duplicate_of']} "
                                    f"(= slot1.txt, which now holds story b)")
    assert pub["archive/a.txt"]["title"] == a.title
    assert not qua


# ------------------------------------------------------------------ no-op rerun

def test_rerun_without_change_does_no_work(run_etl, raw_dir, out_dir):
    h.write_clean_articles(raw_dir, range(1040, 1043))
    h.write(raw_dir, "nodate.txt", h.clean_dump(h.make_article(1043), date=False))
    s1 = _ok(run_etl(raw_dir, out_dir))
    store = Store(out_dir)
    target, versions = h.current_target(out_dir), store.list_versions()
    files = (h.dataset_files(out_dir, "published"), h.dataset_files(out_dir, "quarantine"))
    assert {"parse-batch", "checks", "publish"} <= set(_task_names(s1["flow_run_id"]))

    s2 = _ok(run_etl(raw_dir, out_dir))
    assert s2["files"] == {"found": 4, "processed": 0, "unchanged": 4, "missing_since_last_run": 0}
    assert s2["records"] == 0 and s2["published"] == 0 and s2["quarantined"] == 0
    assert s2["version"] == s1["version"]
    assert h.current_target(out_dir) == target, "a rerun without change switched the current version"
    assert store.list_versions() == versions, "a rerun without change made a version"
    assert (h.dataset_files(out_dir, "published"), h.dataset_files(out_dir, "quarantine")) == files
    assert h.summary_json(out_dir)["run_id"] == s2["run_id"]
    assert h.summary_json(out_dir)["files"]["processed"] == 0
    # no work: the flow never parsed, checked or published anything
    names = _task_names(s2["flow_run_id"])
    assert "discover" in names, names
    assert not {"parse-batch", "checks", "publish"} & set(names), names
    assert not (out_dir / ".cleanwire" / "work" / s2["run_id"]).exists()


# ------------------------------------------------------------------ partitions: hard links, compaction

def test_unchanged_partitions_are_hard_linked_not_rewritten(run_etl, raw_dir, out_dir):
    _write_dated(raw_dir, "mar1.txt", 1050, dt.date(2023, 3, 4))
    _write_dated(raw_dir, "mar2.txt", 1051, dt.date(2023, 3, 20))
    _write_dated(raw_dir, "may.txt", 1052, dt.date(2023, 5, 9))
    s1 = _ok(run_etl(raw_dir, out_dir))
    v1 = s1["version"]
    mar_v1 = _version_files(out_dir, v1, "year=2023/month=3")
    may_v1 = _version_files(out_dir, v1, "year=2023/month=5")
    assert mar_v1 and may_v1

    _write_dated(raw_dir, "aug.txt", 1053, dt.date(2023, 8, 1))   # another month
    s2 = _ok(run_etl(raw_dir, out_dir))
    v2 = s2["version"]
    assert v2 > v1
    assert _version_files(out_dir, v2, "year=2023/month=3") == mar_v1, "untouched partition rewritten"
    assert _version_files(out_dir, v2, "year=2023/month=5") == may_v1, "untouched partition rewritten"
    aug = _version_files(out_dir, v2, "year=2023/month=8")
    assert len(aug) == 1
    # the reader's path (through the links) sees the same files
    seen = h.dataset_files(out_dir, "published")
    assert {k.split("/")[-1]: v[0] for k, v in seen.items() if k.startswith("year=2023/month=3/")} == mar_v1

    _write_dated(raw_dir, "mar3.txt", 1054, dt.date(2023, 3, 28))   # now one into March
    s3 = _ok(run_etl(raw_dir, out_dir))
    mar_v3 = _version_files(out_dir, s3["version"], "year=2023/month=3")
    assert 1 <= len(mar_v3) <= 2, mar_v3
    assert {k: mar_v3[k] for k in mar_v1} == mar_v1, "the existing March file must be linked, not rewritten"
    assert _version_files(out_dir, s3["version"], "year=2023/month=8") == aug
    assert _version_files(out_dir, s3["version"], "year=2023/month=5") == may_v1
    pub = h.published(out_dir)
    assert sorted(pub.filter((pl.col("year") == 2023) & (pl.col("month") == 3))["source_path"]) == \
        ["mar1.txt", "mar2.txt", "mar3.txt"]


def test_many_small_runs_into_one_month_stay_compact(run_etl, raw_dir, out_dir):
    n_runs = MAX_FILES_PER_PARTITION + 3
    part = "year=2023/month=4"
    expected = []
    for i in range(n_runs):
        rel = f"apr_{i:02d}.txt"
        _write_dated(raw_dir, rel, 1100 + i, dt.date(2023, 4, 1 + i))
        expected.append(rel)
        s = _ok(run_etl(raw_dir, out_dir))
        assert s["files"]["processed"] == 1 and s["published"] == 1, s
        files = _version_files(out_dir, s["version"], part)
        assert 1 <= len(files) <= MAX_FILES_PER_PARTITION, f"run {i + 1}: {len(files)} files in {part}"
        # the internal state tables are compacted the same way
        state = Store(out_dir).version_dir(s["version"]) / "state"
        for table in ("records", "files"):
            n = len(list((state / table).glob("*.parquet")))
            assert 1 <= n <= MAX_FILES_PER_PARTITION, f"run {i + 1}: {n} files in state/{table}"
    pub = h.published(out_dir)
    assert sorted(pub["source_path"]) == expected
    assert pub["source_path"].n_unique() == pub.height


# ------------------------------------------------------------------ rollback, history, pruning

def test_rollback_restores_the_previous_version(run_etl, raw_dir, out_dir):
    h.write_clean_articles(raw_dir, range(1200, 1202))
    v1 = _ok(run_etl(raw_dir, out_dir))["version"]
    rows_v1 = _sorted(h.published(out_dir))
    h.write_clean_articles(raw_dir, [1202])
    v2 = _ok(run_etl(raw_dir, out_dir))["version"]
    rows_v2 = _sorted(h.published(out_dir))
    h.write_clean_articles(raw_dir, [1203])
    v3 = _ok(run_etl(raw_dir, out_dir))["version"]
    assert h.published(out_dir).height == 4 and v1 < v2 < v3

    store = Store(out_dir)
    assert store.rollback() == v2
    assert store.current_version() == v2
    assert h.current_target(out_dir) == f"versions/v{v2:06d}"
    assert (out_dir / ".cleanwire" / "current").is_symlink()
    assert not list((out_dir / ".cleanwire").glob(".current.*.tmp")), "the switch left a temporary link"
    assert _sorted(h.published(out_dir)).equals(rows_v2)

    proc = _cli(["rollback", "--output", str(out_dir)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert Store(out_dir).current_version() == v1
    assert _sorted(h.published(out_dir)).equals(rows_v1)

    hist = _cli(["history", "--output", str(out_dir)])
    assert hist.returncode == 0, hist.stdout + hist.stderr
    marked = {}
    for line in hist.stdout.splitlines():
        cells = [c.strip() for c in line.replace("│", "|").replace("┃", "|").split("|")]
        nums = [c for c in cells if c.isdigit()]
        if len(cells) > 2 and nums and int(nums[0]) in (v1, v2, v3):
            marked[int(nums[0])] = "*" in cells[:2]
    assert marked == {v1: True, v2: False, v3: False}, hist.stdout

    # The next run continues from the restored version: files processed after it are processed again.
    s4 = _ok(run_etl(raw_dir, out_dir))
    assert s4["files"]["processed"] == 2
    assert h.published(out_dir).height == 4
    assert s4["version"] > v3


def test_rollback_after_rollback_and_a_new_run_restores_the_runs_parent(run_etl, raw_dir, out_dir):
    h.write_clean_articles(raw_dir, [1205])
    v1 = _ok(run_etl(raw_dir, out_dir))["version"]
    rows_v1 = _sorted(h.published(out_dir))
    h.write_clean_articles(raw_dir, [1206])
    _ok(run_etl(raw_dir, out_dir))                      # v2: a bad publish, say
    store = Store(out_dir)
    assert store.rollback() == v1
    h.write(raw_dir, "nodate.txt", h.clean_dump(h.make_article(1207), date=False))
    s3 = _ok(run_etl(raw_dir, out_dir))                 # v3, built on v1
    assert store.manifest(s3["version"])["parent"] == v1
    assert store.rollback() == v1, "undoing v3 must restore v1 (its parent), not the abandoned v2"
    assert _sorted(h.published(out_dir)).equals(rows_v1)


def test_rollback_without_an_earlier_version_is_refused(run_etl, raw_dir, out_dir):
    h.write_clean_articles(raw_dir, [1210])
    _ok(run_etl(raw_dir, out_dir))
    target = h.current_target(out_dir)
    from cleanwire.errors import StoreError

    with pytest.raises(StoreError):
        Store(out_dir).rollback()
    assert h.current_target(out_dir) == target


def test_only_the_last_versions_are_kept(run_etl, raw_dir, out_dir):
    versions = []
    for i in range(5):
        h.write_clean_articles(raw_dir, [1300 + i])
        versions.append(_ok(run_etl(raw_dir, out_dir, keep_versions=3))["version"])
    store = Store(out_dir)
    kept = sorted(p.name for p in store.versions.iterdir())
    assert kept == [f"v{v:06d}" for v in versions[-3:]], kept
    assert store.current_version() == versions[-1]
    assert h.published(out_dir).height == 5


# ------------------------------------------------------------------ readers agree

def test_polars_duckdb_and_pandas_read_the_same_rows(run_etl, raw_dir, out_dir):
    import duckdb
    import pandas as pd

    dates = [dt.date(2023, 3, 4), dt.date(2023, 3, 20), dt.date(2023, 11, 2), dt.date(2024, 1, 15),
             dt.date(2024, 6, 30)]
    for i, d in enumerate(dates):
        _write_dated(raw_dir, f"news/{i}.txt", 1400 + i, d)
    h.write(raw_dir, "news/nodate.txt", h.clean_dump(h.make_article(1410), date=False))
    _ok(run_etl(raw_dir, out_dir))
    pattern = h.dataset_pattern(out_dir, "published")
    cols = ["article_id", "source_path", "title", "published_date", "word_count"]

    def key(rows) -> list[tuple]:
        return sorted(tuple(r) for r in rows)

    pl_glob = pl.scan_parquet(pattern).select(cols).collect()
    pl_hive = pl.scan_parquet(pattern, hive_partitioning=True).collect()
    duck = duckdb.sql(f"SELECT {', '.join(cols)}, year, month FROM read_parquet('{pattern}', hive_partitioning = true)")
    pdf = pd.read_parquet(out_dir / "published" / "articles")

    expected = key(pl_glob.rows())
    assert len(expected) == len(dates)
    assert key(pl_hive.select(cols).rows()) == expected
    duck_rows = duck.fetchall()
    assert key(r[:len(cols)] for r in duck_rows) == expected
    pdf_rows = [(r.article_id, r.source_path, r.title, pd.Timestamp(r.published_date).date(), int(r.word_count))
                for r in pdf.itertuples()]
    assert key(pdf_rows) == expected
    # the hive columns agree with the dates, in every reader
    assert all(r[-2] == r[3].year and r[-1] == r[3].month for r in duck_rows)
    assert sorted(zip(pdf["year"].astype(int), pdf["month"].astype(int))) == \
        sorted((d.year, d.month) for d in dates)

    # filtering on the partitions
    march = key(pl.scan_parquet(pattern, hive_partitioning=True)
                .filter((pl.col("year") == 2023) & (pl.col("month") == 3)).select(cols).collect().rows())
    assert len(march) == 2
    duck_march = key(duckdb.sql(f"SELECT {', '.join(cols)} FROM read_parquet('{pattern}', hive_partitioning = true) "
                                "WHERE year = 2023 AND month = 3").fetchall())
    pd_march = pd.read_parquet(out_dir / "published" / "articles", filters=[("year", "=", 2023), ("month", "=", 3)])
    assert duck_march == march
    assert sorted(pd_march["article_id"]) == sorted(r[0] for r in march)


# ------------------------------------------------------------------ reprocess quarantine

def _strict_suites(tmp_path: Path, min_words: int) -> Path:
    d = tmp_path / "strict-suites"
    shutil.copytree(h.REPO / "expectations", d)
    suite = json.loads((d / "articles.json").read_text())
    hits = [e for e in suite["expectations"] if e["meta"].get("issue_code") == "empty_body"]
    assert len(hits) == 1
    hits[0]["kwargs"]["min_value"] = min_words
    (d / "articles.json").write_text(json.dumps(suite, indent=1))
    return d


def test_reprocess_quarantine_publishes_what_now_passes(run_etl, raw_dir, out_dir, tmp_path):
    short = h.make_article(1500, n_paragraphs=1)           # a short but real article (~40 words)
    n_words = len(short.body.split())
    assert 25 <= n_words < 100, n_words
    h.write(raw_dir, "short.txt", h.clean_dump(short))
    h.write(raw_dir, "short2.txt", h.clean_dump(h.make_article(1501, n_paragraphs=1)))
    h.write_clean_articles(raw_dir, [1502])
    h.write(raw_dir, "nodate.txt", h.clean_dump(h.make_article(1503), date=False))
    # a feed with one broken line: its good records are published, the broken one quarantined
    h.write(raw_dir, "feed.jsonl", "\n".join([h.json_record(h.make_article(1504)), "{oops",
                                              h.json_record(h.make_article(1505))]) + "\n")
    strict = _strict_suites(tmp_path, min_words=100)

    _ok(run_etl(raw_dir, out_dir, suites=str(strict)))
    qua = h.by_path(h.quarantine(out_dir))
    assert sorted(qua) == ["feed.jsonl#2", "nodate.txt", "short.txt", "short2.txt"]
    assert qua["short.txt"]["issues"] == ["empty_body"]
    feed_before = _sorted(h.published(out_dir).filter(pl.col("source_path").str.starts_with("feed.jsonl")))
    assert feed_before["source_path"].to_list() == ["feed.jsonl#1", "feed.jsonl#3"]

    (raw_dir / "short2.txt").unlink()                         # its raw file is gone now
    s2 = _ok(run_etl(raw_dir, out_dir, reprocess_quarantine=True))
    assert s2["files"]["processed"] == 3                       # short.txt, nodate.txt, feed.jsonl
    assert s2["files"]["missing_since_last_run"] == 1          # short2.txt: reported, not a crash
    pub, qua = h.by_path(h.published(out_dir)), h.by_path(h.quarantine(out_dir))
    assert sorted(pub) == ["clean_1502.txt", "feed.jsonl#1", "feed.jsonl#3", "short.txt"]
    assert qua["feed.jsonl#2"]["issues"] == ["unreadable"]
    for p in ("feed.jsonl#1", "feed.jsonl#3"):
        assert pub[p]["duplicate_of"] is None and pub[p]["title"] == h.by_path(feed_before)[p]["title"]
    assert pub["short.txt"]["title"] == short.title and pub["short.txt"]["body"] == short.body
    assert "short.txt" not in qua, "a reprocessed record that passes must leave quarantine"
    assert qua["nodate.txt"]["issues"] == ["missing_date"]
    assert qua["short2.txt"]["issues"] == ["empty_body"], "a record whose raw file is gone stays as it was"
    everything = h.published(out_dir)["source_path"].to_list() + h.quarantine(out_dir)["source_path"].to_list()
    assert sorted(everything) == sorted(set(everything)), "a record appears twice after reprocessing"


def test_reprocess_quarantine_cli_reports_a_missing_raw_file(run_etl, raw_dir, out_dir, tmp_path):
    h.write(raw_dir, "short.txt", h.clean_dump(h.make_article(1510, n_paragraphs=1)))
    h.write(raw_dir, "gone.txt", h.clean_dump(h.make_article(1511, n_paragraphs=1)))
    _ok(run_etl(raw_dir, out_dir, suites=str(_strict_suites(tmp_path, min_words=100))))
    assert h.published(out_dir).height == 0
    (raw_dir / "gone.txt").unlink()
    proc = _cli(["reprocess-quarantine", "--input", str(raw_dir), "--output", str(out_dir)], timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert h.summary_json(out_dir)["files"]["missing_since_last_run"] == 1
    assert sorted(h.published(out_dir)["source_path"]) == ["short.txt"]
    assert sorted(h.quarantine(out_dir)["source_path"]) == ["gone.txt"]


# ------------------------------------------------------------------ metrics history

def test_metrics_history_gains_rows_per_source_and_run(run_etl, raw_dir, out_dir):
    from cleanwire.types import ISSUE_CODES

    h.write_clean_articles(raw_dir / "siteA", range(1600, 1603))
    h.write(raw_dir, "siteB/nodate.txt", h.clean_dump(h.make_article(1603), date=False))
    h.write_clean_articles(raw_dir / "siteB", [1604])
    h.write_clean_articles(raw_dir, [1605])                   # a file at the top: source '.'
    s1 = _ok(run_etl(raw_dir, out_dir))
    hist = read_history(out_dir)
    assert hist is not None
    assert (out_dir / "reports" / "metrics_history.parquet").is_file()
    for code in ISSUE_CODES:
        assert f"share_{code}" in hist.columns
    run1 = hist.filter(pl.col("run_id") == s1["run_id"])
    assert sorted(run1["source"]) == [".", "ALL", "siteA", "siteB"]
    by_src = {r["source"]: r for r in run1.iter_rows(named=True)}
    assert by_src["ALL"]["records"] == 6 and by_src["ALL"]["published"] == 5 and by_src["ALL"]["quarantined"] == 1
    assert by_src["siteA"]["records"] == 3 and by_src["siteA"]["share_missing_date"] == 0
    assert by_src["siteB"]["records"] == 2 and by_src["siteB"]["share_missing_date"] == pytest.approx(0.5)
    assert by_src["ALL"]["share_missing_date"] == pytest.approx(1 / 6)
    shares = run1.select([f"share_{c}" for c in ISSUE_CODES])
    assert all(0.0 <= v <= 1.0 for row in shares.rows() for v in row)

    h.write_clean_articles(raw_dir / "siteC", [1606])
    h.write(raw_dir, "siteC/empty.txt", b"")
    s2 = _ok(run_etl(raw_dir, out_dir))
    hist2 = read_history(out_dir)
    # siteC, ALL, and a row for each source that delivered nothing (0 records: its freshness, checks/freshness.py)
    assert hist2.height == hist.height + 5
    assert hist2.filter(pl.col("run_id") == s1["run_id"]).sort("source").equals(run1.sort("source")), \
        "earlier runs' rows must be kept as they were"
    run2 = {r["source"]: r for r in hist2.filter(pl.col("run_id") == s2["run_id"]).iter_rows(named=True)}
    assert sorted(run2) == [".", "ALL", "siteA", "siteB", "siteC"]
    assert all(run2[s]["records"] == 0 and run2[s]["new_files"] == 0 for s in (".", "siteA", "siteB"))
    assert run2["siteC"]["records"] == 2 and run2["siteC"]["share_unreadable"] == pytest.approx(0.5)
    assert s2["reports"]["metrics_history"] == str(out_dir / "reports" / "metrics_history.parquet")
