"""Discovery: which raw files a run must read, as a frame of file rows (no run, no Prefect)."""
from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from cleanwire.ingest.discover import FILES_SCHEMA, discover, file_refs, walk


def _seen(rows: list[tuple[str, int, int, str | None]]) -> pl.DataFrame:
    """A state index of files an earlier run saw: source_file, size, mtime_ns, content_hash."""
    return pl.DataFrame(rows, schema={"source_file": pl.String, "size": pl.Int64, "mtime_ns": pl.Int64,
                                      "content_hash": pl.String}, orient="row")


@pytest.fixture
def raw(tmp_path) -> Path:
    d = tmp_path / "raw"
    (d / "b").mkdir(parents=True)
    for name in ("a.txt", "b/c.txt", "b/d.txt"):
        (d / name).write_text(f"text of {name}\n", encoding="utf-8")
    return d


def _stat(raw: Path, name: str) -> tuple[int, int]:
    st = (raw / name).stat()
    return st.st_size, st.st_mtime_ns


def test_a_first_run_takes_every_file_sorted_by_name(raw):
    found = discover(raw, None)
    assert found.to_process.schema == pl.Schema(FILES_SCHEMA)
    assert found.to_process["source_file"].to_list() == ["a.txt", "b/c.txt", "b/d.txt"]
    assert (found.unchanged, found.seen_total, found.missing) == (0, 0, 0)
    refs = file_refs(found.to_process)
    assert [Path(r.path).read_text(encoding="utf-8") for r in refs] == [
        "text of a.txt\n", "text of b/c.txt\n", "text of b/d.txt\n"]
    assert all(r.prev_hash is None and r.problem is None for r in refs)


def test_a_rerun_skips_files_whose_size_and_mtime_match_and_hands_on_the_old_hash(raw):
    seen = _seen([("a.txt", *_stat(raw, "a.txt"), "h-a"),            # unchanged
                  ("b/c.txt", 1, 1, "h-c"),                           # another size and mtime
                  ("b/d.txt", *_stat(raw, "b/d.txt"), "h-d"),
                  ("gone.txt", 5, 5, "h-gone")])                      # no longer on disk
    os.utime(raw / "b" / "d.txt", ns=(1, 1))  # only the mtime moved: read again, its hash decides
    found = discover(raw, seen)
    todo = found.to_process
    assert todo["source_file"].to_list() == ["b/c.txt", "b/d.txt"]
    assert todo["prev_hash"].to_list() == ["h-c", "h-d"]
    assert (found.unchanged, found.seen_total, found.missing) == (1, 4, 1)


def test_reprocessing_takes_exactly_the_named_files(raw):
    seen = _seen([("a.txt", *_stat(raw, "a.txt"), "h-a")])
    found = discover(raw, seen, only={"a.txt", "b/d.txt", "vanished.txt"})
    assert found.to_process["source_file"].to_list() == ["a.txt", "b/d.txt"]
    assert found.to_process["prev_hash"].null_count() == 2  # parsed again, whatever their content
    assert (found.unchanged, found.missing) == (1, 1)


def test_a_file_name_that_is_not_utf8_survives_the_frame(tmp_path):
    d = tmp_path / "raw"
    d.mkdir()
    name = os.fsdecode(b"caf\xe9.txt")  # Latin-1 bytes: a surrogate escape in Python
    (d / name).write_text("text\n", encoding="utf-8")
    found = walk(d)
    assert found["source_file"].to_list() == ["caf\\xe9.txt"]  # shown escaped
    (ref,) = file_refs(found)
    assert Path(ref.path).read_text(encoding="utf-8") == "text\n"  # and still opened by its real name
