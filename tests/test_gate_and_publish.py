"""The batch gate and the versioned, atomic publish (real flow runs, real Store, real Parquet)."""
from __future__ import annotations

import os
import re
import threading
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

import helpers as h
from cleanwire.publish.store import Store

N_GOOD = 20          # batch.json checks the quarantined share from meta.min_rows = 20 records on
N_BAD, N_FINE = 20, 4



def _write_bad_batch(raw: Path) -> tuple[list[str], list[str]]:
    """N_BAD complete articles without a date, N_FINE clean ones: the share quarantined is N_BAD / total."""
    bad = []
    for s in range(400, 400 + N_BAD):
        rel = f"batch2/nodate_{s}.txt"
        h.write(raw, rel, h.clean_dump(h.make_article(s), date=False))
        bad.append(rel)
    fine = list(h.write_clean_articles(raw / "batch2", range(400 + N_BAD, 400 + N_BAD + N_FINE)))
    return bad, [f"batch2/{p}" for p in fine]


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+\.\d+", text)]


def _assert_refused(state, share: float) -> None:
    assert state.is_failed(), f"expected the gate to refuse, got {state.type}: {state.message}"
    msg = state.message or ""
    assert "quarantined" in msg, msg
    assert any(abs(x - share) < 0.01 for x in _numbers(msg)), f"share {share:.3f} not named in: {msg}"


# ------------------------------------------------------------------ 3. batch gate

def test_gate_refuses_a_mostly_bad_batch_then_override_publishes(run_etl, raw_dir, out_dir):
    bad, fine = _write_bad_batch(raw_dir)
    refused = run_etl(raw_dir, out_dir)
    _assert_refused(refused, N_BAD / (N_BAD + N_FINE))
    assert h.published(out_dir).height == 0, "a refused run published records"
    qua = h.by_path(h.quarantine(out_dir))
    assert sorted(qua) == sorted(bad + fine)
    assert all("missing_date" in qua[p]["issues"] for p in bad)
    assert all(qua[p]["issues"] == ["batch_rejected"] for p in fine)
    summary = h.summary_json(out_dir)
    assert summary["gate"]["ok"] is False
    assert summary["published"] == 0

    fixed = run_etl(raw_dir, out_dir, max_quarantined_share=1.0)
    assert fixed.is_completed(), fixed.message
    pub, qua = h.published(out_dir), h.quarantine(out_dir)
    assert sorted(pub["source_path"]) == sorted(fine)
    assert sorted(qua["source_path"]) == sorted(bad), "records of the refused run must be replaced, not kept"
    assert all(i == ["missing_date"] for i in qua["issues"].to_list())
    assert h.summary_json(out_dir)["gate"]["ok"] is True


def test_gate_refusal_keeps_the_published_version(run_etl, raw_dir, out_dir):
    good = h.write_clean_articles(raw_dir, range(300, 300 + N_GOOD))
    first = run_etl(raw_dir, out_dir)
    assert first.is_completed(), first.message
    assert sorted(h.published(out_dir)["source_path"]) == sorted(good)
    assert Store(out_dir).current_version() == 1
    rows_before = h.published(out_dir).sort("source_path")
    files_before = h.dataset_files(out_dir, "published")

    bad, fine = _write_bad_batch(raw_dir)
    refused = run_etl(raw_dir, out_dir)
    _assert_refused(refused, N_BAD / (N_BAD + N_FINE))
    assert h.dataset_files(out_dir, "published") == files_before, "published Parquet files changed"
    assert h.published(out_dir).sort("source_path").equals(rows_before)
    qua = h.by_path(h.quarantine(out_dir))
    assert sorted(qua) == sorted(bad + fine)
    assert h.summary_json(out_dir)["gate"]["ok"] is False

    fixed = run_etl(raw_dir, out_dir, max_quarantined_share=1.0)
    assert fixed.is_completed(), fixed.message
    pub = h.published(out_dir)
    assert sorted(pub["source_path"]) == sorted(list(good) + fine)
    assert sorted(h.quarantine(out_dir)["source_path"]) == sorted(bad)


def test_new_files_after_a_publish_are_published(run_etl, raw_dir, out_dir):
    first = h.write_clean_articles(raw_dir, range(700, 703))
    s1 = run_etl(raw_dir, out_dir)
    assert s1.is_completed(), s1.message
    added = h.write_clean_articles(raw_dir, range(703, 705))
    s2 = run_etl(raw_dir, out_dir)
    assert s2.is_completed(), s2.message
    assert s2.result()["files"]["processed"] == len(added)
    assert sorted(h.published(out_dir)["source_path"]) == sorted([*first, *added])


def test_copy_of_an_already_published_article_is_a_duplicate(run_etl, raw_dir, out_dir):
    a = h.make_article(710)
    h.write(raw_dir, "first.txt", h.clean_dump(a))
    s1 = run_etl(raw_dir, out_dir)
    assert s1.is_completed(), s1.message
    first_id = h.by_path(h.published(out_dir))["first.txt"]["article_id"]
    h.write(raw_dir, "later/other_outlet.txt", h.full_page_dump(a))
    s2 = run_etl(raw_dir, out_dir)
    assert s2.is_completed(), s2.message
    assert sorted(h.published(out_dir)["source_path"]) == ["first.txt"]
    dup = h.by_path(h.quarantine(out_dir))["later/other_outlet.txt"]
    assert "duplicate" in dup["issues"] and dup["duplicate_of"] == first_id


# ------------------------------------------------------------------ 4. atomic publish

def test_crash_before_commit_keeps_the_current_version(run_etl, seeds_copy, out_dir):
    state = run_etl(seeds_copy, out_dir)
    assert state.is_completed(), state.message
    store = Store(out_dir)
    version, target = store.current_version(), h.current_target(out_dir)
    files = (h.dataset_files(out_dir, "published"), h.dataset_files(out_dir, "quarantine"))
    rows = h.published(out_dir)

    build = None
    with pytest.raises(RuntimeError, match="crash"):
        v, build, old = store.begin()
        assert old == store.version_dir(version)
        part = build / "published" / "articles" / "year=2099" / "month=1"
        part.mkdir(parents=True)
        rows.drop("year", "month").head(1).write_parquet(part / f"part-v{v:06d}.parquet")
        raise RuntimeError("crash before commit")

    assert build is not None and build.is_dir() and build.name.endswith(".tmp")
    assert store.current_version() == version and h.current_target(out_dir) == target
    assert (h.dataset_files(out_dir, "published"), h.dataset_files(out_dir, "quarantine")) == files
    assert h.published(out_dir).equals(rows)
    assert store.list_versions() == [version], "an unfinished build must never count as a version"

    nxt = run_etl(seeds_copy, out_dir)  # nothing new to do; the run still tidies the store
    assert nxt.is_completed(), nxt.message
    assert not build.exists(), "the next run must remove the build a crash left behind"
    assert not list(store.versions.glob("*.tmp"))
    assert h.current_target(out_dir) == target
    assert h.published(out_dir).equals(rows)


def test_readers_always_see_a_complete_version(tmp_path):
    """A writer commits versions while a reader resolves OUT/published and reads it, over and over."""
    out = tmp_path / "out"
    store = Store(out, keep=1000)
    n_versions = 40

    def publish_version():
        v, build, _ = store.begin()
        part = build / "published" / "articles" / f"part={v % 3}"
        part.mkdir(parents=True)
        # version v holds v rows, each naming v: a mix of versions, or a half-written one, shows.
        pl.DataFrame({"version": [v] * v}).write_parquet(part / f"part-v{v:06d}.parquet")
        store.commit(v, build, {"rows": v})

    publish_version()
    link = out / ".cleanwire" / "current"
    assert link.is_symlink() and (out / "published").is_symlink()
    assert os.readlink(out / "published") == ".cleanwire/current/published", "readers resolve through `current`"

    seen, problems, done = Counter(), [], threading.Event()

    def reader():
        while not done.is_set():
            try:
                target = os.readlink(link)
                root = Path(os.path.realpath(out / "published"))
                version_dir = root.parent
                if version_dir.name.endswith(".tmp") or not (version_dir / "manifest.json").is_file():
                    problems.append(f"published resolved to an unsealed build {version_dir}")
                    continue
                df = pl.read_parquet(sorted((root / "articles").rglob("*.parquet")))
                v = int(version_dir.name.lstrip("v"))
                if df["version"].to_list() != [v] * v:
                    problems.append(f"{version_dir.name} read as {Counter(df['version'].to_list())}")
                seen[target] += 1
            except Exception as e:  # noqa: BLE001 - a missing link or file is exactly the failure
                problems.append(f"{type(e).__name__}: {e}")

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(n_versions - 1):
            publish_version()
    finally:
        done.set()
        t.join()
    assert not problems, problems[:5]
    assert len(seen) >= 2, "the reader never overlapped a switch; the test proved nothing"
    assert store.current_version() == n_versions
    assert h.published(out).height == n_versions


def test_decisions_reach_each_row_group_in_order_and_out_of_order():
    """publish takes each row group's decisions: in the checks' order as slices, else by id."""
    from cleanwire.publish.tables import _decisions_for

    decisions = pl.DataFrame({"article_id": list("abcdef"), "issues": [[], ["x"], [], ["y"], [], ["z"]]})
    take = _decisions_for(decisions)
    assert take(pl.Series(["a", "b", "c"])).equals(decisions.slice(0, 3))
    # out of order (and an id without a decision): found by id from then on
    got = take(pl.Series(["e", "d", "q"]))
    assert got["article_id"].to_list() == ["e", "d"] and got["issues"].to_list() == [[], ["y"]]
    assert take(pl.Series(["f"]))["issues"].to_list() == [["z"]]


def test_a_row_groups_decisions_carry_the_fills_of_its_duplicate_group_members():
    """Fill columns live once per group member (`fills`); each row group gets them by `fill_row`."""
    from cleanwire.publish.tables import _decisions_for

    decisions = pl.DataFrame({"article_id": list("abcd"), "issues": [[], ["duplicate"], [], []],
                              "fill_row": pl.Series([0, 1, None, None], dtype=pl.UInt32)})
    fills = pl.DataFrame({"article_id": ["a", "b"], "duplicate_of": [None, "a"],
                          "fill_title": ["Ferry timetable approved", None]})
    take = _decisions_for(decisions, fills)
    first = take(pl.Series(["a", "b"]))
    assert first.columns == ["article_id", "issues", "duplicate_of", "fill_title"]
    assert first["duplicate_of"].to_list() == [None, "a"]
    assert first["fill_title"].to_list() == ["Ferry timetable approved", None]
    later = take(pl.Series(["d", "c"]))  # out of order: found by id, no group: no fills
    assert later["article_id"].to_list() == ["d", "c"]
    assert later["duplicate_of"].to_list() == [None, None] and later["fill_title"].to_list() == [None, None]
