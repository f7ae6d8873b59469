"""truncated_body: the body is cut off.

Scrapers and feeds cut articles in a few typical ways: a feed's `[+1234 chars]`
stub, a "Continue reading" / "Read more" link where the rest was, a paywall
notice, a final ellipsis, or simply text that stops in the middle of a sentence.
A complete news article ends its last paragraph of running text with a full
stop (or ? !), an address or an identifier; list-like articles (deals, tour
dates, steps) end with an item and are complete too.

Feature `ends_cleanly` (tested by expectations/articles.json): true, false, or
null where there is no body (that is empty_body). The parsers mark cut-off
stubs as they read (`cut_marker`, named by STUB_REASONS); `truncation()` turns
marker and last paragraph into the reason.

Reasons: truncated_body/chars_stub, /read_more, /paywall, /ellipsis, /mid_sentence.
"""
from __future__ import annotations

import re

import polars as pl

from cleanwire.rules.patterns import ELLIPSIS_END, SENTENCE_END, for_polars
from cleanwire.types import TRUNCATED_BODY

CODE = TRUNCATED_BODY
FEATURE = "ends_cleanly"
CHARS_STUB, READ_MORE, PAYWALL_STUB, ELLIPSIS, MID_SENTENCE = "chars_stub", "read_more", "paywall", "ellipsis", "mid_sentence"
REASONS = (CHARS_STUB, READ_MORE, PAYWALL_STUB, ELLIPSIS, MID_SENTENCE)

# ---------------------------------------------------------------- cut-off stubs (read by the line rules and parsers)

# A feed's stub: '… [+1234 chars]'.
CHARS = r"\[\s*\+\s*\d[\d,]*\s*chars?\s*\]"
CHARS_IN_LINE = rf"(?i)(?:\.\.\.|…)?\s*{CHARS}"
_CHARS_AT_END = re.compile(rf"\s*(?:(?:\.\.\.|…)\s*)?{CHARS}\s*$", re.I)
# Links where the rest of the text was: 'Continue reading', 'Read the full story', '[…]'.
CUT_STUB = (rf"(?i){CHARS}|"
            r"^(?:(?:click|tap) here to )?(?:continue reading|read more|keep reading|show more|see more|"
            r"read (?:the )?(?:full|whole|rest of the|entire) (?:story|article|piece))"
            r"(?:\s*(?:»|›|>|→|\.\.\.|…))?[\s.!]*$|"
            r"^already (?:a )?(?:subscriber|member)\b.{0,40}$|^\[(?:\.\.\.|…)\]$")
# A paywall line names a subscription AND what it withholds ('This article is for subscribers only').
PAYWALL = r"(?i)\b(?:subscri\w*|sign in|log ?in|paywall|premium|members only|registered users)\b"
# (a word of its own: 'gas-only' in 'Price Premium: ... gas-only car' withholds nothing)
PAYWALL_WHAT = r"(?i)(?:^|[\s(\"'“])(?:articles?|story|stories|content|read\w*|continu\w*|access|unlock|full|only|exclusive)\b"
PAYWALL_MAX_CHARS = 120  # a paywall notice is one short line; longer text naming subscriptions is prose
_PAYWALL_WORDS = ("subscribe", "subscriber", "sign up", "log in", "member")
_ELLIPSIS_AT_END = re.compile(ELLIPSIS_END)


def stub_reason(line: str) -> str:
    """Which stub a cut-off line is: a chars stub, a paywall notice, or a read-more link."""
    low = line.lower()
    if "chars" in low:
        return CHARS_STUB
    if any(w in low for w in _PAYWALL_WORDS):
        return PAYWALL_STUB
    return READ_MORE


def strip_end_stub(last: str) -> tuple[str, str | None]:
    """The last paragraph without a trailing chars stub, and the cut it shows (chars_stub, ellipsis or None)."""
    # The stub ends in ']': only then is the pattern (whose leading spaces make a search
    # try every position of a long paragraph) worth running.
    m = _CHARS_AT_END.search(last) if last.rstrip().endswith("]") else None
    if m:
        return last[: m.start()].rstrip(), CHARS_STUB
    return last, (ELLIPSIS if _ELLIPSIS_AT_END.search(last) else None)


def ends_with_stub(line: str) -> bool:
    """A short line that ends in an ellipsis or a chars stub: the cut-off start of one more paragraph."""
    return bool(_ELLIPSIS_AT_END.search(line) or _CHARS_AT_END.search(line))


# ---------------------------------------------------------------- the feature

# A final token that is an address or an identifier, not a word: a complete ending
# without a full stop ('please visit www.example.com', 'DOI: 10.1007/...').
IDENTIFIER_END = (r"(?:https?://\S+|www\.\S+|\S+\.(?:com|org|net|gov|edu|io|co\.uk)\S*|\S+@\S+\.\S+|"
                  r"\b10\.\d{4,}/\S+|\d+(?:[./_-]\d+){2,})\s*$")
# A body is list-like (deal lists, tour dates) when at least LIST_LIKE_SHARE of the
# STYLE_WINDOW paragraphs before the last lack a full stop too, some LIST_RUN of them in a
# row: its last item is no cut. Items stand in runs; a guide whose subheadings alternate
# with prose ('3. Budgeting', a paragraph, '4. Leadership', a paragraph) has as many
# unstopped lines, each followed by its section: a fragment after the last is a cut section.
STYLE_WINDOW = 6
LIST_LIKE_SHARE = 0.5
LIST_RUN = 2


def truncation() -> pl.Expr:
    """The reason the body is cut off, or null when it is complete (or absent)."""
    last = pl.col("last_paragraph")
    paragraphs = pl.col("body").str.split("\n\n")
    previous = paragraphs.list.head(paragraphs.list.len() - 1).list.tail(STYLE_WINDOW)
    unpunctuated = previous.list.eval(~pl.element().str.contains(SENTENCE_END))
    in_a_run = pl.element().cast(pl.Int8).rolling_sum(LIST_RUN) == LIST_RUN
    list_like = ((unpunctuated.list.mean().fill_null(0.0) >= LIST_LIKE_SHARE)
                 & unpunctuated.list.eval(in_a_run.any()).list.first().fill_null(False))
    return (pl.when(pl.col("body").is_null()).then(None)
            .when(pl.col("cut_marker").is_not_null()).then(pl.col("cut_marker"))
            .when(last.str.contains(ELLIPSIS_END)).then(pl.lit(ELLIPSIS))
            .when(last.str.contains(SENTENCE_END)).then(None)
            .when(last.str.contains(for_polars(IDENTIFIER_END))).then(None)
            .when(list_like).then(None)
            .otherwise(pl.lit(MID_SENTENCE))
            .alias("truncation"))


def feature() -> pl.Expr:
    """ends_cleanly: the body is not cut off (null without a body)."""
    return (pl.when(pl.col("body").is_null()).then(None)
            .otherwise(pl.col("truncation").is_null()).alias(FEATURE))


def reason() -> pl.Expr:
    return pl.lit(f"{CODE}/") + pl.col("truncation").fill_null(MID_SENTENCE)


EVIDENCE_WORDS = 8  # words of the body's end shown as evidence


def evidence() -> pl.Expr:
    """The end of the text, where the cut shows."""
    tail = pl.col("last_paragraph").str.split(" ").list.tail(EVIDENCE_WORDS).list.join(" ")
    what = {CHARS_STUB: "ends with a '[+N chars]' stub", READ_MORE: "ends with a 'Continue reading' link",
            PAYWALL_STUB: "ends with a subscription notice", ELLIPSIS: "ends with an ellipsis"}
    label = pl.col("truncation").replace_strict(what, default="stops mid-sentence", return_dtype=pl.String)
    return label + pl.lit(": '…") + tail.fill_null("") + pl.lit("'")
