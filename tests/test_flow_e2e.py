"""End-to-end behaviour of the `news-etl` flow: real Prefect API, real GX validation, real Parquet.

Fixtures are clear-cut on purpose (long complete articles ending with a full
stop; obvious defects), so their outcome does not hinge on parsing heuristics.
"""
from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter

import polars as pl
import pytest

import helpers as h

BLINKEN_TITLE = "Blinken talks to Japanese, South Korean counterparts ahead of China trip"
SEED_BOILERPLATE = ["MIN READ", "Photo: AP", "Melis Alemdar", "Related", "RECOMMENDED", "SOURCE:", "Explore",
                    "Gold soars"]
PAGE_BOILERPLATE = ["Home", "Menu", "MIN READ", "ADVERTISEMENT", "Related", "Explore", "Share", "cookies",
                    "Ferry operators warn"]


def _only_row(df: pl.DataFrame, path: str) -> dict:
    rows = df.filter(pl.col("source_path") == path)
    assert rows.height == 1, f"{path}: expected 1 record, found {rows.height}"
    return rows.row(0, named=True)


# ------------------------------------------------------------------ 1. the seed files

@pytest.fixture(scope="module")
def seeds_run(run_etl, tmp_path_factory):
    base = tmp_path_factory.mktemp("seeds")
    raw, out = base / "raw", base / "out"
    shutil.copytree(h.SEED_DIR, raw)
    state = run_etl(raw, out)
    assert state.is_completed(), state.message
    return out


def test_seeds_publish_only_the_complete_blinken_article(seeds_run):
    pub = h.published(seeds_run)
    assert pub.height == 1
    rec = pub.row(0, named=True)
    assert rec["source_path"] == "001_ec1a0306231af1c5.txt"
    assert rec["title"] == BLINKEN_TITLE
    assert rec["published_date"] == dt.date(2023, 6, 17)
    assert rec["section"] == "WORLD"
    assert rec["issues"] == []
    assert rec["duplicate_of"] is None
    body = rec["body"]
    assert body.startswith("United States Secretary of State Antony Blinken has spoken")
    assert body.endswith('how... to get along."')
    for junk in SEED_BOILERPLATE:
        assert junk not in body, f"boilerplate {junk!r} left in the body"
    assert rec["word_count"] == len(body.split())


def test_seeds_quarantine_with_reasons(seeds_run):
    pub, qua = h.published(seeds_run), h.quarantine(seeds_run)
    published_id = pub["article_id"][0]
    assert sorted(qua["source_path"]) == ["000_62275745543c0e16.txt", "002_78b0ef7fd78df279.txt",
                                          "003_fd7d536830c83d2c.txt", "004_68953e5cd2ab7c5b.txt"]
    dup = _only_row(qua, "000_62275745543c0e16.txt")
    assert "duplicate" in dup["issues"]
    assert dup["duplicate_of"] == published_id
    assert "missing_date" in _only_row(qua, "002_78b0ef7fd78df279.txt")["issues"]
    wire = _only_row(qua, "003_fd7d536830c83d2c.txt")
    assert "missing_date" in wire["issues"]
    assert wire["dateline"] == "ANKARA"
    assert {"missing_title", "missing_date"} <= set(_only_row(qua, "004_68953e5cd2ab7c5b.txt")["issues"])


def test_seeds_datasets_have_contract_columns_and_types(seeds_run):
    for name in ("published", "quarantine"):
        df = h.read_dataset(seeds_run, name)
        assert df.height > 0
        for col, dtype in h.CONTRACT_TYPES.items():
            assert col in df.columns, f"{name}: column {col} missing"
            if col == "word_count":
                assert df.schema[col].is_integer(), f"{name}.word_count is {df.schema[col]}"
            else:
                assert df.schema[col] == dtype, f"{name}.{col} is {df.schema[col]}, contract says {dtype}"
    assert h.published(seeds_run)["issues"].list.len().max() == 0
    assert h.quarantine(seeds_run)["issues"].list.len().min() >= 1


# ------------------------------------------------------------------ 2. every issue code

OTHER_HEADLINE = h.make_article(9999).title
ISSUE_FILES = {
    # clean controls: published exactly as written
    "clean_0101.txt": lambda: h.clean_dump(h.make_article(101)),
    "clean_0102.txt": lambda: h.clean_dump(h.make_article(102)),
    "clean_0103.txt": lambda: h.clean_dump(h.make_article(103)),
    "page_0104.txt": lambda: h.full_page_dump(h.make_article(104)),
    "story_0105.html": lambda: h.html_page(h.make_article(105)),
    # one defect each
    "nodate_0201.txt": lambda: h.clean_dump(h.make_article(201), date=False),
    "notitle_0202.txt": lambda: h.no_title_dump(h.make_article(202)),
    "label_0203.txt": lambda: h.label_title_dump(h.make_article(203)),
    "related_0204.txt": lambda: h.related_title_dump(h.make_article(204), OTHER_HEADLINE),
    "cut_0205.txt": lambda: h.cut_mid_sentence_dump(h.make_article(205)),
    "stub_0206.txt": lambda: h.chars_stub_dump(h.make_article(206)),
    "navonly_0207.txt": lambda: h.empty_body_dump(h.make_article(207)),
    # one article, two scrapes with different boilerplate
    "dup_0208_clean.txt": lambda: h.clean_dump(h.make_article(208)),
    "dup_0208_page.txt": lambda: h.full_page_dump(h.make_article(208)),
    # a complete copy without a date + a dated feed snippet of the same article
    "fill_0209_page.txt": lambda: h.full_page_dump(h.make_article(209), date=False),
    "fill_0209_snippet.txt": lambda: h.chars_stub_dump(h.make_article(209), keep=3),
    # unreadable
    "empty.txt": lambda: b"",
    "image.png": lambda: h.PNG_HEADER,
    "feed.jsonl": lambda: "\n".join([h.json_record(h.make_article(210)), '{"title": "broken", "content": ',
                                     h.json_record(h.make_article(211))]) + "\n",
    # a full page whose byline reads 'By First Last'
    "byline_0212.txt": lambda: h.full_page_dump(h.make_article(212), byline="By Jane Holloway"),
}


@pytest.fixture(scope="module")
def issues_run(run_etl, tmp_path_factory):
    base = tmp_path_factory.mktemp("issues")
    raw, out = base / "raw", base / "out"
    for rel, make in ISSUE_FILES.items():
        h.write(raw, rel, make())
    state = run_etl(raw, out, max_quarantined_share=1.0)
    assert state.is_completed(), state.message
    return h.published(out), h.quarantine(out)


def test_clean_articles_published_as_written(issues_run):
    pub, qua = issues_run
    for rel, seed in [("clean_0101.txt", 101), ("clean_0102.txt", 102), ("clean_0103.txt", 103),
                      ("page_0104.txt", 104)]:
        a = h.make_article(seed)
        rec = _only_row(pub, rel)
        assert rec["issues"] == []
        assert rec["title"] == a.title
        assert rec["published_date"] == a.date
        assert rec["body"] == a.body, f"{rel}: body is not the article's paragraphs"
        assert rec["word_count"] == len(a.body.split())
        assert rec["duplicate_of"] is None
        assert rel not in set(qua["source_path"])
    page_body = _only_row(pub, "page_0104.txt")["body"]
    for junk in PAGE_BOILERPLATE:
        assert junk not in page_body


def test_html_article_published(issues_run):
    pub, _ = issues_run
    a = h.make_article(105)
    rec = _only_row(pub, "story_0105.html")
    assert rec["title"] == a.title
    assert rec["published_date"] == a.date
    assert a.paragraphs[0] in rec["body"] and rec["body"].endswith(a.paragraphs[-1])
    assert "Copyright" not in rec["body"]


def test_missing_date(issues_run):
    pub, qua = issues_run
    rec = _only_row(qua, "nodate_0201.txt")
    assert rec["issues"] == ["missing_date"]
    assert rec["published_date"] is None
    assert rec["title"] == h.make_article(201).title
    assert "nodate_0201.txt" not in set(pub["source_path"])


def test_missing_title(issues_run):
    _, qua = issues_run
    a = h.make_article(202)
    rec = _only_row(qua, "notitle_0202.txt")
    assert rec["issues"] == ["missing_title"]
    assert rec["title"] is None
    assert rec["published_date"] == a.date


def test_title_mismatch_section_label(issues_run):
    _, qua = issues_run
    rec = _only_row(qua, "label_0203.txt")
    assert rec["issues"] == ["title_mismatch"]


def test_title_mismatch_related_link(issues_run):
    _, qua = issues_run
    rec = _only_row(qua, "related_0204.txt")
    assert rec["issues"] == ["title_mismatch"]
    assert rec["title"] != h.make_article(204).title


def test_truncated_mid_sentence(issues_run):
    _, qua = issues_run
    assert _only_row(qua, "cut_0205.txt")["issues"] == ["truncated_body"]


def test_truncated_chars_stub(issues_run):
    _, qua = issues_run
    rec = _only_row(qua, "stub_0206.txt")
    assert rec["issues"] == ["truncated_body"]
    assert "[+1234 chars]" not in (rec["body"] or "")


def test_empty_body(issues_run):
    _, qua = issues_run
    rec = _only_row(qua, "navonly_0207.txt")
    assert rec["issues"] == ["empty_body"]
    assert rec["word_count"] == 0


def test_duplicate_scrapes_publish_one_copy(issues_run):
    pub, qua = issues_run
    copies = ["dup_0208_clean.txt", "dup_0208_page.txt"]
    pub_copies = pub.filter(pl.col("source_path").is_in(copies))
    assert pub_copies.height == 1, "exactly one copy of the article is published"
    kept = pub_copies.row(0, named=True)
    other = _only_row(qua, next(c for c in copies if c != kept["source_path"]))
    assert other["issues"] == ["duplicate"]
    assert other["duplicate_of"] == kept["article_id"]
    assert kept["body"] == h.make_article(208).body


def test_duplicate_lends_its_date_to_the_published_copy(issues_run):
    pub, qua = issues_run
    a = h.make_article(209)
    kept = _only_row(pub, "fill_0209_page.txt")
    assert kept["published_date"] == a.date, "the published copy takes the date of its duplicate"
    assert kept["issues"] == []
    snippet = _only_row(qua, "fill_0209_snippet.txt")
    assert "duplicate" in snippet["issues"]
    assert snippet["duplicate_of"] == kept["article_id"]


def test_unreadable_empty_and_binary_files(issues_run):
    _, qua = issues_run
    assert _only_row(qua, "empty.txt")["issues"] == ["unreadable"]
    assert _only_row(qua, "image.png")["issues"] == ["unreadable"]


def test_unreadable_jsonl_line_is_one_record_per_line(issues_run):
    pub, qua = issues_run
    both = pl.concat([pub.select("source_path"), qua.select("source_path")])
    feed = sorted(p for p in both["source_path"] if p.startswith("feed.jsonl"))
    assert feed == ["feed.jsonl#1", "feed.jsonl#2", "feed.jsonl#3"]
    assert _only_row(qua, "feed.jsonl#2")["issues"] == ["unreadable"]
    for n, seed in [(1, 210), (3, 211)]:
        a = h.make_article(seed)
        rec = _only_row(pub, f"feed.jsonl#{n}")
        assert (rec["title"], rec["published_date"], rec["body"]) == (a.title, a.date, a.body)


def test_capitalised_byline_is_not_taken_for_the_headline(issues_run):
    pub, qua = issues_run
    a = h.make_article(212)
    cols = list(h.CONTRACT_TYPES)
    rec = _only_row(pl.concat([pub.select(cols), qua.select(cols)]), "byline_0212.txt")
    assert rec["issues"] == [], f"a complete article was quarantined as {rec['issues']} (title {rec['title']!r})"
    assert rec["title"] == a.title
    assert rec["author"] == "Jane Holloway"
    assert rec["body"] == a.body


# ------------------------------------------------------------------ 5. rerun stability

STABLE_COLUMNS = ["article_id", "source_path", "title", "published_date", "body", "issues", "duplicate_of"]


def _mixed_input(raw):
    shutil.copytree(h.SEED_DIR, raw)
    for s in (501, 502):
        h.write(raw, f"news/clean_{s}.txt", h.clean_dump(h.make_article(s)))
    h.write(raw, "news/nodate_503.txt", h.clean_dump(h.make_article(503), date=False))
    h.write(raw, "news/dup_504_a.txt", h.clean_dump(h.make_article(504)))
    h.write(raw, "news/dup_504_b.txt", h.full_page_dump(h.make_article(504)))
    h.write(raw, "feeds/feed.jsonl", "\n".join([h.json_record(h.make_article(505)), "not json at all",
                                                h.json_record(h.make_article(506))]) + "\n")
    h.write(raw, "empty.txt", b"")


def _stable(df: pl.DataFrame) -> pl.DataFrame:
    return df.select(STABLE_COLUMNS).sort("source_path")


def test_same_input_gives_identical_datasets(run_etl, tmp_path):
    raw = tmp_path / "raw"
    _mixed_input(raw)
    s1 = run_etl(raw, tmp_path / "out1")
    s2 = run_etl(raw, tmp_path / "out2", batch_files=2)  # other batching, process-pool workers
    assert s1.is_completed() and s2.is_completed(), (s1.message, s2.message)
    for name in ("published", "quarantine"):
        a, b = h.read_dataset(tmp_path / "out1", name), h.read_dataset(tmp_path / "out2", name)
        assert a.height > 0
        assert _stable(a).equals(_stable(b)), f"{name} differs between two runs over the same input"


def test_rerun_into_same_output_changes_nothing(run_etl, tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    _mixed_input(raw)
    first = run_etl(raw, out)
    assert first.is_completed(), first.message
    target = h.current_target(out)
    pub, qua = h.published(out), h.quarantine(out)
    files = (h.dataset_files(out, "published"), h.dataset_files(out, "quarantine"))

    again = run_etl(raw, out)
    assert again.is_completed(), again.message
    summary = again.result()
    assert summary["files"]["processed"] == 0
    assert summary["files"]["unchanged"] == summary["files"]["found"] > 0
    assert h.current_target(out) == target, "a rerun over unchanged input made a new version"
    assert (h.dataset_files(out, "published"), h.dataset_files(out, "quarantine")) == files
    assert h.published(out).equals(pub) and h.quarantine(out).equals(qua)


# ------------------------------------------------------------------ 6. nothing lost

def test_every_input_accounted_for(run_etl, tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    h.write(raw, "news/2023/a.txt", h.clean_dump(h.make_article(601)))
    h.write(raw, "news/2023/b.txt", h.clean_dump(h.make_article(602), date=False))
    h.write(raw, "news/2024/deep/c", h.clean_dump(h.make_article(603)))
    h.write(raw, "news/2024/deep/d.text", h.no_title_dump(h.make_article(604)))
    h.write(raw, "feeds/feed.jsonl", "\n".join([h.json_record(h.make_article(605)), "{oops",
                                                h.json_record(h.make_article(606))]) + "\n")
    h.write(raw, "pages/story.html", h.html_page(h.make_article(607)))
    h.write(raw, "media/photo.png", h.PNG_HEADER)
    h.write(raw, "empty.txt", b"")
    h.write(raw, "exports/table.csv", "id,title\n1,Something\n2,Something else\n")
    h.write(raw, ".hidden.txt", h.clean_dump(h.make_article(608)))
    h.write(raw, "feeds/array.json", "[" + ", ".join([h.json_record(h.make_article(609)),
                                                      h.json_record(h.make_article(610))]) + "]")
    h.write(raw, "feeds/single.json", h.json_record(h.make_article(611)))
    outside = h.write(tmp_path / "elsewhere", "secret.txt", h.clean_dump(h.make_article(612)))
    (raw / "links").mkdir()
    (raw / "links" / "outside.txt").symlink_to(outside)
    expected = ["news/2023/a.txt", "news/2023/b.txt", "news/2024/deep/c", "news/2024/deep/d.text",
                "feeds/feed.jsonl#1", "feeds/feed.jsonl#2", "feeds/feed.jsonl#3", "pages/story.html",
                "media/photo.png", "empty.txt", "exports/table.csv", ".hidden.txt", "feeds/array.json#1",
                "feeds/array.json#2", "feeds/single.json", "links/outside.txt"]

    state = run_etl(raw, out, batch_files=3, max_quarantined_share=1.0)  # several batches, worker processes
    assert state.is_completed(), state.message
    pub, qua = h.published(out), h.quarantine(out)
    seen = Counter(pub["source_path"].to_list() + qua["source_path"].to_list())
    assert sorted(seen) == sorted(expected)
    assert all(n == 1 for n in seen.values()), {p: n for p, n in seen.items() if n != 1}
    for p in ("media/photo.png", "empty.txt", "feeds/feed.jsonl#2"):
        assert "unreadable" in _only_row(qua, p)["issues"]
    leak = _only_row(qua, "links/outside.txt")  # a link out of RAW_DIR is accounted for, never followed
    assert leak["body"] is None and leak["title"] is None


def _pool_workers() -> set[int]:
    """This process's children started by a multiprocessing spawn (a process pool's workers)."""
    import os

    kids = set()
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        try:
            with open(f"/proc/{os.getpid()}/task/{task}/children") as fh:
                kids |= {int(p) for p in fh.read().split()}
        except FileNotFoundError:
            continue
    workers = set()
    for pid in kids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"spawn_main" in fh.read():
                    workers.add(pid)
        except OSError:
            continue
    return workers


def test_the_batch_workers_are_gone_when_the_run_returns(run_etl, tmp_path):
    """The process pool shuts down on a thread while the checks run; the run still returns only once
    its workers have exited: a scheduled job must leave no process behind."""
    before = _pool_workers()
    raw = tmp_path / "raw"
    h.write_clean_articles(raw, range(640, 646))
    state = run_etl(raw, tmp_path / "out", batch_files=2)
    assert state.is_completed(), state.message
    assert state.result()["runner"]["where"] == "a process pool of 2 processes"
    assert _pool_workers() - before == set()
