"""Line rules: which lines of a page dump are page furniture, and why.

Every rule is a regular expression or a count over one cleaned line; together
they give each line a *kind*. Kinds in `DROP_KINDS` never belong to an article
body; the page parser (`formats/text_dump.py`) uses the others, with their
position, to find the headline, the byline area and the body. The rules
describe patterns of news pages in general (ads, cookie banners, read-time
badges, related-link widgets, photo captions, image credits), never one site.

The rules run as polars expressions over all the lines of a batch at once
(`classify_lines`), which is what makes parsing fast; `classify_line` runs the
very same expressions on one line. Patterns are written in the common subset
of Python's `re` and Rust's `regex` (no look-arounds, no back-references).
Whether a line is a date line needs the date finder (`dates.py`), which runs
in Python only on the few lines that may hold a date.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from cleanwire.ingest.dates import DateLine, classify_date_line
from cleanwire.rules.patterns import (BRACKETED, BYLINE_WORDS, HEADLINE_END, PROSE_LINE_END, READ_TIME, YEAR,
                                      for_polars)
from cleanwire.rules.title_mismatch import RELATED_GLUED, RELATED_LINE, RELATED_MAX_WORDS
from cleanwire.rules.truncated_body import CHARS_IN_LINE, CUT_STUB, PAYWALL, PAYWALL_MAX_CHARS, PAYWALL_WHAT
from cleanwire.text import WORD_PATTERN, clean_line, clean_lines_batch

# ---------------------------------------------------------------- patterns (Python re and Rust regex alike)

AD = (r"(?i)^(?:advertisement|advertising|sponsored(?: content)?|ad|ads by \w+|(?:skip|close) (?:advertisement|ad)|"
      r"(?:story|article) continues (?:below|after)(?: (?:this )?(?:advertisement|ad))?|"
      r"continue reading (?:below|the main story)|scroll to continue(?: with content)?|paid content|promoted|"
      r"(?:\w+\s+){0,2}(?:partner|sponsored) content)\W*$")
# A consent banner names cookies together with the site's own vocabulary (accept, consent,
# settings, policy...), not with words a story about baking would use.
COOKIE = (r"(?i)\b(?:cookies?|cookie policy|privacy policy)\b.*\b(?:accept|agree|consent|settings|preferences|"
          r"policy|browser|website|analytics|third[- ]party|personali[sz]e)\b|"
          r"\b(?:accept|agree|consent)\b.*\bcookies?\b|\b(?:we|this (?:site|website)) (?:use|uses|rely on) cookies\b")
READ_TIME_LINE = rf"(?i)^{READ_TIME}(?: time)?$|^(?:reading time|read time)\s*:?\s*\d+"
SOURCE = r"(?i)^(?:source|sources|via)\s*:\s*\S"
# 'Tags: a, b, c', 'Filed under: ...': the topic list that closes an article page.
TAG_LIST = r"(?i)^(?:tags?|topics?|filed under|categories|category|related topics|keywords)\s*:\s*\S.{0,200}$"
# Headers of lists of OTHER articles: once the body has started, the article is over.
# (Repeats of word characters are unbounded in these patterns: the rules test short lines
# only, and a bounded repeat of a Unicode class is an automaton of that many copies of it,
# ~8 ms to compile. polars keeps 32 compiled patterns per thread and a chunk uses more, so
# every pattern is compiled again for each chunk of files, ingest/batch.CHUNK_FILES.)
LIST_START = (r"(?i)^(?:(?:more|other|related|recommended|latest|top|trending|popular|similar|recent|further)\b"
              r"[\w ,'’-]*\b(?:stories|articles|news|posts|reads|reading|videos|links|content)(?: like this(?: one)?"
              r"| for you| from [\w .]+| in [\w .]+| on [\w .]+)?|"
              r"explore|explore more|more stories|more news|more from [\w .]+|related tags|tags|topics|"
              r"you may also like|you might also like|recommended(?: stories| for you| reading)?|read next|"
              r"up next|latest(?: news| stories)?|most (?:read|popular|viewed|shared)|trending(?: now| stories)?|"
              r"top stories|also in [\w ]+|around the web|from around the web|related (?:articles|stories|news|coverage)|"
              r"comments?|\d+ comments?|post comment|leave a (?:comment|reply)|"
              r"photo gallery|videos?|sponsored stories|promoted stories)\s*:?$")
_SOCIAL = (r"share(?: (?:on|this|via|article|story))?|tweet|e-?mail|print|whatsapp|facebook|twitter|x|linkedin|reddit|"
           r"pinterest|instagram|youtube|tumblr|telegram|flipboard|messenger|pocket|sms|mail|copy(?: link)?|link|"
           r"comments?|save|follow(?: us)?|subscribe|rss|gift(?: this)? article")
SHARE = (rf"(?i)^(?:{_SOCIAL})(?:[\s|/,•·]+(?:{_SOCIAL}))*\s*:?$|"
         r"^(?:click|tap) to (?:share|email|print|tweet)\b.*$|^share (?:this|the) (?:article|story|page)\b.{0,40}$")
HANDLE = r"^@\w\w+$"
HANDLE_MAX_CHARS = 31   # '@' and at most 30 characters
# Photo captions and their credits: '... / Photo: AP Archive / AP Archive', '(Photo by X/Getty Images)'.
CAPTION = (r"(?i)(?:^|[\s/|(\[])(?:photo|photograph|image|picture|pic|illustration|video|graphic|credit|"
           r"image source|photo credit|file photo|archive image)s?\s*(?:by|credit|courtesy|source)?\s*:|"
           r"\b(?:getty images|shutterstock|afp via getty|ap photo|reuters/|epa-efe|istock(?:photo)?|"
           r"alamy|wikimedia commons|/ ?photo|photo/)\b|^file:\S|^credit\s*(?:\.{2,}|…)")
CAPTION_START = r"(?i)^(?:file photo|archive (?:image|photo)|photo|image|picture|caption)\b"
CREDIT = (r"(?i)^©|©\s*\d{4}|\bcopyright\b|all rights reserved|^\(?(?:reporting|additional reporting|writing|editing|"
          r"compiled|contributing|contributed)\b|\bcontributed to this report\b|^[-–—]{2,}$|^_{2,}$|^\*\s*\*\s*\*$|"
          r"^source\s*:|^\(?with (?:afp|reuters|ap|agencies|inputs)\b|"
          r"^\(?with\s+(?:[\w.]+\s+){0,3}(?:wires?|agencies|reports?|inputs?)\)?$|^follow\s+(?:us|(?:[\w.'’-]+\s+){1,4})on\b|"
          r"^\S+@\S+\.\w+$|^(?:this (?:story|article) (?:was|has been) (?:updated|corrected|first published|originally published))|"
          r"^(?:provided|supplied|courtesy|distributed|syndicated|produced) (?:by|of)\b|"
          r"^(?:(?:\w+\s+){0,3}(?:staff|wire|news service|agencies)\s+)?(?:contributed|reported)\b")
# An author bio closing an article: 'Anne Doe is a freelance journalist based in Berlin'.
AUTHOR_BIO = (r"^[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,3} (?:is|was) (?:an?|the) (?:[\w-]+\s+){0,4}"
              r"(?:journalist|reporter|writer|correspondent|editor|columnist|contributor|author|producer|analyst)\b")
BYLINE = (rf"^(?i:{BYLINE_WORDS})\s*[:\-]?\s+[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){{0,4}}"
          r"(?:\s*(?:,|and|&)\s*[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,4})*(?:\s*[,|•·-]\s*.*)?$")
# An author box: 'Jane DoeView More Articles', 'View all posts by Jane Doe'.
AUTHOR_LINK = (r"(?i)(?:view|see|read|more)\s+(?:all\s+|more\s+)?(?:articles|stories|posts|columns)(?:\s+by\b.*)?$|"
               r"^(?:view|see)\s+all\s+(?:articles|stories|posts)\s+by\b")
BREADCRUMB = r"(?i)^(?:you are (?:here|at)\s*:?\s*)?[^>»›/|]{1,30}(?:[>»›/|][^>»›/|]{1,30}){1,5}$"
NAV = (r"(?i)^(?:home|menu|search|sign in|log in|login|register|subscribe|newsletter|newsletters|close|"
       r"skip to [\w ]+|live tv|live|watch live|you are at|you are here|back to top|next|previous|prev|"
       r"more|loading|terms of (?:use|service)|privacy(?: policy)?|contact(?: us)?|about(?: us)?|sitemap|rss|careers?|"
       r"advertise(?: with us)?|feedback|help|faq|accessibility|cookie (?:policy|settings)|ok|accept|"
       r"(?:\d+\s+)?post comment(?:\s*\(\+\))?|\d+ comments?)\s*[:»›>]*$")
# May hold a date: a 4-digit year, a CJK date, or day/month/2-digit-year numbers.
_MAYBE_DATE = rf"(?:{YEAR}|年|\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2}})"
_UPPER_START = r"(?:^|[^\w'’])[\p{Lu}\p{Lt}\p{Nd}]"  # words starting with a capital or a digit
_CRUMB_SEPARATOR = r"\s*[>»›/|]\s*"

# Kinds that never belong to the body, wherever they stand.
DROP_KINDS = frozenset({"ad", "cookie", "read_time", "related", "source", "share", "caption", "byline",
                        "date", "last_updated", "nav", "cut_stub"})

# ---------------------------------------------------------------- how long a line of each kind may be (words)
# News furniture is short: a badge, a label, a byline, a link. Each rule applies only up to
# the length such lines have; running text longer than every limit is prose (or a banner).
SHORT = 14             # badges, menus, share bars, labels, source lines
BYLINE_MAX = 12        # 'By Jane Doe and John Roe | Reuters'
CAPS_MAX = 5           # an all-capitals label or dateline city ('WORLD', 'NEW YORK')
CAPTION_MAX = 40       # a photo caption with its credit
CREDIT_MAX = 25        # '(Reporting by ...; Editing by ...)', an author's one-line bio
TAG_LIST_MAX = 40      # 'Tags: a, b, c, ...'
MAYBE_DATE_MAX = 30    # a date line with its byline, place and time
COOKIE_MAX = 80        # a consent banner is a long sentence or two
CRUMB_MAX = 10         # 'Home > World > Asia > Japan'
# Above this, a line meets no rule but the cookie banner's: it is prose.
RULES_MAX = max(SHORT, BYLINE_MAX, CAPS_MAX, CAPTION_MAX, CREDIT_MAX, TAG_LIST_MAX, MAYBE_DATE_MAX, RELATED_MAX_WORDS)
# The prose test (`prose_expr`).
PROSE_MIN_WORDS = 25     # a line this long is running text whatever its end
PROSE_MAX_SHORT = 6      # a line this short is never a paragraph
HEADLINE_MAX_WORDS = 20  # a line ending in ? or ! up to this long is a headline
UNSTOPPED_PROSE = 30     # running text without a final stop (a cut paragraph) from this length on


@dataclass(frozen=True)
class LineInfo:
    kind: str
    text: str
    n_words: int
    date: DateLine | None = None


# ---------------------------------------------------------------- the rules as polars expressions

def _has(pattern: str) -> pl.Expr:
    return pl.col("line").str.contains(for_polars(pattern))


def _words(col: pl.Expr) -> pl.Expr:
    return col.str.count_matches(WORD_PATTERN)


def prose_expr(line: pl.Expr, n: pl.Expr) -> pl.Expr:
    """A paragraph of running text: long, or a full sentence with lower-case words.

    Words of scripts without letter case (CJK, Arabic...) count as lower-case
    running text. A headline-length line ending in ? or ! is a headline, and a
    headline of up to ~30 words has no final stop: both stay 'short'; longer
    running text without a final stop (a cut-off paragraph) is prose.
    """
    lower = n - line.str.count_matches(_UPPER_START)
    sentence = line.str.contains(PROSE_LINE_END) & (lower >= 2)
    headline_like = (n < HEADLINE_MAX_WORDS) & line.str.contains(HEADLINE_END)
    return (pl.when(n >= PROSE_MIN_WORDS).then(True)
            .when(n < PROSE_MAX_SHORT).then(False)
            .when(sentence).then(~headline_like)
            .otherwise((n >= UNSTOPPED_PROSE) & (lower >= 0.4 * n)))


def _all_caps(line: pl.Expr) -> pl.Expr:
    """Every letter upper-case ('WORLD', 'NEW YORK'), and there is a letter."""
    return (line == line.str.to_uppercase()) & (line != line.str.to_lowercase())


def _doubled(line: pl.Expr) -> pl.Expr:
    """'Melis AlemdarMelis Alemdar': a string glued to itself (scraped byline widgets)."""
    s = line.str.replace_all(" ", "", literal=True)
    half = s.str.len_chars() // 2
    return (s.str.len_chars() >= 6) & (s.str.len_chars() % 2 == 0) & (s.str.slice(0, half) == s.str.slice(half))


def _crumb_like(line: pl.Expr) -> pl.Expr:
    """'Home > World > Asia', 'News / Business': short items between separators, not a headline with a slash."""
    parts = line.str.replace_all(_CRUMB_SEPARATOR, "\x1f").str.split("\x1f")
    lettered = parts.list.eval(pl.element().str.contains(r"[^\W\d_]")).list.all()
    short_items = parts.list.eval(_words(pl.element()).is_between(1, 3)).list.all()
    home = parts.list.first().str.to_lowercase().str.strip_chars().is_in(["home", "news", "you are here: home"])
    return lettered & (((parts.list.len() >= 3) & short_items) | ((parts.list.len() == 2) & home))


def _kind_exprs() -> tuple[pl.Expr, pl.Expr]:
    """(kind decided before the date test, kind decided after it); order matters: specific rules first."""
    line, n = pl.col("line"), pl.col("n_words")
    short = n <= SHORT
    core = line.str.replace(for_polars(CHARS_IN_LINE), "").str.strip_chars_end()
    only_stub = ~_has(CHARS_IN_LINE) | (_words(core) < 3)
    before = (
        pl.when(line == "").then(pl.lit("blank"))
        .when(n == 0).then(pl.when(_has(CREDIT)).then(pl.lit("credit")).otherwise(pl.lit("symbol")))
        .when((n == 1) & _has(r"^\d+$")).then(pl.lit("symbol"))          # a counter
        .when((n == 1) & (line.str.len_chars() <= HANDLE_MAX_CHARS) & _has(HANDLE)).then(pl.lit("byline"))  # a @handle
        .when(short & _has(AD)).then(pl.lit("ad"))
        .when(short & _has(READ_TIME_LINE)).then(pl.lit("read_time"))
        .when(short & (_has(CUT_STUB) | (_has(PAYWALL) & _has(PAYWALL_WHAT) & (line.str.len_chars() <= PAYWALL_MAX_CHARS)))
              & only_stub).then(pl.lit("cut_stub"))  # only the stub: text ending in one keeps its text
        .when((n <= COOKIE_MAX) & _has(COOKIE)).then(pl.lit("cookie"))
        .when(short & _has(LIST_START)).then(pl.lit("list_start"))
        .when((n <= TAG_LIST_MAX) & _has(TAG_LIST)).then(pl.lit("nav"))
        .when(short & _has(NAV)).then(pl.lit("nav"))
        .when(short & _has(SHARE)).then(pl.lit("share"))
        .when((n <= RELATED_MAX_WORDS) & (_has(RELATED_GLUED) | _has(RELATED_LINE))).then(pl.lit("related"))
        .when(short & _has(SOURCE)).then(pl.lit("source"))
    )
    after = (
        pl.when(pl.col("crumb")).then(pl.lit("nav"))  # 'Home > World > Asia'
        .when(pl.col("doubled")).then(pl.lit("byline"))
        .when((n <= BYLINE_MAX) & (_has(BYLINE) | _has(AUTHOR_LINK))).then(pl.lit("byline"))
        .when((n <= CAPTION_MAX) & (_has(CAPTION) | (_has(CAPTION_START) & (n <= BYLINE_MAX)))).then(pl.lit("caption"))
        .when((n <= CREDIT_MAX) & (_has(CREDIT) | _has(AUTHOR_BIO) | _has(BRACKETED))).then(pl.lit("credit"))
        .when((n <= CAPS_MAX) & (line.str.len_chars() >= 2) & _all_caps(line)).then(pl.lit("caps"))
        .when(prose_expr(core, n)).then(pl.lit("prose"))
        .otherwise(pl.lit("short"))
    )
    return before, after


_BEFORE, _AFTER = _kind_exprs()


def classify_lines(lines: pl.Series | list[str]) -> pl.DataFrame:
    """Kind, word count and date of every (cleaned) line: columns line, n_words, kind, date (objects).

    The date test runs in Python, cached, only on lines that may hold a date and
    that no earlier rule claimed; the rules after it apply where it finds none.
    """
    df = pl.DataFrame({"line": pl.Series("line", lines, dtype=pl.String)}).with_row_index("i")
    df = df.with_columns(_words(pl.col("line")).cast(pl.Int32).alias("n_words"))
    # Every rule but the cookie banner's is for lines of at most RULES_MAX words; running text
    # (the bulk of the bytes) only meets the cookie test and is prose. Short lines get the whole chain.
    n = pl.col("n_words")
    long = df.filter(n > RULES_MAX).with_columns(
        pl.when((n <= COOKIE_MAX) & _has(COOKIE)).then(pl.lit("cookie")).otherwise(pl.lit("prose")).alias("before"),
        pl.lit("prose").alias("after"), pl.lit(False).alias("maybe_date"))
    short = df.filter(n <= RULES_MAX)
    # Two costlier tests run only where they can apply; polars evaluates every branch of a
    # when/then chain on every row, so rare tests are computed on their few rows first.
    crumbs = short.filter((n <= CRUMB_MAX) & pl.col("line").str.contains("[>»›/|]") & _has(BREADCRUMB)).select(
        "i", _crumb_like(pl.col("line")).alias("crumb"))
    doubles = short.filter((n <= SHORT) & (n >= 2)).select("i", _doubled(pl.col("line")).alias("doubled"))
    short = (short.join(crumbs, on="i", how="left").join(doubles, on="i", how="left")
             .with_columns(pl.col("crumb").fill_null(False), pl.col("doubled").fill_null(False)))
    short = short.with_columns(_BEFORE.alias("before"), _AFTER.alias("after"),
                               ((n <= MAYBE_DATE_MAX) & _has(_MAYBE_DATE)).alias("maybe_date")).drop("crumb", "doubled")
    df = pl.concat([short, long]).sort("i")
    before = df["before"].to_list()
    maybe = df["maybe_date"].to_list()
    texts = df["line"].to_list()
    after = df["after"].to_list()
    kinds, dates = [], []
    for b, m, t, a in zip(before, maybe, texts, after):
        if b is not None:
            kinds.append(b)
            dates.append(None)
            continue
        dl = date_line(t) if m else None
        if dl is None:
            kinds.append(a)
            dates.append(None)
        else:
            kinds.append("last_updated" if dl.kind == "last_updated" else "date")
            dates.append(dl)
    return df.select("line", "n_words").with_columns(pl.Series("kind", kinds, dtype=pl.String),
                                                     pl.Series("date", dates, dtype=pl.Object))


_DATE_CACHE: dict[str, DateLine | None] = {}


def date_line(line: str) -> DateLine | None:
    """classify_date_line, memoised: news files of a batch repeat the same date lines."""
    if line in _DATE_CACHE:
        return _DATE_CACHE[line]
    if len(_DATE_CACHE) > 200_000:
        _DATE_CACHE.clear()
    dl = _DATE_CACHE[line] = classify_date_line(line)
    return dl


def line_infos(lines: list[str]) -> list[LineInfo]:
    """LineInfo for each already-cleaned line.

    A line's kind depends on its text alone, and pages of a batch repeat their
    menus, share bars and credits: each distinct line is classified once (half
    the lines of a batch of benchmark dumps, measured) and its (frozen) LineInfo shared.
    """
    if not lines:
        return []
    every = pl.Series("line", lines, dtype=pl.String)
    distinct = every.unique(maintain_order=True)
    df = classify_lines(distinct)
    infos = [LineInfo(k, t, n, d) for t, n, k, d in zip(df["line"].to_list(), df["n_words"].to_list(),
                                                          df["kind"].to_list(), df["date"].to_list())]
    if distinct.len() == every.len():
        return infos
    position = every.cast(pl.Enum(distinct)).to_physical()  # each line's index among the distinct ones
    return [infos[i] for i in position.to_list()]


def classify_line(line: str) -> LineInfo:
    """Classify one line (cleaned first): the batch rules applied to a single line."""
    return line_infos([clean_line(line)])[0]


def classify_texts(texts: list[str]) -> list[list[LineInfo]]:
    """The lines of many texts, cleaned, unwrapped and classified in one vectorised pass."""
    per_text = [fix_lines(lines) for lines in clean_lines_batch(texts)]
    flat = line_infos([x for lines in per_text for x in lines])
    out, k = [], 0
    for lines in per_text:
        out.append(flat[k:k + len(lines)])
        k += len(lines)
    return out


# ---------------------------------------------------------------- lines as a scraper left them

# A related-link widget glued to the end of a paragraph: '...said.RelatedNorth Korea fires ...'.
_GLUED_RELATED = re.compile(r"(?<=[.!?\"”’)])\s?Related:?\s?(?=[A-Z0-9‘'\"“])\S.*$")
# A text-browser dump (lynx, w3m) wraps paragraphs at a fixed width of ~60-80 columns: most
# lines are long and of about one length, and none is longer than a terminal.
WRAP_MIN_LINES = 8        # fewer lines tell nothing
WRAP_MAX_WIDTH = 100      # a longer line: not a wrapped dump
WRAP_LONG = 45            # a line at least this long is a wrapped one...
WRAP_LONG_SHARE = 0.5     # ... and at least half of the lines are
WRAP_SPREAD = 40          # wrapped lines differ in length by at most this
WRAP_SLACK = 20           # a line this much shorter than the width ends its paragraph


def fix_lines(lines: list[str]) -> list[str]:
    """Cleaned lines with glued related links cut off and hard-wrapped paragraphs joined."""
    lines = [_GLUED_RELATED.sub("", x) if "Related" in x else x for x in lines]
    return _unwrap(lines) if _hard_wrapped(lines) else lines


def _hard_wrapped(lines: list[str]) -> bool:
    lengths = [len(x) for x in lines if x]
    if len(lengths) < WRAP_MIN_LINES or max(lengths) > WRAP_MAX_WIDTH:
        return False
    long = [n for n in lengths if n >= WRAP_LONG]
    return len(long) >= WRAP_LONG_SHARE * len(lengths) and max(long) - min(long) <= WRAP_SPREAD


def _unwrap(lines: list[str]) -> list[str]:
    """Join wrapped lines back into paragraphs: a line shorter than the width ends one."""
    width = max(len(x) for x in lines)
    out: list[str] = []
    joining = False
    for line in lines:
        if not line:
            out.append(line)
            joining = False
            continue
        if joining:
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
        joining = len(line) >= width - WRAP_SLACK and len(out[-1]) >= WRAP_LONG
    return out
