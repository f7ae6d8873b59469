"""HTML pages -> article fields.

Text extraction is trafilatura's (a maintained, benchmarked main-content
extractor); we only clean its output with the same line rules as text dumps.
The publication date is read from the page's own metadata in the order news
sites use it (schema.org JSON-LD `datePublished`, Open Graph
`article:published_time`, `itemprop=datePublished`, `<time>`), then from a
date in the URL path. Heuristic guesses (htmldate's extensive search) are not
used: they take a copyright year or a date the story quotes, and a page that
states no date must be reported as missing_date, not given an invented one.
"""
from __future__ import annotations

import html
import json
import re
import signal
import threading
from contextlib import contextmanager

from dataclasses import dataclass

from cleanwire.ingest.body import clean_body_texts
from cleanwire.ingest.dates import parse_date_value
from cleanwire.ingest.formats.text_dump import parse_page_dumps
from cleanwire.rules.patterns import YEAR
from cleanwire.rules.title_mismatch import title_kind
from cleanwire.text import normalise_whitespace
from cleanwire.types import Fields, new_fields

_META_DATE_KEYS = (
    ("property", "article:published_time"), ("property", "og:published_time"), ("property", "article:published"),
    ("name", "article:published_time"), ("name", "pubdate"), ("name", "publishdate"), ("name", "publish-date"),
    ("name", "date"), ("name", "dc.date"), ("name", "dc.date.issued"), ("name", "dcterms.date"),
    ("name", "sailthru.date"), ("name", "parsely-pub-date"), ("itemprop", "datePublished"),
)
EXTRACTED_MIN_WORDS = 25  # an extractor's text shorter than a paragraph: it missed the article
# A news page is read in ~4 ms (bench, 2-core machine); a page still being read after this long is
# pathological (nesting, a table of a million cells) and becomes unreadable/too_slow.
PAGE_SECONDS = 10.0


class PageTooSlow(TimeoutError):
    """A page took longer than PAGE_SECONDS to read."""


@contextmanager
def time_limit(seconds: float):
    """Raise PageTooSlow in the block after `seconds` (a SIGALRM timer: in a process's main thread
    only, which is where batch tasks run in worker processes; elsewhere, no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expired(signum, frame):
        raise PageTooSlow(f"HTML page still being read after {seconds:g} s (the per-page limit)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
URL_DATE = re.compile(rf"/({YEAR})[/-](0[1-9]|1[0-2])[/-](0[1-9]|[12]\d|3[01])(?:/|-|\b)")


@dataclass
class HtmlPage:
    """An HTML page read up to its text: what needs its tree, done per page.

    The texts are then cleaned and parsed for all pages of a batch together
    (`finish_pages`): the line rules run as one vectorised pass, whose fixed cost
    per call was most of an HTML page's time when paid page by page (measured).
    """
    fields: Fields
    extracted: str | None    # the extractor's text, or None
    visible: str | None      # the page's visible text, when the page may need it (see `needs_visible`)
    html: str                # the page itself: for the rare page whose visible text was not kept


def needs_visible(fields: Fields, extracted_words: int) -> bool:
    """The page read as a text dump (by our own line rules) gives its byline area's date when the
    metadata has none, and its body when the extractor found less than a paragraph (it gives up
    on some layouts, or keeps a menu; an empty body would hold an article back)."""
    return fields["published_date"] is None or extracted_words < EXTRACTED_MIN_WORDS


def read_page(text: str) -> HtmlPage:
    """Parse the page, read its metadata and headline, and take its texts (raises on a page lxml refuses,
    and PageTooSlow after PAGE_SECONDS)."""
    with time_limit(PAGE_SECONDS):
        return _read_page(text)


def _read_page(text: str) -> HtmlPage:
    import lxml.html  # imported here: only HTML batches pay for it
    import trafilatura

    out = new_fields()
    try:
        tree = lxml.html.fromstring(text)
    except Exception as e:  # noqa: BLE001 - lxml raises many types on garbage
        raise ValueError(f"HTML could not be parsed: {e}") from None
    ld = _json_ld(tree)
    out["published_date"] = _metadata_date(tree, ld)
    out["date_kind"] = "metadata" if out["published_date"] else None
    doc = trafilatura.bare_extraction(tree, fast=True, with_metadata=True, include_comments=False, include_tables=False,
                                      date_extraction_params={"extensive_search": False, "original_date": True})
    extracted = None
    if doc is not None:
        d = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
        out["title"] = _headline(tree, ld, d.get("title"), d.get("sitename"))
        out["author"] = normalise_whitespace(d.get("author"))
        out["subtitle"] = normalise_whitespace(d.get("description"))
        out["url"] = d.get("url")
        cats = d.get("categories") or []
        out["section"] = normalise_whitespace(cats[0]) if isinstance(cats, list) and cats else None
        extracted = d.get("text") or None
    else:
        out["title"] = _headline(tree, ld, None, None)
    if out["published_date"] is None:
        out["published_date"] = url_date(out["url"] or _canonical_url(tree))
        out["date_kind"] = "url" if out["published_date"] else None
    # Cleaning only drops lines, so an extractor's text under the minimum stays under it.
    visible = visible_text(tree, in_place=True) if needs_visible(out, len((extracted or "").split())) else None
    return HtmlPage(out, extracted, visible, text)


def finish_pages(pages: list[HtmlPage]) -> list[Fields]:
    """The fields of read pages: their texts cleaned and parsed in one pass each, then chosen."""
    bodies = iter(clean_body_texts([p.extracted for p in pages if p.extracted]))
    cleaned = [next(bodies) if p.extracted else (None, None, None) for p in pages]
    words = [len((body or "").split()) for body, _, _ in cleaned]
    for p, n in zip(pages, words):
        if p.visible is None and needs_visible(p.fields, n):
            # The extractor's text had a paragraph's words until cleaning dropped its furniture.
            p.visible = visible_text(_tree(p.html), in_place=True)
    dumps = iter(parse_page_dumps([p.visible for p in pages if p.visible is not None]))
    return [_choose(p, body, n, next(dumps) if p.visible is not None else None)
            for p, body, n in zip(pages, cleaned, words)]


def _choose(page: HtmlPage, cleaned: tuple[str | None, str | None, str | None], extracted_words: int,
            visible: Fields | None) -> Fields:
    out = page.fields
    out["body"], out["cut_marker"], out["last_paragraph"] = cleaned
    if out["published_date"] is None:
        out["published_date"] = visible["published_date"]
        out["date_kind"] = f"visible_{visible['date_kind']}" if visible["published_date"] else None
    if extracted_words < EXTRACTED_MIN_WORDS and len((visible["body"] or "").split()) > extracted_words:
        out["body"], out["cut_marker"], out["last_paragraph"] = (visible["body"], visible["cut_marker"],
                                                                 visible["last_paragraph"])
    if out["title"] and out["body"] and out["body"].startswith(out["title"]):
        # Extractors keep the <h1> as the first line of the text: it is the headline, not body.
        out["body"] = out["body"][len(out["title"]):].lstrip("\n") or None
    out["title_kind"] = title_kind(out["title"])
    return out


def parse_html(text: str) -> Fields:
    """The fields of one page (a batch reads its pages with `read_page` and `finish_pages`)."""
    return finish_pages([read_page(text)])[0]


def _tree(text: str):
    import lxml.html

    return lxml.html.fromstring(text)


# Elements that start a line of text: the blocks of an article body ...
TEXT_BLOCKS = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "figcaption")
# ... and, for a whole page, its layout boxes too (a byline <span>, a <time>, table rows).
PAGE_BLOCKS = (*TEXT_BLOCKS, "tr", "section", "article", "header", "footer", "time", "span")


def lines_of(root, blocks: tuple[str, ...], opening: bool = False) -> str:
    """The text of an element tree with a line break after each block (and `<br>`), in place.

    `opening`: also before each block's own text (a whole page, where blocks nest).
    """
    for el in root.iter("br", *blocks):
        el.tail = "\n" + (el.tail or "")
        if opening and el.tag != "br":
            el.text = "\n" + (el.text or "")
    return root.text_content()


def visible_text(tree, in_place: bool = False) -> str:
    """The page's visible text, one line per block element (scripts and styles dropped).

    `in_place`: change the tree itself instead of a copy (when nothing reads it after).
    """
    import copy

    root = tree if in_place else copy.deepcopy(tree)
    for bad in root.xpath("//script|//style|//noscript|//template|//svg"):
        bad.drop_tree()
    return lines_of(root, PAGE_BLOCKS, opening=True)


_TITLE_SEPARATORS = re.compile(r"\s+(?:\||-|–|—|::|•|·)\s+")


def _headline(tree, ld: dict, extracted: str | None, sitename: str | None) -> str | None:
    """The headline as printed: the article's <h1> (or the page's only one), else the metadata's
    (JSON-LD, Open Graph, Twitter), the extractor's, <title>; never the site's name.

    The metadata titles are often written for search engines ('Types of Restaurant
    Service | Full Guide to ...') while the page prints its own headline in the
    <h1>. Page titles often read 'Headline | Site' or 'Site - Headline': the part
    that names the site (og:site_name, the extractor's site name, or the domain) is cut.
    """
    sites = {_letters(x) for x in (sitename, _meta(tree, "property", "og:site_name"),
                                   _domain(_canonical_url(tree))) if x}
    h1s = tree.xpath("//h1")
    sources = [_first_text(tree, "//article//h1|//main//h1"), h1s[0].text_content() if len(h1s) == 1 else None,
               _first_str(ld.get("headline")), _meta(tree, "property", "og:title"),
               _meta(tree, "name", "twitter:title"), extracted, _first_text(tree, "//title")]
    for raw in sources:
        # Entities escaped twice in the source ('It&amp;#39;s') are read once by the parser.
        title = normalise_whitespace(html.unescape(raw) if raw and "&" in raw else raw)
        if not title:
            continue
        parts = [p for p in _TITLE_SEPARATORS.split(title) if _letters(p) not in sites]
        if len(parts) != len(_TITLE_SEPARATORS.split(title)):
            title = " - ".join(parts) if parts else None
        if title and _letters(title) not in sites:
            return title
    return None


def _letters(s: str | None) -> str:
    return re.sub(r"[^\w]", "", (s or "").casefold()).removeprefix("www")


def _domain(url: str | None) -> str | None:
    m = re.match(r"^[a-z]+://(?:www\.)?([^/:]+)", url or "", re.I)
    return m.group(1).rsplit(".", 1)[0] if m else None


def _meta(tree, attr: str, key: str) -> str | None:
    v = tree.xpath(f"//meta[@{attr}='{key}']/@content")
    return str(v[0]) if v else None


def _first_text(tree, xpath: str) -> str | None:
    nodes = tree.xpath(xpath)
    return nodes[0].text_content() if nodes else None


def _json_ld(tree) -> dict:
    """The NewsArticle-like object of the page's JSON-LD, flattened to one dict."""
    best: dict = {}
    for node in tree.xpath("//script[@type='application/ld+json']"):
        try:
            data = json.loads(node.text or "")
        except ValueError:
            continue
        for obj in _walk(data):
            if isinstance(obj, dict) and ("datePublished" in obj or "headline" in obj):
                if not best or "Article" in str(obj.get("@type", "")):
                    best = obj
    return best


def _walk(data, depth: int = 0):
    if depth > 6:
        return
    if isinstance(data, list):
        for x in data:
            yield from _walk(x, depth + 1)
    elif isinstance(data, dict):
        yield data
        for key in ("@graph", "mainEntity", "itemListElement"):
            if key in data:
                yield from _walk(data[key], depth + 1)


def _first_str(v) -> str | None:
    if isinstance(v, list):
        v = v[0] if v else None
    return v if isinstance(v, str) else None


def _metadata_date(tree, ld: dict):
    d = parse_date_value(_first_str(ld.get("datePublished")) or _first_str(ld.get("dateCreated")))
    if d:
        return d
    for attr, key in _META_DATE_KEYS:
        for node in tree.xpath(f"//meta[translate(@{attr}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
                               f"='{key.lower()}']"):
            d = parse_date_value(node.get("content"))
            if d:
                return d
    for node in tree.xpath("//*[@itemprop='datePublished']"):
        d = parse_date_value(node.get("datetime") or node.get("content") or node.text_content())
        if d:
            return d
    times = tree.xpath("//time[@pubdate]") or tree.xpath("//article//time[@datetime]") or tree.xpath("//time[@datetime]")
    for node in times[:1]:
        d = parse_date_value(node.get("datetime"))
        if d:
            return d
    # No heuristic guess beyond this (htmldate's would take a copyright year or a date quoted
    # in the story): a page without a stated date is missing_date, never given an invented one.
    return None


def _canonical_url(tree) -> str | None:
    for xp in ("//link[@rel='canonical']/@href", "//meta[@property='og:url']/@content"):
        v = tree.xpath(xp)
        if v:
            return str(v[0])
    return None


def url_date(url: str | None):
    if not url:
        return None
    m = URL_DATE.search(url)
    return parse_date_value(f"{m.group(1)}-{m.group(2)}-{m.group(3)}") if m else None
