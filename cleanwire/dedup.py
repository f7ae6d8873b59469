"""Near-duplicate articles: MinHash signatures, LSH banding, one canonical per group.

Two copies of one article may differ in layout and boilerplate, one may be cut
short or be only a feed's 200-character snippet. Jaccard similarity of the
whole bodies misses the last two, so each record gets two MinHash signatures
(datasketch, over word 3-gram shingles):

* `sig`: of the whole body, banded for candidates with Jaccard >~ 0.4, and
  used to estimate *containment* |A∩B|/min(|A|,|B|), which stays high when one
  copy is a prefix of the other;
* `sig_head`: of the first `HEAD_WORDS` words, banded tightly, which finds a
  truncated copy or a snippet by its shared lede.

Banding is done with polars group-bys on band-hash columns, one band at a time,
so finding candidates is a sort/hash join that scales to millions of records
and across runs (the published records' bands are kept in the state index).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

SHINGLE = 3
HEAD_WORDS = 50
NUM_PERM = 128
BANDS = 32            # 32 bands x 4 rows over `sig`
NUM_PERM_HEAD = 48
BANDS_HEAD = 16       # 16 bands x 3 rows over `sig_head`
BAND_COLUMNS = [f"band_{i:02d}" for i in range(BANDS + BANDS_HEAD)]
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_PRIME = np.uint64(1099511628211)  # FNV prime: mixes the rows of a band into one key


@dataclass(frozen=True)
class DedupThresholds:
    """When two candidates are the same article (tunable in the run config)."""
    min_containment: float = 0.6   # estimated |A∩B| / min(|A|,|B|) over the whole body
    min_head_jaccard: float = 0.6  # Jaccard of the ledes' shingles
    min_words: int = 8             # bodies shorter than this are never matched


def _shingles(tokens: list[str]) -> list[bytes]:
    if len(tokens) < SHINGLE:
        return [" ".join(tokens).encode()] if tokens else []
    return [" ".join(tokens[i:i + SHINGLE]).encode() for i in range(len(tokens) - SHINGLE + 1)]


def _minhash(shingles: list[bytes], num_perm: int) -> np.ndarray:
    from datasketch import MinHash
    import xxhash

    m = MinHash(num_perm=num_perm, seed=1, hashfunc=xxhash.xxh32_intdigest)
    m.update_batch(set(shingles))
    return np.asarray(m.hashvalues, dtype=np.uint32)


def _bands(sig: np.ndarray, n_bands: int) -> np.ndarray:
    rows = sig.astype(np.uint64).reshape(n_bands, -1)
    weights = _PRIME ** np.arange(rows.shape[1], dtype=np.uint64)
    with np.errstate(over="ignore"):
        return ((rows * weights).sum(axis=1) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def signature_frame(article_ids: list[str], bodies: list[str | None], min_words: int = 8) -> pl.DataFrame:
    """Per record: `n_shingles`, `sig`, `sig_head` and one UInt32 column per LSH band."""
    ids, n_sh, sigs, heads, bands = [], [], [], [], []
    for aid, body in zip(article_ids, bodies):
        tokens = _WORD.findall(body.lower()) if body else []
        if len(tokens) < min_words:
            continue
        sh = _shingles(tokens)
        sig = _minhash(sh, NUM_PERM)
        head = _minhash(_shingles(tokens[:HEAD_WORDS]), NUM_PERM_HEAD)
        ids.append(aid)
        n_sh.append(len(set(sh)))
        sigs.append(sig)
        heads.append(head)
        bands.append(np.concatenate([_bands(sig, BANDS), _bands(head, BANDS_HEAD)]))
    band_matrix = np.vstack(bands) if bands else np.zeros((0, len(BAND_COLUMNS)), dtype=np.uint32)
    return pl.DataFrame({
        "article_id": pl.Series(ids, dtype=pl.String),
        "n_shingles": pl.Series(n_sh, dtype=pl.Int32),
        # Lists, not fixed-size arrays: the state index stores List(UInt32) and both must concat.
        "sig": pl.Series([s.tolist() for s in sigs], dtype=pl.List(pl.UInt32)),
        "sig_head": pl.Series([h.tolist() for h in heads], dtype=pl.List(pl.UInt32)),
        **{c: pl.Series(band_matrix[:, i], dtype=pl.UInt32) for i, c in enumerate(BAND_COLUMNS)},
    })


def candidate_pairs(bands: pl.DataFrame) -> pl.DataFrame:
    """(a, b) article_id pairs (a < b) that share at least one LSH band."""
    pairs = []
    for c in BAND_COLUMNS:
        keyed = bands.select("article_id", pl.col(c).alias("key"))
        buckets = (keyed.group_by("key").agg(pl.col("article_id"))
                   .filter(pl.col("article_id").list.len() > 1))
        if buckets.height == 0:
            continue
        members = buckets.select(pl.col("article_id").alias("a"), pl.col("article_id").alias("b"))
        pairs.append(members.explode("a").explode("b").filter(pl.col("a") < pl.col("b")))
    if not pairs:
        return pl.DataFrame(schema={"a": pl.String, "b": pl.String})
    return pl.concat(pairs).unique()


def verify_pairs(pairs: pl.DataFrame, sigs: pl.DataFrame, th: DedupThresholds) -> pl.DataFrame:
    """Keep the candidate pairs that are the same article, with their similarity."""
    if pairs.height == 0:
        return pairs.with_columns(pl.lit(0.0).alias("containment"), pl.lit(0.0).alias("head_jaccard"))
    s = sigs.select("article_id", "n_shingles", "sig", "sig_head")
    j = (pairs.join(s.rename(lambda c: c if c == "article_id" else f"{c}_a"), left_on="a", right_on="article_id")
         .join(s.rename(lambda c: c if c == "article_id" else f"{c}_b"), left_on="b", right_on="article_id"))
    sig_a = np.array(j["sig_a"].to_list(), dtype=np.uint32).reshape(j.height, -1)
    sig_b = np.array(j["sig_b"].to_list(), dtype=np.uint32).reshape(j.height, -1)
    head_a = np.array(j["sig_head_a"].to_list(), dtype=np.uint32).reshape(j.height, -1)
    head_b = np.array(j["sig_head_b"].to_list(), dtype=np.uint32).reshape(j.height, -1)
    jac = (sig_a == sig_b).mean(axis=1)
    na = j["n_shingles_a"].to_numpy().astype(float)
    nb = j["n_shingles_b"].to_numpy().astype(float)
    # |A∩B| = J(|A|+|B|)/(1+J); containment of the smaller set in the larger one.
    containment = np.minimum(1.0, jac * (na + nb) / ((1 + jac) * np.minimum(na, nb)))
    head_j = (head_a == head_b).mean(axis=1)
    out = j.select("a", "b").with_columns(pl.Series("containment", containment), pl.Series("head_jaccard", head_j))
    return out.filter((pl.col("containment") >= th.min_containment) | (pl.col("head_jaccard") >= th.min_head_jaccard))


def connected_groups(pairs: pl.DataFrame) -> pl.DataFrame:
    """article_id -> group_id (the smallest article_id of its connected component)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in pairs.select("a", "b").iter_rows():
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    ids = list({*pairs["a"].to_list(), *pairs["b"].to_list()})
    return pl.DataFrame({"article_id": ids, "group_id": [find(x) for x in ids]},
                        schema={"article_id": pl.String, "group_id": pl.String})


def find_groups(sigs: pl.DataFrame, th: DedupThresholds) -> pl.DataFrame:
    """article_id -> group_id for every record that has at least one near-duplicate."""
    pairs = verify_pairs(candidate_pairs(sigs.select("article_id", *BAND_COLUMNS)), sigs, th)
    return connected_groups(pairs)


# Issues a copy may have and still be the published one, taking the field from a duplicate.
FILLABLE = {"missing_date": "published_date", "missing_title": "title"}
MERGED_FIELDS = ("published_date", "title", "subtitle", "author", "section", "dateline")


def choose_canonical(members: pl.DataFrame) -> pl.DataFrame:
    """Per group, the copy to publish, and the fields it takes from its duplicates.

    `members`: article_id, group_id, own_issues (list), is_published (already in
    the published dataset), word_count, source_path and MERGED_FIELDS. A copy
    can be canonical when its own issues are only missing fields that another
    copy has; an already-published copy always stays canonical (stable output).
    Returns article_id, group_id, canonical_id and the merged field values.
    """
    m = members.with_columns(
        fixable=pl.col("own_issues").list.set_difference(pl.lit(list(FILLABLE))).list.len() == 0,
    )
    has_any = m.group_by("group_id").agg(
        pl.col("published_date").is_not_null().any().alias("_g_date"),
        (pl.col("title").is_not_null() & ~pl.col("own_issues").list.contains("title_mismatch")).any().alias("_g_title"),
    )
    m = m.join(has_any, on="group_id")
    can_fill = (
        (~pl.col("own_issues").list.contains("missing_date") | pl.col("_g_date"))
        & (~pl.col("own_issues").list.contains("missing_title") | pl.col("_g_title"))
    )
    m = m.with_columns(candidate=pl.col("fixable") & can_fill)
    ranked = m.with_columns(_n_issues=pl.col("own_issues").list.len()).sort(
        ["group_id", "is_published", "candidate", "_n_issues", "published_date", "word_count", "source_path"],
        descending=[False, True, True, False, False, True, False], nulls_last=True,
    )
    best = ranked.group_by("group_id", maintain_order=True).first().filter(
        pl.col("candidate") | pl.col("is_published")
    ).select("group_id", pl.col("article_id").alias("canonical_id"))
    # Values to fill on the canonical copy: the first non-null among the good copies.
    good = ranked.filter(~pl.col("own_issues").list.contains("title_mismatch"))
    fills = good.group_by("group_id", maintain_order=True).agg(
        [pl.col(f).drop_nulls().first().alias(f"fill_{f}") for f in MERGED_FIELDS]
    )
    return (m.select("article_id", "group_id").join(best, on="group_id", how="left")
            .join(fills, on="group_id", how="left"))
