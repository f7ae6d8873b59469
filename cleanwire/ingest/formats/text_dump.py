"""Plain-text page dumps -> article fields.

A page dump is whatever text a scraper kept: a clean extract (headline, body),
a full page (menus, read-time badge, headline twice, photo caption, byline,
related links, lists of other headlines, cookie banner) or a wire layout
(section label, headline, dateline city, date line). The parser works in three
passes over classified lines (`boilerplate.classify_lines`, vectorised over a batch):

1. the body is the largest cluster of prose paragraphs; header furniture found
   near its top (a date, a byline, a repeated headline) moves its start below;
2. the headline is found by walking up from the body start over the byline
   area (dates, bylines, captions, dateline city, standfirst);
3. inside the body, furniture lines are dropped and inline headlines of other
   articles are told from the article's own subheadings.
"""
from __future__ import annotations

import re
from collections import Counter

from cleanwire.ingest.body import LIST_ITEM, body_paragraphs, is_fragment, last_prose_paragraph
from cleanwire.ingest.dates import DATE_KIND_RANK
from cleanwire.ingest.lines import PROSE_MIN_WORDS, LineInfo, classify_texts
from cleanwire.rules import truncated_body
from cleanwire.rules.patterns import BYLINE_PREFIX, HEADLINE_END, LOWER_SENTENCE_END, SENTENCE_END
from cleanwire.rules.title_mismatch import is_generic_label, title_kind
from cleanwire.text import title_case_share
from cleanwire.types import Fields, new_fields

# Kinds that make up the byline area between a headline and its body.
_HEADER_FURNITURE = {"date", "last_updated", "byline", "caption", "read_time", "ad", "source", "nav", "share"}
# The body span: non-prose, non-furniture lines that may separate two paragraphs of one body
# (subheadings, a pull quote, list items), and what a list-of-stories header counts for (an
# inline widget between paragraphs has one, and the article goes on after it).
MAX_GAP = 6
LIST_GAP = 4
# After the last paragraph: short lines that may still be the article's (list items, a call to
# action), only in a body that already holds LIST_LIKE_ITEMS short lines among its last LIST_WINDOW.
MAX_TRAILING_ITEMS = 6
LIST_WINDOW = 6
LIST_LIKE_ITEMS = 2
# The header: how far the walk up from the body looks.
MAX_HEADLINE_CANDIDATES = 4   # headline-like lines: headline, standfirst, kicker, one more
MAX_KICKERS = 6               # short labels above a headline before the block is a menu
MENU_LABELS_IN_A_ROW = 2      # labels in a row above a candidate: a menu, the header ends
SENTENCE_MIN_WORDS = 3        # 'It was a close vote.': a sentence of 3+ words ends the header
KICKER_MAX_WORDS = 3          # 'Opinion', 'Fact Check', 'Analysis': a label, not a headline
HEADLINE_MIN_WORDS = 3        # ... but a line this long printed twice is a headline ('The Best Toothbrushes')
MAX_HEADLINE_PRINTS = 3       # a page prints its headline two or three times (headline, <h1>, breadcrumb)
TITLE_CASE_HEADLINE = 0.6     # share of capitalised words that makes a line ending in '.' a headline
HEADLINE_TO_BLOCK = 4         # lines at most between a headline and its byline/date block (author, read time)
_SENTENCE_END = re.compile(SENTENCE_END)
_HEADLINE_END = re.compile(HEADLINE_END)
_SENTENCE = re.compile(LOWER_SENTENCE_END)
_DATELINE_CITY = re.compile(r"^[A-Z][A-Z .,'’-]{1,40}$")
_BYLINE = re.compile(rf"^{BYLINE_PREFIX}\s*[:\-]?\s+(.*)$", re.I)


def parse_page_dumps(texts: list[str]) -> list[Fields]:
    """Fields of many page dumps; their lines are classified in one vectorised pass."""
    return [_parse_infos(infos) for infos in classify_texts(texts)]


def parse_page_dump(text: str) -> Fields:
    return parse_page_dumps([text])[0]


def _parse_infos(infos: list[LineInfo]) -> Fields:
    span = _body_span(infos)
    out = new_fields()
    if span:
        start, end = span
    else:
        # No body: the header ends with its byline area (the last date or byline line
        # before any list of other articles); menus and share bars below it are not headlines.
        lists = [i for i, x in enumerate(infos) if x.kind == "list_start" and not is_generic_label(x.text)]
        limit = lists[0] if lists else len(infos)
        dated = [i for i in range(limit) if infos[i].kind in ("date", "byline")]
        start = end = dated[-1] + 1 if dated else limit
    if span:
        start, end = _skip_header_furniture(infos, start, end)
        out["subtitle"] = _standfirst(infos, span[0], start)
    _read_header(infos, start, out)
    if span and out["title"] is None:
        # No headline, and only sentences above the body: they are its first paragraphs.
        pre = [i for i in range(start) if infos[i].kind != "blank"]
        if pre and all(infos[i].kind in ("short", "prose") and _SENTENCE.search(infos[i].text[-40:]) for i in pre):
            start, out["subtitle"] = pre[0], None
    _read_date(infos, start, end, out)
    if span:
        paragraphs, cut = _body_lines(infos, start, end, out.get("title"))
        out["cut_marker"] = cut
        out["body"] = "\n\n".join(p.text for p in paragraphs) or None
        out["last_paragraph"] = last_prose_paragraph(paragraphs)
    return out


# ------------------------------------------------------------------ body span

def _body_span(infos: list[LineInfo]) -> tuple[int, int] | None:
    """(first, last) line index of the article's body.

    The body is the largest cluster of prose paragraphs, joined with its
    neighbours when nothing but the article's own interludes stands between
    them: a long list, steps, subheadings, an inline related-link widget or a
    photo caption (guides and reviews alternate prose and lists of any length).
    What marks another block of the page separates (SEPARATORS): a list of other
    stories, a menu, a cookie banner, a cut-off stub, or another byline/date block.
    """
    clusters: list[list[int]] = []
    gap = 0
    for i, info in enumerate(infos):
        if info.kind == "prose":
            if clusters and gap <= MAX_GAP:
                clusters[-1].append(i)
            else:
                clusters.append([i])
            gap = 0
        elif info.kind in ("short", "caps", "symbol"):
            gap += 1
        elif info.kind == "list_start":
            gap += LIST_GAP
    if not clusters:
        return None
    k = max(range(len(clusters)), key=lambda c: sum(infos[i].n_words for i in clusters[c]))
    return clusters[_reach(infos, clusters, k, -1)][0], clusters[_reach(infos, clusters, k, +1)][-1]


PARAGRAPH_WORDS = PROSE_MIN_WORDS  # a line this long is a paragraph of running text, whatever its end
# Kinds of line that end one block of a page and start another.
SEPARATORS = {"list_start", "nav", "cookie", "cut_stub", "share", "date", "last_updated", "byline", "read_time"}


def _reach(infos: list[LineInfo], clusters: list[list[int]], k: int, step: int) -> int:
    """The farthest cluster from `k` (walking by `step`) that is more of the article: it holds a real
    paragraph (a menu's one-line blurbs do not), and no separator stands on the way."""
    j = reach = k
    while 0 <= j + step < len(clusters):
        a, b = sorted((clusters[j][0 if step < 0 else -1], clusters[j + step][-1 if step < 0 else 0]))
        if any(infos[i].kind in SEPARATORS for i in range(a + 1, b)):
            break
        j += step
        if any(infos[i].n_words >= PARAGRAPH_WORDS for i in clusters[j]):
            reach = j
    return reach


def _skip_header_furniture(infos: list[LineInfo], start: int, end: int) -> tuple[int, int]:
    """Move the body start below byline-area furniture that follows a standfirst.

    In a full page dump the standfirst comes before the repeated headline, the
    byline and the date: the body begins after them. Only one prose line (the
    standfirst) may stand above such furniture; captions and image credits do
    not count, they also stand between paragraphs. When no paragraph follows the
    furniture (or a list of other stories comes first), the page holds no
    article text, only its standfirst: the body is empty. Returns (start, end).
    """
    prose_seen = 0
    last_furniture = None
    repeats_headline = False  # the block below the standfirst prints the headline again: a page header
    seen_short = {infos[i].text for i in range(start) if infos[i].kind in ("short", "caps")}
    for i in range(start, len(infos)):
        info = infos[i]
        if info.kind == "prose":
            prose_seen += 1
            if prose_seen > 1:
                break
        elif info.kind in ("short", "caps") and info.text in seen_short:
            last_furniture, repeats_headline = i, True
        elif i > end and (not repeats_headline or info.kind == "list_start"):
            break  # past the span, only a header block that repeats the headline is followed
        elif info.kind in ("date", "last_updated", "byline", "read_time"):
            last_furniture = i
    if last_furniture is None:
        return start, end
    for i in range(last_furniture + 1, end + 1):
        if infos[i].kind == "prose":
            return i, end
        if infos[i].kind == "list_start":
            return last_furniture + 1, i - 1
    return last_furniture + 1, min(end, last_furniture)


def _standfirst(infos: list[LineInfo], first_prose: int, start: int) -> str | None:
    """The standfirst: prose that sat above the byline area, below the headline."""
    for i in range(first_prose, start):
        if infos[i].kind == "prose":
            return infos[i].text
    return None


# ------------------------------------------------------------------ header

def _read_header(infos: list[LineInfo], start: int, out: Fields) -> None:
    """Find the headline in the header block above the body.

    Walking up from the body, byline-area furniture (dates, bylines, captions,
    share bars, ads) is passed over; a dateline city right above the body and a
    standfirst sentence are noted. The block ends at running text, at a list
    of other stories, at navigation, or at two labels in a row above a
    candidate (a menu). In the block, a line printed twice is the headline
    (page dumps repeat it); else the upper-most headline-like line is (news
    pages print headline, then standfirst, then byline and date), and one just
    above the byline/date block beats any below it (there stand captions,
    subheadings and standfirsts); else a lone label stands where the headline
    should be ('Latest News', 'WORLD').
    """
    header = [i for i in range(start) if infos[i].kind != "blank"]
    counts = Counter(infos[i].text for i in header)
    # A list of other stories right above the body ('More stories like this one', then
    # label/headline/date items): the article's own header is above the list.
    lists = [k for k, i in enumerate(header) if infos[i].kind == "list_start" and not is_generic_label(infos[i].text)]
    if lists and sum(infos[i].kind == "date" for i in header[lists[-1]:]) >= 2:
        header = header[:lists[-1]]
    cands: list[int] = []    # headline-like lines, nearest to the body first
    kickers: list[int] = []  # short labels met on the way ('Opinion', 'WORLD', 'Editorial')
    links: list[int] = []    # 'Related: ...' lines: the title slot only when nothing else is there
    labels_in_a_row = 0
    block = None             # the byline/date block nearest to the body, when the walk passes one
    for i in reversed(header):
        info = infos[i]
        if info.kind in _HEADER_FURNITURE or info.kind in ("cookie", "cut_stub", "symbol", "credit"):
            if info.kind == "byline" and out["author"] is None:
                out["author"] = _author(info.text)
            if info.kind in ("date", "byline") and block is None:
                block, labels_in_a_row = i, 0  # labels below the block (an author's name, 'Listen') are no menu
            if info.kind == "nav" and (cands or kickers):
                break
            continue
        if info.kind == "caps" and counts[info.text] == 1 and out["dateline"] is None and not cands and not kickers \
                and _DATELINE_CITY.match(info.text) and not is_generic_label(info.text.title()):
            out["dateline"] = info.text.strip(" ,")
            continue
        if info.kind == "prose" and not _HEADLINE_END.search(info.text):
            if info.text == out["subtitle"]:
                continue
            if not cands and not kickers and out["subtitle"] is None and _SENTENCE_END.search(info.text):
                out["subtitle"] = info.text
                continue
            break  # running text above the body: the header ends here
        if info.kind == "list_start" and not is_generic_label(info.text):
            break
        if info.kind == "related":
            links.append(i)
            continue
        if (_SENTENCE.search(info.text[-40:]) and info.n_words >= SENTENCE_MIN_WORDS
                and title_case_share(info.text) < TITLE_CASE_HEADLINE):
            break  # 'It was a close vote.': a sentence, not a headline (a Title-Case line may end with a stop)
        if _is_kicker(info):
            kickers.append(i)
            labels_in_a_row += 1
            if (cands and labels_in_a_row >= MENU_LABELS_IN_A_ROW) or len(kickers) >= MAX_KICKERS:
                break
            continue
        labels_in_a_row = 0
        cands.append(i)
        if len([c for c in cands if block is None or c < block]) >= MAX_HEADLINE_CANDIDATES:
            break
    # A headline-like line just above the byline/date block beats those below it.
    above = [c for c in cands if block is not None and c < block
             and sum(infos[k].kind != "blank" for k in range(c + 1, block)) <= HEADLINE_TO_BLOCK]
    if above:
        below = [c for c in cands if c > block]
        if below and out["subtitle"] is None and min(below) == max(below):
            out["subtitle"] = infos[below[0]].text
        cands = [c for c in cands if c < block]
    title_at = None
    # A line printed twice is the headline (pages repeat it), even one as short as a kicker, unless it
    # is a label: menus print their section names ('Life', 'Auto News') and buttons in several places,
    # and more often than a page prints its headline.
    repeated = sorted((i for i in cands + kickers if 1 < counts[infos[i].text] <= MAX_HEADLINE_PRINTS
                       and infos[i].kind != "caps" and infos[i].n_words >= HEADLINE_MIN_WORDS
                       and not is_generic_label(infos[i].text)), reverse=True)
    if repeated:
        title_at = repeated[0]
    elif cands:
        title_at = cands[-1]  # the upper-most: headline above standfirst
        below = [i for i in cands if i > title_at and infos[i].kind != "related"]
        if below and out["subtitle"] is None:
            out["subtitle"] = infos[min(below)].text
    elif links:
        title_at = links[0]  # a related-story link where the headline should be
    elif kickers:
        title_at = kickers[0]  # only a label where the headline should be
    if title_at is None:
        return
    title = infos[title_at].text
    out["title"] = title
    out["title_repeated"] = counts[title] > 1
    out["title_kind"] = title_kind(title, related_line=infos[title_at].kind == "related")
    # A section label above the headline, or on the ' date 2023-06-17 WORLD' line.
    for i in reversed(header):
        if i >= title_at:
            continue
        info = infos[i]
        if info.kind == "caps" or (info.kind == "short" and is_generic_label(info.text)):
            if info.text != title:
                out["section"] = info.text
                break
        if info.kind == "date":
            label = _label_beside_date(info.text)
            if label:
                out["section"] = label
                break
    if out["subtitle"] == title:
        out["subtitle"] = None


def _is_kicker(info: LineInfo) -> bool:
    """A short label above a headline: 'Opinion', 'Analysis', 'Fact Check', 'WORLD'."""
    return info.kind == "caps" or is_generic_label(info.text) or info.n_words <= KICKER_MAX_WORDS


def _label_beside_date(line: str) -> str | None:
    m = re.search(r"\d{4}-\d{2}-\d{2}\s+([A-Z][A-Z &/,'-]{1,40})$", line)
    return m.group(1).strip() if m else None


def _author(line: str) -> str:
    s = line.replace(" ", "")
    if len(s) % 2 == 0 and s[: len(s) // 2] == s[len(s) // 2:]:
        # 'Melis AlemdarMelis Alemdar' -> 'Melis Alemdar'
        half = line[: len(line) // 2 + 1].strip()
        if line.startswith(half) and (line[len(half):].strip() == half or line[len(half):].lstrip() == half):
            return half
        return line[: len(line) // 2].strip()
    m = _BYLINE.match(line)
    name = m.group(1) if m else line
    return re.split(r"\s*[|•·]\s*", name)[0].strip(" ,")


# ------------------------------------------------------------------ date

def _read_date(infos: list[LineInfo], start: int, end: int, out: Fields) -> None:
    """The page's own date: a date line of the header, else of the byline/footer area.

    Dates inside prose paragraphs are never used, and neither are dates after a
    list of other articles starts, nor 'Last updated' lines (a later date).
    """
    best = None
    list_started = False
    for i, info in enumerate(infos):
        if info.kind == "list_start" and i > end:
            list_started = True
        if info.kind != "date" or info.date is None or list_started:
            continue
        zone = 0 if i < start else (1 if i <= end else 2)
        if zone == 1 and info.date.kind not in ("published", "updated"):
            continue  # a bare date between paragraphs is a quote, an embed or a timeline entry
        key = (zone, DATE_KIND_RANK[info.date.kind], i)
        if best is None or key < best[0]:
            best = (key, info.date)
    if best:
        out["published_date"] = best[1].date
        out["date_kind"] = best[1].kind


# ------------------------------------------------------------------ body lines

def _body_lines(infos: list[LineInfo], start: int, end: int, title: str | None) -> tuple[list[LineInfo], str | None]:
    kept: list[int] = []
    for i in range(start, end + 1):
        info = infos[i]
        if info.kind in ("prose", "credit"):
            kept.append(i)
        elif info.kind == "short" and info.text != title:
            kept.append(i)
    # Trailing lines after the last paragraph: credit lines, list items that end the
    # article (other articles' headlines among them are dropped below), a cut-off fragment.
    cut = None
    protected: set[int] = set()
    extras: set[int] = set()
    # Short lines go on after the last paragraph only in a body that already lists items.
    list_like = sum(infos[i].kind == "short" for i in kept[-LIST_WINDOW:]) >= LIST_LIKE_ITEMS
    j = end + 1
    while j < len(infos):
        info = infos[j]
        if info.kind in ("blank", "related", "ad", "caption", "share"):
            j += 1
            continue
        if info.kind == "cut_stub":
            cut = truncated_body.stub_reason(info.text)  # 'Continue reading', 'Subscribe to read the full story'
            break
        if info.kind == "credit":
            kept.append(j)
        elif info.kind == "short" and _is_cut_start(infos, j):
            kept.append(j)  # the cut-off start of one more paragraph: '"He...', 'This'
            protected.add(j)
        elif info.kind == "short" and (beside := _headline_beside_cut(infos, j)) is not None:
            fragment, headline = beside
            kept.append(fragment)  # the cut-off fragment kept, the other story's headline passed over
            protected.add(fragment)
            j = max(fragment, headline) + 1  # then the stub or the page's end
            continue
        elif info.kind == "short" and len(extras) < MAX_TRAILING_ITEMS and (list_like or LIST_ITEM.match(info.text)):
            kept.append(j)  # items of the article's list (a bulleted one may follow its only paragraph)
            extras.add(j)
        else:
            break
        j += 1
    if kept and kept[-1] not in extras:
        protected.add(kept[-1])  # the last paragraph may be a cut-off one: never judged a headline
    texts, glued_cut = body_paragraphs(infos, kept, protected)
    cut = cut or glued_cut
    return texts, cut


_PASSABLE = ("blank", "related", "ad", "caption", "share", "source", "symbol")


def _is_cut_start(infos: list[LineInfo], j: int) -> bool:
    """Short line j is the cut-off start of one more paragraph: it ends in a stub, a stub
    follows it, or it is running words with nothing of the article after it."""
    text = infos[j].text
    return (truncated_body.ends_with_stub(text) or _next_kind(infos, j + 1) == "cut_stub"
            or (is_fragment(text) and _ends_article(infos, j + 1)))


def _headline_beside_cut(infos: list[LineInfo], j: int) -> tuple[int, int] | None:
    """(cut-off fragment, other article's headline) when short line j and the next line are
    those two, in either order, and the article ends after them; else None.

    Pages set teaser headlines of other stories between paragraphs (related-story
    widgets), so one may stand just before the cut-off fragment that ends the text, or
    between that fragment and its stub.
    """
    k = _next_index(infos, j + 1)
    if k is None or infos[k].kind != "short" or not _ends_article(infos, k + 1):
        return None
    here, there = is_fragment(infos[j].text), is_fragment(infos[k].text)
    if here == there:
        return None
    return (j, k) if here else (k, j)


def _next_index(infos: list[LineInfo], j: int) -> int | None:
    """Index of the next line that is not page furniture passed over between paragraphs."""
    for k in range(j, len(infos)):
        if infos[k].kind not in _PASSABLE:
            return k
    return None


def _next_kind(infos: list[LineInfo], j: int) -> str | None:
    """Kind of the next line that is not page furniture passed over between paragraphs."""
    k = _next_index(infos, j)
    return None if k is None else infos[k].kind


def _ends_article(infos: list[LineInfo], j: int) -> bool:
    """Nothing but page furniture follows line j: the text before it was the article's last."""
    for info in infos[j:]:
        if info.kind in ("blank", "related", "ad", "caption", "share", "source", "credit", "symbol"):
            continue
        return info.kind in ("list_start", "cookie", "cut_stub", "nav")
    return True
