"""The columns of every frame the pipeline passes around, in one place.

`OUTPUT` is the contract of ../shared/CONTRACT.md (both published and
quarantine datasets) plus columns we add; `PARSED` is what one batch of raw
files turns into before checks.
"""
from __future__ import annotations

import polars as pl

# Contract issue codes (more may be added, these must stay).
MISSING_DATE = "missing_date"
MISSING_TITLE = "missing_title"
TITLE_MISMATCH = "title_mismatch"
TRUNCATED_BODY = "truncated_body"
EMPTY_BODY = "empty_body"
DUPLICATE = "duplicate"
UNREADABLE = "unreadable"
# Added codes.
BATCH_REJECTED = "batch_rejected"  # the record passed, but its batch was refused by the gate

ISSUE_CODES = (MISSING_DATE, MISSING_TITLE, TITLE_MISMATCH, TRUNCATED_BODY, EMPTY_BODY, DUPLICATE, UNREADABLE)

# Contract columns, in contract order.
CONTRACT = {
    "article_id": pl.String,
    "source_path": pl.String,
    "title": pl.String,
    "subtitle": pl.String,
    "published_date": pl.Date,
    "section": pl.String,
    "author": pl.String,
    "dateline": pl.String,
    "body": pl.String,
    "word_count": pl.Int64,
    "duplicate_of": pl.String,
    "issues": pl.List(pl.String),
}
# Added columns: provenance and the human-readable reasons.
EXTRA = {
    "detail": pl.String,         # why each issue was raised, in words
    "url": pl.String,
    "source_file": pl.String,    # the raw file (source_path without '#N')
    "format": pl.String,         # text | html | json
    "encoding": pl.String,
    "content_hash": pl.String,   # of the raw file's bytes
    "run_id": pl.String,         # the run that produced the record
}
OUTPUT = {**CONTRACT, **EXTRA}

# What the parsers give for each record, before features and checks.
PARSED = {
    "article_id": pl.String,
    "source_path": pl.String,
    "source_file": pl.String,
    "format": pl.String,
    "encoding": pl.String,
    "content_hash": pl.String,
    "read_error": pl.String,
    "title": pl.String,
    "subtitle": pl.String,
    "published_date": pl.Date,
    "section": pl.String,
    "author": pl.String,
    "dateline": pl.String,
    "body": pl.String,
    "url": pl.String,
    "title_kind": pl.String,      # headline | label | related | None
    "title_repeated": pl.Boolean,
    "cut_marker": pl.String,      # chars | ellipsis | read_more | paywall | None
    "date_kind": pl.String,       # published | plain | updated | metadata | url | ...
    "last_paragraph": pl.String,  # last paragraph of running text (end matter passed over)
}


def empty(schema: dict) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def conform(df: pl.DataFrame, schema: dict) -> pl.DataFrame:
    """Select `schema`'s columns in order, adding missing ones as nulls, casting types."""
    cols = []
    for name, dtype in schema.items():
        if name in df.columns:
            cols.append(pl.col(name).cast(dtype))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return df.select(cols)
