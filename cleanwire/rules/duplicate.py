"""duplicate: a copy of a published record; `duplicate_of` names it.

The same story reaches a feed many times: syndicated to other outlets,
scraped again, trimmed to a snippet, re-laid-out, with another outlet's
sign-off. A record is a copy of another when most of its own text is in the
other (MIN_CONTAINMENT of its word 3-grams); two stories that share a lede or a
stock paragraph are not copies. How copies are found and grouped (stars around
the copy to publish, so a duplicate always names a record it is itself a copy
of): checks/dedup.py.

Feature `duplicate_of` (set by the checks; the suite expects it null).

Reasons: duplicate/near_copy.
"""
from __future__ import annotations

import polars as pl

from cleanwire.types import DUPLICATE

CODE = DUPLICATE
FEATURE = "duplicate_of"
NEAR_COPY = "near_copy"
REASONS = (NEAR_COPY,)
# The share of a record's own word 3-grams that must be in another record for it to be a
# copy: a trimmed copy, a snippet or a copy with an extra sign-off passes; a story sharing
# its lede and one more paragraph with another (~1/3 of a 6-paragraph story) does not.
MIN_CONTAINMENT = 0.6


def reason() -> pl.Expr:
    return pl.lit(f"{CODE}/{NEAR_COPY}")


def evidence() -> pl.Expr:
    share = (pl.col("duplicate_share") * 100).round(0).cast(pl.Int64).cast(pl.String)
    return (pl.when(pl.col("duplicate_share").is_not_null()).then(share + pl.lit("% of its text is in "))
            .otherwise(pl.lit("a copy of ")) + pl.col("duplicate_of"))
