"""The whole job on a feed with the structure only scale shows (issue 19).

bench/make_corpus.py writes ~3,000 records in an invented language: stories that
share a lede (follow-ups) or whole paragraphs (one pool, stock endings) without
being copies, and true copies: re-laid-out, trimmed, extended, cut off, and one
story syndicated some 300 times. The small labelled corpora have groups of 2-4
copies; chained groups and withheld clean records show only here.
"""
from __future__ import annotations

import collections
import json
import sys

import polars as pl
import pytest

from helpers import REPO, all_records

sys.path.insert(0, str(REPO / "bench"))
from dupcheck import NEAR_COPY, share_in  # noqa: E402
from make_corpus import generate, invented_text  # noqa: E402


@pytest.fixture(scope="module")
def feed(tmp_path_factory, run_etl):
    root = tmp_path_factory.mktemp("feed")
    made = generate(3000, root / "raw", seed=5, text=invented_text())
    state = run_etl(root / "raw", root / "out", max_quarantined_share=1.0)
    assert state.is_completed(), state.message
    labels = [json.loads(line) for line in (root / "raw.labels.jsonl").read_text().splitlines()]
    return made, labels, all_records(root / "out")


def test_the_feed_has_the_structure_that_chains_groups(feed):
    made, labels, _ = feed
    copies = collections.Counter(lab["dup_group"] for lab in labels if lab.get("dup_group"))
    assert copies.most_common(1)[0][1] >= 100          # a story syndicated by the hundred
    ledes = collections.Counter((lab["body"] or "").split("\n\n")[0] for lab in labels
                                if lab.get("body") and not lab.get("dup_group"))
    assert sum(n for n in ledes.values() if n > 1) >= 100  # stories that share a lede with another story
    assert made["copies"] >= 900


def test_every_duplicate_names_a_published_near_copy(feed):
    _, _, records = feed
    body = dict(zip(records["article_id"], records["body"]))
    published = set(records.filter(pl.col("dataset") == "published")["article_id"])
    held = records.filter(pl.col("issues").list.contains("duplicate"))
    assert held.height >= 800
    for path, text, original in held.select("source_path", "body", "duplicate_of").iter_rows():
        assert original in published, path
        share = share_in(text, body[original])
        assert share >= NEAR_COPY, f"{path} is held as a copy of {original}, which has {share:.2f} of its 5-grams"


def test_no_clean_story_is_withheld(feed):
    _, labels, records = feed
    published = set(records.filter(pl.col("dataset") == "published")["source_path"])
    stories = collections.defaultdict(list)
    for lab in labels:
        stories[lab.get("dup_group") or lab["source_path"]].append(lab)
    clean = [labs for labs in stories.values() if any(not lab.get("own_issues", lab["issues"]) for lab in labs)]
    withheld = [labs[0]["source_path"] for labs in clean if not any(lab["source_path"] in published for lab in labs)]
    assert len(clean) >= 1000 and not withheld, f"{len(withheld)} clean stories withheld, e.g. {withheld[:3]}"


def test_most_true_copies_are_found(feed):
    _, labels, records = feed
    issues = dict(zip(records["source_path"], records["issues"]))
    by_story = collections.defaultdict(list)
    for lab in labels:
        if lab.get("dup_group"):
            by_story[lab["dup_group"]].append(lab["source_path"])
    # Of each story's n scrapes, n - 1 are copies: held as duplicates, or held for their own defects.
    copies = sum(len(paths) - 1 for paths in by_story.values())
    held = sum(sum("duplicate" in issues[p] for p in paths) for paths in by_story.values())
    assert held >= 0.85 * copies, (held, copies)
