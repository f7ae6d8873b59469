"""The rules, keyed by issue code: where each code is decided, measured and explained.

    issue code       feature column     rule module                       reasons (code/reason)
    unreadable       is_readable        rules/unreadable.py               empty, binary, not_text, too_large, ...
    missing_date     has_date           rules/missing_date.py             none_found, only_in_prose
    missing_title    has_title          rules/missing_title.py            no_headline
    title_mismatch   title_body_score   rules/title_mismatch.py           section_label, related_link, low_overlap
    truncated_body   ends_cleanly       rules/truncated_body.py           chars_stub, read_more, paywall, ellipsis, mid_sentence
    empty_body       body_words         rules/empty_body.py               no_text, too_short
    duplicate        duplicate_of       rules/duplicate.py                near_copy
    batch_rejected   (the batch gate)   expectations/batch.json           gate

A rule module holds the code's constants (named, with the reason for the value),
its feature expression, its fine reasons and the evidence shown in `detail`.
The thresholds a feature is held to are the suite's: expectations/articles.json
names, for each expectation, the issue code it raises (tests/test_rules_index.py
holds this index and the suite together). The parsers find the fields; the rule
modules say what makes a record fail, and why.

Features are computed per batch (`add_features`), in polars over all its records.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import polars as pl

from cleanwire.rules import (duplicate, empty_body, missing_date, missing_title, title_mismatch, truncated_body,
                             unreadable)
from cleanwire.types import BATCH_REJECTED


@dataclass(frozen=True)
class Rule:
    code: str
    feature: str                # the column the suite's expectation for this code tests
    module: ModuleType
    reasons: tuple[str, ...]    # fine reasons, each 'code/reason'


RULES: dict[str, Rule] = {
    m.CODE: Rule(m.CODE, m.FEATURE, m, tuple(f"{m.CODE}/{r}" for r in m.REASONS))
    for m in (unreadable, missing_date, missing_title, title_mismatch, truncated_body, empty_body, duplicate)
}
GATE_REASON = f"{BATCH_REJECTED}/gate"
UNKNOWN_REASON = "failed"   # the reason of a code the suite raises and no rule explains (a user's own expectation)

# Features the suite tests, computed by the batches (duplicate_of is set by the checks).
FEATURE_COLUMNS = [r.feature for r in RULES.values() if r.code != duplicate.CODE]
# What the rules' reasons read besides the features.
REASON_COLUMNS = ["unreadable_reason", "truncation", "date_in_prose"]
# The narrow frame of a whole run: ids, the features the suites test, what merging, metrics
# and reasons need. Bodies, signatures and the other text fields stay in the batch files.
RUN_COLUMNS = ["article_id", "source_path", "source_file", "title", "published_date", "word_count", "title_kind",
               *FEATURE_COLUMNS, *REASON_COLUMNS]


def add_features(df: pl.DataFrame) -> pl.DataFrame:
    """Every feature and reason input of a batch of parsed records (unreadable ones get nulls)."""
    df = df.with_columns(empty_body.word_count(), truncated_body.truncation(), title_mismatch.overlap(),
                         missing_date.date_in_prose(df))
    return df.with_columns(
        unreadable.feature(), missing_date.feature(), missing_title.feature(), empty_body.feature(),
        title_mismatch.feature(), truncated_body.feature())


def reasons(issues: pl.Expr = pl.col("issues")) -> pl.Expr:
    """Each record's fine reasons, one per issue code, sorted like the codes.

    Needs the run frame's REASON_COLUMNS and title_kind, word_count. A code
    no rule explains (an expectation a user added) gets '<code>/failed'.
    """
    known = [pl.when(issues.list.contains(code)).then(rule.module.reason())
             for code, rule in RULES.items()]
    others = issues.list.set_difference(pl.lit(list(RULES))).list.eval(pl.element() + f"/{UNKNOWN_REASON}")
    return (pl.concat_list(known).list.drop_nulls().list.concat(others).list.sort()
            .fill_null(pl.lit([], dtype=pl.List(pl.String))).alias("reasons"))


def detail(messages: dict[str, str], limits: dict[str, tuple[float | None, float | None]]) -> pl.Expr:
    """Each record's reasons in words with the evidence: 'truncated_body/mid_sentence: stops mid-sentence: ...'.

    Needs the record's whole row (last paragraph, title, read_error...), its
    `issues`, `reasons`, `duplicate_of` and `duplicate_share`. `messages`: the
    suite's message per code, for codes no rule explains; `limits`: the suite's
    (min, max) per feature column, shown beside the measured value.
    """
    def low(feature: str) -> float | None:
        return limits.get(feature, (None, None))[0]

    evidence = {
        unreadable.CODE: unreadable.evidence(), missing_date.CODE: missing_date.evidence(),
        missing_title.CODE: missing_title.evidence(), title_mismatch.CODE: title_mismatch.evidence(low(title_mismatch.FEATURE)),
        truncated_body.CODE: truncated_body.evidence(), empty_body.CODE: empty_body.evidence(low(empty_body.FEATURE)),
        duplicate.CODE: duplicate.evidence(),
    }
    issues = pl.col("issues")
    parts = [pl.when(issues.list.contains(code)).then(RULES[code].module.reason() + pl.lit(": ") + text)
             for code, text in evidence.items()]
    parts += [pl.when(issues.list.contains(code)).then(pl.lit(f"{code}/{UNKNOWN_REASON}: {message}"))
              for code, message in messages.items() if code not in RULES]
    parts.append(pl.when(issues.list.contains(BATCH_REJECTED)).then(pl.lit(f"{GATE_REASON}: ") + pl.col("gate_message")))
    text = pl.concat_list(parts).list.drop_nulls().list.sort().list.join("; ")
    return pl.when(issues.list.len() > 0).then(text).alias("detail")
