"""JSON Lines and JSON files -> one record per article.

Feeds differ in field names (`text`/`body`/`content`, `date`/`publishedAt`,
...); `record_to_fields` maps the common ones. Each line of a JSON Lines file
is a record, numbered by its line (blank lines are not records); a line that is
not a JSON object is a record too, an unreadable one, so nothing is lost.
A `.json` file may hold one object, an array of objects, or an object with a
list of articles under `articles`/`items`/`data`/`results`/`records`.
"""
from __future__ import annotations

import json
import re

from cleanwire.ingest.dates import parse_date_value
from cleanwire.ingest.formats.html import TEXT_BLOCKS, lines_of, url_date
from cleanwire.rules import unreadable
from cleanwire.rules.title_mismatch import title_kind
from cleanwire.text import normalise_whitespace
from cleanwire.types import Fields, new_fields

TITLE_KEYS = ("title", "headline", "webTitle", "heading", "name")
BODY_KEYS = ("text", "body", "content", "articleBody", "article_body", "bodyText", "body_text", "article_text",
             "full_text", "fullText", "maintext", "story", "paragraphs", "article")
DATE_KEYS = ("published_date", "date", "published", "publishedAt", "published_at", "datePublished", "pubDate",
             "pub_date", "publish_date", "date_published", "webPublicationDate", "first_published_date",
             "published_time", "publication_date", "created_at", "created", "datetime", "timestamp", "time")
AUTHOR_KEYS = ("author", "authors", "byline", "creator")
SUBTITLE_KEYS = ("subtitle", "description", "summary", "dek", "standfirst", "lead")
SECTION_KEYS = ("section", "category", "categories")
URL_KEYS = ("url", "link", "canonical_url")
LIST_KEYS = ("articles", "items", "data", "results", "records", "entries", "docs")
# Objects that wrap the article's fields one level down ({"article": {...}}, Guardian's "fields").
WRAPPER_KEYS = ("article", "fields", "attributes", "item", "post", "story", "data", "meta", "metadata")
_HTML_TAG = re.compile(r"</?(?:p|br|div|span|a|em|strong|b|i|h[1-6]|li|ul|ol|figure|figcaption|img|blockquote)\b[^>]*>", re.I)
MAX_DEPTH = 64


def split_json_records(text: str, is_lines: bool) -> tuple[list[tuple[int, dict | None, unreadable.Why | None]], bool]:
    """[(record_number, object or None, why not or None)], and whether the file holds many records."""
    if not is_lines:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = _NOT_JSON
        if data is not _NOT_JSON:
            items = _as_list(data)
            if items is None:
                return [(1, None, unreadable.Why(unreadable.NOT_AN_ARTICLE,
                                                 f"JSON holds a {type(data).__name__}, not an article object"))], False
            if isinstance(data, dict) and items == [data]:
                return [(1, _checked(data), _error(data))], False
            return [(n, _checked(x), _error(x)) for n, x in enumerate(items, 1)], True
        # Not one JSON document: read it as JSON Lines.
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as e:
            records.append((n, None, unreadable.Why(unreadable.INVALID_JSON, f"line {n} is not valid JSON: {str(e)[:80]}")))
            continue
        records.append((n, _checked(obj), _error(obj)))
    return records, True


_NOT_JSON = object()


def _as_list(data):
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for k in LIST_KEYS:
            if isinstance(data.get(k), list) and data[k] and all(isinstance(x, dict) for x in data[k]):
                return data[k]
        return [data]
    return None


def _depth(x, limit: int = MAX_DEPTH) -> int:
    """Nesting depth, stopping early past `limit` (a deeply nested record is refused)."""
    stack = [(x, 1)]
    deepest = 0
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(v, dict):
            stack.extend((c, d + 1) for c in v.values())
        elif isinstance(v, list):
            stack.extend((c, d + 1) for c in v)
    return deepest


def _error(obj) -> unreadable.Why | None:
    if not isinstance(obj, dict):
        return unreadable.Why(unreadable.NOT_AN_ARTICLE, f"record is a JSON {type(obj).__name__}, not an object")
    if _depth(obj) > MAX_DEPTH:
        return unreadable.Why(unreadable.NOT_AN_ARTICLE, f"record nested deeper than {MAX_DEPTH} levels")
    return None


def _checked(obj):
    return obj if _error(obj) is None else None


def _get(obj: dict, keys) -> object:
    lower = {str(k).lower(): v for k, v in obj.items()}
    for k in keys:
        v = lower.get(k.lower())
        if v not in (None, "", [], {}):
            return v
    return None


def _as_text(v, joiner: str = ", ") -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        parts = [_as_text(x, joiner) for x in v]
        return joiner.join(p for p in parts if p) or None
    if isinstance(v, dict):
        # WordPress {"rendered": ...}, NYT {"main": ...}, {"#text": ...}, {"name": ...}
        return _as_text(_get(v, ("rendered", "main", "text", "value", "#text", "name", "title")), joiner)
    return str(v)


def _flatten(obj: dict) -> dict:
    """The record's own keys, then the keys of one wrapping object ({"article": {...}})."""
    flat = dict(obj)
    for k in WRAPPER_KEYS:
        inner = obj.get(k)
        if isinstance(inner, dict):
            for ik, iv in inner.items():
                flat.setdefault(ik, iv)
            if flat.get(k) is inner:
                del flat[k]
    return flat


def html_to_text(text: str) -> str:
    """Body fields that hold HTML ('<p>...</p>'): text with one line per block."""
    if not _HTML_TAG.search(text):
        return text
    import lxml.html

    try:
        root = lxml.html.fromstring(f"<div>{text}</div>")
    except Exception:  # noqa: BLE001 - not parseable as HTML: keep the text as it is
        return text
    return lines_of(root, TEXT_BLOCKS)


def record_to_fields(obj: dict) -> tuple[Fields, str | None]:
    """A record's fields, and its body as the feed gives it: bodies are cleaned for many
    records in one pass (`body.clean_body_texts`), so `body` is left empty here."""
    obj = _flatten(obj)
    out = new_fields()
    out["title"] = normalise_whitespace(_as_text(_get(obj, TITLE_KEYS)))
    raw_body = _as_text(_get(obj, BODY_KEYS), joiner="\n\n")
    raw_body = html_to_text(raw_body) if raw_body else raw_body
    out["url"] = url = _as_text(_get(obj, URL_KEYS))
    out["published_date"] = parse_date_value(_get(obj, DATE_KEYS))
    out["date_kind"] = "metadata" if out["published_date"] else None
    if out["published_date"] is None and url:
        out["published_date"] = url_date(url)
        out["date_kind"] = "url" if out["published_date"] else None
    out["title_kind"] = title_kind(out["title"])
    out["subtitle"] = normalise_whitespace(_as_text(_get(obj, SUBTITLE_KEYS)))
    out["section"] = normalise_whitespace(_as_text(_get(obj, SECTION_KEYS)))
    out["author"] = normalise_whitespace(_as_text(_get(obj, AUTHOR_KEYS)))
    return out, raw_body
