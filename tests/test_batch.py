"""A batch task parses its files in chunks: the output is the same as one pass, chunk by chunk."""
from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq

from cleanwire import batch
from cleanwire.batch import FileRef, chunk_files, process_batch

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
