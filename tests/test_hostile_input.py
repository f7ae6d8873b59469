"""Bad files are data: hostile input never stops a run, never hides other files, never escapes RAW_DIR.

One `news-etl` run goes over a folder holding every kind of bad file we could
think of (empty, binary, 50 MB, a 2 MB line, NULs, broken encodings, broken
JSON, JSON nested 10,000 deep, an entity bomb, 100k nested <div>s) next to a
few good articles; a second run goes over a folder of links leading out of it,
a FIFO and awkward file names. Each file ends up exactly once in `published`
or in `quarantine` with a reason, and nothing below RAW_DIR (or outside it) is
touched.
"""
from __future__ import annotations

import codecs
import ctypes
import errno
import os
import random
import struct
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

import helpers as h

MB = 1_000_000
DEFAULT_CAP = 10 * MB
HUGE_SIZE = 50 * MB


# ------------------------------------------------------------------ fixtures: the hostile folder

def _with_extras(a: h.Article, extra: str) -> h.Article:
    """The article with one sentence added to its second paragraph."""
    paras = list(a.paragraphs)
    paras[1] = paras[1] + " " + extra
    return h.Article(a.seed, a.title, a.date, paras)


def _write_huge_text(path: Path, size: int) -> None:
    line = b"Lorem ipsum dolor sit amet, the council met again on Tuesday to talk about the bridge.\n"
    chunk = line * ((1 << 20) // len(line))
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            part = chunk[: size - written]
            fh.write(part)
            written += len(part)


def _entity_bomb() -> str:
    ents = ['  <!ENTITY lol0 "lol">']
    ents += [f'  <!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(1, 10)]
    return ('<?xml version="1.0"?>\n<!DOCTYPE html [\n' + "\n".join(ents) + "\n]>\n"
            "<html><head><title>&lol9;</title></head><body><p>&lol9;</p><p>&lol9;&lol9;</p></body></html>\n")


UTF8_SENTENCE = "The caf\u00e9 owner called it \u201ca disgrace\u201d \u2014 na\u00efvely, in Z\u00fcrich."

# name -> "unreadable" (must be quarantined as unreadable), "published" (a clean article that must come
# through intact), "any" (published, or quarantined with a reason)
EXPECT: dict[str, str] = {}


@pytest.fixture(scope="module")
def hostile_input(tmp_path_factory) -> tuple[Path, dict[str, h.Article]]:
    raw = tmp_path_factory.mktemp("hostile") / "raw"
    good = h.write_clean_articles(raw, range(900, 906), prefix="good")
    articles: dict[str, h.Article] = dict(good)
    EXPECT.update({k: "published" for k in good})

    def put(name: str, content, expect: str, article: h.Article | None = None):
        h.write(raw, name, content)
        EXPECT[name] = expect
        if article is not None:
            articles[name] = article

    put("empty.txt", " \n\n\t  \r\n", "unreadable")
    put("zero.txt", b"", "unreadable")
    put("zero_no_ext", b"", "unreadable")
    put("document.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n",
        "unreadable")
    put("pdf_named.txt", b"%PDF-1.4\n" + random.Random(1).randbytes(2000), "unreadable")
    put("image.png", h.PNG_HEADER + random.Random(2).randbytes(3000), "unreadable")
    put("png_named.html", h.PNG_HEADER, "unreadable")
    put("noise.bin", random.Random(3).randbytes(64 * 1024), "unreadable")
    put("noise.txt", random.Random(4).randbytes(8 * 1024), "unreadable")
    put("bom_only.txt", codecs.BOM_UTF8, "unreadable")
    put("utf16_truncated.txt", codecs.BOM_UTF16_LE + "Half a character".encode("utf-16-le")[:-1], "unreadable")

    huge = raw / "huge.txt"
    _write_huge_text(huge, HUGE_SIZE)
    EXPECT["huge.txt"] = "unreadable"

    a = h.make_article(910)
    long_para = " ".join(["The harbour commission listened while the traders argued about the pier."] * 28_000)
    assert len(long_para) > 2 * MB and "\n" not in long_para
    put("long_line.txt", "\n\n".join([a.title, f"Published: {a.date.isoformat()}", long_para]) + "\n", "any")

    a = h.make_article(911)
    put("nul_bytes.txt", h.clean_dump(a).replace(" the ", " the\x00 ", 5).encode("utf-8"), "published", a)
    a = _with_extras(h.make_article(912), UTF8_SENTENCE)
    data = h.clean_dump(a).encode("utf-8")
    put("invalid_utf8.txt", data.replace(b"The caf", b"\xffThe caf", 1) + b"\xc3\x28\n", "any", a)
    a = _with_extras(h.make_article(913), "In Z\u00fcrich the \u8a18\u4e8b was read out \u2014 twice, \u201cloudly\u201d.")
    put("utf16_bom.txt", codecs.BOM_UTF16_LE + h.clean_dump(a).encode("utf-16-le"), "published", a)
    a = _with_extras(h.make_article(914), "The caf\u00e9 owner called it \u201ca disgrace\u201d \u2014 na\u00efvely.")
    put("cp1252.txt", h.clean_dump(a).encode("cp1252"), "published", a)
    a = h.make_article(915)
    text = h.clean_dump(a)
    parts = text.split("\n\n")
    seps = ["\r\n\r\n", "\r\r", "\n\n", "\r\n\r\n", "\n\r\n", "\r\r"]
    mixed = parts[0] + "".join(seps[i % len(seps)] + p for i, p in enumerate(parts[1:]))
    put("mixed_eol.txt", mixed.encode("utf-8"), "published", a)

    feed = [h.json_record(h.make_article(916)), '{"title": "broken', "", "[1, 2, 3]", "not json at all",
            h.json_record(h.make_article(917)), '{"a":' * 10_000 + "1" + "}" * 10_000, "null",
            h.json_record(h.make_article(918))]
    h.write(raw, "feed.jsonl", "\n".join(feed) + "\n")
    for n, line in enumerate(feed, 1):
        if line.strip():
            EXPECT[f"feed.jsonl#{n}"] = "any" if line.startswith('{"title": "') and "publishedAt" in line else "unreadable"
    put("deep_array.json", "[" * 10_000 + "]" * 10_000, "unreadable")
    put("deep_object.json", '{"a": ' * 10_000 + "1" + "}" * 10_000, "unreadable")
    put("deep_array.jsonl", "[" * 10_000 + "]" * 10_000 + "\n", "unreadable")
    put("not_json.json", "{this is: not json,,,", "unreadable")
    put("entity_bomb.html", _entity_bomb(), "any")
    put("entity_bomb.xhtml", _entity_bomb(), "any")
    put("nested_divs.html", "<!DOCTYPE html><html><body>" + "<div>" * 100_000 + "deep text"
        + "</div>" * 100_000 + "</body></html>", "any")
    put("unclosed_divs.html", "<html><body>" + "<div><p>" * 100_000 + "never closed", "any")
    return raw, articles


@pytest.fixture(scope="module")
def hostile_run(run_etl, hostile_input, tmp_path_factory):
    raw, articles = hostile_input
    out = tmp_path_factory.mktemp("hostile-out") / "out"
    before = h.tree_snapshot(raw)
    t0 = time.monotonic()
    state = run_etl(raw, out, batch_files=12, max_quarantined_share=1.0)
    return raw, out, state, before, articles, time.monotonic() - t0


def _expected_source_paths() -> set[str]:
    jsonl_files = {k.split("#")[0] for k in EXPECT if "#" in k}
    return {k for k in EXPECT if k not in jsonl_files}


def _expected_as(outcome: str) -> list[str]:
    """The hostile files whose expected outcome (EXPECT) is `outcome`."""
    return [name for name, what in EXPECT.items() if what == outcome]


def _accounted(records: pl.DataFrame, source_path: str) -> dict:
    rows = records.filter(pl.col("source_path") == source_path)
    assert rows.height == 1, f"{source_path!r}: expected exactly 1 record, found {rows.height}"
    return rows.row(0, named=True)


def _json_path_matches(record_path: str, expected: str) -> bool:
    return record_path == expected or record_path.split("#")[0] == expected


# ------------------------------------------------------------------ 1. bad files are data

def test_hostile_run_completes(hostile_run):
    _, _, state, _, _, seconds = hostile_run
    assert state.is_completed(), state.message
    assert seconds < 120, f"the hostile folder took {seconds:.0f} s"


def test_every_hostile_file_appears_exactly_once(hostile_run):
    raw, out, state, _, _, _ = hostile_run
    assert state.is_completed(), state.message
    recs = h.all_records(out)
    seen = Counter(recs["source_path"].to_list())
    dupes = {p: n for p, n in seen.items() if n != 1}
    assert not dupes, f"source_path not unique: {dupes}"
    expected = _expected_source_paths()
    # A .json file that is not one JSON document is read as JSON Lines: `x.json` or `x.json#1` both name it.
    missing = {e for e in expected if not any(_json_path_matches(p, e) for p in seen)}
    unexpected = {p for p in seen if not any(_json_path_matches(p, e) for e in expected)}
    assert not missing, f"inputs lost: {sorted(missing)}"
    assert not unexpected, f"records of no input: {sorted(unexpected)}"
    # and the files on disk, one for one, via source_file
    on_disk = {p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file()}
    assert set(recs["source_file"].to_list()) == on_disk


def test_each_hostile_file_is_published_or_quarantined_with_a_reason(hostile_run):
    _, out, state, _, _, _ = hostile_run
    assert state.is_completed(), state.message
    recs = h.all_records(out)
    pub = recs.filter(pl.col("dataset") == "published")
    qua = recs.filter(pl.col("dataset") == "quarantine")
    assert pub.height >= 6, "the good articles were not published"
    assert all(len(i) == 0 for i in pub["issues"]), "a published record carries issues"
    no_reason = qua.filter((pl.col("issues").list.len() == 0) | pl.col("detail").is_null()
                           | (pl.col("detail").str.strip_chars() == ""))
    assert no_reason.height == 0, f"quarantined without a reason: {no_reason['source_path'].to_list()}"
    for row in qua.iter_rows(named=True):
        for code in row["issues"]:
            assert code in row["detail"], f"{row['source_path']!r}: detail {row['detail']!r} does not explain {code}"


def test_unreadable_files_are_quarantined_as_unreadable(hostile_run):
    _, out, state, _, _, _ = hostile_run
    assert state.is_completed(), state.message
    recs = h.all_records(out)
    for name in _expected_as("unreadable"):
        rows = recs.filter(pl.col("source_path").map_elements(lambda p, n=name: _json_path_matches(p, n),
                                                              return_dtype=pl.Boolean))
        assert rows.height == 1, f"{name}: {rows.height} records"
        row = rows.row(0, named=True)
        assert row["dataset"] == "quarantine" and "unreadable" in row["issues"], (name, row["issues"], row["detail"])
        assert row["detail"].startswith("unreadable") or "unreadable:" in row["detail"], (name, row["detail"])
        assert row["body"] is None and row["title"] is None, f"{name}: an unreadable record has text"


def test_oversized_file_is_refused_by_the_size_cap(hostile_run):
    _, out, state, _, _, _ = hostile_run
    assert state.is_completed(), state.message
    row = _accounted(h.quarantine(out), "huge.txt")
    assert row["issues"] == ["unreadable"]
    detail = row["detail"].lower()
    assert "size cap" in detail and "10 mb" in detail, row["detail"]


def test_clean_articles_in_awkward_encodings_come_through_intact(hostile_run):
    _, out, state, _, articles, _ = hostile_run
    assert state.is_completed(), state.message
    pub = h.published(out)
    for name in _expected_as("published"):
        a = articles[name]
        row = _accounted(pub, name)
        assert row["title"] == a.title, (name, row["title"])
        assert row["published_date"] == a.date, name
        assert "\x00" not in row["body"] and "\r" not in row["body"], name
        assert row["body"].split() == a.body.replace("\x00", "").split(), f"{name}: body differs from the article"
        assert row["body"].count("\n\n") == len(a.paragraphs) - 1, f"{name}: paragraphs merged or split"


def test_utf8_with_a_stray_invalid_byte_is_not_published_as_mojibake(hostile_run):
    _, out, state, _, articles, _ = hostile_run
    assert state.is_completed(), state.message
    row = _accounted(h.all_records(out), "invalid_utf8.txt")
    if row["dataset"] == "published":  # decoded as UTF-8 (the bad bytes replaced): the text must be intact
        assert UTF8_SENTENCE in row["body"], row["body"][:600]
    else:  # or held back, saying why
        assert row["issues"] and "encod" in row["detail"].lower() or "unreadable" in row["issues"], row


def test_encoding_is_recorded(hostile_run):
    _, out, state, _, _, _ = hostile_run
    assert state.is_completed(), state.message
    recs = h.read_dataset(out, "published")
    enc = dict(zip(recs["source_path"], recs["encoding"]))
    assert enc["utf16_bom.txt"] == "utf-16"
    assert enc["cp1252.txt"] == "cp1252"


def test_output_schema_is_the_contract(hostile_run):
    _, out, state, _, _, _ = hostile_run
    assert state.is_completed(), state.message
    for name in ("published", "quarantine"):
        df = h.read_dataset(out, name)
        assert df.height > 0, name
        h.check_contract_schema(df, name)
        # the same files load without hive partitioning too (a plain reader of the glob)
        flat = pl.scan_parquet(h.dataset_pattern(out, name), hive_partitioning=False).collect()
        assert flat.height == df.height
        h.check_contract_schema(flat, name)


def test_hostile_run_writes_nothing_into_its_input(hostile_run):
    raw, _, state, before, _, _ = hostile_run
    assert state.is_completed(), state.message
    assert h.tree_snapshot(raw) == before


def test_rerun_over_the_hostile_folder_processes_nothing(run_etl, hostile_run):
    raw, out, state, _, _, _ = hostile_run
    assert state.is_completed(), state.message
    version = h.current_target(out)
    again = run_etl(raw, out, batch_files=12, max_quarantined_share=1.0)
    assert again.is_completed(), again.message
    s = again.result()
    assert s["files"]["processed"] == 0, f"files processed again: {s['files']}"
    assert h.current_target(out) == version, "a rerun over unchanged input made a new version"


# One 2 MB line without spaces: the text-dump and HTML parsers must take linear time on it. The run
# above holds a 2 MB line of words (fine); these are not in it because today they never finish.
_LONG_LINE_CASES = {
    "letters.txt": "parse_file('letters.txt', b'x' * 2_000_000)",
    "brackets.txt": "parse_file('brackets.txt', b'[' * 2_000_000)",
    "page.html": "parse_file('page.html', b'<html><body><p>' + b'x' * 2_000_000 + b'</p></body></html>')",
}


def test_a_2mb_line_without_spaces_parses_in_bounded_time():
    import subprocess
    import sys

    procs = {name: subprocess.Popen([sys.executable, "-c", f"from cleanwire.ingest.parse import parse_file; {code}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for name, code in _LONG_LINE_CASES.items()}
    deadline = time.monotonic() + 12
    slow, failed = [], []
    for name, p in procs.items():
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
            if p.returncode != 0:
                failed.append((name, p.stderr.read().decode()[-300:]))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            slow.append(name)
        finally:
            p.stderr.close()
    assert not failed, failed
    assert not slow, f"still parsing after 12 s: {slow}"


# ------------------------------------------------------------------ the size cap: bounded memory

@pytest.fixture(scope="module")
def huge_file(hostile_input) -> Path:
    raw, _ = hostile_input
    return raw / "huge.txt"


@pytest.mark.parametrize("cap", [DEFAULT_CAP, 1000])
def test_read_capped_never_holds_more_than_the_cap(huge_file, cap):
    from cleanwire.ingest.read import read_capped

    assert huge_file.stat().st_size == HUGE_SIZE
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        data, err = read_capped(str(huge_file), cap)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data is None and err.reason == "too_large" and "size cap" in err.message
    assert f"{cap / 1e6:g} MB" in err.message
    assert peak <= cap + 1 + 256 * 1024, f"read_capped held {peak} bytes for a cap of {cap}"


def test_read_capped_reads_at_most_cap_plus_one_bytes(huge_file, monkeypatch):
    """The bytes asked of the file: never the whole 50 MB."""
    from cleanwire.ingest import read

    asked: list[int] = []
    real_read = os.read

    def spy_read(fd, n):
        asked.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(read.os, "read", spy_read)
    data, err = read.read_capped(str(huge_file), DEFAULT_CAP)
    assert data is None and err
    assert asked and all(0 <= n <= DEFAULT_CAP + 1 for n in asked), asked
    ok, err = read.read_capped(str(huge_file), HUGE_SIZE)
    assert err is None and len(ok) == HUGE_SIZE  # at the cap exactly: read in full


def test_a_file_that_grew_since_its_size_was_taken_is_read_whole_up_to_the_cap(tmp_path, monkeypatch):
    """The read asks for the size the file had; a file a scraper is still writing may be longer by
    then: its bytes are read on, and the cap still holds."""
    from cleanwire.ingest import read

    p = tmp_path / "growing.txt"
    p.write_bytes(b"x" * 5000)
    real_fstat = os.fstat

    class Earlier:  # what fstat said before the scraper wrote the rest
        def __init__(self, st):
            self.st_mode, self.st_size = st.st_mode, 100

    monkeypatch.setattr(read.os, "fstat", lambda fd: Earlier(real_fstat(fd)))
    assert read.read_capped(str(p), 10_000) == (b"x" * 5000, None)
    data, err = read.read_capped(str(p), 4999)
    assert data is None and err.reason == "too_large"
    assert read.read_capped(str(p), 5000) == (b"x" * 5000, None)


def test_size_cap_boundary(tmp_path):
    from cleanwire.ingest.read import read_capped

    p = tmp_path / "f.txt"
    p.write_bytes(b"a" * 1000)
    assert read_capped(str(p), 1000) == (b"a" * 1000, None)
    data, err = read_capped(str(p), 999)
    assert data is None and "size cap" in err.message


# ------------------------------------------------------------------ 3. input safety

SECRET = "TOPSECRET-7f3a9c-never-to-be-read"


class _OpenWatch:
    """inotify on a folder: did anyone open or read it or a file in it? (None when inotify is missing)"""

    IN_ACCESS, IN_OPEN = 0x1, 0x20

    def __init__(self, paths: list[Path]):
        self.fd = None
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            if fd < 0:
                return
            for p in paths:
                if libc.inotify_add_watch(fd, os.fsencode(p), self.IN_OPEN | self.IN_ACCESS) < 0:
                    os.close(fd)
                    return
            self.fd = fd
        except (OSError, AttributeError):
            self.fd = None

    def events(self) -> list[tuple[int, str]]:
        out = []
        if self.fd is None:
            return out
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            i = 0
            while i < len(buf):
                _wd, mask, _cookie, n = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16:i + 16 + n].rstrip(b"\0").decode(errors="replace")
                out.append((mask, name))
                i += 16 + n

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _FifoGuard(threading.Thread):
    """Watches a FIFO: if anyone opens it to read, note it and let them go (open the write end, close it)."""

    def __init__(self, fifo: Path):
        super().__init__(daemon=True)
        self.fifo, self.opened_by_reader, self._halt = fifo, 0, threading.Event()

    def run(self):
        while not self._halt.wait(0.05):
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno in (errno.ENXIO, errno.ENOENT):
                    continue  # no reader: good
                raise
            self.opened_by_reader += 1
            os.close(fd)  # the blocked reader sees EOF and goes on

    def stop(self):
        self._halt.set()
        self.join(5)


NAMED = {  # awkward names -> article seed
    "with spaces in the name.txt": 920,
    "na\u00efve r\u00e9sum\u00e9 \u8a18\u4e8b.txt": 921,
    "line\nbreak in name.txt": 922,
    "sub dir/\u00fcn\u00efc\u00f6de \u2013 dash \U0001f4f0.txt": 923,
    "tab\there.txt": 924,
    "  leading and trailing spaces  .txt": 925,
    "quote's \"and\" backslash\\.txt": 926,
}
LINKS = {  # link name -> what discovery must say (part of the reason)
    "escape_relative.txt": "outside",
    "escape_absolute.txt": "outside",
    "escape_dir": "outside",
    "inner_dir_link": "directory",
    "dangling.txt": "cannot stat",
    "pipe_link.txt": "not a regular file",
}


@pytest.fixture(scope="module")
def unsafe_input(tmp_path_factory):
    base = tmp_path_factory.mktemp("unsafe")
    raw, outside = base / "raw", base / "outside"
    secret_article = h.make_article(930)
    secret_article.paragraphs[0] = f"{SECRET} " + secret_article.paragraphs[0]
    secret = h.write(outside, "secret.txt", f"{SECRET}\n\n" + h.clean_dump(secret_article))
    h.write(outside, "more/secret2.txt", f"{SECRET}\n\n" + h.clean_dump(h.make_article(931)))
    articles = h.write_clean_articles(raw, range(932, 935), prefix="plain")
    for name, seed in NAMED.items():
        h.write(raw, name, h.clean_dump(h.make_article(seed)))
    (raw / "escape_relative.txt").symlink_to(os.path.relpath(secret, raw))
    (raw / "escape_absolute.txt").symlink_to(secret)
    (raw / "escape_dir").symlink_to(outside, target_is_directory=True)
    (raw / "inner_dir_link").symlink_to("sub dir", target_is_directory=True)
    (raw / "dangling.txt").symlink_to("no-such-file.txt")
    os.mkfifo(raw / "pipe.txt")
    (raw / "pipe_link.txt").symlink_to("pipe.txt")
    (raw / "alias.txt").symlink_to("plain_0932.txt")  # a link inside RAW_DIR to a file: read like a file
    return raw, outside, articles


@pytest.fixture(scope="module")
def unsafe_run(run_etl, unsafe_input, tmp_path_factory):
    raw, outside, _ = unsafe_input
    out = tmp_path_factory.mktemp("unsafe-out") / "out"
    before_raw, before_outside = h.tree_snapshot(raw), h.tree_snapshot(outside)
    watch = _OpenWatch([outside, outside / "more", outside / "secret.txt"])
    watched = watch.fd is not None
    guard = _FifoGuard(raw / "pipe.txt")
    guard.start()
    try:
        t0 = time.monotonic()
        state = run_etl(raw, out, batch_files=5, max_quarantined_share=1.0)
        seconds = time.monotonic() - t0
    finally:
        guard.stop()
        events = watch.events()
        watch.close()
    yield {"raw": raw, "out": out, "outside": outside, "state": state, "seconds": seconds, "events": events,
           "watched": watched, "fifo_reads": guard.opened_by_reader,
           "before_raw": before_raw, "before_outside": before_outside}
    os.unlink(raw / "pipe.txt")


def test_unsafe_run_completes_without_hanging(unsafe_run):
    assert unsafe_run["state"].is_completed(), unsafe_run["state"].message
    assert unsafe_run["fifo_reads"] == 0, "the FIFO was opened for reading (a run would hang on it)"
    assert unsafe_run["seconds"] < 120


def test_every_entry_of_the_unsafe_folder_appears_once(unsafe_run, unsafe_input):
    _, _, articles = unsafe_input
    assert unsafe_run["state"].is_completed(), unsafe_run["state"].message
    recs = h.all_records(unsafe_run["out"])
    seen = Counter(recs["source_path"].to_list())
    expected = {*articles, *NAMED, *LINKS, "pipe.txt", "alias.txt"}
    assert {p for p, n in seen.items() if n != 1} == set()
    assert set(seen) == expected, (set(seen) ^ expected)


def test_links_out_fifos_and_dangling_links_are_quarantined_with_the_reason(unsafe_run):
    assert unsafe_run["state"].is_completed(), unsafe_run["state"].message
    qua = h.quarantine(unsafe_run["out"])
    for name, why in {**LINKS, "pipe.txt": "FIFO"}.items():
        row = _accounted(qua, name)
        assert row["issues"] == ["unreadable"], (name, row["issues"])
        assert why.lower() in row["detail"].lower(), (name, row["detail"])
        assert row["body"] is None and row["title"] is None and row["word_count"] == 0, name


def test_awkward_file_names_are_kept_exactly(unsafe_run):
    assert unsafe_run["state"].is_completed(), unsafe_run["state"].message
    pub = h.published(unsafe_run["out"])
    for name, seed in NAMED.items():
        row = _accounted(pub, name)
        assert row["title"] == h.make_article(seed).title, name


def test_secret_outside_the_input_never_reaches_the_output(unsafe_run):
    out = unsafe_run["out"]
    assert unsafe_run["state"].is_completed(), unsafe_run["state"].message
    needle = SECRET.encode()
    checked = 0
    for p in out.rglob("*"):
        if p.is_symlink() or not p.is_file():
            continue
        if p.suffix == ".parquet":  # compressed: look at the values
            df = pl.read_parquet(p)
            for col, dtype in df.schema.items():
                if dtype == pl.String:
                    assert not df[col].str.contains(SECRET, literal=True).any(), f"secret in {p}:{col}"
        else:
            assert needle not in p.read_bytes(), f"secret in {p}"
        checked += 1
    assert checked > 5


def test_files_behind_links_out_are_never_opened(unsafe_run):
    if not unsafe_run["watched"]:
        pytest.skip("inotify is not available here")
    assert unsafe_run["state"].is_completed(), unsafe_run["state"].message
    assert unsafe_run["events"] == [], f"a file outside the input dir was opened or read: {unsafe_run['events']}"


def test_nothing_is_written_inside_the_input_or_next_to_it(unsafe_run):
    assert unsafe_run["state"].is_completed(), unsafe_run["state"].message
    assert h.tree_snapshot(unsafe_run["raw"]) == unsafe_run["before_raw"]
    assert h.tree_snapshot(unsafe_run["outside"]) == unsafe_run["before_outside"]


def test_read_capped_refuses_a_symlink(tmp_path):
    """Defence in depth: the reader itself never follows a link (O_NOFOLLOW)."""
    from cleanwire.ingest.read import read_capped

    target = h.write(tmp_path, "target.txt", "some text")
    (tmp_path / "link.txt").symlink_to(target)
    data, err = read_capped(str(tmp_path / "link.txt"), DEFAULT_CAP)
    assert data is None and err


def test_read_capped_does_not_block_on_a_fifo(tmp_path):
    from cleanwire.ingest.read import read_capped

    fifo = tmp_path / "was_a_file.txt"
    os.mkfifo(fifo)
    result: list = []
    t = threading.Thread(target=lambda: result.append(read_capped(str(fifo), DEFAULT_CAP)), daemon=True)
    t.start()
    t.join(3)
    blocked = t.is_alive()
    if blocked:  # let the reader go: open the write end and close it
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        t.join(5)
    os.unlink(fifo)
    assert not blocked, "read_capped blocked on a FIFO"
    data, err = result[0]
    assert data is None and err


def test_file_names_that_are_not_utf8_stay_distinct(run_etl, tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    h.write_clean_articles(raw, range(940, 943))
    for i, name in enumerate([b"caf\xe9.txt", b"caf\xe8.txt"]):
        with open(os.path.join(os.fsencode(raw), name), "w", encoding="utf-8") as fh:
            fh.write(h.clean_dump(h.make_article(945 + i)))
    state = run_etl(raw, out, max_quarantined_share=1.0)
    assert state.is_completed(), state.message
    recs = h.all_records(out)
    assert recs.height == 5, recs.select("source_path", "issues")
    assert recs["source_path"].n_unique() == 5 and recs["article_id"].n_unique() == 5
    assert h.published(out).height == 5


def test_a_file_named_like_a_feed_record_does_not_collide(run_etl, tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    h.write_clean_articles(raw, range(950, 953))
    h.write(raw, "feed.jsonl", "\n".join(h.json_record(h.make_article(s)) for s in (955, 956)) + "\n")
    h.write(raw, "feed.jsonl#1", h.clean_dump(h.make_article(957)))
    state = run_etl(raw, out, max_quarantined_share=1.0)
    assert state.is_completed(), state.message
    recs = h.all_records(out)
    assert recs.height == 6, recs.select("source_path", "issues")
    assert recs["article_id"].n_unique() == 6
    # The file's '#' before a number is escaped, so its source_path can never be read as a feed record.
    assert sorted(recs["source_file"].unique().to_list()) == sorted(
        ["clean_0950.txt", "clean_0951.txt", "clean_0952.txt", "feed.jsonl", "feed.jsonl%231"])
