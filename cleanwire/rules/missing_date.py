"""missing_date: no publication date could be found for the article.

A news page states its date where the byline is (a dateline, 'Published: ...',
a date under the headline or in the footer) or in its metadata (JSON-LD,
Open Graph, a feed's `date` field, the URL path). Dates inside the story's
paragraphs are the dates of events, never the publication date: a page whose
only dates are there is undated. Where dates are looked for: ingest/dates.py
(which lines are date lines, and what they say) and each format's parser.

Feature `has_date`: a publication date was found (null for an unreadable file).
Feature `date_in_prose`: an undated article mentions a complete date in its
body (the evidence of /only_in_prose).

Reasons: missing_date/none_found, /only_in_prose.
"""
from __future__ import annotations

import polars as pl

from cleanwire.rules.patterns import DATE_IN_TEXT, for_polars
from cleanwire.types import MISSING_DATE

CODE = MISSING_DATE
FEATURE = "has_date"
NONE_FOUND, ONLY_IN_PROSE = "none_found", "only_in_prose"
REASONS = (NONE_FOUND, ONLY_IN_PROSE)


def feature() -> pl.Expr:
    return pl.when(pl.col("read_error").is_null()).then(pl.col("published_date").is_not_null()).alias(FEATURE)


def date_in_prose(df: pl.DataFrame) -> pl.Series:
    """An undated article's body mentions a complete date (null when it has a date: not needed).

    Searched in the undated bodies only: as an expression the search ran on every body (a
    when/then evaluates all its branches), ~15 % of a batch's CPU for ~10 % of its records.
    """
    undated = (df["published_date"].is_null() & df["body"].is_not_null()).arg_true()
    found = df["body"].gather(undated).str.contains(for_polars(DATE_IN_TEXT))
    return pl.Series("date_in_prose", [None] * df.height, dtype=pl.Boolean).scatter(undated, found)


def reason() -> pl.Expr:
    return pl.lit(f"{CODE}/") + pl.when(pl.col("date_in_prose").fill_null(False)).then(
        pl.lit(ONLY_IN_PROSE)).otherwise(pl.lit(NONE_FOUND))


def evidence() -> pl.Expr:
    return (pl.when(pl.col("date_in_prose").fill_null(False))
            .then(pl.lit("the only dates are in the story's paragraphs (dates of events, not of publication)"))
            .otherwise(pl.lit("no date line near the headline or byline, and none in the page's metadata")))
