"""missing_title: the file has no headline; the text starts with the body.

Every published article has a headline above its body (or in its metadata:
`<title>`, og:title, a feed's `title`). When the first thing in the text is
running prose, with no headline-like line above it, the scrape lost the
headline. Where headlines are looked for: each format's parser
(ingest/formats/text_dump.py `_read_header`, html.py `_headline`, jsonl.py TITLE_KEYS).
A copy of the same article may give its headline (checks/dedup.py FILLABLE).

Feature `has_title`: a headline was found (null for an unreadable file).

Reasons: missing_title/no_headline.
"""
from __future__ import annotations

import polars as pl

from cleanwire.types import MISSING_TITLE

CODE = MISSING_TITLE
FEATURE = "has_title"
NO_HEADLINE = "no_headline"
REASONS = (NO_HEADLINE,)


def feature() -> pl.Expr:
    return pl.when(pl.col("read_error").is_null()).then(pl.col("title").is_not_null()).alias(FEATURE)


def reason() -> pl.Expr:
    return pl.lit(f"{CODE}/{NO_HEADLINE}")


def evidence() -> pl.Expr:
    return pl.lit("no headline above the body, nor in the page's metadata")
