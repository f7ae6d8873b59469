"""Failing rows of the row suite -> each record's issue codes (checks.gx.issues_frame)."""
from __future__ import annotations

import polars as pl

from cleanwire.checks.gx import Failure, Validation, issues_frame


def _failure(code: str, message: str, ids: list[str], severity: str = "critical") -> Failure:
    return Failure(type="expect_column_values_to_be_in_set", column="x", issue_code=code, severity=severity,
                   unexpected_count=len(ids), observed_value=None, article_ids=pl.Series(ids, dtype=pl.String),
                   message=message)


def test_each_record_gets_its_critical_codes_once_sorted_in_the_given_order():
    validation = Validation("articles", success=False, evaluated=3, failures=[
        _failure("truncated_body", "ends mid-sentence", ["a", "b"]),
        _failure("missing_date", "no publication date found", ["b", "c"]),
        _failure("truncated_body", "ends in a cut-off stub", ["b", "c"]),   # the same code, another expectation
        _failure("title_mismatch", "a warning only", ["a"], severity="warning"),
    ])
    out = issues_frame(validation, pl.Series(["a", "b", "c", "d"], dtype=pl.String))
    assert out["article_id"].to_list() == ["a", "b", "c", "d"]  # the given order, one row each
    assert out["issues"].to_list() == [["truncated_body"], ["missing_date", "truncated_body"],
                                       ["missing_date", "truncated_body"], []]
