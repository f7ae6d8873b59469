"""Near-duplicate articles: signatures, groups, and the copy to publish.

`signature_frame` + `find_groups` on bodies (some taken through the text-dump
parser), and `choose_canonical` on hand-made member frames. Articles are
invented for these tests; each pair is grouped on its own, so a third copy
cannot link two records that do not match each other.
"""
from __future__ import annotations

import datetime as dt

import numpy as np

import polars as pl
import pytest

from cleanwire.checks import dedup
from cleanwire.ingest.formats.text_dump import parse_page_dump

FERRY = [
    "The city council on Friday approved a plan to replace its ageing diesel ferry fleet with twelve electric boats, "
    "ending a decade of debate over the cost of the harbour crossings.",
    "The first electric ferry is expected to enter service next spring, council leader Maria Okafor told reporters "
    "after the vote, adding that the rest of the fleet would follow over four years.",
    "Residents who rely on the ferries to reach work on the mainland have long complained about breakdowns and "
    "cancelled crossings during the winter months.",
    "The plan will be paid for by a mix of regional grants and a modest rise in ticket prices, which opposition "
    "councillors said would hit commuters hardest.",
    "Engineers from the port authority said the new boats would be charged overnight at a substation to be built "
    "beside the old fish market, and could also draw power from a small solar farm on the breakwater.",
    "Okafor said the switch would cut the harbour's carbon emissions by almost a third and make the crossings "
    "quieter for the families who live along the waterfront.",
    "Critics on the council questioned whether the shipyard chosen to build the boats, which has never made an "
    "electric vessel, could deliver them on time and on budget.",
    "The council will publish a revised timetable for the crossings in the autumn, once the shipyard has confirmed "
    "its delivery dates for the first three boats.",
]
FULL = "\n\n".join(FERRY)

# Another outlet's own story on the same vote: same event, same names, different text.
SAME_TOPIC = "\n\n".join([
    "Porthaven will switch its harbour ferries to battery power after councillors backed the twelve-boat order by "
    "nine votes to four on Friday evening.",
    "Council leader Maria Okafor called the decision a turning point for the town, saying the diesel boats had "
    "become too expensive to repair and too noisy for people living near the quay.",
    "Opposition members argued that the money would be better spent on fixing the existing piers, several of which "
    "have been closed for safety checks since the storms last winter.",
    "Ticket prices are set to rise by about ten per cent from January to help cover the cost, a change that "
    "commuter groups say they will challenge at the next public meeting.",
    "The shipyard that won the contract said it expected to deliver the first boat within eighteen months, although "
    "it has not yet built a vessel of this kind.",
])

# A different story about the same ferries.
OTHER_FERRY_STORY = "\n\n".join([
    "Ferry workers in the harbour town walked out on Monday in a dispute over night shifts, leaving hundreds of "
    "commuters stranded on the island for most of the morning.",
    "The union representing deckhands and engineers said staff had been asked to cover longer rosters without extra "
    "pay since two of the older boats were taken out of service in March.",
    "A spokesman for the operator said talks would resume on Wednesday and apologised to passengers, adding that a "
    "reduced service would run in the evening with volunteers from the coastguard.",
    "The strike is the third this year on the crossings, which carry about four thousand people a day between the "
    "island and the mainland towns along the coast.",
])


def find_groups(bodies: pl.DataFrame, th: dedup.DedupThresholds) -> pl.DataFrame:
    """dedup.near_duplicates over a frame of article_id and body, preferring the longer copy:
    article_id -> group_id."""
    sigs = dedup.signature_frame(bodies["article_id"].to_list(), bodies["body"].to_list())

    def rank(ids: pl.Series) -> pl.Series:
        return (sigs.filter(pl.col("article_id").is_in(ids.implode()))
                .sort(["n_shingles", "article_id"], descending=[True, False])["article_id"])

    def signatures(ids: pl.Series) -> pl.DataFrame:
        return pl.DataFrame({"article_id": ids}).join(sigs, on="article_id", how="left", maintain_order="left")

    def sets(ids: pl.Series) -> pl.Series:
        return (pl.DataFrame({"article_id": ids})
                .join(sigs, on="article_id", how="left", maintain_order="left")[dedup.SETS])

    groups = dedup.near_duplicates(sigs.select("article_id", *dedup.BAND_COLUMNS), signatures, sets, rank, th)
    return groups.select("article_id", "group_id")


def grouped(body_a: str, body_b: str) -> bool:
    """Are two bodies put in one group by signature_frame + find_groups (default thresholds)?"""
    groups = find_groups(pl.DataFrame({"article_id": ["a", "b"], "body": [body_a, body_b]}),
                               dedup.DedupThresholds())
    return groups.filter(pl.col("article_id").is_in(["a", "b"]))["group_id"].n_unique() == 1 and groups.height == 2


def first_share(text: str, share: float) -> str:
    words = text.split()
    return " ".join(words[: int(len(words) * share)])


# ----------------------------------------------------------------- same article, grouped


def test_identical_bodies_are_grouped():
    assert grouped(FULL, FULL)


def test_same_article_with_different_boilerplate_is_grouped():
    page_a = ("Home > News > Local\nHarbour city approves electric ferry fleet\nBy Jane Doe\nJune 17, 2023\n"
              "3 min read\n\n" + "\n\n".join(FERRY[:3]) + "\n\nADVERTISEMENT\n\n" + "\n\n".join(FERRY[3:])
              + "\n\nMore stories\nStorm forces closure of mountain pass\nLibrary reopens after flood repairs")
    page_b = ("PORTHAVEN COURIER\nLocal\nCouncil votes for battery ferries\nPublished: 17/06/2023 10:32 BST\n"
              "Share | Tweet | Email\n\n" + "\n\n".join(FERRY[:5])
              + "\n\nThe new ferry moored at the old harbour. / Photo: AP / AP\n\n" + "\n\n".join(FERRY[5:])
              + "\n\n(Reporting by Jane Doe; Editing by John Smith)"
              + "\n\nWe use cookies to improve your experience. By continuing to browse you accept our use of cookies.")
    body_a, body_b = parse_page_dump(page_a)["body"], parse_page_dump(page_b)["body"]
    assert body_a != body_b  # different layouts leave different text around the article
    assert grouped(body_a, body_b)


def test_same_article_with_leftover_furniture_lines_in_one_body_is_grouped():
    noisy = ("Sign up for our morning newsletter to get the day's local news in your inbox.\n\n"
             + "\n\n".join(FERRY[:4]) + "\n\nRead our coverage of the council budget on page four.\n\n"
             + "\n\n".join(FERRY[4:]) + "\n\nCopyright 2023 Porthaven Courier. All rights reserved.")
    assert grouped(FULL, noisy)


def test_truncated_copy_is_grouped_with_the_full_article():
    assert grouped(FULL, first_share(FULL, 0.4))


def test_feed_snippet_of_200_characters_is_grouped_with_the_full_article():
    snippet = FULL[:200].rsplit(" ", 1)[0] + "…"
    assert len(snippet) <= 200
    assert grouped(FULL, snippet)


# ----------------------------------------------------------------- different articles, not grouped


def test_two_outlets_own_stories_on_the_same_event_are_not_grouped():
    assert not grouped(FULL, SAME_TOPIC)


def test_two_stories_about_the_same_ferries_are_not_grouped():
    assert not grouped(FULL, OTHER_FERRY_STORY)


def test_short_bodies_are_never_matched():
    bodies = pl.DataFrame({"article_id": ["a", "b", "c"],
                           "body": ["Council approves ferries.", "Council approves ferries.", None]})
    assert dedup.signature_frame(bodies["article_id"].to_list(), bodies["body"].to_list()).height == 0
    assert find_groups(bodies, dedup.DedupThresholds()).height == 0


def test_groups_over_a_mixed_batch():
    ids = ["full", "cut", "snippet", "same_topic", "other"]
    bodies = [FULL, first_share(FULL, 0.4), FULL[:200].rsplit(" ", 1)[0], SAME_TOPIC, OTHER_FERRY_STORY]
    groups = find_groups(pl.DataFrame({"article_id": ids, "body": bodies}), dedup.DedupThresholds())
    got = dict(groups.iter_rows())
    assert set(got) == {"full", "cut", "snippet"}
    assert len(set(got.values())) == 1


# ----------------------------------------------------------------- choose_canonical


def members(*rows: dict) -> pl.DataFrame:
    """Copies of one article (or of several: a row's `star` names its star), each star's group_id set to
    its center, the copy `preference_order` puts first, as the run's star clustering does."""
    base = {"star": "g", "is_published": False, "word_count": 200, "published_date": None, "title": None,
            "subtitle": None, "author": None, "section": None, "dateline": None, "title_body_score": 0.5}
    full_rows = [{**base, "source_path": f"{r['article_id']}.txt", **r} for r in rows]
    m = pl.DataFrame(full_rows, schema_overrides={"own_issues": pl.List(pl.String), "published_date": pl.Date,
                                                  "title": pl.String, "subtitle": pl.String, "author": pl.String,
                                                  "section": pl.String, "dateline": pl.String})
    centers = dedup.preference_order(m).group_by("star", maintain_order=True).agg(
        pl.col("article_id").first().alias("group_id"))
    return m.join(centers, on="star").drop("star")


def canonical(result: pl.DataFrame) -> set[str]:
    return set(result["canonical_id"].to_list())


def test_choose_canonical_prefers_a_copy_without_issues_over_a_longer_truncated_one():
    m = members(
        {"article_id": "long_cut", "own_issues": ["truncated_body"], "word_count": 400,
         "published_date": dt.date(2023, 6, 17), "title": "Harbour city approves electric ferry fleet"},
        {"article_id": "clean", "own_issues": [], "word_count": 300,
         "published_date": dt.date(2023, 6, 17), "title": "Harbour city approves electric ferry fleet"},
    )
    assert canonical(dedup.choose_canonical(m)) == {"clean"}


def test_choose_canonical_takes_the_date_from_a_duplicate_when_the_chosen_copy_lacks_it():
    m = members(
        {"article_id": "undated_full", "own_issues": ["missing_date"], "word_count": 400,
         "title": "Harbour city approves electric ferry fleet"},
        {"article_id": "dated_cut", "own_issues": ["truncated_body"], "word_count": 120,
         "published_date": dt.date(2023, 6, 17), "title": "Harbour city approves electric ferry fleet"},
    )
    out = dedup.choose_canonical(m)
    assert canonical(out) == {"undated_full"}
    assert out["fill_published_date"].to_list() == [dt.date(2023, 6, 17)] * 2


def test_choose_canonical_does_not_take_a_title_from_a_copy_with_the_wrong_title():
    m = members(
        {"article_id": "untitled", "own_issues": ["missing_title"], "published_date": dt.date(2023, 6, 17)},
        {"article_id": "wrong_title", "own_issues": ["title_mismatch"], "published_date": dt.date(2023, 6, 17),
         "title": "Storm forces closure of mountain pass"},
    )
    out = dedup.choose_canonical(m)
    assert out["fill_title"].to_list() == [None, None]
    assert out["canonical_id"].to_list() == [None, None]  # no copy can be published


def test_choose_canonical_keeps_an_already_published_copy():
    m = members(
        {"article_id": "published_before", "own_issues": [], "is_published": True, "word_count": 150,
         "published_date": dt.date(2023, 6, 17), "title": "Harbour city approves electric ferry fleet"},
        {"article_id": "new_longer", "own_issues": [], "word_count": 400,
         "published_date": dt.date(2023, 6, 17), "title": "Harbour city approves electric ferry fleet"},
    )
    assert canonical(dedup.choose_canonical(m)) == {"published_before"}


def test_of_two_copies_under_different_headlines_the_one_agreeing_with_the_text_is_published():
    """Same text, same date, no issue found on either: one headline is the story's, the other a
    neighbouring story's on the same topic that still passed the suite's minimum."""
    m = members(
        {"article_id": "a_foreign", "own_issues": [], "published_date": dt.date(2023, 6, 17),
         "title": "Ferry unions plan weekend strike", "title_body_score": 0.22},
        {"article_id": "b_own", "own_issues": [], "published_date": dt.date(2023, 6, 17),
         "title": "Harbour city approves electric ferry fleet", "title_body_score": 0.81},
    )
    assert canonical(dedup.choose_canonical(m)) == {"b_own"}


def test_choose_canonical_decides_each_group_separately():
    m = members(
        {"article_id": "a1", "star": "ga", "own_issues": [], "published_date": dt.date(2023, 6, 17)},
        {"article_id": "a2", "star": "ga", "own_issues": ["truncated_body"], "published_date": dt.date(2023, 6, 17)},
        {"article_id": "b1", "star": "gb", "own_issues": ["empty_body"], "published_date": dt.date(2023, 6, 18)},
        {"article_id": "b2", "star": "gb", "own_issues": [], "published_date": dt.date(2023, 6, 18)},
    )
    out = dict(dedup.choose_canonical(m).select("article_id", "canonical_id").iter_rows())
    assert out == {"a1": "a1", "a2": "a1", "b1": "b2", "b2": "b2"}


def test_word_hashes_are_xxhash_xxh64_of_the_utf8_bytes():
    """Signatures in a published index stay comparable: the word hash is xxh64 whatever computes it."""
    import xxhash

    words = pl.Series(["harbour", "café", "naïve", "Übersee", "東京", "2024", "x"])
    expected = [xxhash.xxh64_intdigest(w.encode()) for w in words]
    assert dedup.word_hashes(words).tolist() == expected


def test_batch_signatures_equal_datasketch_minhash():
    """Our batch MinHash is datasketch's MinHash (affine32, seed 1) over the same shingle hashes."""
    import re

    import numpy as np
    import xxhash
    from datasketch import MinHash

    bodies = [
        "The council voted on Tuesday to close the old bridge for repairs until the spring thaw ends.",
        "Fishermen in the harbour said the new quota would halve their catch and cost dozens of jobs.",
    ]
    frame = dedup.signature_frame(["x", "y"], bodies)
    for aid, body in zip(["x", "y"], bodies):
        toks = re.findall(r"[^\W_]+", body.lower())
        hs = np.array([xxhash.xxh64_intdigest(t.encode()) for t in toks], dtype=np.uint64)
        shingles = dedup.shingle_hash(hs[:-2], hs[1:-1], hs[2:]).tolist()
        for column, n_perm, subset in (("sig", dedup.NUM_PERM, shingles),
                                       ("sig_head", dedup.NUM_PERM_HEAD, shingles[: dedup.HEAD_WORDS - 2])):
            ref = MinHash(num_perm=n_perm, seed=1, scheme="affine32", hashfunc=lambda v: v)
            ref.update_batch(subset)
            got = np.array(frame.filter(pl.col("article_id") == aid)[column][0].to_list(), dtype=np.uint32)
            assert np.array_equal(got, np.asarray(ref.hashvalues, dtype=np.uint32)), column


@pytest.mark.parametrize("num_perm,seed", [(dedup.NUM_PERM, 1), (dedup.NUM_PERM_HEAD, 1), (16, 7)])
def test_permutations_are_datasketchs(num_perm, seed):
    """The affine32 parameters drawn without importing datasketch are the ones datasketch draws."""
    import numpy as np
    from datasketch import MinHash

    a, b = dedup.permutations(num_perm, seed)
    ref_a, ref_b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    assert np.array_equal(a, np.asarray(ref_a, dtype=np.uint32)) and np.array_equal(b, np.asarray(ref_b, dtype=np.uint32))
    assert a.dtype == b.dtype == np.uint32 and (a % 2 == 1).all()


# ----------------------------------------------------------------- stars: a duplicate is a copy of what it names

def _paragraphs(seed: int, n: int) -> list[str]:
    from helpers import make_article

    return make_article(seed, n_paragraphs=n).paragraphs


def _groups(bodies: dict[str, str]) -> dict[str, str]:
    frame = pl.DataFrame({"article_id": list(bodies), "body": list(bodies.values())})
    return dict(find_groups(frame, dedup.DedupThresholds()).iter_rows())


def test_overlapping_texts_do_not_chain_into_one_group():
    """B is A's first half, and C's: A and C share only that half. C is not held as a copy of A."""
    p = _paragraphs(11, 12)
    a = "\n\n".join(p[0:8])
    b = "\n\n".join(p[0:4])
    c = "\n\n".join(p[0:4] + p[8:12])
    assert _groups({"a": a, "b": b, "c": c}) == {"a": "a", "b": "a"}  # union-find gave {a, b, c}


def test_every_member_of_a_group_is_verified_similar_to_its_center():
    paras = _paragraphs(12, 30)
    # Nine texts opening with the same three paragraphs and going on with 1-3 of their own.
    bodies = {f"r{i}": "\n\n".join(paras[:3] + paras[3 + 3 * i: 4 + 3 * i + i % 3]) for i in range(9)}
    got = _groups(bodies)
    assert len(got) >= 4, "texts sharing most of their words must make groups"
    for member, center in got.items():
        texts = pl.Series([bodies[member], bodies[center]])
        share = dedup.Shingles.of_sets(dedup.shingle_sets(texts)).share_in(
            np.array([0]), np.array([1]))[0]  # the member's own text, found in its center
        assert share >= dedup.DedupThresholds().min_containment, (member, center, share)


def test_a_cut_lede_is_a_copy_of_its_story_not_of_another_story_with_that_lede():
    lede = _paragraphs(13, 1)[0]
    story, follow_up = _paragraphs(14, 5), _paragraphs(15, 5)
    x = "\n\n".join([lede, *story])
    y = "\n\n".join([lede, *follow_up]) + "\n\nMore to follow."   # longer: ranked before x
    cut = lede + "\n\n" + " ".join(story[0].split()[:18])             # the lede and the start of x's next paragraph
    got = _groups({"x": x, "y": y, "cut": cut})
    assert got.get("cut") == "x"
    assert "y" not in got  # the follow-up shares the lede, not the story


def test_a_story_syndicated_hundreds_of_times_is_one_group_without_comparing_every_pair():
    text = "\n\n".join(_paragraphs(16, 6))
    copies = {f"copy{i:03d}": text + ("\n\nReporting by the wire desk." if i % 3 == 0 else "") for i in range(300)}
    sigs = dedup.signature_frame(list(copies), list(copies.values()))
    c = dedup.candidates(sigs.select("article_id", *dedup.BAND_COLUMNS))
    assert c.pairs.height < 1000 < c.crowds.height  # the buckets are crowds: 44,850 pairs were never formed
    got = _groups(copies)
    assert len(got) == 300 and len(set(got.values())) == 1


def test_two_stories_sharing_a_lede_copied_a_dozen_times_each_make_two_groups():
    """Buckets over MAX_PAIRWISE records are compared with their leaders only: the lede's buckets hold
    both stories (their leaders may all be one story's), yet each copy joins its own story's group."""
    lede = _paragraphs(18, 1)[0]
    a, b = "\n\n".join([lede, *_paragraphs(19, 5)]), "\n\n".join([lede, *_paragraphs(20, 5)])
    copies = {f"a{i:02d}": a + ("\n\nReporting by the wire desk." if i % 2 else "") for i in range(12)}
    copies |= {f"b{i:02d}": b + ("\n\nMore to follow." if i % 2 else "") for i in range(12)}
    sigs = dedup.signature_frame(list(copies), list(copies.values()))
    c = dedup.candidates(sigs.select("article_id", *dedup.BAND_COLUMNS))
    assert c.crowds.height > 0   # buckets of the lede and of each story hold more than MAX_PAIRWISE copies
    got = _groups(copies)
    assert len(got) == 24
    assert {got[k][0] for k in got if k.startswith("a")} == {"a"}
    assert {got[k][0] for k in got if k.startswith("b")} == {"b"}
    assert len(set(got.values())) == 2


def test_crowd_pairs_pair_each_crowd_member_with_its_leaders_whatever_the_slice(monkeypatch):
    """Large buckets are paired a slice of whole crowds at a time (memory): the pairs are the same."""
    rng = np.random.default_rng(5)
    sizes = [9, 30, 12, 200, 10]
    crowd = np.repeat(np.arange(len(sizes), dtype=np.uint32), sizes)
    row = np.concatenate([rng.choice(400, size=s, replace=False) for s in sizes]).astype(np.uint32)
    position = rng.permutation(400)
    c = dedup.Candidates(pl.DataFrame({"a": [], "b": []}, schema={"a": pl.UInt32, "b": pl.UInt32}),
                         pl.DataFrame({"crowd": crowd, "row": row}), np.ones(400, dtype=bool))
    whole = dedup.crowd_pairs(c, position).sort("a", "b")
    expected = set()
    for k in range(len(sizes)):
        members = sorted(row[crowd == k], key=lambda r: position[r])
        expected |= {(min(lead, m), max(lead, m)) for i, lead in enumerate(members[:dedup.BUCKET_LEADERS])
                     for m in members[i + 1:]}
    assert set(whole.iter_rows()) == expected
    monkeypatch.setattr(dedup, "CROWD_SLICE", 25)  # cuts inside crowds move to their ends
    assert dedup.crowd_pairs(c, position).sort("a", "b").equals(whole)


def test_sorted_unique_is_numpys_unique():
    keys = np.random.default_rng(3).integers(0, 1000, size=5000).astype(np.uint64)
    assert np.array_equal(dedup._sorted_unique(keys), np.unique(keys))
    assert len(dedup._sorted_unique(np.zeros(0, dtype=np.uint64))) == 0


def test_merging_sorted_unique_keys_gives_their_sorted_union():
    rng = np.random.default_rng(11)
    for _ in range(100):
        a, b = (dedup._sorted_unique(rng.integers(0, 60, size=rng.integers(0, 40)).astype(np.uint64)) for _ in "ab")
        assert np.array_equal(dedup._merge_unique(a, b), np.union1d(a, b).astype(np.uint64))
    top = np.array([5, 9], dtype=np.uint64)  # values past the end, before the start, and already there
    assert dedup._merge_unique(top, np.array([1, 5, 12], dtype=np.uint64)).tolist() == [1, 5, 9, 12]


def test_a_star_member_carries_its_share_in_its_center_and_the_center_none():
    # Records 0..4 ranked 3, 0, 4, 1, 2 (row 1 best); verified pairs oriented better -> worse.
    position = np.array([3, 0, 4, 1, 2])
    pairs = pl.DataFrame({"a": [1, 1, 3, 0], "b": [3, 0, 4, 2], "share": [0.9, 0.7, 0.8, 0.65]},
                         schema={"a": pl.UInt32, "b": pl.UInt32, "share": pl.Float64})
    ids = pl.Series(["r0", "r1", "r2", "r3", "r4"])
    groups = {g: (c, s) for g, c, s in dedup.star_groups(pairs, position, ids).iter_rows()}
    # r1 is the center of r3 and r0; r4 (a copy of r3 only) and r2 (of r0 only) resemble no center:
    # stars of one, in no group.
    assert groups == {"r1": ("r1", None), "r3": ("r1", 0.9), "r0": ("r1", 0.7)}


def test_star_centers_decide_a_long_chain_in_order_of_preference():
    """0~1~2~...~9 (each pair verified, nothing else): the greedy walk takes 0, 2, 4... as centers."""
    better = np.arange(9)
    center = dedup.star_centers(better, better + 1, 10)
    assert center.tolist() == [0, 0, 2, 2, 4, 4, 6, 6, 8, 8]


def test_a_longer_story_is_not_held_as_a_copy_of_a_preferred_shorter_one_it_quotes():
    """y (preferred: say, published earlier) opens with x's first 2 paragraphs and adds one; x goes on for 7 more.
    y's text is in x, x's is not in y: x is no copy of y, and y (preferred) is not held for x either."""
    p = _paragraphs(17, 10)
    x = "\n\n".join(p[:9])
    y = "\n\n".join([p[0], p[1], p[9]])
    sigs = dedup.signature_frame(["x", "y"], [x, y])
    groups = dedup.near_duplicates(
        sigs.select("article_id", *dedup.BAND_COLUMNS),
        lambda ids: pl.DataFrame({"article_id": ids}).join(sigs, on="article_id", maintain_order="left"),
        lambda ids: pl.DataFrame({"article_id": ids}).join(sigs, on="article_id", maintain_order="left")[dedup.SETS],
        lambda ids: pl.Series(["y", "x"]).filter(pl.Series(["y", "x"]).is_in(ids.implode())),
        dedup.DedupThresholds())
    assert dedup.candidates(sigs.select("article_id", *dedup.BAND_COLUMNS)).pairs.height == 1  # compared...
    assert groups.height == 0                                                                 # ...and kept apart


# ----------------------------------------------------------------- shingle sets and the exact count

def _python_shingles(text: str) -> set[tuple[str, str, str]]:
    words = [w for w in dedup.Shingles.tokens([text])[0]]
    return {tuple(words[i:i + 3]) for i in range(len(words) - 2)}


def test_a_kept_set_is_the_set_made_from_the_body_and_the_exact_share_counts_it():
    """The batch files keep each record's shingle set for the exact count; a published record's set is
    made from its body instead. Both must be the same set, and the share must be |A∩B|/|A| of the
    texts' word 3-grams, whatever order the pairs come in."""
    texts = ["\n\n".join(_paragraphs(20 + i, 3 + i % 4)) for i in range(6)]
    texts[1] = texts[0].split("\n\n")[0] + "\n\n" + texts[1]   # shares a lede with texts[0]
    texts[2] = " ".join(texts[0].split()[:40])                 # a cut copy of texts[0]
    ids = [f"t{i}" for i in range(len(texts))]
    kept = dedup.signature_frame(ids, texts)[dedup.SETS]
    made = dedup.shingle_sets(pl.Series(texts))
    assert kept.to_list() == made.to_list()
    assert [len(s) for s in kept.to_list()] == [len(_python_shingles(t)) for t in texts]

    sets = dedup.Shingles.of_sets(made)
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, len(texts), 40), rng.integers(0, len(texts), 40)
    want = [len(_python_shingles(texts[i]) & _python_shingles(texts[j])) / len(_python_shingles(texts[i]))
            for i, j in zip(a, b)]
    assert np.allclose(sets.share_in(a, b), want)
    assert sets.share_in(np.array([2]), np.array([0]))[0] == 1.0   # the cut copy is all in its story


def test_the_exact_count_reads_this_runs_sets_and_makes_published_ones_from_their_bodies(tmp_path):
    from cleanwire.checks import run as checks

    run_texts = ["\n\n".join(_paragraphs(30, 4)), "\n\n".join(_paragraphs(31, 5))]
    old_text = "\n\n".join(_paragraphs(32, 4))
    batch = tmp_path / "batch-00000.records.parquet"
    dedup.signature_frame(["r0", "r1"], run_texts).write_parquet(batch)
    published = pl.LazyFrame({"article_id": ["p0"], "published_date": [dt.date(2024, 3, 9)]})
    bodies = pl.LazyFrame({"article_id": ["p0"], "body": [old_text], "year": [2024], "month": [3]})
    src = checks.Sources.of([str(batch)], published, bodies)
    got = checks._shingle_sets(src, pl.Series(["r1", "p0", "r0"]))
    assert got.to_list() == dedup.shingle_sets(pl.Series([run_texts[1], old_text, run_texts[0]])).to_list()
