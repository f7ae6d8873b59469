"""`--table-format delta` on a local output: the same records as the Parquet format, one Delta commit per
table per run, a changed raw file replaced in one commit, history, rollback (Delta restore), vacuum
(--keep-versions) and compaction (optimize.compact), and an output that keeps its format.
"""
from __future__ import annotations

import polars as pl
import pytest

import helpers as h

STABLE = ["article_id", "source_path", "title", "published_date", "body", "word_count", "duplicate_of", "issues"]


def _delta(out, name: str, version: int | None = None) -> pl.DataFrame:
    return pl.read_delta(str(out / name / "articles"), version=version)


def _stable(df: pl.DataFrame) -> pl.DataFrame:
    return df.select(STABLE).sort("source_path")


def _table_version(path) -> int:
    from deltalake import DeltaTable

    return DeltaTable(str(path)).version()


def test_seeds_as_delta_hold_the_same_records_as_parquet(run_etl, seeds_copy, tmp_path):
    delta_out, parquet_out = tmp_path / "delta", tmp_path / "parquet"
    assert run_etl(seeds_copy, delta_out, table_format="delta").is_completed()
    assert run_etl(seeds_copy, parquet_out).is_completed()
    pub, qua = _delta(delta_out, "published"), _delta(delta_out, "quarantine")
    assert pub.height == 1 and qua.height == 4
    assert pub["title"][0] == "Blinken talks to Japanese, South Korean counterparts ahead of China trip"
    assert str(pub["published_date"][0]) == "2023-06-17"
    assert _stable(pub).equals(_stable(h.published(parquet_out)))
    assert _stable(qua).equals(_stable(h.quarantine(parquet_out)))
    h.check_contract_schema(pub, "published")
    # Partitioned as the Parquet layout is; one commit on each table (version 0 is the empty table).
    assert (delta_out / "published/articles/year=2023/month=6").is_dir()
    assert _table_version(delta_out / "published/articles") == 1
    assert _table_version(delta_out / "quarantine/articles") == 1
    assert not (delta_out / "published").is_symlink()

    # A rerun with nothing new makes no version (the format is found from the output).
    from cleanwire.publish.store import open_store

    assert run_etl(seeds_copy, delta_out).is_completed()
    assert open_store(delta_out).current_version() == 1
    assert _table_version(delta_out / "published/articles") == 1


def test_changed_file_is_replaced_in_one_commit_and_time_travel_keeps_the_old(run_etl, raw_dir, out_dir):
    arts = h.write_clean_articles(raw_dir, [1, 2, 3])
    assert run_etl(raw_dir, out_dir, table_format="delta").is_completed()
    before = _delta(out_dir, "published")
    assert sorted(before["title"]) == sorted(a.title for a in arts.values())
    new = h.make_article(41)
    h.write(raw_dir, "clean_0002.txt", h.clean_dump(new))
    state = run_etl(raw_dir, out_dir)
    assert state.is_completed()
    assert state.result()["files"]["processed"] == 1 and state.result()["files"]["unchanged"] == 2
    pub_dir = out_dir / "published/articles"
    assert _table_version(pub_dir) == 2, "the replacement must be one commit (removes and adds together)"
    after = _delta(out_dir, "published")
    assert after.height == 3
    assert h.by_path(after)["clean_0002.txt"]["title"] == new.title
    assert arts["clean_0002.txt"].title not in after["title"].to_list()
    # Time travel: version 1 still reads as it was.
    assert _stable(_delta(out_dir, "published", version=1)).equals(_stable(before))
    from deltalake import DeltaTable

    last = DeltaTable(str(pub_dir)).history(1)[0]
    assert last.get("cleanwire_version") == 2


def test_history_and_rollback_restore_every_table(run_etl, raw_dir, out_dir):
    from cleanwire.publish.delta import DeltaStore

    h.write_clean_articles(raw_dir, [5, 6])
    assert run_etl(raw_dir, out_dir, table_format="delta").is_completed()
    v1 = _stable(_delta(out_dir, "published"))
    h.write_clean_articles(raw_dir, [7])
    assert run_etl(raw_dir, out_dir).is_completed()
    assert _delta(out_dir, "published").height == 3
    store = DeltaStore(out_dir)
    hist = store.history()
    assert [m["version"] for m in hist] == [1, 2] and hist[-1]["current"]
    assert hist[-1]["parent"] == 1 and hist[-1]["published_total"] == 3

    assert store.rollback() == 1
    store = DeltaStore(out_dir)
    assert store.current_version() == 3
    assert store.manifest(3)["kind"] == "rollback" and store.manifest(3)["restored"] == 1
    assert _stable(_delta(out_dir, "published")).equals(v1)
    # The state went back too: the file added after version 1 is processed again by the next run.
    state = run_etl(raw_dir, out_dir)
    assert state.is_completed() and state.result()["files"]["processed"] == 1
    assert _delta(out_dir, "published").height == 3
    with pytest.raises(Exception, match="does not exist"):
        DeltaStore(out_dir).rollback(to=99)


def test_vacuum_keeps_the_versions_asked_for_and_compaction_merges_small_files(run_etl, raw_dir, out_dir,
                                                                              monkeypatch):
    from deltalake import DeltaTable

    from cleanwire.publish import delta

    monkeypatch.setattr(delta, "VACUUM_MIN_HOURS", 0)  # the test cannot wait an hour
    h.write_clean_articles(raw_dir, [11, 12])
    assert run_etl(raw_dir, out_dir, table_format="delta", keep_versions=1).is_completed()
    pub_dir = out_dir / "published/articles"
    first_files = set(DeltaTable(str(pub_dir)).file_uris())
    h.write(raw_dir, "clean_0011.txt", h.clean_dump(h.make_article(13)))   # replaces a file of version 1
    assert run_etl(raw_dir, out_dir, keep_versions=1).is_completed()
    current = set(DeltaTable(str(pub_dir)).file_uris())
    import os

    assert all(os.path.exists(f) for f in current), "vacuum removed a file the current version needs"
    gone = first_files - current
    assert gone and not any(os.path.exists(f) for f in gone), "version 1's replaced file should be vacuumed"
    assert _delta(out_dir, "published").height == 2

    # Compaction: a partition holding more than max_files files is rewritten by optimize.compact.
    h.write_clean_articles(raw_dir, [14])
    assert run_etl(raw_dir, out_dir, keep_versions=1).is_completed()
    store = delta.DeltaStore(out_dir, max_files=1)
    pub_before = _stable(_delta(out_dir, "published"))
    files_before = len(DeltaTable(str(out_dir / ".cleanwire/state/files")).file_uris())
    assert files_before > 1
    done = store.maintain(store.current_version(), ["state/files"])
    assert done["state/files"]["compacted"] == 1
    assert len(DeltaTable(str(out_dir / ".cleanwire/state/files")).file_uris()) == 1
    assert pl.read_delta(str(out_dir / ".cleanwire/state/files")).height == 3
    assert _stable(_delta(out_dir, "published")).equals(pub_before)
    assert _delta(out_dir, "quarantine").height == 0  # both datasets exist, even while empty


def test_an_output_keeps_its_table_format(run_etl, seeds_copy, out_dir):
    from cleanwire.config import RunConfig, check_paths
    from cleanwire.errors import ConfigError

    assert run_etl(seeds_copy, out_dir).is_completed()  # parquet
    with pytest.raises(ConfigError, match="holds the parquet table format"):
        check_paths(RunConfig(input=str(seeds_copy), output=str(out_dir), table_format="delta"))
    with pytest.raises(ValueError, match="always written as Delta"):
        RunConfig(input=str(seeds_copy), output="s3://news/out", table_format="parquet")
