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
from cleanwire.text import WORD_PATTERN, clean_line

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
READ_TIME = r"(?i)^\d+\s*(?:-\s*\d+\s*)?(?:min(?:ute)?s?|m)\.?\s*(?:read|reading(?: time)?)$|^(?:reading time|read time)\s*:?\s*\d+"
# A related-link widget: 'RelatedNorth Korea fires...' (glued), 'Related: ...', 'READ MORE: ...'.
RELATED = (r"(?i)^(?:related(?:\s+(?:articles?|stories|news|coverage|content|links?|reading|topics))?\s*[:\-–—|]\s*\S|"
           r"(?:read|see|watch|click)\s+(?:more|also|next)\s*[:\-–—|]|also\s+read\s*[:\-–—|]|"
           r"(?:you\s+(?:may|might)\s+also\s+like|more\s+from|recommended(?:\s+for\s+you)?|"
           r"editor'?s\s+picks?|don'?t\s+miss|must\s+read|trending(?:\s+now)?|popular(?:\s+now)?|"
           r"most\s+(?:read|popular|viewed|shared))\s*[:\-–—|]?)")
RELATED_GLUED = "^Related[A-Z0-9‘'\"“]"
SOURCE = r"(?i)^(?:source|sources|via)\s*:\s*\S"
CHARS_STUB = r"(?i)(?:\.\.\.|…)?\s*\[\s*\+\s*\d[\d,]*\s*chars?\s*\]"
# 'Tags: a, b, c', 'Filed under: ...': the topic list that closes an article page.
TAG_LIST = r"(?i)^(?:tags?|topics?|filed under|categories|category|related topics|keywords)\s*:\s*\S.{0,200}$"
# Headers of lists of OTHER articles: once the body has started, the article is over.
LIST_START = (r"(?i)^(?:(?:more|other|related|recommended|latest|top|trending|popular|similar|recent|further)\b"
              r"[\w ,'’-]{0,30}\b(?:stories|articles|news|posts|reads|reading|videos|links|content)(?: like this(?: one)?"
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
HANDLE = r"^@\w{2,30}$"
# Photo captions and their credits: '... / Photo: AP Archive / AP Archive', '(Photo by X/Getty Images)'.
CAPTION = (r"(?i)(?:^|[\s/|(\[])(?:photo|photograph|image|picture|pic|illustration|video|graphic|credit|"
           r"image source|photo credit|file photo|archive image)s?\s*(?:by|credit|courtesy|source)?\s*:|"
           r"\b(?:getty images|shutterstock|afp via getty|ap photo|reuters/|epa-efe|istock(?:photo)?|"
           r"alamy|wikimedia commons|/ ?photo|photo/)\b|^file:\S|^credit\s*(?:\.{2,}|…)")
CAPTION_START = r"(?i)^(?:file photo|archive (?:image|photo)|photo|image|picture|caption)\b"
# Cut-off stubs: '… [+1234 chars]', 'Continue reading', 'Subscribe to read the full story'.
CUT_STUB = (r"(?i)\[\s*\+\s*\d[\d,]*\s*chars?\s*\]|"
            r"^(?:(?:click|tap) here to )?(?:continue reading|read more|keep reading|show more|see more|"
            r"read (?:the )?(?:full|whole|rest of the|entire) (?:story|article|piece))"
            r"(?:\s*(?:»|›|>|→|\.\.\.|…))?[\s.!]*$|"
            r"^already (?:a )?(?:subscriber|member)\b.{0,40}$|^\[(?:\.\.\.|…)\]$")
# A paywall line names a subscription AND what it withholds ('This article is for subscribers only').
PAYWALL = r"(?i)\b(?:subscri\w*|sign in|log ?in|paywall|premium|members only|registered users)\b"
PAYWALL_WHAT = r"(?i)\b(?:articles?|story|stories|content|read\w*|continu\w*|access|unlock|full|only|exclusive)\b"
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
BYLINE = (r"^(?i:by|written by|words by|author|reporter|posted by|story by)\s*[:\-]?\s+[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,4}"
          r"(?:\s*(?:,|and|&)\s*[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,4})*(?:\s*[,|•·-]\s*.*)?$")
# An author box: 'Jane DoeView More Articles', 'View all posts by Jane Doe'.
AUTHOR_LINK = (r"(?i)(?:view|see|read|more)\s+(?:all\s+|more\s+)?(?:articles|stories|posts|columns)(?:\s+by\b.*)?$|"
               r"^(?:view|see)\s+all\s+(?:articles|stories|posts)\s+by\b")
BREADCRUMB = r"(?i)^(?:you are (?:here|at)\s*:?\s*)?[^>»›/|]{1,30}(?:[>»›/|][^>»›/|]{1,30}){1,5}$"
NAV = (r"(?i)^(?:home|menu|search|sign in|log in|login|register|subscribe|newsletter|newsletters|close|"
       r"skip to (?:main )?content|live tv|live|watch live|you are at|you are here|back to top|next|previous|prev|"
       r"more|loading|terms of (?:use|service)|privacy(?: policy)?|contact(?: us)?|about(?: us)?|sitemap|rss|careers?|"
       r"advertise(?: with us)?|feedback|help|faq|accessibility|cookie (?:policy|settings)|ok|accept|"
       r"(?:\d+\s+)?post comment(?:\s*\(\+\))?|\d+ comments?)\s*[:»›>]*$")
GENERIC_LABEL = (r"(?i)^(?:(?:latest|top|breaking|world|local|national|international|business|sports?|tech(?:nology)?|"
                 r"entertainment|politics|health|science|opinion|lifestyle|culture|travel|markets?|economy|"
                 r"featured|trending|more|related|editor'?s|today'?s|daily|weekly|live)\s*)+"
                 r"(?:news|stories|headlines|updates|picks?|coverage|blog)?$|^(?:news|home|headlines|front page)$")
# A whole line in brackets: '[ The Verge ]', '(Reporting by ...)', '[Al Maa-idah 2]'.
BRACKETED = r"^\s*(?:\[[^\]]{1,200}\]|\([^)]{1,300}\))\s*$"
SENTENCE_END = "[.!?…:;。！？]['\"”’)\\]」』）]*$"
HEADLINE_END = "[?!！？]['\"”’)\\]」』）]*$"
# May hold a date: a 4-digit year, a CJK date, or day/month/2-digit-year numbers.
_MAYBE_DATE = r"(?:19[5-9]\d|20\d\d|年|\d{1,2}[/.-]\d{1,2}[/.-]\d{2})"
_UPPER_START = r"(?:^|[^\w'’])[\p{Lu}\p{Lt}\p{Nd}]"  # words starting with a capital or a digit
_CRUMB_SEPARATOR = r"\s*[>»›/|]\s*"

# Kinds that never belong to the body, wherever they stand.
DROP_KINDS = frozenset({"ad", "cookie", "read_time", "related", "source", "share", "caption", "byline",
                        "date", "last_updated", "nav", "cut_stub"})
KINDS = ("blank", "symbol", "credit", "byline", "ad", "read_time", "cut_stub", "cookie", "list_start", "nav",
         "share", "related", "source", "date", "last_updated", "caption", "caps", "prose", "short")


@dataclass(frozen=True)
class LineInfo:
    kind: str
    text: str
    n_words: int
    date: DateLine | None = None


# ---------------------------------------------------------------- the rules as polars expressions

def _has(pattern: str) -> pl.Expr:
    return pl.col("line").str.contains(pattern)


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
    sentence = line.str.contains(SENTENCE_END) & (lower >= 2)
    headline_like = (n < 20) & line.str.contains(HEADLINE_END)
    return (pl.when(n >= 25).then(True)
            .when(n < 6).then(False)
            .when(sentence).then(~headline_like)
            .otherwise((n >= 30) & (lower >= 0.4 * n)))


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
    short = n <= 14
    core = line.str.replace(CHARS_STUB, "").str.strip_chars_end()
    only_stub = ~_has(CHARS_STUB) | (_words(core) < 3)
    before = (
        pl.when(line == "").then(pl.lit("blank"))
        .when(n == 0).then(pl.when(_has(CREDIT)).then(pl.lit("credit")).otherwise(pl.lit("symbol")))
        .when((n == 1) & _has(r"^\d+$")).then(pl.lit("symbol"))          # a counter
        .when((n == 1) & _has(HANDLE)).then(pl.lit("byline"))           # a @handle
        .when(short & _has(AD)).then(pl.lit("ad"))
        .when(short & _has(READ_TIME)).then(pl.lit("read_time"))
        .when(short & (_has(CUT_STUB) | (_has(PAYWALL) & _has(PAYWALL_WHAT) & (line.str.len_chars() <= 120)))
              & only_stub).then(pl.lit("cut_stub"))  # only the stub: text ending in one keeps its text
        .when((n <= 80) & _has(COOKIE)).then(pl.lit("cookie"))
        .when(short & _has(LIST_START)).then(pl.lit("list_start"))
        .when((n <= 40) & _has(TAG_LIST)).then(pl.lit("nav"))
        .when(short & _has(NAV)).then(pl.lit("nav"))
        .when(short & _has(SHARE)).then(pl.lit("share"))
        .when((n <= 30) & (_has(RELATED_GLUED) | _has(RELATED))).then(pl.lit("related"))
        .when(short & _has(SOURCE)).then(pl.lit("source"))
    )
    after = (
        pl.when(pl.col("crumb")).then(pl.lit("nav"))  # 'Home > World > Asia'
        .when(pl.col("doubled")).then(pl.lit("byline"))
        .when((n <= 12) & (_has(BYLINE) | _has(AUTHOR_LINK))).then(pl.lit("byline"))
        .when((n <= 40) & (_has(CAPTION) | (_has(CAPTION_START) & (n <= 12)))).then(pl.lit("caption"))
        .when((n <= 25) & (_has(CREDIT) | _has(AUTHOR_BIO) | _has(BRACKETED))).then(pl.lit("credit"))
        .when((n <= 5) & (line.str.len_chars() >= 2) & _all_caps(line)).then(pl.lit("caps"))
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
    # Every rule but two is for lines of at most 40 words; running text (the bulk of the
    # bytes) only meets the cookie test and is prose. Short lines get the whole chain.
    n = pl.col("n_words")
    long = df.filter(n > 40).with_columns(
        pl.when((n <= 80) & _has(COOKIE)).then(pl.lit("cookie")).otherwise(pl.lit("prose")).alias("before"),
        pl.lit("prose").alias("after"), pl.lit(False).alias("maybe_date"))
    short = df.filter(n <= 40)
    # Two costlier tests run only where they can apply; polars evaluates every branch of a
    # when/then chain on every row, so rare tests are computed on their few rows first.
    crumbs = short.filter((n <= 10) & pl.col("line").str.contains("[>»›/|]") & _has(BREADCRUMB)).select(
        "i", _crumb_like(pl.col("line")).alias("crumb"))
    doubles = short.filter((n <= 14) & (n >= 2)).select("i", _doubled(pl.col("line")).alias("doubled"))
    short = (short.join(crumbs, on="i", how="left").join(doubles, on="i", how="left")
             .with_columns(pl.col("crumb").fill_null(False), pl.col("doubled").fill_null(False)))
    short = short.with_columns(_BEFORE.alias("before"), _AFTER.alias("after"),
                               ((n <= 30) & _has(_MAYBE_DATE)).alias("maybe_date")).drop("crumb", "doubled")
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


def is_prose(line: str) -> bool:
    df = pl.DataFrame({"line": [line]}).with_columns(_words(pl.col("line")).alias("n"))
    return bool(df.select(prose_expr(pl.col("line").str.replace(CHARS_STUB, "").str.strip_chars_end(),
                                     pl.col("n")))[0, 0])


_WORD_RX = re.compile(WORD_PATTERN)
_GENERIC_LABEL = re.compile(GENERIC_LABEL)
_RELATED_GLUED = re.compile(RELATED_GLUED)
_RELATED = re.compile(RELATED)


def is_related_link(line: str) -> bool:
    """'Related: ...', 'READ MORE: ...', 'RelatedOther story': a link to another story, not a headline."""
    return len(_WORD_RX.findall(line)) <= 30 and bool(_RELATED_GLUED.match(line) or _RELATED.match(line))


def is_generic_label(line: str) -> bool:
    """'WORLD', 'Latest News', 'Top Stories': a section label, not a headline."""
    if _GENERIC_LABEL.match(line):
        return True
    n = len(_WORD_RX.findall(line))
    return 0 < n <= 4 and line == line.upper() and line != line.lower()
