"""Shapes of news text that several rules read: one home for each.

Patterns are written in the common subset of Python's `re` and Rust's `regex`
(polars), so the line rules (vectorised) and the page walk (per line) use the
very same text. Where two rules need a variant, the variant is built here from
the same parts and says why it differs.
"""
from __future__ import annotations

import re

_WORD_BOUNDARY = re.compile(r"(?<!\\)\\b")


def for_polars(pattern: str) -> str:
    r"""`pattern` as polars (Rust `regex`) should run it: with ASCII word boundaries.

    Rust's fast engine (a lazy DFA) cannot decide a Unicode `\b` on non-ASCII text
    and hands the search to a far slower one: on lines holding a curly quote or an
    accent, the credit rule cost 3.6 µs a line, 0.5 with ASCII boundaries (measured).
    Each `\b` of these patterns stands beside an ASCII keyword, where both kinds of
    boundary agree unless the keyword is glued to a non-ASCII letter ('écopyright'),
    which news text does not write.
    """
    return _WORD_BOUNDARY.sub(r"(?-u:\\b)", pattern)


# What may close a sentence after its stop: quotes, brackets (Latin and CJK).
CLOSERS = "['\"”’)\\]」』）]"
# A full stop of a sentence: . ! ? and their CJK forms.
FULL_STOP = "[.!?。！？]"

# A line that ends a sentence: the stop, maybe closers, maybe spaces. What a complete
# paragraph ends with (truncated_body) and what a standfirst or a cut fragment is told by.
SENTENCE_END = rf"{FULL_STOP}{CLOSERS}*\s*$"
# Running text may also break a line at a colon, a semicolon or an ellipsis (a paragraph
# introducing a list or a quote): the prose test of a line accepts these too, and a sentence
# followed by the link it points to ('Register through the form. https://example.org/form').
PROSE_LINE_END = rf"(?:[.!?…:;。！？]{CLOSERS}*|[.!?:]{CLOSERS}*\s+(?:https?://|www\.)\S+)$"
# A headline may end with ? or ! but never with a full stop.
HEADLINE_END = rf"[?!！？]{CLOSERS}*$"
# A sentence of lower-case running words ending in a full stop: 'It was a close vote.'
LOWER_SENTENCE_END = r"[a-z]{2,}[.]['\"”’)]*$"

# An ellipsis at the very end, maybe inside closing quotes.
ELLIPSIS_END = rf"(?:\.\.\.|…){CLOSERS}*\s*$"

# The words that open a byline: 'By Jane Doe', 'Written by ...', 'Posted by ...'.
BYLINE_WORDS = r"by|written by|words by|author|reporter|posted by|story by"
BYLINE_PREFIX = rf"(?:{BYLINE_WORDS})"

# A read-time badge: '4 min read', '3-5 minutes reading', '5 m read'.
READ_TIME = r"\d+\s*(?:-\s*\d+\s*)?(?:min(?:ute)?s?|m)\.?\s*(?:read|reading)"

# A whole line in brackets: '[ The Verge ]', '(Reporting by ...)', '[Al Maa-idah 2]'.
BRACKETED = r"^\s*(?:\[[^\]]{1,200}\]|\([^)]{1,300}\))\s*$"

# Parts of a written date. Years of news: 1950-2099 (a 4-digit number outside is a count,
# a price or a street number); days and months as pages print them.
YEAR = r"(?:19[5-9]\d|20\d\d)"
MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
         r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
# A complete written date anywhere in a text: 'June 17, 2023', '17 June 2023', '2023-06-17'.
DATE_IN_TEXT = (rf"(?i)\b{MONTH}\s+{DAY},?\s+{YEAR}\b|\b{DAY}\s+(?:of\s+)?{MONTH},?\s+{YEAR}\b|"
                rf"\b{YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b")
