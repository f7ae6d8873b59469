"""Near-duplicate articles: MinHash signatures, LSH banding, one canonical per group.

Two copies of one article may differ in layout and boilerplate, one may be cut
short or be only a feed's 200-character snippet. Jaccard similarity of the
whole bodies misses the last two, so each record gets two MinHash signatures
over word 3-gram shingles:

* `sig`: of the whole body, banded for candidates with Jaccard >~ 0.5, and
  used to estimate *containment* |A∩B|/min(|A|,|B|), which stays high when one
  copy is a prefix of the other;
* `sig_head`: of the first `HEAD_WORDS` words, banded more loosely, which finds
  a truncated copy or a snippet by its shared lede.

The MinHash is datasketch's (`MinHash(num_perm, seed=1, scheme="affine32")`:
its permutations, MurmurHash3's finaliser, the affine map); datasketch builds
one document at a time in Python, so here the same computation runs over a
whole batch of documents in numpy (test_dedup checks that the signatures equal
datasketch's). Banding is done with polars group-bys on band-hash columns,
one band at a time, so finding candidates is a hash join that scales to
millions of records and across runs (the published records' bands are kept
in the state index).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

SHINGLE = 3
HEAD_WORDS = 50
MAX_WORDS = 400       # shingles of the first 400 words: enough to tell articles apart, and bounded work
NUM_PERM = 64
BANDS = 16            # 16 bands x 4 rows over `sig`
NUM_PERM_HEAD = 48
BANDS_HEAD = 16       # 16 bands x 3 rows over `sig_head`
BAND_COLUMNS = [f"band_{i:02d}" for i in range(BANDS + BANDS_HEAD)]
WORD_PATTERN = r"[^\W_]+"
_PRIME = np.uint64(1099511628211)   # FNV prime: mixes the rows of a band into one key
_MIX = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio constant: mixes 3 word hashes into a shingle
_CHUNK = 1 << 14                     # shingles per numpy block (memory: chunk x num_perm x 4 B)


@dataclass(frozen=True)
class DedupThresholds:
    """When two candidates are the same article (tunable in the run config)."""
    min_containment: float = 0.6   # estimated |A∩B| / min(|A|,|B|) over the whole body
    min_head_jaccard: float = 0.6  # Jaccard of the ledes' shingles
    min_words: int = 8             # bodies shorter than this are never matched


@lru_cache(maxsize=4)
def permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters (a, b): its `_init_permutations`, drawn the same way.

    Drawn here rather than taken from `datasketch.MinHash`: importing datasketch
    imports scipy, which cost every parse worker ~50 MB and 0.6 s (measured).
    test_dedup checks them, and the signatures, against datasketch's own.
    """
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)  # odd: a bijection
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser (what datasketch applies before its affine map)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def word_hashes(words: pl.Series) -> np.ndarray:
    """Stable 64-bit hash (xxh64) of each word; computed once per distinct word."""
    import xxhash

    uniq = words.unique()
    table = pl.DataFrame({"w": uniq, "h": pl.Series([xxhash.xxh64_intdigest(w.encode()) for w in uniq.to_list()],
                                                    dtype=pl.UInt64)})
    return pl.DataFrame({"w": words}).join(table, on="w", how="left", maintain_order="left")["h"].to_numpy()


def shingle_hash(h1: np.ndarray, h2: np.ndarray, h3: np.ndarray) -> np.ndarray:
    """32-bit hash of a word 3-gram from its three word hashes (order matters)."""
    with np.errstate(over="ignore"):
        s = (h1 * _MIX + h2) * _MIX + h3
    return ((s ^ (s >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def _minhash_segments(doc: np.ndarray, values: np.ndarray, n_docs: int, num_perm: int) -> np.ndarray:
    """MinHash per document of (doc, shingle-hash) pairs sorted by doc; rows of empty docs stay max."""
    a, b = permutations(num_perm)
    out = np.full((num_perm, n_docs), np.uint32(0xFFFFFFFF), dtype=np.uint32)
    mixed = fmix32(values)
    for lo in range(0, len(values), _CHUNK):
        d = doc[lo:lo + _CHUNK]
        with np.errstate(over="ignore"):
            phv = a[:, None] * mixed[None, lo:lo + _CHUNK] + b[:, None]  # (num_perm, chunk): rows contiguous
        starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
        mins = np.minimum.reduceat(phv, starts, axis=1)
        cols = d[starts]
        out[:, cols] = np.minimum(out[:, cols], mins)  # a doc split across two chunks keeps the smaller
    return out.T.copy()


def _bands(sig: np.ndarray, n_bands: int) -> np.ndarray:
    """(n_docs, num_perm) signatures -> (n_docs, n_bands) band keys."""
    rows = sig.astype(np.uint64).reshape(sig.shape[0], n_bands, -1)
    weights = _PRIME ** np.arange(rows.shape[2], dtype=np.uint64)
    with np.errstate(over="ignore"):
        return ((rows * weights).sum(axis=2) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def signature_frame(article_ids: list[str], bodies: list[str | None], min_words: int = 8) -> pl.DataFrame:
    """Per record with at least `min_words` words: `n_shingles`, `sig`, `sig_head`, one UInt32 column per band."""
    tokens = (pl.Series("body", bodies, dtype=pl.String).str.to_lowercase()
              .str.extract_all(WORD_PATTERN).fill_null([]).list.head(MAX_WORDS))
    keep = np.flatnonzero((tokens.list.len() >= min_words).to_numpy())
    ids = [article_ids[i] for i in keep]
    if not ids:
        return _empty_signatures()
    kept = tokens.gather(keep)
    lengths = kept.list.len().to_numpy()
    words = kept.explode()
    h = word_hashes(words)
    doc = np.repeat(np.arange(len(ids), dtype=np.int64), lengths)
    pos = np.arange(len(h)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    same_doc = doc[:-2] == doc[2:]
    sh = shingle_hash(h[:-2], h[1:-1], h[2:])[same_doc]
    sh_doc = doc[:-2][same_doc]
    sh_pos = pos[:-2][same_doc]
    # Sets of shingles: one (doc, hash) pair once.
    full_keys = _sorted_unique((sh_doc.astype(np.uint64) << np.uint64(32)) | sh.astype(np.uint64))
    f_doc = (full_keys >> np.uint64(32)).astype(np.int64)
    f_val = (full_keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    head = sh_pos <= HEAD_WORDS - SHINGLE
    head_keys = _sorted_unique((sh_doc[head].astype(np.uint64) << np.uint64(32)) | sh[head].astype(np.uint64))
    sig = _minhash_segments(f_doc, f_val, len(ids), NUM_PERM)
    sig_head = _minhash_segments((head_keys >> np.uint64(32)).astype(np.int64),
                                 (head_keys & np.uint64(0xFFFFFFFF)).astype(np.uint32), len(ids), NUM_PERM_HEAD)
    band_matrix = np.hstack([_bands(sig, BANDS), _bands(sig_head, BANDS_HEAD)])
    return pl.DataFrame({
        "article_id": pl.Series(ids, dtype=pl.String),
        "n_shingles": pl.Series(np.bincount(f_doc, minlength=len(ids)).astype(np.int32)),
        # Lists, not fixed-size arrays: the state index stores List(UInt32) and both must concat.
        "sig": pl.Series(sig).cast(pl.List(pl.UInt32)),
        "sig_head": pl.Series(sig_head).cast(pl.List(pl.UInt32)),
        **{c: pl.Series(band_matrix[:, i], dtype=pl.UInt32) for i, c in enumerate(BAND_COLUMNS)},
    })


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def _empty_signatures() -> pl.DataFrame:
    return pl.DataFrame(schema={"article_id": pl.String, "n_shingles": pl.Int32, "sig": pl.List(pl.UInt32),
                                "sig_head": pl.List(pl.UInt32), **{c: pl.UInt32 for c in BAND_COLUMNS}})


def band_pairs(keyed: pl.DataFrame) -> pl.DataFrame:
    """(a, b) pairs (a < b) sharing one band key; `keyed`: article_id (any comparable id), key, new (bool).

    Pairs of two old records (both already published) are not wanted: they were
    resolved by an earlier run.
    """
    buckets = (keyed.group_by("key").agg(pl.col("article_id"), pl.col("new").any())
               .filter((pl.col("article_id").list.len() > 1) & pl.col("new")))
    if buckets.height == 0:
        return pl.DataFrame(schema={"a": keyed.schema["article_id"], "b": keyed.schema["article_id"]})
    pairs = (buckets.select(pl.col("article_id").alias("a"), pl.col("article_id").alias("b"))
             .explode("a").explode("b").filter(pl.col("a") < pl.col("b")))
    new_ids = keyed.filter(pl.col("new"))["article_id"].implode()
    return pairs.filter(pl.col("a").is_in(new_ids) | pl.col("b").is_in(new_ids))


def candidate_pairs(bands: pl.DataFrame) -> pl.DataFrame:
    """(a, b) article_id pairs that share at least one LSH band, at least one of them new.

    `bands`: article_id, the band columns and `new` (this run's records; all are
    new when the column is absent). A row number stands for each article_id while
    banding, and the pairs are made unique band by band (a true pair shares most
    of the 32 bands): string ids kept for every band grew the flow by ~0.8 KB per record.
    """
    rows = bands.with_row_index("row")
    new = pl.col("new") if "new" in bands.columns else pl.lit(True).alias("new")
    pairs = pl.DataFrame(schema={"a": pl.UInt32, "b": pl.UInt32})
    for band in BAND_COLUMNS:
        keyed = rows.select(pl.col("row").alias("article_id"), pl.col(band).alias("key"), new)
        pairs = pl.concat([pairs, band_pairs(keyed)]).unique()
    ids = bands["article_id"]
    return pairs.select(ids.gather(pairs["a"]).alias("a"), ids.gather(pairs["b"]).alias("b"))


def _matrix(lists: pl.Series) -> np.ndarray:
    """A column of equal-length signature lists as one (rows, num_perm) array, without Python ints."""
    return lists.explode().to_numpy().astype(np.uint32, copy=False).reshape(len(lists), -1)


VERIFY_SLICE = 50_000  # candidate pairs joined with their two signatures at a time (~90 MB)


def verify_pairs(pairs: pl.DataFrame, sigs: pl.DataFrame, th: DedupThresholds) -> pl.DataFrame:
    """Keep the candidate pairs that are the same article, with their similarity.

    In slices of pairs: each pair carries both records' signatures (~900 B), and a
    million-record run has hundreds of thousands of candidate pairs.
    """
    if pairs.height == 0:
        return pairs.with_columns(pl.lit(0.0).alias("containment"), pl.lit(0.0).alias("head_jaccard"))
    s = sigs.select("article_id", "n_shingles", "sig", "sig_head")
    return pl.concat([_verify_slice(part, s, th) for part in pairs.iter_slices(VERIFY_SLICE)])


def _verify_slice(pairs: pl.DataFrame, s: pl.DataFrame, th: DedupThresholds) -> pl.DataFrame:
    j = (pairs.join(s.rename(lambda c: c if c == "article_id" else f"{c}_a"), left_on="a", right_on="article_id")
         .join(s.rename(lambda c: c if c == "article_id" else f"{c}_b"), left_on="b", right_on="article_id"))
    sig_a, sig_b, head_a, head_b = (_matrix(j[c]) for c in ("sig_a", "sig_b", "sig_head_a", "sig_head_b"))
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
