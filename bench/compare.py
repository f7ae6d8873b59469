"""Do two outputs of `cleanwire run` hold the same records?

    python bench/compare.py OUT_BEFORE OUT_AFTER [--columns article_id,issues,title,published_date,body]

Matches records by source_path across both datasets (published and quarantine)
and prints, per column, how many records differ, with a few examples; exit 1
when anything differs. A refactoring must leave this empty on the labelled corpora.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

COLUMNS = ["article_id", "issues", "title", "published_date", "body"]


def records(out: Path, columns: list[str]) -> pl.DataFrame:
    frames = []
    for name in ("published", "quarantine"):
        files = sorted((out / name / "articles").rglob("*.parquet"))
        if files:
            frames.append(pl.scan_parquet(files, hive_partitioning=False)
                          .select("source_path", *[c for c in columns if c != "source_path"])
                          .with_columns(pl.lit(name).alias("dataset")).collect())
    return pl.concat(frames, how="vertical_relaxed").with_columns(pl.col("issues").list.sort())


def compare(a: pl.DataFrame, b: pl.DataFrame, columns: list[str], examples: int = 3) -> dict[str, list]:
    j = a.join(b, on="source_path", how="full", suffix="_after", coalesce=True)
    out = {"only_before": j.filter(pl.col("dataset_after").is_null())["source_path"].to_list(),
           "only_after": j.filter(pl.col("dataset").is_null())["source_path"].to_list()}
    both = j.filter(pl.col("dataset").is_not_null() & pl.col("dataset_after").is_not_null())
    for c in [*columns, "dataset"]:
        differs = both.filter(pl.col(c).ne_missing(pl.col(f"{c}_after")))
        out[c] = differs.select("source_path", c, f"{c}_after").head(examples).rows() if differs.height else []
        out[f"{c}_count"] = differs.height
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--columns", default=",".join(COLUMNS))
    a = ap.parse_args()
    cols = a.columns.split(",")
    before, after = records(a.before, cols), records(a.after, cols)
    d = compare(before, after, cols)
    print(f"records: {before.height} before, {after.height} after; only before: {len(d['only_before'])}, "
          f"only after: {len(d['only_after'])}")
    same = not d["only_before"] and not d["only_after"]
    for c in [*cols, "dataset"]:
        print(f"  {c:<15} {d[f'{c}_count']} differ")
        for row in d[c]:
            print(f"      {row[0]}: {str(row[1])[:80]!r} -> {str(row[2])[:80]!r}")
        same &= d[f"{c}_count"] == 0
    print("identical" if same else "DIFFERENT")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
