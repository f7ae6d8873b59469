"""Check features, as polars expressions over a batch of parsed records.

Each feature is one column that one expectation of `expectations/articles.json`
tests; the thresholds live in the suite, the measurements here. A feature is
null where it does not apply (no body, unreadable file), so the expectation
skips that row instead of raising a second, derived issue.
"""
from __future__ import annotations

import polars as pl

from cleanwire.text import CJK, STEM_CHARS, STOPWORDS, WORD_PATTERN

_WORD = WORD_PATTERN
_STOP = sorted(STOPWORDS)
# A final paragraph that ends a sentence: . ! ? possibly inside closing quotes/brackets.
_CLEAN_END = r"[.!?。！？](?:['\"”’)\]」』）]+)?\s*$"
_ELLIPSIS_END = r"(?:\.\.\.|…)['\"”’)\]]*\s*$"


def _stems(col: pl.Expr) -> pl.Expr:
    """Content-word stems of a text column, as a list (the same rule as text.stem)."""
    # Distinct words first: a body repeats its words, and the filter is the costly part.
    return (col.str.to_lowercase().str.extract_all(_WORD).list.unique()
            .list.eval(pl.element().filter(((pl.element().str.len_chars() > 1) | pl.element().str.contains(f"^[{CJK}]$"))
                                           & ~pl.element().is_in(_STOP))
                       .str.slice(0, STEM_CHARS))
            .list.unique())


def word_count() -> pl.Expr:
    """Words of the body (a CJK character counts as one word)."""
    return pl.col("body").str.count_matches(_WORD).fill_null(0).cast(pl.Int64).alias("word_count")


def title_body_score() -> pl.Expr:
    """Share of the headline's content words that the body uses; 0 for a label or a link.

    A story's own headline shares most of its words with the body; another
    story's headline shares few (dev corpus: own >= 0.29, other <= 0.12).
    Null when there is no headline or no body: those are other issues.
    """
    title = _stems(pl.col("title"))
    body = _stems(pl.col("body"))
    ratio = (title.list.set_intersection(body).list.len() / title.list.len().cast(pl.Float64))
    return (pl.when(pl.col("title").is_null() | pl.col("body").is_null()).then(None)
            .when(pl.col("title_kind").is_in(["label", "related"])).then(0.0)
            .when(title.list.len() == 0).then(None)
            .otherwise(ratio)
            .alias("title_body_score"))


# A final token that is an address or an identifier, not a word: a complete ending
# without a full stop ('please visit www.example.com', 'DOI: 10.1007/...').
_IDENTIFIER_END = (r"(?:https?://\S+|www\.\S+|\S+\.(?:com|org|net|gov|edu|io|co\.uk)\S*|\S+@\S+\.\S+|"
                   r"\b10\.\d{4,}/\S+|\d+(?:[./_-]\d+){2,})\s*$")
# Paragraphs before the last one, to tell a list-like body (items without full stops) from a cut.
_STYLE_WINDOW = 6


def ends_cleanly() -> pl.Expr:
    """The article is not cut off.

    False on a cut-off stub or a final ellipsis; true when the last paragraph of
    running text ends a sentence, ends with an address or identifier, or when the
    body is list-like (most of the paragraphs before the last lack a full stop
    too, as in deal lists and tour dates); false otherwise (mid-sentence).
    """
    last = pl.col("last_paragraph")
    previous = pl.col("body").str.split("\n\n").list.head(pl.col("body").str.split("\n\n").list.len() - 1) \
        .list.tail(_STYLE_WINDOW)
    unpunctuated_share = previous.list.eval(~pl.element().str.contains(_CLEAN_END)).list.mean()
    return (pl.when(pl.col("body").is_null()).then(None)
            .when(pl.col("cut_marker").is_not_null()).then(False)
            .when(last.str.contains(_ELLIPSIS_END)).then(False)
            .when(last.str.contains(_CLEAN_END)).then(True)
            .when(last.str.contains(_IDENTIFIER_END)).then(True)
            .when(unpunctuated_share.fill_null(0.0) >= 0.5).then(True)
            .otherwise(False)
            .alias("ends_cleanly"))


def add_features(df: pl.DataFrame) -> pl.DataFrame:
    """Add every check feature; unreadable rows get nulls (only `unreadable` applies)."""
    readable = pl.col("read_error").is_null()
    feats = [
        readable.alias("is_readable"),
        pl.when(readable).then(pl.col("published_date").is_not_null()).alias("has_date"),
        pl.when(readable).then(pl.col("title").is_not_null()).alias("has_title"),
        pl.when(readable).then(pl.col("word_count")).alias("body_words"),
        title_body_score(),
        ends_cleanly(),
    ]
    return df.with_columns(word_count()).with_columns(feats)


FEATURE_COLUMNS = ["is_readable", "has_date", "has_title", "body_words", "title_body_score", "ends_cleanly"]
# The narrow frame of a whole run: ids, the features the suites test, what merging and metrics
# need. Bodies, signatures and the other text fields stay in the batch files.
RUN_COLUMNS = ["article_id", "source_path", "source_file", "title", "published_date", "word_count", "title_kind",
               *FEATURE_COLUMNS]
