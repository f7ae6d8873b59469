"""Publication dates: the formats news pages print, where the date is taken from, and no invented dates.

Unit tests of `cleanwire.dates` (pure functions) and of the date a page dump
gets through `parse_page_dump`. The articles are invented for these tests.
"""
from __future__ import annotations

import datetime as dt

import pytest

from cleanwire.ingest.dates import classify_date_line, find_dates, parse_date_value
from cleanwire.ingest.formats.text_dump import parse_page_dump

JUNE_17 = dt.date(2023, 6, 17)

HEADLINE = "Lighthouse keepers return to Gullrock island after forty years"
PARAGRAPHS = [
    "For the first time in four decades, two keepers will live on Gullrock island this winter, after the coastal trust "
    "decided that the old lighthouse needs people on hand to look after it through the storm season.",
    "The trust said automatic lamps had kept ships safe since the last keeper left, but salt and damp had done so much "
    "damage to the tower that a permanent caretaker was now cheaper than repeated repairs by boat.",
    "Anna Lindqvist, one of the two new keepers, said she had applied as soon as she saw the advertisement, having "
    "spent her childhood summers on a neighbouring island watching the beam sweep across the water.",
    "The keepers will be relieved every six weeks by a supply boat, weather permitting, and will send daily readings "
    "of wind and sea to the national weather service as their predecessors once did.",
]
BODY = "\n\n".join(PARAGRAPHS)


def page(*header_lines: str, body: str = BODY, footer: str = "") -> str:
    return "\n".join(header_lines) + "\n\n" + body + (("\n\n" + footer) if footer else "")


# ----------------------------------------------------------------- find_dates: the formats


@pytest.mark.parametrize("line", [
    "June 17, 2023",
    "Jun. 17, 2023",
    "Saturday, June 17, 2023",
    "17 June 2023",
    "17th of June 2023",
    "Sat 17 Jun 2023",
    "2023-06-17",
    "2023-06-17T10:32:00Z",
    "2023-06-17T10:32:00+01:00",
    "17.06.2023",
    "17/06/2023 10:32 BST",
])
def test_find_dates_reads_common_news_formats(line):
    found = find_dates(line)
    assert [f.date for f in found] == [JUNE_17]


def test_find_dates_reads_ambiguous_slashed_date_day_first_on_a_british_page():
    # 05/06 is 5 June in Britain; the BST zone says nothing American about the page.
    assert [f.date for f in find_dates("05/06/2023 10:32 BST")] == [dt.date(2023, 6, 5)]


def test_find_dates_reads_ambiguous_slashed_date_month_first_on_an_american_page():
    assert [f.date for f in find_dates("Updated 05/06/2023 10:32 AM ET")] == [dt.date(2023, 5, 6)]


def test_find_dates_returns_every_date_of_a_line_left_to_right():
    found = find_dates("Updated: June 18, 2023 | Published: June 17, 2023")
    assert [f.date for f in found] == [dt.date(2023, 6, 18), JUNE_17]


@pytest.mark.parametrize("line", ["June 31, 2023", "31/02/2023", "2023-13-01", "the score was 3-1 on Saturday",
                                  "no date here at all", ""])
def test_find_dates_invents_nothing_from_impossible_or_absent_dates(line):
    assert find_dates(line) == []


# ----------------------------------------------------------------- classify_date_line


@pytest.mark.parametrize("line, kind", [
    ("June 17, 2023", "plain"),
    ("17 June 2023", "plain"),
    ("2023-06-17", "plain"),
    ("17/06/2023 10:32 BST", "plain"),
    ("Published: 17/06/2023 10:32 BST", "published"),
    ("Updated June 17, 2023 at 3:04 p.m. ET", "updated"),
    ("Sat 17 Jun 2023", "plain"),
    ("17.06.2023", "plain"),
    (" date 2023-06-17 WORLD", "plain"),
    ("By Jane Doe | June 17, 2023 | 3 min read", "plain"),
])
def test_classify_date_line_accepts_dateline_and_byline_dates(line, kind):
    dl = classify_date_line(line.strip())
    assert dl is not None
    assert dl.date == JUNE_17
    assert dl.kind == kind


@pytest.mark.parametrize("line", [
    "Updated: June 18, 2023 | Published: June 17, 2023",
    "Published: June 17, 2023 | Updated: June 18, 2023",
    "Published 17 June 2023, Updated 18 June 2023",
])
def test_classify_date_line_prefers_published_over_updated(line):
    dl = classify_date_line(line)
    assert dl is not None and dl.date == JUNE_17 and dl.kind == "published"


def test_classify_date_line_marks_last_updated_as_not_the_publication_date():
    dl = classify_date_line("Last updated June 19, 2023")
    assert dl is not None and dl.kind == "last_updated"


@pytest.mark.parametrize("line", [
    "The keepers are due to arrive on the island on June 18, 2023.",
    "On June 18, 2023 the trust will hold an open day for families who want to climb the tower.",
])
def test_classify_date_line_refuses_prose_that_mentions_a_date(line):
    assert classify_date_line(line) is None


def test_classify_date_line_refuses_an_embedded_tweet_attribution():
    assert classify_date_line("— Anna Lindqvist (@annakeeper) November 20, 2019") is None


# ----------------------------------------------------------------- parse_date_value (metadata fields)


@pytest.mark.parametrize("value", [
    "2023-06-17", "2023-06-17T10:32:00Z", "2023-06-17T23:59:00-04:00", "June 17, 2023", "Sat, 17 Jun 2023 10:32:00 GMT",
    dt.date(2023, 6, 17), dt.datetime(2023, 6, 17, 10, 32),
    1686997920,        # epoch seconds, 2023-06-17 10:32 UTC
    1686997920000,     # epoch milliseconds
])
def test_parse_date_value_reads_metadata_values(value):
    assert parse_date_value(value) == JUNE_17


@pytest.mark.parametrize("value", [None, "", "   ", "unknown", "TBC", True])
def test_parse_date_value_gives_none_for_missing_or_meaningless_values(value):
    assert parse_date_value(value) is None


# ----------------------------------------------------------------- the page's date, via parse_page_dump


@pytest.mark.parametrize("date_line", [
    "June 17, 2023",
    "17 June 2023",
    "2023-06-17",
    "2023-06-17T10:32:00Z",
    "17/06/2023 10:32 BST",
    "Published: 17/06/2023 10:32 BST",
    "Updated June 17, 2023 at 3:04 p.m. ET",
    "Sat 17 Jun 2023",
    "17.06.2023",
    " date 2023-06-17 WORLD",
    "By Jane Doe | June 17, 2023 | 3 min read",
])
def test_page_date_is_read_from_the_byline_area(date_line):
    rec = parse_page_dump(page(HEADLINE, date_line))
    assert rec["published_date"] == JUNE_17
    assert rec["title"] == HEADLINE


def test_page_date_is_read_from_a_wire_layout_with_section_dateline_and_date_line():
    rec = parse_page_dump(page("WORLD", HEADLINE, "GULLROCK", " date 2023-06-17 WORLD"))
    assert rec["published_date"] == JUNE_17


def test_page_date_slashed_date_is_day_first_on_a_british_page():
    rec = parse_page_dump(page(HEADLINE, "05/06/2023 10:32 BST"))
    assert rec["published_date"] == dt.date(2023, 6, 5)


def test_page_date_takes_published_not_updated_from_one_line():
    rec = parse_page_dump(page(HEADLINE, "Updated: June 18, 2023 | Published: June 17, 2023"))
    assert rec["published_date"] == JUNE_17


def test_page_date_takes_published_not_updated_from_two_lines():
    rec = parse_page_dump(page(HEADLINE, "Updated June 18, 2023 at 3:04 p.m. ET", "Published June 17, 2023"))
    assert rec["published_date"] == JUNE_17


def test_page_date_ignores_last_updated_when_a_publication_date_is_printed():
    rec = parse_page_dump(page(HEADLINE, "Last updated June 19, 2023", "June 17, 2023"))
    assert rec["published_date"] == JUNE_17


def test_page_date_ignores_a_last_updated_footer():
    rec = parse_page_dump(page(HEADLINE, "June 17, 2023", footer="Last updated June 19, 2023"))
    assert rec["published_date"] == JUNE_17


def test_last_updated_alone_is_not_taken_as_the_publication_date():
    rec = parse_page_dump(page(HEADLINE, "By Jane Doe", "Last updated June 19, 2023"))
    assert rec["published_date"] is None


def test_undated_page_gets_no_date():
    rec = parse_page_dump(page("WORLD", HEADLINE, "By Jane Doe"))
    assert rec["published_date"] is None


def test_date_mentioned_in_a_body_sentence_of_an_undated_article_is_not_used():
    body = "\n\n".join([PARAGRAPHS[0], "The keepers are due to arrive on the island on June 18, 2023.", *PARAGRAPHS[1:]])
    rec = parse_page_dump(page(HEADLINE, body=body))
    assert rec["published_date"] is None
    assert "June 18, 2023" in rec["body"]  # the sentence itself stays in the body


def test_date_opening_the_first_paragraph_of_an_undated_article_is_not_used():
    first = ("On June 18, 2023, two keepers will move to Gullrock island, the first people to live there since the "
             "last keeper left four decades ago.")
    rec = parse_page_dump(page(HEADLINE, body="\n\n".join([first, *PARAGRAPHS[1:]])))
    assert rec["published_date"] is None


def test_date_in_a_standfirst_sentence_of_an_undated_article_is_not_used():
    rec = parse_page_dump(page(HEADLINE, "The keepers will arrive on the island on June 18, 2023.", "By Jane Doe"))
    assert rec["published_date"] is None


def test_event_date_in_a_short_standfirst_of_an_undated_article_is_not_used():
    rec = parse_page_dump(page("Island votes on new lighthouse keepers' cottage",
                               "Voting closes on June 18, 2023", "By Jane Doe"))
    assert rec["published_date"] is None


def test_embedded_tweet_attribution_in_an_undated_article_is_not_the_date():
    body = "\n\n".join([PARAGRAPHS[0], PARAGRAPHS[1],
                        "The light is back in safe hands! Proud to be part of the team.\n"
                        "— Anna Lindqvist (@annakeeper) November 20, 2019",
                        *PARAGRAPHS[2:]])
    rec = parse_page_dump(page(HEADLINE, body=body))
    assert rec["published_date"] is None


def test_embedded_tweet_attribution_does_not_replace_the_byline_date():
    body = "\n\n".join([PARAGRAPHS[0], PARAGRAPHS[1],
                        "The light is back in safe hands! Proud to be part of the team.\n"
                        "— Anna Lindqvist (@annakeeper) November 20, 2019",
                        *PARAGRAPHS[2:]])
    rec = parse_page_dump(page(HEADLINE, "June 17, 2023", body=body))
    assert rec["published_date"] == JUNE_17


def test_timeline_entry_between_paragraphs_is_not_the_publication_date():
    body = "\n\n".join([PARAGRAPHS[0], "June 18, 2023: the keepers arrive.", *PARAGRAPHS[1:]])
    rec = parse_page_dump(page(HEADLINE, body=body))
    assert rec["published_date"] is None


def test_dates_of_other_stories_listed_after_the_article_are_not_used():
    footer = ("More stories\nFerry service to the outer islands cut for winter\nJune 12, 2023\n"
              "Seal pups counted on the northern skerries\nJune 10, 2023")
    rec = parse_page_dump(page(HEADLINE, footer=footer))
    assert rec["published_date"] is None


def test_the_article_date_wins_over_dates_of_listed_other_stories():
    footer = "More stories\nFerry service to the outer islands cut for winter\nJune 12, 2023"
    rec = parse_page_dump(page(HEADLINE, "June 17, 2023", footer=footer))
    assert rec["published_date"] == JUNE_17


@pytest.mark.parametrize("line", ["Harbour Notes: The Ferry Vote Explained (2023-06-17)",
                                  "Weekly Digest: Council and Ferries [June 17, 2023]"])
def test_a_date_in_brackets_after_a_headline_does_not_make_a_date_line(line):
    assert classify_date_line(line) is None


@pytest.mark.parametrize("line", ["LONDON (June 17, 2023)", "Jane Doe (June 17, 2023)"])
def test_a_bracketed_date_beside_a_place_or_author_is_a_date_line(line):
    assert classify_date_line(line).date == dt.date(2023, 6, 17)


@pytest.mark.parametrize("line", ["Jane Doe, staff writer June 17, 2023", "Posted in World on June 17, 2023",
                                  "By Jane Doe, Reuters correspondent, June 17, 2023"])
def test_a_byline_with_the_authors_role_beside_its_date_is_a_date_line(line):
    assert classify_date_line(line).date == dt.date(2023, 6, 17)
