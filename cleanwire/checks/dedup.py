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

Memory: the whole-run steps free numpy arrays of 1-32 MB, which glibc keeps in
its heap (its mmap threshold rises to the largest block freed). Between steps
the free heap goes back to the OS (memory.release_free_memory): at a million
records the checks held ~1 GB between steps without it, ~0.6 GB with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl
import pyarrow as pa

from cleanwire.memory import release_free_memory

SHINGLE = 3
HEAD_WORDS = 50       # a lede: what a snippet or a cut copy keeps of its article
MAX_WORDS = 400       # shingles of the first 400 words: enough to tell articles apart, and bounded work
MIN_WORDS = 8         # a shorter text (a headline, a stub) matches too much by chance: never a copy
NUM_PERM = 64
BANDS = 16            # 16 bands x 4 rows over `sig`
NUM_PERM_HEAD = 48
BANDS_HEAD = 16       # 16 bands x 3 rows over `sig_head`
BAND_COLUMNS = [f"band_{i:02d}" for i in range(BANDS + BANDS_HEAD)]
TOKEN_PATTERN = r"[^\W_]+"  # letter/digit runs (not text.WORD_PATTERN: signatures must not change)
_PRIME = np.uint64(1099511628211)   # FNV prime: mixes the rows of a band into one key
_MIX = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio constant: mixes 3 word hashes into a shingle
_CHUNK = 1 << 14                     # shingles per numpy block (memory: chunk x num_perm x 4 B)
# A record's shingle set, kept in the batch files beside its signatures: the exact count reads the
# sets of a run's records; tokenising their bodies again took half the checks' time at 100k records
# (measured).
SETS = "shingles"
TOKENISE_SLICE = 2000  # bodies tokenised at a time (a list of words per doc costs ~30x the text)


@dataclass(frozen=True)
class DedupThresholds:
    """When two candidates are the same article (tunable in the run config)."""
    min_containment: float = 0.6   # estimated |A∩B| / min(|A|,|B|): the smaller copy is mostly in the other


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
    """Stable 64-bit hash (xxh64, seed 0) of each word's UTF-8 bytes.

    polars-hash computes it in Rust over the whole column: a Python loop over a
    slice's distinct words took 0.018 ms of CPU a record, this 0.004 (measured on
    the bench corpus). The values are xxhash's own (test_dedup checks both), so
    signatures already in a published index stay comparable.
    """
    import polars_hash as plh

    return pl.DataFrame({"w": words}).select(plh.col("w").nchash.xxhash64())["w"].to_numpy()


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
    block = np.empty((num_perm, _CHUNK), dtype=np.uint32)  # one block for every chunk: no fresh pages each time
    for lo in range(0, len(values), _CHUNK):
        d = doc[lo:lo + _CHUNK]
        phv = block[:, :len(d)]                              # (num_perm, chunk): the permuted hashes
        np.multiply(a[:, None], mixed[None, lo:lo + _CHUNK], out=phv)
        phv += b[:, None]
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


@dataclass
class Shingles:
    """The word 3-gram sets of some texts: their 32-bit hashes, as sorted (doc << 32 | hash) keys.

    One home for what a shingle is: lowercased word runs, the first MAX_WORDS
    words, 3 in a row. The signatures are computed from these sets, and the exact
    containment check counts them, so estimate and verdict measure the same thing.
    """
    keys: np.ndarray       # sorted unique uint64 keys
    starts: np.ndarray     # per doc: where its keys begin
    counts: np.ndarray     # per doc: how many shingles it has
    head: np.ndarray       # sorted unique keys of the shingles within the first HEAD_WORDS words

    @classmethod
    def of(cls, tokens: pl.Series, with_head: bool = True) -> "Shingles":
        """`tokens`: a list of words per doc (already cut to MAX_WORDS); `with_head`: the head keys too
        (the exact count needs none)."""
        lengths = tokens.list.len().to_numpy()
        n_docs = len(lengths)
        h = word_hashes(tokens.explode().drop_nulls())
        doc = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        pos = np.arange(len(h)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        same_doc = doc[:-2] == doc[2:]
        sh = shingle_hash(h[:-2], h[1:-1], h[2:])[same_doc].astype(np.uint64)
        sh_doc = doc[:-2][same_doc].astype(np.uint64) << np.uint64(32)
        keys = _sorted_unique(sh_doc | sh)
        counts = np.bincount((keys >> np.uint64(32)).astype(np.int64), minlength=n_docs)
        if not with_head:
            return cls(keys, np.cumsum(counts) - counts, counts, np.zeros(0, dtype=np.uint64))
        head = pos[:-2][same_doc] <= HEAD_WORDS - SHINGLE
        return cls(keys, np.cumsum(counts) - counts, counts, _sorted_unique(sh_doc[head] | sh[head]))

    @classmethod
    def of_sets(cls, sets: pl.Series, first_doc: int = 0) -> "Shingles":
        """The Shingles of docs given as their sets (`shingle_sets`: each doc's sorted distinct hashes),
        numbered from `first_doc`."""
        counts = sets.list.len().fill_null(0).to_numpy().astype(np.int64)
        keys = np.repeat(np.arange(first_doc, first_doc + len(counts), dtype=np.uint64), counts)
        keys <<= np.uint64(32)
        keys |= sets.explode().drop_nulls().to_numpy()  # in place: no second array of keys
        # Each set is sorted and the docs come in order: the keys are sorted and distinct as they are.
        return cls(keys, np.cumsum(counts) - counts, counts, np.zeros(0, dtype=np.uint64))

    @classmethod
    def of_fetched(cls, n_docs: int, fetch, fetch_docs: int = 50_000) -> "Shingles":
        """The sets of `n_docs` docs that `fetch(lo, hi)` gives `fetch_docs` at a time (as `shingle_sets`).

        Only the keys stay, filled into one array as the parts come: at a million
        records the pairs to count exactly cover ~0.5 M docs.
        """
        parts = [cls.of_sets(fetch(lo, min(n_docs, lo + fetch_docs)), lo) for lo in range(0, n_docs, fetch_docs)]
        if len(parts) == 1:
            return parts[0]
        all_counts = np.concatenate([p.counts for p in parts]) if parts else np.zeros(0, dtype=np.int64)
        # One array of all keys, filled a part at a time while the parts are let go: np.concatenate
        # would hold every key twice at its peak (~2 GB at a million records).
        all_keys = np.empty(int(all_counts.sum()), dtype=np.uint64)
        at = 0
        parts.reverse()
        while parts:
            part = parts.pop().keys
            all_keys[at:at + len(part)] = part
            at += len(part)
        return cls(all_keys, np.cumsum(all_counts) - all_counts, all_counts, np.zeros(0, dtype=np.uint64))

    def as_sets(self) -> pl.Series:
        """Each doc's shingle hashes, sorted and distinct, as a list per doc (`shingle_sets`)."""
        offsets = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        values = (self.keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        # Arrow arrays over the numpy buffers: pa.array(numpy) imports pandas (~0.25 s and ~50 MB a worker).
        lists = pa.LargeListArray.from_arrays(_arrow_over(offsets, pa.int64()), _arrow_over(values, pa.uint32()))
        return pl.Series(SETS, lists)

    @staticmethod
    def tokens(bodies: list[str | None] | pl.Series) -> pl.Series:
        return (pl.Series("body", bodies, dtype=pl.String).str.to_lowercase()
                .str.extract_all(TOKEN_PATTERN).fill_null([]).list.head(MAX_WORDS))

    def share_in(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Exact |A∩B| / |A| for doc pairs (a, b): A's keys looked up among B's.

        The pairs are taken in order of b: the lookups then walk the keys nearly
        in order (each A's keys are sorted) with no sort of their own (11 M
        lookups of a 100k-record run: 0.40 s, 0.66 s with the lookups sorted first).
        """
        by_b = np.argsort(b, kind="stable")
        a, b = a[by_b], b[by_b]
        share = np.zeros(len(a))
        lens = self.counts[a]
        bounds = np.searchsorted(np.cumsum(lens), np.arange(0, lens.sum(), _LOOKUPS), side="right")
        for lo, hi in zip(bounds, [*bounds[1:], len(a)]):  # about _LOOKUPS shingles at a time
            n = lens[lo:hi]
            pair = np.repeat(np.arange(lo, hi), n)
            at = np.repeat(self.starts[a[lo:hi]] - (np.cumsum(n) - n), n) + np.arange(n.sum())
            query = (b[pair].astype(np.uint64) << np.uint64(32)) | (self.keys[at] & np.uint64(0xFFFFFFFF))
            found = _lookup(self.keys, query)[1]
            share[lo:hi] = np.bincount(pair - lo, weights=found, minlength=hi - lo) / np.maximum(n, 1)
        out = np.empty(len(a))
        out[by_b] = share
        return out


_LOOKUPS = 1 << 20   # shingles looked up at a time by the exact check (~60 MB of temporaries; 4x: ~230 MB)


def _arrow_over(values: np.ndarray, dtype: pa.DataType) -> pa.Array:
    """A contiguous numpy array as an Arrow array of `dtype` over the same memory."""
    return pa.Array.from_buffers(dtype, len(values), [None, pa.py_buffer(np.ascontiguousarray(values))])


def signature_frame(article_ids: list[str], bodies: list[str | None], min_words: int = MIN_WORDS) -> pl.DataFrame:
    """Per record with at least `min_words` words: `n_shingles`, `sig`, `sig_head`, one UInt32 column per
    band, and its shingle set (SETS)."""
    tokens = Shingles.tokens(bodies)
    keep = np.flatnonzero((tokens.list.len() >= min_words).to_numpy())
    ids = [article_ids[i] for i in keep]
    if not ids:
        return _empty_signatures()
    sets = Shingles.of(tokens.gather(keep))
    sig = _minhash_segments((sets.keys >> np.uint64(32)).astype(np.int64),
                            (sets.keys & np.uint64(0xFFFFFFFF)).astype(np.uint32), len(ids), NUM_PERM)
    sig_head = _minhash_segments((sets.head >> np.uint64(32)).astype(np.int64),
                                 (sets.head & np.uint64(0xFFFFFFFF)).astype(np.uint32), len(ids), NUM_PERM_HEAD)
    band_matrix = np.hstack([_bands(sig, BANDS), _bands(sig_head, BANDS_HEAD)])
    return pl.DataFrame({
        "article_id": pl.Series(ids, dtype=pl.String),
        "n_shingles": pl.Series(sets.counts.astype(np.int32)),
        # Lists, not fixed-size arrays: the state index stores List(UInt32) and both must concat.
        "sig": pl.Series(sig).cast(pl.List(pl.UInt32)),
        "sig_head": pl.Series(sig_head).cast(pl.List(pl.UInt32)),
        **{c: pl.Series(band_matrix[:, i], dtype=pl.UInt32) for i, c in enumerate(BAND_COLUMNS)},
        SETS: sets.as_sets(),
    })


def shingle_sets(bodies: pl.Series) -> pl.Series:
    """Each body's shingle set as signature_frame keeps it (sorted distinct hashes), for records stored
    without one (the published records of earlier runs); TOKENISE_SLICE bodies at a time."""
    parts = [Shingles.of(Shingles.tokens(bodies.slice(lo, TOKENISE_SLICE)), with_head=False).as_sets()
             for lo in range(0, len(bodies), TOKENISE_SLICE)]
    return pl.concat(parts) if parts else pl.Series(SETS, [], dtype=pl.List(pl.UInt32))


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """np.unique by sort and mask: numpy 2.4's np.unique took 12 s on 6.2 M pair codes, this 0.11 s
    (measured 2026-12-07); the pair and row sets of a million records go through here."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def _lookup(sorted_keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each query goes among `sorted_keys` (not empty), and whether it is there."""
    at = np.searchsorted(sorted_keys, queries)
    return at, sorted_keys[np.minimum(at, len(sorted_keys) - 1)] == queries


def _merge_unique(keys: np.ndarray, more: np.ndarray) -> np.ndarray:
    """The union of two sorted unique arrays, sorted: `more`'s new values inserted in their places.

    Sorting the concatenation again held ~4 copies of the merged array at its peak
    (crowd pairs at a million records: +325 MB, the checks' peak; measured); this holds ~2.
    """
    if len(keys) == 0:
        return more
    at, found = _lookup(keys, more)
    return np.insert(keys, at[~found], more[~found])


def _empty_signatures() -> pl.DataFrame:
    return pl.DataFrame(schema={"article_id": pl.String, "n_shingles": pl.Int32, "sig": pl.List(pl.UInt32),
                                "sig_head": pl.List(pl.UInt32), **{c: pl.UInt32 for c in BAND_COLUMNS},
                                SETS: pl.List(pl.UInt32)})


# ------------------------------------------------------------------ candidates

MAX_PAIRWISE = 8       # a band bucket of up to this many records is compared pair by pair (28 pairs)
BUCKET_LEADERS = 4     # a larger bucket is compared with its best-ranked records only (see `candidates`)


@dataclass
class Candidates:
    """Who may be a copy of whom, from the LSH bands (row numbers of the bands frame).

    `pairs`: (a, b), a < b, of records sharing a bucket of at most MAX_PAIRWISE
    records. `crowds`: (crowd, row) members of the larger buckets. A bucket of
    dozens or thousands is one story syndicated many times, or a lede shared by a
    live blog's updates: all its pairs would be the square of its size, so its
    members are compared only with its best-ranked records once the ranking is
    known (`crowd_pairs`). Star clustering needs no more: a copy joins the
    best-ranked copy it resembles, and that copy leads the buckets they share.
    """
    pairs: pl.DataFrame
    crowds: pl.DataFrame
    is_new: np.ndarray     # per row: this run's record (pairs of two published records are never made)


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, size) of each run of equal values in `sorted_keys`."""
    start = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return start, np.diff(np.r_[start, len(sorted_keys)])


def _buckets(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows grouped by key: (order, start, size); a bucket's rows are order[start:start+size], ascending."""
    order = np.argsort(keys, kind="stable")
    return (order, *_runs(keys[order]))


def _spans(start: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The positions start[i], ..., start[i]+size[i]-1 of every span, one after the other."""
    return np.repeat(start, size) + (np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size))


def _pair_codes(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Pairs as one sortable number each (a < b): 8 bytes a pair, unique'd with numpy."""
    return a.astype(np.uint64) * np.uint64(n) + b.astype(np.uint64)


def _pairs_frame(codes: np.ndarray, n: int, is_new: np.ndarray) -> pl.DataFrame:
    """Pair codes -> (a, b) rows, the pairs with a new record only; a slice of codes at a time
    (all at once: ~4x the pairs' size in temporaries, 8.8 M crowd pairs at a million records)."""
    a_parts, b_parts = [np.zeros(0, dtype=np.uint32)], [np.zeros(0, dtype=np.uint32)]
    for lo in range(0, len(codes), CODES_SLICE):
        part = codes[lo:lo + CODES_SLICE]
        a, b = (part // np.uint64(n)).astype(np.uint32), (part % np.uint64(n)).astype(np.uint32)
        keep = is_new[a] | is_new[b]
        a_parts.append(a[keep])
        b_parts.append(b[keep])
    return pl.DataFrame({"a": np.concatenate(a_parts), "b": np.concatenate(b_parts)})


CODES_SLICE = 1_000_000


def candidates(bands: pl.DataFrame) -> Candidates:
    """Candidates from `bands`: article_id, the band columns and `new` (all new when absent)."""
    n = bands.height
    is_new = (bands["new"].to_numpy() if "new" in bands.columns else np.ones(n, dtype=bool))
    codes = np.zeros(0, dtype=np.uint64)
    crowd_rows, crowd_ids, n_crowds = [np.zeros(0, dtype=np.uint32)], [np.zeros(0, dtype=np.uint32)], 0
    for band in BAND_COLUMNS if n else []:
        order, start, size = _buckets(bands[band].to_numpy())
        with_new = np.add.reduceat(is_new[order].astype(np.int32), start) > 0
        small = (size > 1) & (size <= MAX_PAIRWISE) & with_new
        band_codes = [codes]
        for s in _sorted_unique(size[small]):
            members = order[start[small & (size == s)][:, None] + np.arange(s)]   # (buckets, s), rows ascending
            i, j = np.triu_indices(s, 1)
            band_codes.append(_pair_codes(members[:, i].ravel(), members[:, j].ravel(), n))
        codes = _sorted_unique(np.concatenate(band_codes))  # a true pair shares most of the bands: keep one
        large = (size > MAX_PAIRWISE) & with_new
        crowd_rows.append(order[_spans(start[large], size[large])].astype(np.uint32))
        crowd_ids.append(np.repeat(np.arange(n_crowds, n_crowds + large.sum(), dtype=np.uint32), size[large]))
        n_crowds += int(large.sum())
    crowds = pl.DataFrame({"crowd": np.concatenate(crowd_ids), "row": np.concatenate(crowd_rows)})
    return Candidates(_pairs_frame(codes, n, is_new), crowds, is_new)


def crowd_pairs(c: Candidates, position: np.ndarray) -> pl.DataFrame:
    """(a, b) pairs of each large bucket's BUCKET_LEADERS best-ranked members with every other member.

    `position`: per row, its place in the order of preference (smaller is better).
    A copy of a syndicated story meets its best copies; a record that resembles
    none of its bucket's leaders (another story that shares the lede) is not
    held for it, which is what star clustering wants anyway.
    """
    if c.crowds.height == 0:
        return pl.DataFrame(schema={"a": pl.UInt32, "b": pl.UInt32})
    crowd, row = c.crowds["crowd"].to_numpy(), c.crowds["row"].to_numpy()
    n = len(position)
    codes, lo = np.zeros(0, dtype=np.uint64), 0
    while lo < len(crowd):  # whole crowds, ~CROWD_SLICE members at a time (`crowd` is ascending)
        hi = len(crowd) if lo + CROWD_SLICE >= len(crowd) else int(
            np.searchsorted(crowd, crowd[lo + CROWD_SLICE], side="right"))
        # Merged as they come: a copy's pair recurs in the crowds of most bands.
        codes = _merge_unique(codes, _leader_pairs(crowd[lo:hi], row[lo:hi].astype(np.int64), position, n))
        lo = hi
    return _pairs_frame(codes, n, c.is_new)


# Crowd members paired at a time. At a million records (6.4 M crowd members, 7.8 M pairs) all at
# once took ~700 MB of temporaries; 1 M at a time, merged as they come, ~200 MB (measured).
CROWD_SLICE = 1_000_000


def _leader_pairs(crowd: np.ndarray, row: np.ndarray, position: np.ndarray, n: int) -> np.ndarray:
    """Sorted unique pair codes of each crowd's BUCKET_LEADERS best-ranked rows with the rows ranked below them."""
    order = np.lexsort((position[row], crowd))        # by crowd, best-ranked first
    crowd, row = crowd[order], row[order]
    start, size = _runs(crowd)
    place = np.arange(len(row)) - np.repeat(start, size)
    codes = []
    for leader_place in range(BUCKET_LEADERS):
        has = size > leader_place
        leader = np.repeat(np.where(has, row[np.minimum(start + leader_place, len(row) - 1)], -1), size)
        m = (leader >= 0) & (place > leader_place)     # each pair once: the leader with those ranked below it
        codes.append(_sorted_unique(_pair_codes(np.minimum(row[m], leader[m]), np.maximum(row[m], leader[m]), n)))
    return _sorted_unique(np.concatenate(codes))


# ------------------------------------------------------------------ verification

HEAD_SHINGLES = HEAD_WORDS - SHINGLE + 1   # shingles a head signature covers
VERIFY_SLICE = 50_000  # candidate pairs compared at a time (their signatures: ~45 MB)
SIGNATURE_SLICE = 100_000  # records whose signatures are read at a time (as lists: ~100 MB)
TABLE_DTYPE = np.uint16    # the low 16 bits of each minimum (see SignatureTable)


@dataclass
class SignatureTable:
    """Signatures of some rows of the bands frame, as matrices, found by row number.

    Only the low 16 bits (TABLE_DTYPE) of each minimum are kept (b-bit minwise hashing,
    Li and König 2010): two different minima agree on them by chance once in 65,536
    draws, which moves a Jaccard estimate by ~0.00002, and the table of a million
    candidates is 224 MB instead of 448. The band keys are made from the full values.
    """
    index: np.ndarray      # per row of the bands frame: its line here, or -1
    n_shingles: np.ndarray
    sig: np.ndarray        # (lines, NUM_PERM), uint16
    head: np.ndarray       # (lines, NUM_PERM_HEAD), uint16

    @classmethod
    def of(cls, rows: np.ndarray, fetch, n_rows: int, slice_rows: int = SIGNATURE_SLICE) -> "SignatureTable":
        """`fetch(rows)`: n_shingles, sig, sig_head of those rows, line for line; asked a slice at a
        time, so that only the matrices are held, not the signatures as lists as well."""
        index = np.full(n_rows, -1, dtype=np.int64)
        index[rows] = np.arange(len(rows))
        table = cls(index, np.zeros(len(rows)), np.empty((len(rows), NUM_PERM), dtype=TABLE_DTYPE),
                    np.empty((len(rows), NUM_PERM_HEAD), dtype=TABLE_DTYPE))
        for lo in range(0, len(rows), slice_rows):
            sigs = fetch(rows[lo:lo + slice_rows])
            hi = lo + sigs.height
            table.n_shingles[lo:hi] = sigs["n_shingles"].to_numpy()
            table.sig[lo:hi] = _matrix(sigs["sig"], NUM_PERM)          # the assignment keeps the low bits
            table.head[lo:hi] = _matrix(sigs["sig_head"], NUM_PERM_HEAD)
        return table


def _matrix(lists: pl.Series, width: int) -> np.ndarray:
    """A column of equal-length signature lists as one (rows, width) array, without Python ints."""
    return lists.explode().to_numpy().astype(np.uint32, copy=False).reshape(len(lists), width)


def share_estimate(pairs: pl.DataFrame, table: SignatureTable, within: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Estimated share of a's shingles that b has, per pair (a, b), and its standard error.

    |A∩B| = J(|A|+|B|)/(1+J) from the MinHash Jaccard J of the whole bodies. When
    A fits in its head signature (a feed snippet, a lede-only copy), the estimate
    comes from the head signatures instead: it measures the snippet against B's
    opening, where a snippet's text stands. The error grows with |B|/|A|: a
    30-word text in a 400-word one is mostly noise, two copies of one length are
    measured closely. `within`: of the smaller record instead of a's (an upper
    bound of both directions, for pairs whose direction is not known yet).
    """
    est, err = [], []
    for part in pairs.iter_slices(VERIFY_SLICE):
        ia, ib = table.index[part["a"].to_numpy()], table.index[part["b"].to_numpy()]
        na, nb = table.n_shingles[ia], table.n_shingles[ib]
        of = np.minimum(na, nb) if within else na
        whole = _share(table.sig[ia], table.sig[ib], na, nb, of)
        ha, hb = np.minimum(na, HEAD_SHINGLES), np.minimum(nb, HEAD_SHINGLES)
        head = _share(table.head[ia], table.head[ib], ha, hb, np.minimum(of, HEAD_SHINGLES))
        short = of <= HEAD_SHINGLES
        est.append(np.where(short, head[0], whole[0]))
        err.append(np.where(short, head[1], whole[1]))
    return (np.concatenate(est), np.concatenate(err)) if est else (np.zeros(0), np.zeros(0))


def _share(sig_a: np.ndarray, sig_b: np.ndarray, na: np.ndarray, nb: np.ndarray, of: np.ndarray):
    k = sig_a.shape[1]
    jac = (sig_a == sig_b).mean(axis=1)
    ratio = (na + nb) / of
    # Binomial error of J over k permutations (J kept off 0 and 1, where k draws cannot tell it
    # from 1/k), carried through share = J * ratio / (1 + J).
    j = np.clip(jac, 1 / k, 1 - 1 / k)
    return np.minimum(1.0, jac * ratio / (1 + jac)), ratio / (1 + j) ** 2 * np.sqrt(j * (1 - j) / k)


SURE = 3.0   # standard errors between the estimate and the threshold for the estimate to decide alone
EXACT_SLICE = 150_000  # pairs counted exactly at a time (the shingle sets of their ~100k records: ~200 MB)


def possible(pairs: pl.DataFrame, table: SignatureTable, th: DedupThresholds) -> pl.DataFrame:
    """The pairs whose smaller record may be a copy of the other (direction not known yet).

    A slice at a time: the crowds' 7.8 M pairs of a million records, estimated at once, held
    ~400 MB of estimates and masks at the checks' peak (measured)."""
    kept = []
    for part in pairs.iter_slices(VERIFY_SLICE):
        est, err = share_estimate(part, table, within=True)
        kept.append(part.filter(pl.Series(est + SURE * err >= th.min_containment)))
    return pl.concat(kept) if kept else pairs.clear()


def estimated_copies(pairs: pl.DataFrame, table: SignatureTable,
                     th: DedupThresholds) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(sure, unsure): of the (center-to-be a, member-to-be b) pairs, those where the estimate shows
    b's text mostly in a's (b may be held as a's copy), and those the estimate cannot decide.

    The estimate decides when it stands SURE standard errors from the threshold
    (two copies of one text; two unrelated stories). In between, typically a cut
    lede against another story with that lede (exactly 0.45, estimated 0.6-0.7),
    `counted_copies` decides.
    """
    empty = pairs.clear().with_columns(pl.lit(None, dtype=pl.Float64).alias("share"))
    sure, unsure = [empty], [empty]
    # A slice at a time: the estimates, errors and masks of ~6 M pairs at once were the checks'
    # peak at a million records (measured).
    for part in pairs.iter_slices(VERIFY_SLICE):
        est, err = share_estimate(part.select(pl.col("b").alias("a"), pl.col("a").alias("b")), table)
        low, high = est - SURE * err, est + SURE * err
        part = part.with_columns(pl.Series("share", est, dtype=pl.Float64))
        sure.append(part.filter(pl.Series(low >= th.min_containment)))
        unsure.append(part.filter(pl.Series((low < th.min_containment) & (high >= th.min_containment))))
    return pl.concat(sure), pl.concat(unsure)


def counted_copies(unsure: pl.DataFrame, shingles, th: DedupThresholds) -> pl.DataFrame:
    """The pairs of `unsure` where an exact count of shingles shows b's text mostly in a's:
    `shingles(rows)` gives the Shingles of those rows."""
    counted = []
    # A slice of pairs at a time, sorted so that a center-to-be's pairs share a slice: only the
    # sets of one slice's records are held (at a million records all of them would be GBs).
    for part in unsure.sort("a", "b").iter_slices(EXACT_SLICE):
        rows = _sorted_unique(np.concatenate([part["a"].to_numpy(), part["b"].to_numpy()])).astype(np.int64)
        share = shingles(rows).share_in(np.searchsorted(rows, part["b"].to_numpy()),
                                        np.searchsorted(rows, part["a"].to_numpy()))
        part = part.with_columns(pl.Series("share", share, dtype=pl.Float64))
        counted.append(part.filter(pl.col("share") >= th.min_containment))
        release_free_memory()
    return pl.concat(counted) if counted else unsure.clear()


# ------------------------------------------------------------------ stars

def star_centers(better: np.ndarray, worse: np.ndarray, n: int) -> np.ndarray:
    """For nodes 0..n-1 ranked by preference (0 best) and verified pairs (better, worse): each node's center.

    A node is a center when no better-ranked neighbour is a center; any other node
    belongs to its best-ranked neighbouring center. Every member is thus itself
    verified similar to its center: groups cannot chain (A~B~C never puts C with A).
    This is the greedy star clustering taken in order of preference, computed in
    rounds over all pairs at once (a node is decided as soon as a better neighbour
    is a center, or all of them are decided and none is): a handful of rounds,
    each one vectorised, instead of a walk over the pairs in Python.
    """
    UNDECIDED, CENTER, MEMBER = 0, 1, 2
    status = np.full(n, UNDECIDED, dtype=np.int8)
    while True:
        open_ = status == UNDECIDED
        if not open_.any():
            break
        of_better = status[better]
        has_center = np.zeros(n, dtype=bool)
        has_center[worse[of_better == CENTER]] = True
        waits = np.zeros(n, dtype=bool)
        waits[worse[of_better == UNDECIDED]] = True
        status[open_ & has_center] = MEMBER
        status[open_ & ~has_center & ~waits] = CENTER
    center = np.arange(n)
    to_center = (status[better] == CENTER) & (status[worse] == MEMBER)
    b, w = better[to_center], worse[to_center]
    order = np.lexsort((b, w))              # by member, best center first
    first = np.r_[True, w[order][1:] != w[order][:-1]]
    center[w[order][first]] = b[order][first]
    return center


GROUPS_SCHEMA = {"article_id": pl.String, "group_id": pl.String, "share": pl.Float64}


def star_groups(pairs: pl.DataFrame, position: np.ndarray, ids: pl.Series) -> pl.DataFrame:
    """article_id -> group_id (its center's article_id) for every record of a star with two or more members,
    and `share`: how much of a member's text is in its center (null for the center).

    `pairs`: (a, b, share) rows, a better-ranked than b and b a copy of a.
    """
    if pairs.height == 0:
        return pl.DataFrame(schema=GROUPS_SCHEMA)
    better, worse = position[pairs["a"].to_numpy()], position[pairs["b"].to_numpy()]
    nodes = _sorted_unique(np.concatenate([better, worse]))     # positions that take part
    local_b, local_w = np.searchsorted(nodes, better), np.searchsorted(nodes, worse)
    center = nodes[star_centers(local_b, local_w, len(nodes))]
    row_at = np.empty(position.max() + 1, dtype=np.int64)
    row_at[position[position >= 0]] = np.flatnonzero(position >= 0)
    in_star = np.isin(nodes, center[center != nodes]) | (center != nodes)
    star_a, star_b = row_at[center[in_star]], row_at[nodes[in_star]]
    del better, worse, local_b, local_w, nodes, center
    return pl.DataFrame({"article_id": ids.gather(star_b), "group_id": ids.gather(star_a),
                         "share": _pair_shares(pairs, star_a, star_b, len(position))})


def _pair_shares(pairs: pl.DataFrame, a: np.ndarray, b: np.ndarray, n: int) -> pl.Series:
    """The `share` of each pair (a[i], b[i]) among `pairs`, null where it is none of them (a center
    has no pair with itself). Looked up among the sorted pair codes: polars' unique and join
    of ~5 M pairs at a million records took ~450 MB, the checks' peak (measured)."""
    if pairs.height == 0:
        return pl.Series("share", [None] * len(a), dtype=pl.Float64)
    codes = _pair_codes(pairs["a"].to_numpy(), pairs["b"].to_numpy(), n)
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    at, found = _lookup(codes, _pair_codes(a, b, n))
    share = pl.Series("share", pairs["share"].to_numpy()[order[np.minimum(at, len(codes) - 1)]], dtype=pl.Float64)
    return share.scatter(np.flatnonzero(~found), None)


# ------------------------------------------------------------------ the whole step

def near_duplicates(bands: pl.DataFrame, signatures, sets, rank, th: DedupThresholds) -> pl.DataFrame:
    """article_id -> group_id (the star's center) of every record in a star of copies.

    `bands`: article_id, the band columns, `new` (optional). Callbacks, each given
    article_ids and answering for them in their order: `signatures(ids)` ->
    n_shingles, sig, sig_head; `sets(ids)` -> their shingle sets (SETS); `rank(ids)` ->
    the same ids in order of preference (the copy to publish first; see
    `preference_order`): the caller may need the records' own issues for it, so
    it is asked only for the records of possible pairs and large buckets.
    """
    ids, n_rows = bands["article_id"], bands.height
    c = candidates(bands)
    del bands  # 32 band columns: 128 MB at a million records, not needed past this point
    release_free_memory()  # each step's arrays, freed: see the module doc
    rows = _sorted_unique(np.concatenate([c.pairs["a"].to_numpy(), c.pairs["b"].to_numpy(),
                                          c.crowds["row"].to_numpy()])).astype(np.int64)
    if len(rows) == 0:
        return pl.DataFrame(schema=GROUPS_SCHEMA)
    table = SignatureTable.of(rows, lambda part: signatures(ids.gather(part)), n_rows)
    maybe = possible(c.pairs, table, th)
    c.pairs = c.pairs.clear()  # from here on only the crowds and is_new of the candidates are needed
    release_free_memory()
    members = _sorted_unique(np.concatenate([maybe["a"].to_numpy(), maybe["b"].to_numpy(),
                                             c.crowds["row"].to_numpy()])).astype(np.int64)
    position = np.full(n_rows, -1, dtype=np.int64)
    if len(members):
        order = pl.DataFrame({"article_id": rank(ids.gather(members))}).with_row_index("pos")
        placed = (pl.DataFrame({"article_id": ids.gather(members), "row": members})
                  .join(order, on="article_id", how="left", maintain_order="left"))
        position[members] = placed["pos"].to_numpy()
    more = possible(crowd_pairs(c, position), table, th)
    is_new = c.is_new
    del c  # the crowds: 50 MB at a million records
    # Both sets of pairs as numpy codes (a < b in each), unique'd by sorting: polars' hash unique of
    # ~6 M pairs at a million records peaked ~400 MB over its input (measured).
    maybe = _pairs_frame(_sorted_unique(np.concatenate([
        _pair_codes(maybe["a"].to_numpy(), maybe["b"].to_numpy(), n_rows),
        _pair_codes(more["a"].to_numpy(), more["b"].to_numpy(), n_rows)])), n_rows, is_new)
    del more
    release_free_memory()
    # Better-ranked first: the pair is a copy only if the worse-ranked one is mostly in the better.
    a, b = position[maybe["a"].to_numpy()], position[maybe["b"].to_numpy()]
    oriented = pl.DataFrame({"a": np.where(a < b, maybe["a"], maybe["b"]), "b": np.where(a < b, maybe["b"], maybe["a"])})
    sure, unsure = estimated_copies(oriented, table, th)
    # The exact count holds shingle sets, the signatures are done with: 224 MB at a million candidates.
    del table, maybe, oriented
    release_free_memory()
    found = pl.concat([sure, counted_copies(
        unsure, lambda r: Shingles.of_fetched(len(r), lambda lo, hi: sets(ids.gather(r[lo:hi]))), th)])
    return star_groups(found, position, ids)


# Issues a copy may have and still be the published one, taking the field from a duplicate.
FILLABLE = {"missing_date": "published_date", "missing_title": "title"}
MERGED_FIELDS = ("published_date", "title", "subtitle", "author", "section", "dateline")


def preference_order(members: pl.DataFrame) -> pl.DataFrame:
    """Copies in the order one would publish them: `members` sorted, best first.

    `members`: article_id, own_issues (list), is_published, published_date,
    title_body_score, word_count, source_path. Already published first (stable
    output); then a copy whose only issues are fields another copy may give;
    fewer issues; the earliest date (the original, not a later re-post); the
    headline that agrees best with the text (copies of one text under two
    headlines: at most one is the story's own, and a foreign one on the same
    topic can pass the suite's minimum); the longest text.
    """
    return (members.with_columns(
        _fixable=pl.col("own_issues").list.set_difference(pl.lit(list(FILLABLE))).list.len() == 0,
        _n_issues=pl.col("own_issues").list.len())
        .sort(["is_published", "_fixable", "_n_issues", "published_date", "title_body_score", "word_count",
               "source_path", "article_id"],
              descending=[True, True, False, False, True, True, False, False], nulls_last=True)
        .drop("_fixable", "_n_issues"))


def choose_canonical(members: pl.DataFrame) -> pl.DataFrame:
    """Per group (a star: its center and the copies verified similar to it), the copy to publish and its fills.

    `members`: article_id, group_id (the center's article_id), own_issues,
    is_published, word_count, source_path and MERGED_FIELDS. The center, the
    best copy by `preference_order`, is published when it is already published
    or its only issues are missing fields that another copy of its group has;
    otherwise no copy is (each keeps its own issues). Returns article_id,
    group_id, canonical_id (null when none), the merged field values (fill_*)
    and the copies that hold them (donor_*).
    """
    ranked = preference_order(members)
    center = ranked.filter(pl.col("article_id") == pl.col("group_id"))
    # Values to fill on the canonical copy: the first non-null among the copies whose headline is their own.
    good = ranked.filter(~pl.col("own_issues").list.contains("title_mismatch"))
    fills = good.group_by("group_id", maintain_order=True).agg(
        [pl.col(f).drop_nulls().first().alias(f"fill_{f}") for f in MERGED_FIELDS]
        + [pl.col("article_id").filter(pl.col(f).is_not_null()).first().alias(f"donor_{f}") for f in MERGED_FIELDS])
    unfixable = pl.col("own_issues").list.set_difference(pl.lit(list(FILLABLE))).list.len() > 0
    cannot_fill = pl.any_horizontal([pl.col("own_issues").list.contains(code) & pl.col(f"fill_{field}").is_null()
                                     for code, field in FILLABLE.items()])
    best = (center.join(fills, on="group_id", how="left")
            .filter(pl.col("is_published") | ~(unfixable | cannot_fill))
            .select("group_id", pl.col("article_id").alias("canonical_id")))
    return (members.select("article_id", "group_id").join(best, on="group_id", how="left")
            .join(fills, on="group_id", how="left"))
