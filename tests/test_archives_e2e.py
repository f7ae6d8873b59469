"""The whole job on a real feed's shapes (issue 20's "done when"): compressed seeds, a .jsonl.zst, a WARC.

A folder holding the five seeds gzipped, a zstd feed, and a `.warc.gz` of 200
responses (HTML articles, a few non-HTML responses, one request record, a
cut-off tail) runs to the seeds' own outcomes, one record per HTML response
with its URL and crawl time, every skipped record counted by kind, the damage
reported, nothing lost. The batches are made small so the archive is sliced
between tasks; a rerun does nothing.
"""
from __future__ import annotations

import datetime as dt
import gzip
import io
import shutil

import helpers as h
import polars as pl
import pytest
import zstandard
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

N_HTML, N_OTHER = 192, 8          # 200 responses
CRAWLED = dt.datetime(2025, 11, 2, 3, 4, 5, tzinfo=dt.UTC)


def _crawl() -> tuple[bytes, int]:
    """The archive (cut off inside its last record) and that record's number."""
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)
    w.write_record(w.create_warcinfo_record("crawl.warc.gz", {"software": "cleanwire tests"}))
    n = 1
    date = {"WARC-Date": CRAWLED.strftime("%Y-%m-%dT%H:%M:%SZ")}
    for i in range(N_HTML + N_OTHER):
        if i == 7:
            w.write_record(w.create_warc_record("https://news.example.org/story-7", "request",
                                                payload=io.BytesIO(b"GET /story-7 HTTP/1.1\r\n\r\n"),
                                                warc_headers_dict={"Content-Type": "application/http; msgtype=request"}))
            n += 1
        if i % 25 == 3:   # 8 of them: a stylesheet, an image...
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/css")], protocol="HTTP/1.1")
            payload = b"body { margin: 0 }"
            url = f"https://news.example.org/static/{i}.css"
        else:
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            payload = h.html_page(h.make_article(5000 + i)).encode()
            url = f"https://news.example.org/story-{i}"
        w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(payload), http_headers=http,
                                            warc_headers_dict=date))
        n += 1
    data = buf.getvalue()
    return data[: len(data) - 600], n   # the last record (an HTML response) loses its end


@pytest.fixture(scope="module")
def plain_outcomes(run_etl, tmp_path_factory):
    base = tmp_path_factory.mktemp("plain")
    shutil.copytree(h.SEED_DIR, base / "raw")
    state = run_etl(base / "raw", base / "out")
    assert state.is_completed(), state.message
    return _outcomes(h.all_records(base / "out"), suffix="")


def _outcomes(df: pl.DataFrame, suffix: str) -> dict[str, tuple]:
    """Per seed: its dataset, issues, headline, date, body and the seed it duplicates (by name)."""
    name_of = dict(zip(df["article_id"], df["source_path"]))
    out = {}
    for r in df.iter_rows(named=True):
        if r["source_path"].startswith("0") and r["source_path"].endswith(".txt" + suffix):
            dup = name_of.get(r["duplicate_of"])
            out[r["source_path"].removesuffix(suffix)] = (
                r["dataset"], sorted(r["issues"]), r["title"], r["published_date"], r["body"],
                dup.removesuffix(suffix) if dup else None)
    return out


@pytest.fixture(scope="module")
def feed_run(run_etl, tmp_path_factory):
    base = tmp_path_factory.mktemp("feed")
    raw, out = base / "raw", base / "out"
    raw.mkdir()
    for p in sorted(h.SEED_DIR.iterdir()):
        (raw / (p.name + ".gz")).write_bytes(gzip.compress(p.read_bytes()))
    feed = "\n".join(h.json_record(h.make_article(s)) for s in (4001, 4002, 4003)) + "\n"
    (raw / "wire" / "feed.jsonl.zst").parent.mkdir()
    (raw / "wire" / "feed.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(feed.encode()))
    archive, damaged_n = _crawl()
    (raw / "crawl" / "CC-NEWS-20251102.warc.gz").parent.mkdir()
    (raw / "crawl" / "CC-NEWS-20251102.warc.gz").write_bytes(archive)
    # Batches of ~100 KB: the archive (~250 KB) is sliced between tasks.
    state = run_etl(raw, out, batch_mb=0.1)
    assert state.is_completed(), state.message
    return raw, out, damaged_n, run_etl


def test_gzipped_seeds_have_the_outcomes_of_the_plain_seeds(feed_run, plain_outcomes):
    _, out, _, _ = feed_run
    got = _outcomes(h.all_records(out), suffix=".gz")
    assert got == plain_outcomes
    assert got["001_ec1a0306231af1c5.txt"][:2] == ("published", [])


def test_every_html_response_is_a_record_with_its_url_and_crawl_time(feed_run):
    _, out, damaged_n, _ = feed_run
    records = h.all_records(out)
    crawl = records.filter(pl.col("source_path").str.starts_with("crawl/"))
    pages = crawl.filter(~pl.col("issues").list.contains("unreadable"))
    assert pages.height == N_HTML - 1      # the last one is cut off
    full = pl.concat([h.read_dataset(out, n) for n in ("published", "quarantine")], how="diagonal_relaxed")
    full = full.filter(pl.col("source_path").str.starts_with("crawl/"))
    assert full.schema["crawled_at"] == pl.Datetime("us", "UTC")
    ok = full.filter(pl.col("issues").list.len() == 0)
    assert ok.height >= N_HTML - 5
    assert ok["url"].str.starts_with("https://news.example.org/story-").all()
    assert (ok["crawled_at"] == CRAWLED).all()
    assert (ok["published_date"] != CRAWLED.date()).all()
    (damaged,) = full.filter(pl.col("issues").list.contains("unreadable")).iter_rows(named=True)
    assert damaged["source_path"] == f"crawl/CC-NEWS-20251102.warc.gz#{damaged_n}"
    assert damaged["reasons"] == ["unreadable/damaged"] and "byte" in damaged["detail"]


def test_skipped_records_are_counted_by_kind_and_nothing_is_lost(feed_run):
    _, out, damaged_n, _ = feed_run
    s = h.summary_json(out)
    assert s["skipped_records"] == {"response:non-html": N_OTHER, "warcinfo": 1, "request": 1}
    paths = h.all_records(out)["source_path"]
    assert paths.is_unique().all()
    crawl = sorted(int(p.rsplit("#", 1)[1]) for p in paths if p.startswith("crawl/"))
    assert len(crawl) + sum(s["skipped_records"].values()) == damaged_n   # every record of the archive
    assert sorted(p for p in paths if p.startswith("wire/")) == [f"wire/feed.jsonl.zst#{n}" for n in (1, 2, 3)]
    assert len(paths) == 5 + 3 + len(crawl)
    assert s["runner"]["batches"] > 2                                   # the archive went to several tasks


def test_a_rerun_over_the_same_archives_does_nothing(feed_run):
    raw, out, _, run_etl = feed_run
    version = h.summary_json(out)["version"]
    for p in raw.rglob("*"):   # touched: the stat changed, the bytes did not
        if p.is_file():
            p.touch()
    state = run_etl(raw, out, batch_mb=0.1)
    assert state.is_completed(), state.message
    s = h.summary_json(out)
    assert s["version"] == version and s["files"]["processed"] == 0 and s["files"]["unchanged"] == 7
