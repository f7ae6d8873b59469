"""The rules index (cleanwire.rules.RULES) and the row suite name the same issue codes and features.

From an issue code a reader reaches its rule module in one hop; the suite's
expectation for that code tests the rule's feature column. A suite expectation
without a rule, or a rule without an expectation, fails here.
"""
from __future__ import annotations

import json

import polars as pl
import pytest

from cleanwire import rules
from cleanwire.config import DEFAULT_SUITES
from cleanwire.types import ISSUE_CODES


def _row_suite() -> list[dict]:
    return json.loads((DEFAULT_SUITES / "articles.json").read_text())["expectations"]


def index_problems(expectations: list[dict], index: dict) -> list[str]:
    """Where the suite and the rules index disagree, in words (empty when they agree)."""
    problems = []
    by_code = {}
    for e in expectations:
        code = e["meta"]["issue_code"]
        by_code.setdefault(code, []).append(e["kwargs"].get("column"))
        if code not in index:
            problems.append(f"the suite raises {code!r}, which no rule explains")
        elif e["kwargs"].get("column") != index[code].feature:
            problems.append(f"{code!r}: the suite tests {e['kwargs'].get('column')!r}, the rule measures "
                            f"{index[code].feature!r}")
    problems += [f"rule {code!r} has no expectation in the suite" for code in index if code not in by_code]
    return problems


def test_every_expectation_has_its_rule_and_every_rule_its_expectation():
    assert index_problems(_row_suite(), rules.RULES) == []
    assert set(rules.RULES) == set(ISSUE_CODES)


def test_the_check_fails_when_an_expectation_or_a_rule_is_removed():
    suite = _row_suite()
    without_expectation = [e for e in suite if e["meta"]["issue_code"] != "truncated_body"]
    assert index_problems(without_expectation, rules.RULES) == ["rule 'truncated_body' has no expectation in the suite"]
    without_rule = {k: v for k, v in rules.RULES.items() if k != "empty_body"}
    assert index_problems(suite, without_rule) == ["the suite raises 'empty_body', which no rule explains"]


@pytest.mark.parametrize("code", sorted(rules.RULES))
def test_each_rule_module_says_what_it_measures_and_why(code):
    rule = rules.RULES[code]
    doc = rule.module.__doc__ or ""
    assert doc.startswith(f"{code}:"), f"{rule.module.__name__} must open with what {code} means"
    assert "Reasons:" in doc and all(r.split("/", 1)[1] in doc for r in rule.reasons)
    assert all(r.startswith(f"{code}/") for r in rule.reasons) and rule.reasons


def test_each_reason_starts_with_its_code_and_a_code_no_rule_knows_gets_failed():
    frame = pl.DataFrame({
        "issues": [["truncated_body", "missing_date"], ["title_mismatch"], ["my_own_check"], []],
        "truncation": ["mid_sentence", None, None, None], "date_in_prose": [True, None, None, None],
        "title_kind": [None, "label", None, None], "word_count": [40, 30, 10, 100],
        "unreadable_reason": [None, None, None, None],
    })
    got = frame.select(rules.reasons())["reasons"].to_list()
    assert got == [["missing_date/only_in_prose", "truncated_body/mid_sentence"], ["title_mismatch/section_label"],
                   ["my_own_check/failed"], []]
