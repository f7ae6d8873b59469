"""HTML pages and JSON / JSON Lines feeds -> records.

HTML: headline from JSON-LD / Open Graph / <h1> / <title> (site name cut),
date from the page's metadata only (never invented), body from the article's
paragraphs. JSON: one record per line or array item, `path#N` source paths,
unreadable records for bad lines, the usual field names and wrappers.
All pages and feeds are invented for these tests.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from cleanwire.ingest.formats.html import parse_html
from cleanwire.ingest.parse import parse_file

JUNE_17 = dt.date(2023, 6, 17)
HEADLINE = "Mountain village opens the country's highest public library"
SITE = "The Alpine Herald"
PARAGRAPHS = [
    "A village of three hundred people at the head of the Rava valley has opened what it says is the highest public "
    "library in the country, in a converted cowshed more than two thousand metres above sea level.",
    "The library holds about four thousand books, most of them donated by families in the valley, and will open "
    "three afternoons a week, with a volunteer driving a van of books to outlying farms on Saturdays.",
    "Mayor Elsa Brunner said the project had cost less than a new snowplough and would give children a warm place "
    "to read during the long winter, when the road to the nearest town is often closed.",
    "Librarians from the regional capital spent the summer cataloguing the collection, and the village school has "
    "already booked weekly visits for every class.",
]
NAV = ('<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/sport">Sport</a></li>'
       '<li><a href="/weather">Weather</a></li></ul></nav>')
FOOTER = ('<footer><p>Copyright 2021 The Alpine Herald. All rights reserved. Contact us about advertising on this '
          'website and read our privacy policy before subscribing to any newsletter.</p></footer>')
ARTICLE_P = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)


def html(head: str = "", article: str = ARTICLE_P, h1: str | None = HEADLINE) -> str:
    h1_tag = f"<h1>{h1}</h1>" if h1 else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'>{head}</head><body>{NAV}"
            f"<article>{h1_tag}{article}</article>{FOOTER}</body></html>")


def json_ld(obj: dict) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


# ----------------------------------------------------------------- HTML: headline


def test_html_headline_from_json_ld():
    head = f"<title>{HEADLINE} | {SITE}</title>" + json_ld(
        {"@context": "https://schema.org", "@type": "NewsArticle", "headline": HEADLINE,
         "datePublished": "2023-06-17T09:00:00+02:00"})
    rec = parse_html(html(head, h1=None))
    assert rec["title"] == HEADLINE
    assert rec["title_kind"] == "headline"


def test_html_headline_from_json_ld_graph():
    head = json_ld({"@context": "https://schema.org", "@graph": [
        {"@type": "WebSite", "name": SITE},
        {"@type": "NewsArticle", "headline": HEADLINE, "datePublished": "2023-06-17"}]})
    rec = parse_html(html(head, h1=None))
    assert rec["title"] == HEADLINE
    assert rec["published_date"] == JUNE_17


def test_html_headline_from_open_graph():
    head = (f"<title>{SITE}</title><meta property='og:title' content=\"{HEADLINE}\">"
            f"<meta property='og:site_name' content='{SITE}'>")
    assert parse_html(html(head, h1=None))["title"] == HEADLINE


def test_html_headline_from_h1_when_the_title_tag_is_only_the_site_name():
    assert parse_html(html(f"<title>{SITE}</title>"))["title"] == HEADLINE


@pytest.mark.parametrize("title_tag", [f"{HEADLINE} | {SITE}", f"{SITE} - {HEADLINE}"])
def test_html_site_name_is_cut_from_the_title_tag(title_tag):
    head = f"<title>{title_tag}</title><meta property='og:site_name' content='{SITE}'>"
    assert parse_html(html(head, h1=None))["title"] == HEADLINE


def test_html_site_name_is_cut_from_the_title_tag_without_site_metadata():
    assert parse_html(html(f"<title>{HEADLINE} | {SITE}</title>", h1=None))["title"] == HEADLINE


# ----------------------------------------------------------------- HTML: date


def test_html_date_from_json_ld_date_published():
    head = json_ld({"@type": "NewsArticle", "headline": HEADLINE, "datePublished": "2023-06-17T09:00:00+02:00",
                    "dateModified": "2023-06-19T12:00:00+02:00"})
    assert parse_html(html(head))["published_date"] == JUNE_17


def test_html_date_from_article_published_time():
    head = ("<meta property='article:published_time' content='2023-06-17T09:00:00Z'>"
            "<meta property='article:modified_time' content='2023-06-19T12:00:00Z'>")
    assert parse_html(html(head))["published_date"] == JUNE_17


def test_html_date_from_time_datetime():
    article = '<time datetime="2023-06-17T09:00:00Z">Saturday morning</time>' + ARTICLE_P
    assert parse_html(html("<title>x</title>", article=article))["published_date"] == JUNE_17


def test_html_without_a_stated_date_gets_none():
    rec = parse_html(html(f"<title>{HEADLINE} | {SITE}</title>"))
    assert rec["published_date"] is None


def test_html_date_mentioned_in_the_story_or_a_copyright_year_is_not_used():
    article = ("<p>The library will hold its first reading festival on June 24, 2023, the mayor said in a statement "
               "on the village website.</p>" + ARTICLE_P)
    page = html(f"<title>{HEADLINE}</title>", article=article).replace("Copyright 2021", "© 2021")
    rec = parse_html(page)
    assert rec["published_date"] is None


def test_html_visible_byline_date_is_used_when_there_is_no_metadata():
    article = "<p class='byline'>By Jane Doe</p><p class='date'>June 17, 2023</p>" + ARTICLE_P
    assert parse_html(html("<title>x</title>", article=article))["published_date"] == JUNE_17


# ----------------------------------------------------------------- HTML: body


def test_html_body_is_the_article_paragraphs_without_nav_or_footer():
    rec = parse_html(html(f"<title>{HEADLINE}</title>"))
    body = rec["body"]
    for p in PARAGRAPHS:
        assert p in body
    assert body.endswith(PARAGRAPHS[-1])
    assert "Copyright" not in body and "privacy policy" not in body
    assert "Weather" not in body


def test_html_body_paragraphs_are_joined_by_a_blank_line():
    rec = parse_html(html(f"<title>{HEADLINE}</title>", h1=None))
    assert rec["body"] == "\n\n".join(PARAGRAPHS)


def test_html_body_does_not_start_with_the_headline():
    rec = parse_html(html(f"<title>{HEADLINE}</title>"))
    assert rec["body"] == "\n\n".join(PARAGRAPHS)


def test_html_file_goes_through_parse_file():
    head = f"<title>{HEADLINE} | {SITE}</title><meta property='article:published_time' content='2023-06-17'>"
    (rec,) = parse_file("pages/library.html", html(head).encode())
    assert rec["format"] == "html"
    assert rec["source_path"] == "pages/library.html"
    assert rec["read_error"] is None
    assert rec["title"] == HEADLINE
    assert rec["published_date"] == JUNE_17
    assert PARAGRAPHS[2] in rec["body"]


def test_html_pages_parsed_together_read_as_each_one_alone():
    """A batch parses its pages' texts in one pass: each page must come out as it would alone
    (one with its date in metadata, one dated only in its byline, one without a date, one with
    an extractor text too short to be the article)."""
    from cleanwire.ingest.parse import parse_files

    dated = html(f"<title>{HEADLINE}</title><meta property='article:published_time' content='2023-06-17'>")
    byline = html("<title>x</title>", article="<p class='byline'>By Jane Doe</p><p>June 17, 2023</p>" + ARTICLE_P)
    undated = html(f"<title>{HEADLINE}</title>", h1=None)
    thin = html("<title>x</title>", article="<div>" + "</div><div>".join(PARAGRAPHS[:2]) + "</div>")
    pages = [dated, byline, undated, thin]
    together = [recs[0] for recs in parse_files([(f"p{i}.html", p.encode()) for i, p in enumerate(pages)])]
    alone = [parse_file(f"p{i}.html", p.encode())[0] for i, p in enumerate(pages)]
    assert together == alone
    assert [r["published_date"] for r in together] == [JUNE_17, JUNE_17, None, None]


def test_a_page_lxml_refuses_is_unreadable_and_the_other_pages_are_parsed():
    from cleanwire.ingest.parse import parse_files

    good = html(f"<title>{HEADLINE}</title>")
    recs = [r[0] for r in parse_files([("a.html", good.encode()), ("b.html", b"<html>\x00\x00</html>"),
                                       ("c.html", good.encode())])]
    assert recs[0]["body"] and recs[2]["body"] and recs[0]["body"] == recs[2]["body"]
    assert recs[1]["source_path"] == "b.html"
    assert recs[1]["read_error"] is not None or recs[1]["body"] is None


# ----------------------------------------------------------------- JSON Lines


def line(**fields) -> str:
    return json.dumps(fields)


BODY = "\n\n".join(PARAGRAPHS)


def test_jsonl_gives_one_record_per_line_numbered_by_line():
    text = "\n".join([line(title=HEADLINE, date="2023-06-17", text=BODY),
                      line(title="Second story", date="2023-06-18", text=PARAGRAPHS[0]),
                      line(title="Third story", date="2023-06-19", text=PARAGRAPHS[1])])
    recs = parse_file("feeds/day.jsonl", text.encode())
    assert [r["source_path"] for r in recs] == ["feeds/day.jsonl#1", "feeds/day.jsonl#2", "feeds/day.jsonl#3"]
    assert all(r["source_file"] == "feeds/day.jsonl" for r in recs)
    assert len({r["article_id"] for r in recs}) == 3
    assert recs[0]["title"] == HEADLINE
    assert recs[0]["published_date"] == JUNE_17
    assert recs[0]["body"] == BODY


def test_jsonl_invalid_line_is_an_unreadable_record_and_the_others_are_kept():
    text = "\n".join([line(title=HEADLINE, date="2023-06-17", text=BODY),
                      '{"title": "Broken record", "date": ',
                      line(title="Third story", date="2023-06-19", text=PARAGRAPHS[1])])
    recs = parse_file("feeds/day.jsonl", text.encode())
    assert [r["source_path"] for r in recs] == ["feeds/day.jsonl#1", "feeds/day.jsonl#2", "feeds/day.jsonl#3"]
    assert recs[0]["read_error"] is None and recs[2]["read_error"] is None
    assert recs[1]["read_error"]


@pytest.mark.parametrize("bad", ['[1, 2, 3]', '"just a string"', "42"])
def test_jsonl_line_that_is_not_an_object_is_unreadable(bad):
    text = "\n".join([line(title=HEADLINE, date="2023-06-17", text=BODY), bad])
    recs = parse_file("feeds/day.jsonl", text.encode())
    assert recs[1]["source_path"] == "feeds/day.jsonl#2"
    assert recs[1]["read_error"]


@pytest.mark.parametrize("fields", [
    {"title": None, "date": None, "text": None},
    {"title": "", "date": "", "text": ""},
    {},
    {"url": "https://example.com/story"},
])
def test_jsonl_missing_empty_and_null_fields_give_nulls_not_errors(fields):
    (rec,) = parse_file("feeds/day.jsonl", json.dumps(fields).encode())
    assert rec["read_error"] is None
    assert rec["title"] is None
    assert rec["published_date"] is None
    assert rec["body"] is None


def test_jsonl_date_field_missing_gives_no_date():
    (rec,) = parse_file("feeds/day.jsonl", line(title=HEADLINE, text=BODY).encode())
    assert rec["published_date"] is None
    assert rec["title"] == HEADLINE


def test_jsonl_field_names_headline_published_at_content_author():
    text = line(headline=HEADLINE, publishedAt="2023-06-17T07:00:00Z", content=BODY, author="Jane Doe")
    (rec,) = parse_file("feeds/day.jsonl", text.encode())
    assert rec["title"] == HEADLINE
    assert rec["published_date"] == JUNE_17
    assert rec["body"] == BODY
    assert rec["author"] == "Jane Doe"


def test_jsonl_nested_article_wrapper():
    text = json.dumps({"id": 7, "article": {"title": HEADLINE, "date": "June 17, 2023", "body": BODY}})
    (rec,) = parse_file("feeds/day.jsonl", text.encode())
    assert rec["title"] == HEADLINE
    assert rec["published_date"] == JUNE_17
    assert rec["body"] == BODY


def test_jsonl_html_inside_content_becomes_paragraphs():
    content = "".join(f"<p>{p.replace('library', '<em>library</em>', 1)}</p>" for p in PARAGRAPHS)
    (rec,) = parse_file("feeds/day.jsonl", line(title=HEADLINE, date="2023-06-17", content=content).encode())
    assert rec["body"] == BODY
    assert "<" not in rec["body"]


def test_json_array_file_gives_path_hash_n():
    data = json.dumps([{"title": HEADLINE, "date": "2023-06-17", "text": BODY},
                       {"title": "Second story", "date": "2023-06-18", "text": PARAGRAPHS[0]}])
    recs = parse_file("feeds/batch.json", data.encode())
    assert [r["source_path"] for r in recs] == ["feeds/batch.json#1", "feeds/batch.json#2"]
    assert recs[0]["title"] == HEADLINE and recs[1]["title"] == "Second story"


def test_json_single_object_file_gives_the_path_itself():
    data = json.dumps({"title": HEADLINE, "date": "2023-06-17", "text": BODY}, indent=2)
    (rec,) = parse_file("feeds/one.json", data.encode())
    assert rec["source_path"] == "feeds/one.json"
    assert rec["title"] == HEADLINE
    assert rec["published_date"] == JUNE_17


def test_json_object_with_an_articles_list_gives_path_hash_n():
    data = json.dumps({"status": "ok", "articles": [{"title": HEADLINE, "publishedAt": "2023-06-17", "content": BODY},
                                                    {"title": "Second story", "publishedAt": "2023-06-18",
                                                     "content": PARAGRAPHS[0]}]})
    recs = parse_file("feeds/api.json", data.encode())
    assert [r["source_path"] for r in recs] == ["feeds/api.json#1", "feeds/api.json#2"]


def test_invalid_json_file_is_one_unreadable_record():
    recs = parse_file("feeds/bad.json", b'{"title": "Mountain village opens", "date": ')
    assert len(recs) == 1
    assert recs[0]["source_file"] == "feeds/bad.json"
    assert recs[0]["read_error"]


def test_a_broken_install_fails_loudly_instead_of_quarantining_every_html_file(monkeypatch):
    # An extractor that cannot be imported is a defect of the environment, not of the
    # input: quarantining every page as 'unreadable' would hide it behind a green run.
    import sys

    from cleanwire.ingest.parse import parse_files

    monkeypatch.setitem(sys.modules, "trafilatura", None)
    with pytest.raises(ImportError):
        parse_files([("page.html", html(f"<title>{HEADLINE}</title>").encode())])


def test_html_headline_as_printed_beats_the_search_engine_title():
    """The article's <h1> is the headline as printed; metadata titles are often written for search engines."""
    seo = "Highest Library in the Country | Guide to Mountain Village Libraries"
    head = f"<title>{seo}</title><meta property='og:title' content='{seo}'>" + json_ld(
        {"@type": "NewsArticle", "headline": seo})
    assert parse_html(html(head))["title"] == HEADLINE


def test_html_headline_escaped_twice_in_the_metadata_is_read_once():
    head = json_ld({"@type": "NewsArticle", "headline": "The Village&#39;s Library Opens"})
    assert parse_html(html(head, h1=None))["title"] == "The Village's Library Opens"


def test_html_whose_extractor_finds_no_text_gets_its_body_from_the_visible_text():
    """Some layouts defeat the extractor (here the article sits in an <aside>): the page's own
    text, read by the same line rules as a text dump, gives the body instead of an empty one."""
    page = (f"<!doctype html><html><head><title>{HEADLINE}</title></head><body>{NAV}"
            f"<aside><h1>{HEADLINE}</h1>{ARTICLE_P}</aside>{FOOTER}</body></html>")
    rec = parse_html(page)
    assert rec["title"] == HEADLINE
    assert rec["body"] is not None and all(p in rec["body"] for p in PARAGRAPHS)


def test_a_page_still_being_read_after_the_time_limit_is_unreadable_too_slow(monkeypatch):
    """One pathological page must not stall its batch: past the per-page limit it is unreadable,
    with the reason, and the batch's other pages are read."""
    from cleanwire.ingest.formats import html as html_format
    from cleanwire.ingest.parse import parse_files

    good = html(f"<title>{HEADLINE}</title>")
    # Thousands of nested blocks: slow for the extractor (a real pathological page is slower still).
    deep = html("<title>x</title>", article="<div>" * 3000 + ARTICLE_P + "</div>" * 3000)
    monkeypatch.setattr(html_format, "PAGE_SECONDS", 0.001)
    slow = parse_files([("slow.html", deep.encode())])[0][0]
    assert slow["unreadable_reason"] == "too_slow"
    assert "per-page limit" in slow["read_error"]
    monkeypatch.setattr(html_format, "PAGE_SECONDS", 30.0)
    (ok,), (other,) = parse_files([("a.html", good.encode()), ("b.html", good.encode())])
    assert ok["read_error"] is None and other["body"] == ok["body"]
