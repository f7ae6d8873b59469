"""Check features, as polars expressions over a batch of parsed records.

Each feature is one column that one expectation of `expectations/articles.json`
tests; the thresholds live in the suite, the measurements here. A feature is
null where it does not apply (no body, unreadable file), so the expectation
skips that row instead of raising a second, derived issue.
"""
from __future__ import annotations

import polars as pl

from cleanwire.text import STOPWORDS

# Words of the lede used to judge whether a headline belongs to the body.
LEDE_CHARS = 1500
_WORD = r"[^\W_]+(?:['’][^\W_]+)*"
_STOP = sorted(STOPWORDS)
# A final paragraph that ends a sentence: . ! ? possibly inside closing quotes/brackets.
_CLEAN_END = r"[.!?](?:['\"”’)\]]+)?\s*$"
_ELLIPSIS_END = r"(?:\.\.\.|…)['\"”’)\]]*\s*$"


def _stems(col: pl.Expr) -> pl.Expr:
    """Content-word stems of a text column, as a list (the same rule as text.stem)."""
    return (col.str.to_lowercase().str.extract_all(_WORD)
            .list.eval(pl.element().filter((pl.element().str.len_chars() > 1) & ~pl.element().is_in(_STOP))
                       .str.slice(0, 5))
            .list.unique())


def word_count() -> pl.Expr:
    return pl.col("body").str.count_matches(r"\S+").fill_null(0).cast(pl.Int64).alias("word_count")


def title_body_score() -> pl.Expr:
    """Share of the headline's content words that the lede uses; 0 for a label or a link.

    Null when there is no headline or no body: those are other issues.
    """
    title = _stems(pl.col("title"))
    lede = _stems(pl.col("body").str.slice(0, LEDE_CHARS))
    ratio = (title.list.set_intersection(lede).list.len() / title.list.len().cast(pl.Float64))
    return (pl.when(pl.col("title").is_null() | pl.col("body").is_null()).then(None)
            .when(pl.col("title_kind").is_in(["label", "related"])).then(0.0)
            .when(title.list.len() == 0).then(None)
            .otherwise(ratio)
            .alias("title_body_score"))


def ends_cleanly() -> pl.Expr:
    """The last prose paragraph ends a sentence and no cut-off stub followed it."""
    last = pl.col("last_paragraph")
    return (pl.when(pl.col("body").is_null()).then(None)
            .when(pl.col("cut_marker").is_not_null()).then(False)
            .when(last.str.contains(_ELLIPSIS_END)).then(False)
            .otherwise(last.str.contains(_CLEAN_END).fill_null(False))
            .alias("ends_cleanly"))


def add_features(df: pl.DataFrame) -> pl.DataFrame:
    """Add every check feature; unreadable rows get nulls (only `unreadable` applies)."""
    readable = pl.col("read_error").is_null()
    feats = [
        readable.alias("is_readable"),
        pl.when(readable).then(pl.col("published_date").is_not_null()).alias("has_date"),
        pl.when(readable).then(pl.col("title").is_not_null()).alias("has_title"),
        pl.when(readable).then(word_count()).alias("body_words"),
        title_body_score(),
        ends_cleanly(),
    ]
    return df.with_columns(word_count()).with_columns(feats)


FEATURE_COLUMNS = ["is_readable", "has_date", "has_title", "body_words", "title_body_score", "ends_cleanly"]
