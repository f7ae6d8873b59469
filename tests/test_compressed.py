"""Compressed raw files (gzip, bzip2, xz, zstd) are read as what they hold, through a cap (issue 20).

Real compressors, real files, no mocks: each format gives the records of the
plain file under the compressed file's name; the compression is found by its
magic bytes; a cut-off or corrupt stream and a decompression bomb are records
with their reason, never an exception or a full read into memory.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib

import pytest
import zstandard
from helpers import clean_dump, json_record, make_article

from cleanwire.ingest import batch, decompress
from cleanwire.ingest.parse import parse_file, parse_files
from cleanwire.types import FileRef

COMPRESSORS = {
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "zst": lambda data: zstandard.ZstdCompressor().compress(data),
}
FIELDS = ("title", "published_date", "body", "format", "read_error")


def _fields(records: list[dict]) -> list[tuple]:
    return [tuple(r.get(f) for f in FIELDS) for r in records]


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_a_compressed_text_dump_gives_the_plain_files_record_under_its_own_name(suffix):
    plain = clean_dump(make_article(1)).encode()
    (want,) = parse_file("story.txt", plain)
    (got,) = parse_file(f"story.txt.{suffix}", COMPRESSORS[suffix](plain))
    assert _fields([got]) == _fields([want])
    assert got["source_path"] == got["source_file"] == f"story.txt.{suffix}"
    assert got["read_error"] is None and got["title"] == make_article(1).title


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_a_compressed_feed_gives_one_record_per_line_numbered_under_the_compressed_name(suffix):
    feed = "\n".join(json_record(make_article(s)) for s in (2, 3, 4)).encode() + b"\n"
    want = parse_file("feed.jsonl", feed)
    got = parse_file(f"feed.jsonl.{suffix}", COMPRESSORS[suffix](feed))
    assert _fields(got) == _fields(want)
    assert [r["source_path"] for r in got] == [f"feed.jsonl.{suffix}#{n}" for n in (1, 2, 3)]
    assert {r["format"] for r in got} == {"jsonl"}


def test_compression_is_found_by_its_magic_bytes_not_only_by_the_name():
    plain = clean_dump(make_article(5)).encode()
    for name, data in [("story.txt", gzip.compress(plain)), ("story", zstandard.ZstdCompressor().compress(plain)),
                       ("story.dat", bz2.compress(plain))]:
        (rec,) = parse_file(name, data)
        assert rec["read_error"] is None, name
        assert rec["title"] == make_article(5).title, name
    assert decompress.compression_of(b"BZh is how this text starts") is None  # 'BZh' alone is no bzip2 stream


def test_concatenated_members_and_frames_are_read_whole():
    a, b = clean_dump(make_article(6)).encode(), b"\n\nA closing paragraph of the same story, ended properly.\n"
    for data in (gzip.compress(a) + gzip.compress(b), bz2.compress(a) + bz2.compress(b),
                 lzma.compress(a) + lzma.compress(b),
                 zstandard.ZstdCompressor().compress(a) + zstandard.ZstdCompressor().compress(b)):
        out, kind, why = decompress.decompress_capped(data, 10**7)
        assert why is None and out == a + b, kind


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_a_cut_off_stream_is_unreadable_damaged_with_where_it_broke(suffix):
    data = COMPRESSORS[suffix](clean_dump(make_article(7)).encode() * 20)
    (rec,) = parse_file(f"story.txt.{suffix}", data[: len(data) // 2])
    assert rec["unreadable_reason"] == "damaged"
    assert "cut off" in rec["read_error"] and "compressed byte" in rec["read_error"]
    assert rec["source_path"] == f"story.txt.{suffix}"


def test_a_corrupt_stream_is_unreadable_damaged():
    data = bytearray(gzip.compress(clean_dump(make_article(8)).encode() * 20))
    data[len(data) // 2: len(data) // 2 + 64] = b"\xff" * 64
    (rec,) = parse_file("story.txt.gz", bytes(data))
    assert rec["unreadable_reason"] == "damaged" and "corrupt" in rec["read_error"]


def _gzip_of_zeros(n_mb: int) -> bytes:
    """A gzip of n_mb MB of zeros, built a MB at a time (it never holds the zeros)."""
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join([co.compress(zeros) for _ in range(n_mb)] + [co.flush()])


def test_a_decompression_bomb_is_refused_as_too_large_with_its_ratio(tmp_path):
    """1 GB of zeros in a ~1 MB gzip: refused at the cap (100 MB by default), never held whole."""
    bomb = _gzip_of_zeros(1024)
    assert len(bomb) < 2 * 10**6
    (rec,) = parse_files([("bomb.txt.gz", bomb)])[0]
    assert rec["unreadable_reason"] == "too_large"
    assert "ratio of" in rec["read_error"] and ":1" in rec["read_error"] and "100 MB" in rec["read_error"]
    # The same through a batch task's reading of the file from disk, with the run's own cap.
    p = tmp_path / "bomb.jsonl.gz"
    p.write_bytes(bomb)
    records, status = batch.read_and_parse([FileRef(p.name, str(p), len(bomb), 0)], 10 * 10**6,
                                           max_decompressed_bytes=20 * 10**6)
    assert [r["unreadable_reason"] for r in records] == ["too_large"]
    assert "20 MB" in records[0]["read_error"]
    assert status[0]["status"] == "new" and status[0]["n_records"] == 1


def test_a_zstd_bomb_is_refused_without_decompressing_it_whole():
    bomb = zstandard.ZstdCompressor(level=19).compress(bytes(300 * 10**6))  # ~10 KB
    out, kind, why = decompress.decompress_capped(bomb, 10**7)
    assert out is None and kind == "zstd" and why.reason == "too_large"


def test_the_zstd_reader_says_when_a_frame_is_cut_off():
    data = zstandard.ZstdCompressor().compress(b"a line of news text\n" * 5000)
    reader = decompress.ZstdReader(io.BytesIO(data[:-10]))
    with pytest.raises(EOFError):
        while reader.read(4096):
            pass


def test_a_compressed_file_keeps_the_hash_of_its_own_bytes_and_a_rerun_skips_it(tmp_path):
    from cleanwire.ingest.parse import content_hash

    data = gzip.compress(clean_dump(make_article(9)).encode())
    p = tmp_path / "story.txt.gz"
    p.write_bytes(data)
    ref = FileRef(p.name, str(p), len(data), 0)
    records, status = batch.read_and_parse([ref], 10**7)
    assert {r["content_hash"] for r in records} == {content_hash(data)} == {status[0]["content_hash"]}
    again = FileRef(p.name, str(p), len(data), 1, prev_hash=content_hash(data))
    assert batch.read_and_parse([again], 10**7) == ([], [{**status[0], "mtime_ns": 1, "status": "unchanged",
                                                          "n_records": 0}])


def test_inner_name_drops_one_compression_suffix():
    assert decompress.inner_name("a/b.txt.gz") == "a/b.txt"
    assert decompress.inner_name("feed.jsonl.ZST") == "feed.jsonl"
    assert decompress.inner_name("page.html") == "page.html"
    assert decompress.inner_name("dir.gz/story") == "dir.gz/story"
