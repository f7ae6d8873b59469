"""An output written by an earlier version, before a column was added, stays one readable table.

cleanwire adds columns over time (the contract allows it: `reasons`, `crawled_at`...).
A new version of the dataset carries the previous version's files over; those
lack the new column, and a glob over files of two schemas does not read as one
table. The store rewrites such files once, with the column null.
"""
from __future__ import annotations

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from cleanwire.publish.store import TableSpec, TableWriter

SPEC = TableSpec("published/articles", partition_by=("year",), key="source_file")
NEW_SCHEMA = pa.schema([("source_file", pa.string()), ("title", pa.string()),
                        ("crawled_at", pa.timestamp("us", tz="UTC")), ("year", pa.int32())])


def _old_version(root):
    """A partition written before `crawled_at` existed, and one this run will not touch."""
    for year, name in ((2023, "a.txt"), (2021, "b.txt")):
        d = root / SPEC.rel / f"year={year}"
        d.mkdir(parents=True)
        pq.write_table(pa.table({"source_file": [name], "title": [f"Old story {year}"]}), d / "part-v000001.parquet")


def test_files_of_an_older_schema_are_rewritten_with_the_new_column_null(tmp_path):
    old, new = tmp_path / "v1", tmp_path / "v2"
    _old_version(old)
    w = TableWriter(SPEC, old, new, 2, pl.Series(dtype=pl.String), NEW_SCHEMA)
    w.write(pl.DataFrame({"source_file": ["c.txt"], "title": ["New story"], "year": [2023],
                          "crawled_at": [None]}, schema={"source_file": pl.String, "title": pl.String,
                                                         "year": pl.Int32, "crawled_at": pl.Datetime("us", "UTC")}))
    w.close()
    files = sorted((new / SPEC.rel).rglob("*.parquet"))
    assert files and all("crawled_at" in pq.read_schema(f).names for f in files)
    table = pl.scan_parquet(files, hive_partitioning=True).collect().sort("source_file")
    assert table["source_file"].to_list() == ["a.txt", "b.txt", "c.txt"]
    assert table["crawled_at"].null_count() == 3
    assert table["title"].to_list() == ["Old story 2023", "Old story 2021", "New story"]


def test_files_of_the_current_schema_are_carried_over_untouched(tmp_path):
    old, new = tmp_path / "v1", tmp_path / "v2"
    d = old / SPEC.rel / "year=2021"
    d.mkdir(parents=True)
    pq.write_table(pa.table({"source_file": ["b.txt"], "title": ["Story"],
                             "crawled_at": pa.array([None], pa.timestamp("us", tz="UTC"))}), d / "part-v000001.parquet")
    TableWriter(SPEC, old, new, 2, pl.Series(dtype=pl.String), NEW_SCHEMA).close()
    carried = new / SPEC.rel / "year=2021" / "part-v000001.parquet"
    assert carried.stat().st_ino == (d / "part-v000001.parquet").stat().st_ino  # a hard link, not a rewrite
