"""empty_body: no article text was found.

A page whose article failed to load, a paywall page, a list page or a video
page holds menus, share bars and links but no running text. After furniture
is dropped (ingest/lines.py), what is left is counted in words; the minimum
a body must have is the suite's (expectations/articles.json).

Feature `body_words`: the body's words (null for an unreadable file); the
contract's `word_count` is the same count, kept for every record.

Reasons: empty_body/no_text, /too_short.
"""
from __future__ import annotations

import polars as pl

from cleanwire.text import WORD_PATTERN
from cleanwire.types import EMPTY_BODY

CODE = EMPTY_BODY
FEATURE = "body_words"
NO_TEXT, TOO_SHORT = "no_text", "too_short"
REASONS = (NO_TEXT, TOO_SHORT)


def word_count() -> pl.Expr:
    """Words of the body (a CJK character counts as one word)."""
    return pl.col("body").str.count_matches(WORD_PATTERN).fill_null(0).cast(pl.Int64).alias("word_count")


def feature() -> pl.Expr:
    return pl.when(pl.col("read_error").is_null()).then(pl.col("word_count")).alias(FEATURE)


def reason() -> pl.Expr:
    return pl.lit(f"{CODE}/") + pl.when(pl.col("word_count") > 0).then(pl.lit(TOO_SHORT)).otherwise(pl.lit(NO_TEXT))


def evidence(low: float | None) -> pl.Expr:
    minimum = f" (minimum {low:g})" if low is not None else ""
    return (pl.when(pl.col("word_count") > 0)
            .then(pl.lit("only ") + pl.col("word_count").cast(pl.String) + pl.lit(f" words of text{minimum}"))
            .otherwise(pl.lit("no running text on the page")))
