"""Finding the publication date of an article, and refusing to invent one.

Two jobs, kept apart:

* *where* a date is: regular expressions locate date expressions in a line and
  decide whether the line is a dateline/byline date (``Published: 17/06/2023
  10:32 BST``, ``Updated June 17, 2023 at 3:04 p.m. ET``, `` date 2023-06-17
  WORLD``) or prose that merely mentions a date ("...due to start on June 18").
  That is news-page knowledge and lives here.
* *what* date a located string means: python-dateutil's parser does the
  calendar work (month names, validity, day-first), so no calendar arithmetic
  is written here.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

from dateutil import parser as du_parser

from cleanwire.rules.patterns import BYLINE_PREFIX, DAY as _DAY, MONTH as _MONTH, READ_TIME, YEAR as _YEAR

_WEEKDAY = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|rsday|urday)?\.?,?\s+"

# Each pattern captures one complete calendar date (day, month and year).
_PATTERNS = [
    ("iso", re.compile(rf"(?<![\d/.-])({_YEAR})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
                       r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\d])")),
    ("mdy", re.compile(rf"\b(?:{_WEEKDAY})?{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.I)),
    ("dmy", re.compile(rf"\b(?:{_WEEKDAY})?{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b", re.I)),
    ("numeric", re.compile(rf"(?<![\d/.-])(\d{{1,2}})([/.-])(\d{{1,2}})\2({_YEAR})(?![\d/.-])")),
    # 11/19/19 10:32 AM: a two-digit year only when a time of day follows (else it may be a score).
    ("numeric_yy", re.compile(r"(?<![\d/.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{2})(?=,?\s+(?:at\s+)?\d{1,2}[:.]\d{2})")),
    ("ymd_slash", re.compile(rf"(?<![\d/.])({_YEAR})([/.])(0?[1-9]|1[0-2])\2(0?[1-9]|[12]\d|3[01])(?![\d/.])")),
    ("ymd_cjk", re.compile(rf"({_YEAR})\s*年\s*(0?[1-9]|1[0-2])\s*月\s*(0?[1-9]|[12]\d|3[01])\s*日")),
]

# Time zones that say "this page is American": numeric dates are then month-first.
_US_TZ = re.compile(r"\b(?:E[SD]?T|C[SD]T|M[SD]T|P[SD]T|AK[SD]T|H[SD]T)\b")

# Words that may stand on a date line beside the date itself.
_DATE_LINE_WORDS = re.compile(
    r"\b(?:published|posted|first|updated|update|last|modified|on|at|date|dated|time|am|pm|a\.m|p\.m|"
    r"gmt|utc|bst|cet|cest|ist|aest|edt|est|et|cdt|cst|ct|pdt|pst|pt|mdt|mst|hrs|hours|ago|"
    r"by|and|the|story|article|news|in|of|from|via|"
    r"staff|writer|reporter|correspondent|editor|contributor|columnist)\b\.?", re.I)  # an author's role
_LAST_UPDATED = re.compile(r"\b(?:last\s+(?:updated|modified|edited|reviewed)|modified|edited|reviewed)\b", re.I)
_PUBLISHED = re.compile(r"\b(?:published|posted|first\s+published|released|date\s*:)", re.I)
_UPDATED = re.compile(r"\bupdated?\b", re.I)


@dataclass(frozen=True)
class FoundDate:
    date: dt.date
    start: int
    end: int
    text: str


@lru_cache(maxsize=65536)  # a batch repeats the same few hundred date strings
def _parse(text: str, dayfirst: bool) -> dt.date | None:
    try:
        return du_parser.parse(text, dayfirst=dayfirst, fuzzy=True,
                               default=dt.datetime(1900, 1, 1)).date()
    except (ValueError, OverflowError, TypeError):
        return None


def find_dates(line: str) -> list[FoundDate]:
    """All complete dates in `line`, left to right, without overlaps."""
    found: list[FoundDate] = []
    taken: list[tuple[int, int]] = []
    us = bool(_US_TZ.search(line))
    for kind, rx in _PATTERNS:
        for m in rx.finditer(line):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            text = m.group(0)
            if kind == "iso":
                d = _iso(m)
            elif kind in ("numeric", "numeric_yy"):
                a, b = int(m.group(1)), int(m.group(3))
                # Day-first unless the page is American or the numbers only allow month-first.
                dayfirst = not (us and m.group(2) == "/") if (a <= 12 and b <= 12) else a > 12
                year = m.group(4) if len(m.group(4)) == 4 else "20" + m.group(4)
                d = _parse(f"{m.group(1)}/{m.group(3)}/{year}", dayfirst=dayfirst)
            elif kind == "ymd_slash":
                d = _safe_date(int(m.group(1)), int(m.group(3)), int(m.group(4)))
            elif kind == "ymd_cjk":
                d = _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            else:
                d = _parse(text.rstrip(".,"), dayfirst=(kind == "dmy"))
            if d is not None:
                found.append(FoundDate(d, m.start(), m.end(), text))
                taken.append((m.start(), m.end()))
    return sorted(found, key=lambda f: f.start)


def _iso(m: re.Match) -> dt.date | None:
    return _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def _safe_date(y: int, mo: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, mo, d)
    except ValueError:
        return None


@dataclass(frozen=True)
class DateLine:
    """A line that states a date of the page (not a date mentioned in prose)."""
    date: dt.date
    kind: str  # "published" | "updated" | "plain" | "last_updated"


# What may stand beside a date on a date line: a place, an author, a section label...
OTHER_WORDS = 6            # ...up to this many words ('LONDON, Jane Doe, Reuters')
INTRODUCED_EXTRA = 6       # ...and this many more after 'Published'/'Updated' (a longer byline)
PROSE_LOWER_WORDS = 1      # a lower-case word (a verb: 'Voting closes on ...') beside a plain date makes a sentence
DATE_LINE_MAX_CHARS = 200  # a longer line is a paragraph
ANNOTATED_MIN_WORDS = 3    # words before a bracketed date that make it a headline's annotation
# Which date of a page is its own, best first: 'Published' beats a plain date beats 'Updated';
# 'Last updated' is a later date, reported only when it is all there is.
DATE_KIND_RANK = {"published": 0, "plain": 1, "updated": 2, "last_updated": 3}


def classify_date_line(line: str, max_other_words: int = OTHER_WORDS) -> DateLine | None:
    """Is `line` a date line (dateline, byline date, 'Published: ...')?

    The line is cut into segments at ' | ', ' • ', ' · ' (bylines often read
    'By Jane Doe | June 17, 2023 | 3 min read'); a segment counts when, once the
    date and the usual date-line words are removed, only a few words remain (a
    place, an author, a section label), or when it is introduced by
    'Published'/'Updated'. Prose sentences that mention a date have many other
    words and are refused, and so are embedded posts ('— Name (@handle) date').
    When several segments hold dates, 'Published' beats a plain date beats
    'Updated'; 'Last updated' is only reported when it is all there is.
    """
    if not line or len(line) > DATE_LINE_MAX_CHARS or _EMBED.search(line):
        return None
    line = _EMPHASIS.sub(" ", line)
    found = [dl for seg in _SEGMENTS.split(line) if (dl := _date_segment(seg.strip(), max_other_words))]
    if not found:
        return None
    return min(found, key=lambda dl: DATE_KIND_RANK[dl.kind])


_BRACKETED_AT = re.compile(r"^[(\[].*[)\]]$")
_SEGMENTS = re.compile(r"\s+[|•·]\s+|\s*\|\s*")
_EMPHASIS = re.compile(r"(?<!\w)[_*]+|[_*]+(?!\w)")
# An embedded social post's attribution line: '— Spurs (@SpursOfficial) November 20, 2019'.
_EMBED = re.compile(r"\(@\w+\)|pic\.twitter\.com|\bt\.co/", re.I)
_READ_TIME = re.compile(rf"\b{READ_TIME}\b", re.I)
_BYLINE_BIT = re.compile(rf"^{BYLINE_PREFIX}\s+(?:[A-Z][\w.'’-]*\s*){{1,4}}", re.I)


def _date_segment(seg: str, max_other_words: int) -> DateLine | None:
    dates = find_dates(seg)
    if not dates:
        return None
    first = dates[0]
    rest = seg[:first.start] + " " + seg[first.end:]
    for d in dates[1:]:
        rest = rest.replace(d.text, " ")
    rest = _READ_TIME.sub(" ", _BYLINE_BIT.sub(" ", rest.strip()))
    rest = re.sub(r"\d{1,2}[:.]\d{2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?", " ", rest, flags=re.I)
    rest_words = re.findall(r"[^\W\d_]+", _DATE_LINE_WORDS.sub(" ", rest))
    prefix = seg[:first.start]
    if _LAST_UPDATED.search(prefix):
        kind = "last_updated"
    elif _PUBLISHED.search(prefix):
        kind = "published"
    elif _UPDATED.search(prefix):
        kind = "updated"
    else:
        kind = "plain"
    limit = max_other_words + (INTRODUCED_EXTRA if kind in ("published", "updated") else 0)
    if len(rest_words) > limit:
        return None
    # Lower-case words beside a plain date ('The deal was signed on ...') make it prose;
    # names, places and section labels beside it are capitalised.
    if kind == "plain" and sum(w.islower() for w in rest_words) >= PROSE_LOWER_WORDS:
        return None
    # A date in brackets after a phrase annotates a headline ('Weekly Notes: AI for Analytics (2025-09-21)');
    # a date line states its date, the place or author beside it.
    if kind == "plain" and len(rest_words) >= ANNOTATED_MIN_WORDS and _BRACKETED_AT.search(seg[first.start - 1:first.end + 1]):
        return None
    return DateLine(first.date, kind)


def parse_date_value(value) -> dt.date | None:
    """A date from a metadata field (JSON `date`/`publishedAt`, HTML meta): ISO or words."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Epoch seconds (or milliseconds) are common in feeds.
        ts = float(value) / (1000 if value > 1e11 else 1)
        try:
            return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).date()
        except (OverflowError, OSError, ValueError):
            return None
    s = str(value).strip()
    if not s:
        return None
    found = find_dates(s)
    return found[0].date if found else None
