"""Is every record held as `duplicate` a near-copy of the record its `duplicate_of` names?

    python bench/dupcheck.py OUT_DIR [--labels LABELS]

A near-copy has at least half of its own word 5-shingles in the named record:
|A∩B| / |A| >= 0.5 for the duplicate A and the record B it names, counted
exactly from the two bodies (a trimmed copy is in the full one; two stories that
share a lede or a paragraph are not in each other; and a long story is not a
copy of a short one it quotes). This implies the symmetric containment
|A∩B| / min(|A|, |B|) >= 0.5, which is printed too. With the generator's labels
(bench/make_corpus.py) it also prints the share of the clean stories published.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import polars as pl

NEAR_COPY = 0.5
_WORD = re.compile(r"[^\W_]+")


def shingles(text: str | None, k: int = 5) -> set[tuple[str, ...]]:
    words = _WORD.findall((text or "").lower())
    return {tuple(words[i:i + k]) for i in range(max(1, len(words) - k + 1))} if words else set()


def share_in(a: str | None, b: str | None) -> float:
    """Share of a's 5-shingles that b has."""
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa) if sa and sb else 0.0


def containment(a: str | None, b: str | None) -> float:
    """|A∩B| / min(|A|, |B|) of the 5-shingle sets."""
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / min(len(sa), len(sb)) if sa and sb else 0.0


def read_output(out: Path) -> pl.DataFrame:
    cols = ["article_id", "source_path", "body", "duplicate_of", "issues"]
    frames = [pl.scan_parquet(f"{out}/{name}/articles/**/*.parquet", hive_partitioning=True).select(cols)
              .with_columns(pl.lit(name).alias("dataset")).collect()
              for name in ("published", "quarantine") if list((out / name / "articles").rglob("*.parquet"))]
    return pl.concat(frames)


def near_copy_report(out: Path, labels: Path | None = None) -> dict:
    """Counts of duplicates and near-copies; with labels, the clean stories and those published."""
    df = read_output(out)
    body = dict(zip(df["article_id"], df["body"]))
    held = df.filter(pl.col("issues").list.contains("duplicate"))
    pairs = list(zip(held["body"], held["duplicate_of"]))
    scores = [share_in(b, body.get(d)) for b, d in pairs]
    symmetric = [containment(b, body.get(d)) for b, d in pairs]
    report = {"records": df.height, "published": int((df["dataset"] == "published").sum()),
              "duplicates": held.height, "near_copies": sum(s >= NEAR_COPY for s in scores),
              "near_copies_symmetric": sum(s >= NEAR_COPY for s in symmetric),
              "not_near": sorted(zip(scores, held["source_path"], held["duplicate_of"]))[:5]}
    report["near_copy_share"] = report["near_copies"] / held.height if held.height else 1.0
    report["near_copy_share_symmetric"] = report["near_copies_symmetric"] / held.height if held.height else 1.0
    if labels is not None:
        published = set(df.filter(pl.col("dataset") == "published")["source_path"])
        stories: dict[str, list[dict]] = {}
        for line in labels.read_text(encoding="utf-8").splitlines():
            lab = json.loads(line)
            stories.setdefault(lab.get("dup_group") or lab["source_path"], []).append(lab)
        # A clean story: one of its scrapes can be published (a missing date or headline can be
        # taken from another copy, when one has it).
        clean = [labs for labs in stories.values()
                 if any(not set(lab.get("own_issues", lab["issues"])) - {"missing_date", "missing_title"}
                        for lab in labs)
                 and any(lab["published_date"] for lab in labs) and any(lab["title"] for lab in labs)]
        report["clean_stories"] = len(clean)
        report["clean_published"] = sum(any(lab["source_path"] in published for lab in labs) for labs in clean)
        report["clean_published_share"] = report["clean_published"] / len(clean) if clean else 1.0
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--labels", type=Path)
    a = ap.parse_args()
    print(json.dumps(near_copy_report(a.out, a.labels), indent=1, default=str))


if __name__ == "__main__":
    main()
