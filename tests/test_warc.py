"""WARC archives as input (issue 20): one record per page response, every other record counted.

The archives are built here with warcio's own writer (invented articles, no
corpus files): per-record gzip as Common Crawl writes them, plain WARC, and
whole-file compressed ones; then cut off, corrupted, sliced between tasks.
"""
from __future__ import annotations

import datetime as dt
import gzip
import io
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import zstandard
from helpers import html_page, make_article
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from cleanwire.ingest import batch
from cleanwire.ingest.discover import FILES_SCHEMA, file_refs, split_archives, walk
from cleanwire.ingest.formats import warc
from cleanwire.ingest.parse import content_hash
from cleanwire.types import FileRef

CRAWLED = dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


class Archive:
    """Writes WARC records with warcio; remembers what each record number should become."""

    def __init__(self, gz: bool = True):
        self.buf = io.BytesIO()
        self.writer = WARCWriter(self.buf, gzip=gz)
        self.n = 0
        self.pages: dict[int, tuple[str, object]] = {}   # record number -> (url, article)
        self.kinds: dict[int, str] = {}                  # record number -> what it becomes

    def _write(self, record, becomes: str) -> int:
        self.writer.write_record(record)
        self.n += 1
        self.kinds[self.n] = becomes
        return self.n

    def warcinfo(self):
        return self._write(self.writer.create_warcinfo_record("test.warc.gz", {"software": "cleanwire tests"}),
                           "warcinfo")

    def response(self, url: str, payload: bytes, content_type: str | None = "text/html; charset=utf-8",
                 status: str = "200 OK", becomes: str = "page", date: dt.datetime = CRAWLED):
        headers = [("Content-Type", content_type)] if content_type else []
        http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
        rec = self.writer.create_warc_record(url, "response", payload=io.BytesIO(payload), http_headers=http,
                                             warc_headers_dict={"WARC-Date": date.strftime("%Y-%m-%dT%H:%M:%SZ")})
        return self._write(rec, becomes)

    def article(self, seed: int, url: str | None = None):
        a = make_article(seed)
        url = url or f"https://news.example.org/story-{seed}"
        n = self.response(url, html_page(a).encode())
        self.pages[n] = (url, a)
        return n

    def record(self, kind: str, url: str, payload: bytes, content_type: str = "application/octet-stream"):
        rec = self.writer.create_warc_record(url, kind, payload=io.BytesIO(payload),
                                             warc_headers_dict={"Content-Type": content_type})
        return self._write(rec, kind)

    def request(self, url: str):
        return self.record("request", url, f"GET / HTTP/1.1\r\nHost: {url}\r\n\r\n".encode(),
                           "application/http; msgtype=request")

    @property
    def data(self) -> bytes:
        return self.buf.getvalue()


def _mixed_archive(gz: bool = True) -> Archive:
    a = Archive(gz)
    a.warcinfo()
    a.article(1)
    a.request("https://news.example.org/story-2")
    a.article(2)
    a.response("https://news.example.org/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(200), "image/png",
               becomes="response:non-html")
    a.response("https://news.example.org/api.json", b'{"a": 1}', "application/json", becomes="response:non-html")
    a.response("https://news.example.org/gone", b"<html><body>Not found</body></html>", "text/html",
               status="404 Not Found", becomes="http_status")
    a.response("https://news.example.org/old", b"<html><body>Moved</body></html>", "text/html",
               status="301 Moved Permanently", becomes="http_status")
    a.record("metadata", "https://news.example.org/story-2", b"fetchTimeMs: 120\r\n", "application/warc-fields")
    a.record("revisit", "https://news.example.org/story-1", b"", "application/http; msgtype=response")
    a.article(3)
    return a


def _read(path: Path, **ref) -> tuple[list[dict], list[dict], Counter]:
    skipped: Counter = Counter()
    f = FileRef(path.name, str(path), path.stat().st_size, 0, **ref)
    records, status = batch.read_and_parse([f], 10 * 10**6, skipped=skipped)
    return records, status, skipped


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_each_page_response_is_one_record_numbered_among_all_the_archives_records(tmp_path, gz):
    a = _mixed_archive(gz)
    p = tmp_path / ("crawl.warc.gz" if gz else "crawl.warc")
    p.write_bytes(a.data)
    records, status, skipped = _read(p)

    by_path = {r["source_path"]: r for r in records}
    pages = {f"{p.name}#{n}": v for n, v in a.pages.items()}
    refused = {f"{p.name}#{n}" for n, k in a.kinds.items() if k == "http_status"}
    assert set(by_path) == set(pages) | refused
    for sp, (url, art) in pages.items():
        r = by_path[sp]
        assert r["read_error"] is None and r["format"] == "html"
        assert r["title"] == art.title and r["published_date"] == art.date
        assert r["url"] == url and r["crawled_at"] == CRAWLED
        assert r["source_file"] == p.name and r["content_hash"] == content_hash(a.data)
    for sp in refused:
        assert by_path[sp]["unreadable_reason"] == "http_status"
        assert "404 Not Found" in by_path[sp]["read_error"] or "301 Moved" in by_path[sp]["read_error"]
        assert by_path[sp]["url"].startswith("https://news.example.org/")
    # Nothing lost: every record is a record of the output or a skipped one, by kind.
    assert skipped == Counter({"warcinfo": 1, "request": 1, "response:non-html": 2, "metadata": 1, "revisit": 1})
    assert len(records) + sum(skipped.values()) == a.n
    assert status == [{"source_file": p.name, "size": len(a.data), "mtime_ns": 0, "content_hash": content_hash(a.data),
                       "status": "new", "n_records": len(records)}]


def test_the_crawl_date_is_never_the_publication_date(tmp_path):
    a = Archive()
    undated = make_article(11)
    page = html_page(undated).replace('<meta property="article:published_time"', '<meta name="x"')
    n_undated = a.response("https://news.example.org/undated", page.encode())
    n_url = a.response("https://news.example.org/2024/05/17/harbour-story", page.encode())
    p = tmp_path / "a.warc.gz"
    p.write_bytes(a.data)
    records, _, _ = _read(p)
    by_n = {int(r["source_path"].rsplit("#", 1)[1]): r for r in records}
    assert by_n[n_undated]["published_date"] is None and by_n[n_undated]["crawled_at"] == CRAWLED
    assert by_n[n_url]["published_date"] == dt.date(2024, 5, 17) and by_n[n_url]["date_kind"] == "url"


def test_a_payload_in_a_declared_legacy_charset_is_decoded_by_it(tmp_path):
    a = Archive()
    art = make_article(12)
    title = "Café owners in Zürich welcome the new tram line"
    page = html_page(art).replace(art.title, title).encode("cp1252")
    a.response("https://news.example.org/cafe", page, "text/html; charset=windows-1252")
    a.response("https://news.example.org/raw", b"\x00\x01\x02" * 500, "text/html")  # a 'page' of binary junk
    quoted = "Mayor\u2019s caf\u00e9 plan wins the council\u2019s vote"
    a.response("https://news.example.org/quote", html_page(art).replace(art.title, quoted).encode("cp1252"),
               "text/html; charset=ISO-8859-1")  # labelled latin-1, written in cp1252 (browsers read it so)
    p = tmp_path / "a.warc.gz"
    p.write_bytes(a.data)
    records, _, _ = _read(p)
    by_n = {int(r["source_path"].rsplit("#", 1)[1]): r for r in records}
    assert by_n[1]["title"] == title and by_n[1]["encoding"] == "cp1252"
    assert by_n[2]["unreadable_reason"] == "binary"
    assert by_n[3]["title"] == quoted


def test_a_page_over_the_size_cap_is_too_large_and_the_next_ones_are_read(tmp_path):
    a = Archive()
    a.response("https://news.example.org/huge", b"<html><body>" + b"<p>word </p>" * 200_000 + b"</body></html>")
    a.article(13)
    p = tmp_path / "a.warc.gz"
    p.write_bytes(a.data)
    skipped: Counter = Counter()
    records, _ = batch.read_and_parse([FileRef(p.name, str(p), p.stat().st_size, 0)], 10**6, skipped=skipped)
    by_n = {int(r["source_path"].rsplit("#", 1)[1]): r for r in records}
    assert by_n[1]["unreadable_reason"] == "too_large" and by_n[2]["read_error"] is None


def test_a_truncated_archive_keeps_the_records_before_the_damage_and_names_its_offset(tmp_path):
    a = Archive()
    for s in range(20, 26):
        a.article(s)
    full = a.data
    p = tmp_path / "cut.warc.gz"
    p.write_bytes(full[: len(full) - 700])
    records, status, _ = _read(p)
    damaged = [r for r in records if r["unreadable_reason"] == "damaged"]
    assert len(damaged) == 1
    n_damaged = int(damaged[0]["source_path"].rsplit("#", 1)[1])
    assert "byte" in damaged[0]["read_error"] and "cut off" in damaged[0]["read_error"]
    kept = sorted(int(r["source_path"].rsplit("#", 1)[1]) for r in records if r["read_error"] is None)
    assert kept == list(range(1, n_damaged))   # every whole record before the damage, in order
    assert n_damaged == 6 and status[0]["n_records"] == 6


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_an_archive_cut_anywhere_never_raises_and_numbers_what_it_keeps(gz):
    a = _mixed_archive(gz)
    data = a.data
    whole = list(warc.read_archive(io.BytesIO(data), 10**7, 10**8))
    for cut in range(0, len(data), max(1, len(data) // 150)):
        items = list(warc.read_archive(io.BytesIO(data[:cut]), 10**7, 10**8))
        assert [i.number for i in items] == list(range(1, len(items) + 1)), cut
        last = items[-1] if items else None
        if isinstance(last, warc.Refused) and last.why.reason == "damaged":
            items = items[:-1]
        assert [type(i) for i in items] == [type(i) for i in whole[: len(items)]], cut


def test_a_corrupt_archive_keeps_the_records_before_the_damage(tmp_path):
    a = Archive()
    for s in range(30, 36):
        a.article(s)
    data = bytearray(a.data)
    middle = len(data) // 2
    data[middle: middle + 200] = bytes(200)
    p = tmp_path / "bad.warc.gz"
    p.write_bytes(bytes(data))
    records, _, _ = _read(p)
    damaged = [r for r in records if r["unreadable_reason"] == "damaged"]
    assert len(damaged) == 1 and "corrupt" in damaged[0]["read_error"]
    numbers = sorted(int(r["source_path"].rsplit("#", 1)[1]) for r in records)
    assert numbers == list(range(1, len(numbers) + 1)) and 1 < len(numbers) < 7


@pytest.mark.parametrize("compress", ["gzip-whole", "zstd"])
def test_an_archive_compressed_as_one_stream_is_read_through_it(tmp_path, compress):
    a = _mixed_archive(gz=False)
    data = gzip.compress(a.data) if compress == "gzip-whole" else zstandard.ZstdCompressor().compress(a.data)
    p = tmp_path / ("crawl.warc.gz" if compress == "gzip-whole" else "crawl.warc.zst")
    p.write_bytes(data)
    records, _, skipped = _read(p)
    assert len(records) + sum(skipped.values()) == a.n
    assert {int(r["source_path"].rsplit("#", 1)[1]) for r in records if r["read_error"] is None} == set(a.pages)
    # Cut off, the stream says so (warcio alone would take the cut for the archive's end).
    p.write_bytes(data[: len(data) * 2 // 3])
    records, _, _ = _read(p)
    assert [r["unreadable_reason"] for r in records if r["read_error"]][-1] == "damaged"


def test_an_archive_is_recognised_by_its_content_whatever_its_name(tmp_path):
    a = _mixed_archive()
    p = tmp_path / "download-0001.gz"
    p.write_bytes(a.data)
    records, _, skipped = _read(p)
    assert {r["source_path"] for r in records if r["read_error"] is None} == {f"{p.name}#{n}" for n in a.pages}
    assert skipped["request"] == 1


def test_an_archive_without_a_page_still_appears_once(tmp_path):
    a = Archive()
    a.warcinfo()
    a.request("https://news.example.org/")
    p = tmp_path / "requests.warc.gz"
    p.write_bytes(a.data)
    records, _, skipped = _read(p)
    assert [(r["source_path"], r["unreadable_reason"]) for r in records] == [(p.name, "not_an_article")]
    assert "1 request" in records[0]["read_error"] and skipped == Counter({"warcinfo": 1, "request": 1})
    e = tmp_path / "empty.warc"
    e.write_bytes(b"")
    records, _, _ = _read(e)
    assert [(r["source_path"], r["unreadable_reason"]) for r in records] == [(e.name, "empty")]


def test_a_bomb_inside_an_archive_stops_the_reading_with_its_ratio(tmp_path):
    a = Archive()
    a.article(40)
    zeros = io.BytesIO()
    with gzip.GzipFile(fileobj=zeros, mode="wb") as gz:  # a record of 300 MB of zeros, ~300 KB compressed
        head = b"WARC/1.0\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:0>\r\nContent-Length: 300000000\r\n\r\n"
        gz.write(head)
        for _ in range(300):
            gz.write(bytes(10**6))
        gz.write(b"\r\n\r\n")
    p = tmp_path / "bomb.warc.gz"
    p.write_bytes(a.data + zeros.getvalue())
    skipped: Counter = Counter()
    records, _ = batch.read_and_parse([FileRef(p.name, str(p), p.stat().st_size, 0)], 10**7,
                                      max_decompressed_bytes=50 * 10**6, skipped=skipped)
    by_n = {int(r["source_path"].rsplit("#", 1)[1]): r for r in records}
    assert by_n[1]["read_error"] is None
    assert by_n[2]["unreadable_reason"] == "too_large" and "ratio" in by_n[2]["read_error"]
    # The planner's pass over it stops at the bomb too (the slice holding it refuses it).
    assert len(warc.index_archive(str(p)).starts) == 2


# ------------------------------------------------------------------ slices of a big archive

def _big_archive(n: int = 60) -> Archive:
    a = Archive()
    a.warcinfo()
    for s in range(100, 100 + n):
        a.article(s)
        if s % 10 == 0:
            a.request(f"https://news.example.org/story-{s}")
    return a


def test_slices_of_an_archive_read_exactly_its_records_with_their_numbers(tmp_path):
    a = _big_archive()
    p = tmp_path / "big.warc.gz"
    p.write_bytes(a.data)
    index = warc.index_archive(str(p))
    assert index.splittable and index.content_hash == content_hash(a.data) and len(index.starts) == a.n
    parts = warc.slices(index.starts, len(a.data) // 5)
    assert 4 <= len(parts) <= 6 and parts[0][:2] == (1, 0) and parts[-1][2] is None
    with open(p, "rb") as fh:
        whole = [(i.number, type(i).__name__) for i in warc.read_archive(fh, 10**7, 10**8)]
    sliced = []
    for first, start, end in parts:
        with open(p, "rb") as fh:
            sliced += [(i.number, type(i).__name__) for i in warc.read_archive(fh, 10**7, 10**8, start, end, first)]
    assert sliced == whole


def test_split_archives_plans_slices_and_tasks_give_the_records_of_the_whole(tmp_path):
    a = _big_archive()
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "big.warc.gz").write_bytes(a.data)
    (raw / "small.txt").write_text("A headline\n\nSome text of a story.\n")
    files = walk(raw)
    planned = split_archives(files, len(a.data) // 4)
    assert planned.schema == pl.Schema(FILES_SCHEMA)
    slices_ = planned.filter(pl.col("source_file") == "big.warc.gz")
    assert slices_.height >= 3 and slices_["first_record"].to_list()[0] == 1
    assert slices_["archive_hash"].unique().to_list() == [content_hash(a.data)]
    assert planned.filter(pl.col("source_file") == "small.txt")["slice_start"].to_list() == [None]

    def records_of(refs, out):
        res = [batch.process_batch([r], str(tmp_path / out), i, "run", 10**7) for i, r in enumerate(refs)]
        df = pl.concat([pl.read_parquet(r.records_path) for r in res if r.records_path])
        status = pl.concat([pl.read_parquet(r.files_path) for r in res])
        return df, status, batch.skipped_counts(res)

    sliced, sliced_status, sliced_skipped = records_of(file_refs(planned), "sliced")
    whole, whole_status, whole_skipped = records_of(file_refs(files), "whole")
    cols = ["article_id", "source_path", "title", "published_date", "body", "url", "crawled_at", "content_hash"]
    assert sliced.select(cols).sort("article_id").equals(whole.select(cols).sort("article_id"))
    assert sliced_skipped == whole_skipped == {"warcinfo": 1, "request": 6}
    # One status row per archive (the first slice's: its n_records are that slice's), keyed by its hash.
    assert sliced_status.drop("n_records").sort("source_file").equals(whole_status.drop("n_records").sort("source_file"))


def test_an_unchanged_archive_is_not_split_nor_read(tmp_path):
    a = _big_archive(20)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "big.warc.gz").write_bytes(a.data)
    files = walk(raw).with_columns(pl.lit(content_hash(a.data)).alias("prev_hash"))
    planned = split_archives(files, len(a.data) // 4)
    assert planned.height == 1 and planned["archive_hash"].to_list() == [content_hash(a.data)]
    records, status = batch.read_and_parse(file_refs(planned), 10**7)
    assert records == [] and [s["status"] for s in status] == ["unchanged"]


def test_an_archive_compressed_as_one_stream_is_not_split(tmp_path):
    a = _mixed_archive(gz=False)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "whole.warc.gz").write_bytes(gzip.compress(a.data))
    planned = split_archives(walk(raw), 100)
    assert planned.height == 1 and planned["slice_start"].to_list() == [None]
