"""A batch task parses its files in chunks: the output is the same as one pass, chunk by chunk."""
from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq

from cleanwire.ingest import batch
from cleanwire.ingest.batch import FileRef, chunk_files, process_batch

BODY = ("The harbour board approved the new ferry timetable on Tuesday after a long public consultation. "
        "Residents of the outer islands had asked for an earlier morning crossing for years.")


def _write_files(folder, n):
    refs = []
    for i in range(n):
        p = folder / f"{i:03d}.txt"
        p.write_text(f"Ferry timetable number {i} approved\n\nBy A Reporter\n\nJune {i % 28 + 1}, 2023\n\n"
                     f"{BODY} This is notice {i}.\n", encoding="utf-8")
        st = p.stat()
        refs.append(FileRef(p.name, str(p), st.st_size, st.st_mtime_ns))
    return refs


def test_chunks_respect_both_the_file_and_the_byte_limit():
    refs = [FileRef(f"{i}", f"/x/{i}", 10, 0) for i in range(7)]
    assert [len(c) for c in chunk_files(refs, 3, 10**6)] == [3, 3, 1]
    assert [len(c) for c in chunk_files(refs, 100, 25)] == [2, 2, 2, 1]
    assert sum(chunk_files(refs, 3, 25), []) == refs  # order kept, nothing lost


def test_a_batch_in_several_chunks_gives_the_same_records_as_one_chunk(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    raw.mkdir()
    refs = _write_files(raw, 7)
    whole = process_batch(refs, str(tmp_path / "one"), 0, "run", 10**6)
    monkeypatch.setattr(batch, "CHUNK_FILES", 3)
    chunked = process_batch(refs, str(tmp_path / "three"), 0, "run", 10**6)

    assert pq.ParquetFile(chunked.records_path).num_row_groups == 3  # memory held: one chunk at a time
    assert chunked.n_records == whole.n_records == 7
    a, b = pl.read_parquet(whole.records_path), pl.read_parquet(chunked.records_path)
    assert a.schema == b.schema
    assert a.sort("article_id").equals(b.sort("article_id"))
    assert pl.read_parquet(chunked.files_path)["source_file"].to_list() == [r.source_file for r in refs]
    assert not list((tmp_path / "three").glob("*.tmp"))


def test_every_record_carries_the_hash_of_its_own_files_bytes(tmp_path):
    """Readable, unreadable, problem and unchanged files side by side: each file's status row
    and records carry the content hash of that file's bytes (a feed file: all its records)."""
    from cleanwire.ingest.parse import content_hash

    contents = {
        "a.txt": b"Harbour reopens\n\nThe harbour reopened on Monday after the storm.\n",
        "feed.jsonl": b'{"title": "One", "body": "First body."}\n{"title": "Two", "body": "Second body."}\n',
        "empty.txt": b"",
        "b.txt": b"Bridge closes\n\nThe council closed the old bridge for repairs.\n",
        "same.txt": b"Unchanged since the last run.\n",
    }
    refs = []
    for name, data in contents.items():
        p = tmp_path / name
        p.write_bytes(data)
        prev = content_hash(data) if name == "same.txt" else None
        refs.append(FileRef(name, str(p), len(data), 0, prev_hash=prev))
    refs.insert(2, FileRef("gone.txt", str(tmp_path / "gone.txt"), 0, 0, problem="vanished"))
    records, status = batch.read_and_parse(refs, 10_000)
    by_file = {}
    for r in records:
        by_file.setdefault(r["source_file"], []).append(r)
    assert sorted(by_file) == ["a.txt", "b.txt", "empty.txt", "feed.jsonl", "gone.txt"]
    assert len(by_file["feed.jsonl"]) == 2
    for name, recs in by_file.items():
        want = content_hash(contents[name]) if name in contents else None
        assert {r["content_hash"] for r in recs} == {want}, name
    assert {s["source_file"]: s["content_hash"] for s in status} == {
        **{n: content_hash(d) for n, d in contents.items()}, "gone.txt": None}
    assert {s["source_file"]: s["status"] for s in status}["same.txt"] == "unchanged"


def test_batches_come_in_a_multiple_of_the_workers_of_about_one_size():
    """A run's batches keep every worker busy to the end: 23 batches on 2 workers left one idle
    for the last; the planner makes 24 of about one size instead, within both limits."""
    from cleanwire.config import RunConfig
    from cleanwire.runner import batch_bounds

    config = RunConfig(processes=2, batch_files=4000)
    sizes = [1000] * 91_781
    bounds = batch_bounds(config, sizes)
    lengths = [b - a for a, b in bounds]
    assert len(bounds) == 24 and max(lengths) - min(lengths) <= len(bounds)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(sizes)
    assert all(a == b for (_, a), (b, _) in zip(bounds, bounds[1:]))   # consecutive, nothing left out
    # Already a multiple of the workers, or a single batch: as it was.
    assert len(batch_bounds(config, [1000] * 96_000)) == 24
    assert batch_bounds(config, [1000] * 1500) == [(0, 1500)]
    # The byte limit still holds: 3 files of ~batch_mb each make 3 batches, evened to 4 (one file each at most).
    big = int(config.batch_mb * 1e6)
    assert all(b - a <= 1 for a, b in batch_bounds(config, [big] * 3))
