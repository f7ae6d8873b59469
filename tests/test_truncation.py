"""Truncated bodies: the parser's `cut_marker` and the `ends_cleanly` feature (truncated_body).

Most tests go the way a batch does: `parse_file` -> `build_frame` (which runs
`rules.add_features`); a few give `add_features` a hand-made row to pin the
feature's own rule. Articles are invented for these tests.
"""
from __future__ import annotations

import json

import polars as pl
import pytest

from cleanwire.ingest.batch import build_frame
from cleanwire.rules import add_features
from cleanwire.ingest.parse import parse_file
from cleanwire.types import PARSED, conform

HEADER = "Night trains return to the northern line after twenty years\nBy Jane Doe\nJune 17, 2023"
PARAGRAPHS = [
    "Sleeper trains will run again between the capital and the northern coast from December, the rail operator said "
    "on Saturday, twenty years after the last overnight service was withdrawn for lack of passengers.",
    "The operator has bought eight refurbished carriages with private cabins and a dining car, and expects the "
    "journey to take just under eleven hours, with stops at four market towns along the way.",
    "Tourism groups in the north welcomed the news, saying that visitors from abroad had long asked for a way to "
    "reach the coast without flying or spending a whole day in a car.",
    "Tickets will go on sale in September, and the cheapest seats will cost about the same as a return bus fare, "
    "the operator's chief executive, Lena Marsh, told a press conference at the central station.",
]
LAST = PARAGRAPHS[-1]
COMPLETE = "\n\n".join(PARAGRAPHS)
FIRST_THREE = "\n\n".join(PARAGRAPHS[:3])


def parsed(text: str, name: str = "article.txt") -> dict:
    """The featured row of one page dump."""
    frame = build_frame(parse_file(name, text.encode()), "t")
    assert frame.height == 1
    return frame.row(0, named=True)


def page(body: str) -> str:
    return HEADER + "\n\n" + body


def feature_row(body: str, last_paragraph: str | None = None, cut_marker: str | None = None) -> dict:
    """add_features on one hand-made parsed record."""
    paragraphs = body.split("\n\n")
    rec = {"article_id": "x", "source_path": "x.txt", "title": "Night trains return", "title_kind": "headline",
           "body": body, "last_paragraph": last_paragraph if last_paragraph is not None else paragraphs[-1],
           "cut_marker": cut_marker}
    return add_features(conform(pl.DataFrame([rec]), PARSED)).row(0, named=True)


# ----------------------------------------------------------------- a complete article is not truncated


def test_complete_article_ends_cleanly():
    row = parsed(page(COMPLETE))
    assert row["cut_marker"] is None
    assert row["ends_cleanly"] is True


# ----------------------------------------------------------------- truncated


def test_body_cut_mid_sentence_is_truncated():
    cut = LAST[: LAST.index("the operator's")].rstrip(" ,")  # '... the same as a return bus fare'
    row = parsed(page(FIRST_THREE + "\n\n" + cut))
    assert row["body"].endswith("return bus fare")
    assert row["ends_cleanly"] is False


def test_body_cut_after_a_few_words_of_a_new_paragraph_is_truncated():
    row = parsed(page(COMPLETE + "\n\nThe operator also said that"))
    assert row["ends_cleanly"] is False


@pytest.mark.parametrize("ellipsis", ["…", "..."])
def test_body_ending_in_an_ellipsis_is_truncated(ellipsis):
    cut = LAST[: LAST.index(", the operator's")] + ellipsis
    row = parsed(page(FIRST_THREE + "\n\n" + cut))
    assert row["cut_marker"] == "ellipsis"
    assert row["ends_cleanly"] is False


def test_chars_stub_is_truncated_and_the_text_before_it_is_kept():
    cut = LAST[: LAST.index("the operator's")] + "the oper… [+1234 chars]"
    row = parsed(page(FIRST_THREE + "\n\n" + cut))
    assert row["cut_marker"] == "chars_stub"
    assert row["ends_cleanly"] is False
    assert "[+1234 chars]" not in row["body"]
    assert row["body"].startswith(PARAGRAPHS[0])
    assert row["body"].endswith("the same as a return bus fare, the oper")


def test_chars_stub_on_its_own_line_is_truncated():
    row = parsed(page(FIRST_THREE + "\n\n[+1234 chars]"))
    assert row["cut_marker"] == "chars_stub"
    assert row["ends_cleanly"] is False
    assert row["body"] == FIRST_THREE


def test_chars_stub_in_a_feed_record_is_truncated_and_the_text_before_it_is_kept():
    content = PARAGRAPHS[0] + " The operator has bought eight refurbished… [+1873 chars]"
    line = json.dumps({"title": "Night trains return to the northern line", "publishedAt": "2023-06-17T08:00:00Z",
                       "content": content})
    row = build_frame(parse_file("feed.jsonl", line.encode()), "t").row(0, named=True)
    assert row["cut_marker"] == "chars_stub"
    assert row["ends_cleanly"] is False
    assert row["body"] == PARAGRAPHS[0] + " The operator has bought eight refurbished"


@pytest.mark.parametrize("stub, marker", [
    ("Continue reading", "read_more"),
    ("Read more", "read_more"),
    ("Subscribe to read the full story", "paywall"),
])
def test_read_more_and_paywall_stubs_are_truncated(stub, marker):
    row = parsed(page(FIRST_THREE + "\n\n" + stub))
    assert row["cut_marker"] == marker
    assert row["ends_cleanly"] is False
    assert stub not in row["body"]


def test_continue_reading_after_a_sentence_cut_mid_way_is_truncated():
    cut = LAST[: LAST.index("the operator's")].rstrip(" ,")
    row = parsed(page(FIRST_THREE + "\n\n" + cut + "\n\nContinue reading"))
    assert row["cut_marker"] == "read_more"
    assert row["ends_cleanly"] is False


# ----------------------------------------------------------------- complete, though the last line is not a plain sentence


def test_quote_with_an_inner_ellipsis_ending_the_article_is_not_truncated():
    quote = ('"It is not only about the trains," Marsh said. "It is about how the north and the south see each '
             'other, how they travel, and how... to get along."')
    row = parsed(page(COMPLETE + "\n\n" + quote))
    assert row["body"].endswith("to get along.\"")
    assert row["cut_marker"] is None
    assert row["ends_cleanly"] is True


@pytest.mark.parametrize("credit", [
    "(Reporting by Jane Doe; Editing by John Smith)",
    "© Reuters",
    "___",
])
def test_credit_line_after_the_last_paragraph_is_not_truncation(credit):
    row = parsed(page(COMPLETE + "\n\n" + credit))
    assert row["ends_cleanly"] is True


def test_photo_caption_after_the_last_paragraph_is_not_truncation():
    row = parsed(page(COMPLETE + "\n\nA refurbished sleeper carriage at the depot on Friday. / Photo: AP / AP"))
    assert row["ends_cleanly"] is True
    assert "Photo: AP" not in row["body"]


def test_article_ending_with_a_web_address_is_not_truncated():
    row = parsed(page(COMPLETE + "\n\nFor the full timetable and fares, visit www.northern-sleeper.example.com"))
    assert row["body"].endswith("www.northern-sleeper.example.com")
    assert row["ends_cleanly"] is True


DEAL_INTRO = ("The rail operator has cut prices on a range of sleeper tickets for the autumn, and these are the best "
              "deals we found this week for families travelling to the coast.")
DEAL_MIDDLE = ("Prices for pets and bicycles are unchanged, and several readers told us that booking a cabin for "
               "the return leg at the same time saved them the most money last year.")
DEALS = ["• Two-berth cabin, was $180, now $120", "• Four-berth family cabin, was $300, now $210",
         "• Reclining seat, was $60, now $45", "• Breakfast in the dining car, was $18, now $12"]


def test_list_like_article_of_deal_items_without_full_stops_is_not_truncated():
    body = "\n\n".join([DEAL_INTRO, *DEALS[:2], DEAL_MIDDLE, *DEALS[2:]])
    row = parsed(page(body))
    assert row["body"] == body
    assert row["ends_cleanly"] is True


def test_ends_cleanly_accepts_a_list_like_body_whose_items_lack_full_stops():
    items = [d.removeprefix("• ") for d in DEALS]
    row = feature_row("\n\n".join([DEAL_INTRO, *items]))
    assert row["ends_cleanly"] is True


def test_ends_cleanly_refuses_a_prose_body_whose_last_paragraph_lacks_a_full_stop():
    row = feature_row(FIRST_THREE + "\n\nTickets will go on sale in September, and the cheapest seats will")
    assert row["ends_cleanly"] is False


def test_ends_cleanly_is_false_whenever_the_parser_saw_a_cut_stub():
    row = feature_row(COMPLETE, cut_marker="read_more")
    assert row["ends_cleanly"] is False


def test_ends_cleanly_judges_the_last_prose_paragraph_not_the_end_matter():
    # The parser passes over end matter ('© Reuters') and hands the last prose paragraph over.
    row = feature_row(COMPLETE + "\n\n© Reuters", last_paragraph=LAST)
    assert row["ends_cleanly"] is True
    row = feature_row(FIRST_THREE + "\n\nTickets will go on sale in\n\n© Reuters",
                      last_paragraph="Tickets will go on sale in")
    assert row["ends_cleanly"] is False


def test_ends_cleanly_is_null_without_a_body():
    rec = {"article_id": "x", "source_path": "x.txt", "title": "Night trains return", "body": None}
    row = add_features(conform(pl.DataFrame([rec]), PARSED)).row(0, named=True)
    assert row["ends_cleanly"] is None


# The same deals without bullets, in an order where the first two share few words with the rest.
UNBULLETED = ["Reclining seat, was $60, now $45", "Breakfast in the dining car, was $18, now $12",
              "Two-berth cabin, was $180, now $120", "Four-berth family cabin, was $300, now $210"]
UNBULLETED_BODY = "\n\n".join([DEAL_INTRO, *UNBULLETED[:2], DEAL_MIDDLE, *UNBULLETED[2:]])


def test_list_like_article_with_unbulleted_items_is_not_truncated():
    row = parsed(page(UNBULLETED_BODY))
    assert row["ends_cleanly"] is True


def test_unbulleted_deal_items_between_paragraphs_are_kept_in_the_body():
    row = parsed(page(UNBULLETED_BODY))
    assert row["body"] == UNBULLETED_BODY


def test_deal_list_after_a_one_paragraph_intro_is_kept_in_the_body():
    body = "\n".join([DEAL_INTRO, *DEALS])
    row = parsed(page(body))
    for item in DEALS:
        assert item in row["body"]


def test_read_more_link_to_another_story_after_a_complete_article_is_not_truncation():
    row = parsed(page(COMPLETE + "\n\nREAD MORE: Bus fares to rise in the spring"))
    assert row["ends_cleanly"] is True


# ----------------------------------------------------------------- guides, inline headlines, links

GUIDE = ["1. Booking early",
         "Cabins sell out weeks ahead in the holidays, so travellers who know their dates should book as soon as "
         "the operator opens sales in September.",
         "2. Packing light",
         "Each cabin has room for one suitcase per berth under the lower bunk, and larger bags must go in the "
         "luggage van at the front of the train.",
         "3. Eating on board",
         "The dining car serves a set dinner until ten and breakfast from six, and passengers may bring their own "
         "food into the cabins."]


def test_complete_guide_whose_subheadings_alternate_with_prose_is_not_truncated():
    row = parsed(page("\n\n".join([PARAGRAPHS[0], *GUIDE])))
    assert row["ends_cleanly"] is True


def test_guide_cut_just_after_its_last_subheading_is_truncated():
    # Subheadings lack full stops like list items, but each stands alone between prose:
    # the words after the last one are its section, cut off.
    row = feature_row("\n\n".join([PARAGRAPHS[0], *GUIDE, "4. Sleeping well", "Most passengers"]))
    assert row["ends_cleanly"] is False


def test_run_of_items_at_the_end_of_a_guide_is_still_a_list():
    row = feature_row("\n\n".join([PARAGRAPHS[0], *GUIDE[:4], "What to bring", "Earplugs", "A torch"]))
    assert row["ends_cleanly"] is True


TEASER = "Ten Quiet Beaches You Can Reach by Bus"   # another story's headline, set between paragraphs


@pytest.mark.parametrize("tail, body_end", [
    # the cut fragment, the teaser, then the stub
    ("Tickets will go on sale in September, and the cheapest\n\n" + TEASER + "\n\nContinue reading",
     "and the cheapest"),
    # the teaser, then the cut fragment ending the page
    (TEASER + "\n\nTickets will go on sale in September. The cheapest seats will cost about the same as",
     "cost about the same as"),
], ids=["fragment-teaser-stub", "teaser-fragment"])
def test_a_teaser_headline_beside_the_cut_fragment_is_passed_over(tail, body_end):
    row = parsed(page(FIRST_THREE + "\n\n" + tail))
    assert row["ends_cleanly"] is False
    assert row["body"].endswith(body_end)
    assert TEASER not in row["body"]


def test_headline_after_a_complete_article_is_not_taken_for_a_cut():
    row = parsed(page(COMPLETE + "\n\n" + TEASER))
    assert row["ends_cleanly"] is True


def test_paragraph_ending_in_the_link_it_points_to_is_running_text():
    # 'Register through the form. https://...' ends a sentence and gives its address:
    # the paragraph is the article's, and the paywall stub after a teaser headline is seen.
    link = "Passengers can register for the first departures through the operator's booking form. https://rail.example.org/form"
    text = page(FIRST_THREE + "\n\n" + link + "\n\nA guide to the quietest beaches by bus"
                "\n\nSubscribe to read the full story")
    row = parsed(text)
    assert link in row["body"]
    assert row["ends_cleanly"] is False
