"""Page furniture: which lines are never article text, and a body built without them.

`classify_line` is tested line by line; `parse_page_dump` is tested on invented
articles with furniture put between and after their paragraphs: the body must
be exactly the article's paragraphs (and its own subheadings), joined by a
blank line.
"""
from __future__ import annotations

import pytest

from cleanwire.ingest.lines import DROP_KINDS, classify_line
from cleanwire.rules.title_mismatch import is_generic_label
from cleanwire.ingest.formats.text_dump import parse_page_dump
from cleanwire.text import clean_line

HEADLINE = "Village bakery saves heritage wheat from extinction"
PARAGRAPHS = [
    "A family bakery in the hill village of Marrow Cross has rescued a variety of wheat that farmers stopped growing "
    "more than a century ago, after a retired teacher found a jar of seed in her grandmother's attic.",
    "The baker, Tomasz Nowak, planted the few hundred grains in pots on his windowsill, and three harvests later he "
    "had enough to sow a strip of field behind the churchyard.",
    "Loaves made from the old wheat sold out within an hour on Saturday morning, and Nowak said customers had asked "
    "him to keep back seed for their own gardens.",
    "Scientists at the national seed bank said they would test the grain and store a sample, since no living plants "
    "of the variety were known to survive anywhere else.",
]


def page(body_lines: list[str], header: str = f"{HEADLINE}\nBy Jane Doe\nJune 17, 2023") -> str:
    return header + "\n\n" + "\n\n".join(body_lines)


def body_paragraphs(text: str) -> list[str]:
    rec = parse_page_dump(text)
    assert rec["body"] is not None
    return rec["body"].split("\n\n")


def kind(line: str) -> str:
    return classify_line(clean_line(line)).kind


# ----------------------------------------------------------------- classify_line, one line at a time


@pytest.mark.parametrize("line, expected", [
    ("3 min read", "read_time"),
    ("5 minute read", "read_time"),
    ("Reading time: 4 minutes", "read_time"),
    ("ADVERTISEMENT", "ad"),
    ("Advertisement", "ad"),
    ("Story continues below advertisement", "ad"),
    ("We use cookies to improve your experience. By continuing to browse you accept our use of cookies.", "cookie"),
    ("This site uses cookies. Accept all", "cookie"),
    ("Related: Seed bank opens its vaults to school visits", "related"),
    ("RelatedSeed bank opens its vaults to school visits", "related"),
    ("SOURCE: National seed bank annual report", "source"),
    ("Source: AP", "source"),
    ("Customers queue outside the bakery on Saturday. / Photo: AP / AP", "caption"),
    ("Tomasz Nowak in his bakery on Saturday. (Photo by John Smith/Getty Images)", "caption"),
    ("Credit...Jane Doe for The Hill Gazette", "caption"),
    ("File:Marrow Cross bakery.jpg - Wikimedia Commons", "caption"),
    ("Jane DoeJane Doe", "byline"),
    ("By Jane Doe", "byline"),
    ("Home > World > Asia", "nav"),
    ("Share | Tweet | Email", "share"),
    ("Continue reading", "cut_stub"),
    ("Subscribe to read the full story", "cut_stub"),
    ("… [+1234 chars]", "cut_stub"),
])
def test_classify_line_recognises_page_furniture(line, expected):
    assert kind(line) == expected
    assert expected in DROP_KINDS


@pytest.mark.parametrize("line", ["RECOMMENDED", "Recommended for you", "Explore", "Explore more", "Most Read",
                                  "More stories", "Related Articles"])
def test_classify_line_recognises_headers_of_lists_of_other_articles(line):
    assert kind(line) == "list_start"


@pytest.mark.parametrize("line", ["(Reporting by Jane Doe; Editing by John Smith)", "© Reuters 2023"])
def test_classify_line_recognises_credit_lines(line):
    assert kind(line) == "credit"


def test_classify_line_keeps_running_text_as_prose():
    for p in PARAGRAPHS:
        assert kind(p) == "prose"


def test_classify_line_keeps_a_sentence_mentioning_cookies_in_passing_as_text():
    # A story about a bakery may talk about cookies without being a cookie banner.
    assert kind("Nowak also bakes oat biscuits and ginger cookies, which he sells from a basket by the door.") == "prose"


def test_body_keeps_a_story_sentence_about_cookies_and_experience():
    sentence = ("Baking cookies with his grandmother was his first experience of the trade, Nowak said, long before "
                "he ran a shop of his own.")
    lines = [PARAGRAPHS[0], PARAGRAPHS[1], sentence, *PARAGRAPHS[2:]]
    assert body_paragraphs(page(lines)) == lines


@pytest.mark.parametrize("line", ["WORLD", "Latest News", "Top Stories", "Opinion", "BUSINESS NEWS"])
def test_is_generic_label_recognises_section_labels(line):
    assert is_generic_label(line)


@pytest.mark.parametrize("line", [HEADLINE, "Seed bank opens its vaults to school visits"])
def test_is_generic_label_refuses_headlines(line):
    assert not is_generic_label(line)


def test_is_prose_refuses_a_headline_ending_in_a_question_mark():
    assert classify_line("Could a forgotten wheat help farmers cope with drier summers?").kind != "prose"


# ----------------------------------------------------------------- the body, without furniture


def test_body_is_the_paragraphs_joined_by_a_blank_line():
    rec = parse_page_dump(page(PARAGRAPHS))
    assert rec["body"] == "\n\n".join(PARAGRAPHS)


def test_body_joins_paragraphs_separated_by_single_newlines_with_a_blank_line():
    rec = parse_page_dump(f"{HEADLINE}\nJune 17, 2023\n" + "\n".join(PARAGRAPHS))
    assert rec["body"] == "\n\n".join(PARAGRAPHS)


def test_body_drops_read_time_badge_advertisement_and_cookie_banner():
    lines = [PARAGRAPHS[0], "ADVERTISEMENT", PARAGRAPHS[1],
             "We use cookies to improve your experience. By continuing to browse you accept our use of cookies.",
             PARAGRAPHS[2], "Advertisement", PARAGRAPHS[3]]
    text = page(lines, header=f"{HEADLINE}\nBy Jane Doe\nJune 17, 2023\n4 min read")
    assert body_paragraphs(text) == PARAGRAPHS


def test_body_drops_a_cookie_banner_after_the_last_paragraph():
    lines = [*PARAGRAPHS, "We use cookies to give you the best experience on our website. Accept all cookies"]
    assert body_paragraphs(page(lines)) == PARAGRAPHS


def test_body_drops_related_link_lines():
    lines = [PARAGRAPHS[0], "Related: Seed bank opens its vaults to school visits", PARAGRAPHS[1],
             "RelatedFarmers try drought-proof barley on the coast", *PARAGRAPHS[2:]]
    assert body_paragraphs(page(lines)) == PARAGRAPHS


def test_body_cuts_a_related_link_glued_to_the_end_of_a_paragraph():
    lines = [PARAGRAPHS[0], PARAGRAPHS[1] + "RelatedSeed bank opens its vaults to school visits", *PARAGRAPHS[2:]]
    assert body_paragraphs(page(lines)) == PARAGRAPHS


def test_body_drops_recommended_block_with_its_headline():
    lines = [PARAGRAPHS[0], PARAGRAPHS[1], "RECOMMENDED", "Seed bank opens its vaults to school visits",
             *PARAGRAPHS[2:]]
    assert body_paragraphs(page(lines)) == PARAGRAPHS


def test_body_drops_source_line():
    lines = [*PARAGRAPHS[:3], "SOURCE: National seed bank annual report", PARAGRAPHS[3]]
    assert body_paragraphs(page(lines)) == PARAGRAPHS


def test_body_stops_at_an_explore_list_of_other_headlines():
    lines = [*PARAGRAPHS, "Explore\nSeed Bank Opens Its Vaults To School Visits\n"
                          "Farmers Try Drought-Proof Barley On The Coast\nMill Reopens After Two Centuries"]
    assert body_paragraphs(page(lines)) == PARAGRAPHS


@pytest.mark.parametrize("caption", [
    "Customers queue outside the bakery on Saturday. / Photo: AP / AP",
    "Tomasz Nowak in his bakery on Saturday. (Photo by John Smith/Getty Images)",
    "Credit...Jane Doe for The Hill Gazette",
    "File:Marrow Cross bakery.jpg - Wikimedia Commons",
])
def test_body_drops_photo_captions_and_image_credits(caption):
    lines = [PARAGRAPHS[0], caption, *PARAGRAPHS[1:]]
    assert body_paragraphs(page(lines)) == PARAGRAPHS


def test_body_drops_a_doubled_byline_widget():
    lines = [PARAGRAPHS[0], PARAGRAPHS[1], "Jane DoeJane Doe", *PARAGRAPHS[2:]]
    assert body_paragraphs(page(lines)) == PARAGRAPHS


@pytest.mark.parametrize("other_headline", [
    "Seed bank opens its vaults to school visits for the first time",          # sentence case
    "Farmers Try Drought-Proof Barley On The Windy Northern Coast This Year",  # Title Case
])
def test_body_drops_an_inline_headline_of_another_article(other_headline):
    lines = [PARAGRAPHS[0], PARAGRAPHS[1], other_headline, *PARAGRAPHS[2:]]
    assert body_paragraphs(page(lines)) == PARAGRAPHS


def test_body_keeps_the_articles_own_subheadings():
    sub1 = "Three harvests on a windowsill"
    sub2 = "What the seed bank will do"
    lines = [PARAGRAPHS[0], sub1, PARAGRAPHS[1], PARAGRAPHS[2], sub2, PARAGRAPHS[3]]
    assert body_paragraphs(page(lines)) == lines


def test_body_with_every_kind_of_furniture_at_once():
    lines = [PARAGRAPHS[0], "ADVERTISEMENT",
             "Customers queue outside the bakery on Saturday. / Photo: AP / AP",
             PARAGRAPHS[1] + "RelatedSeed bank opens its vaults to school visits",
             "We use cookies to improve your experience. By continuing to browse you accept our use of cookies.",
             "Three harvests on a windowsill",
             PARAGRAPHS[2], "Tomasz Nowak in his bakery. (Photo by John Smith/Getty Images)", "Credit...Jane Doe",
             "Jane DoeJane Doe", "RECOMMENDED", "Farmers Try Drought-Proof Barley On The Windy Northern Coast This Year",
             PARAGRAPHS[3], "SOURCE: National seed bank",
             "Explore\nSeed Bank Opens Its Vaults To School Visits\nMill Reopens After Two Centuries"]
    header = "Home > News > Food\n" + HEADLINE + "\nJane DoeJane Doe\nJune 17, 2023\n3 min read\nShare | Tweet | Email"
    rec = parse_page_dump(page(lines, header=header))
    assert rec["body"] == "\n\n".join([PARAGRAPHS[0], PARAGRAPHS[1], "Three harvests on a windowsill",
                                       PARAGRAPHS[2], PARAGRAPHS[3]])
    assert rec["title"] == HEADLINE


@pytest.mark.parametrize("line,kind", [
    ("Price Premium: $0-$3,000 more than an equivalent gas-only car", "short"),   # a spec line, not a paywall
    ("Premium members only: subscribe to read the full story", "cut_stub"),
])
def test_a_paywall_line_names_what_it_withholds_as_a_word_of_its_own(line, kind):
    assert classify_line(line).kind == kind


@pytest.mark.parametrize("line", ["Skip to main content", "Skip to table of contents", "Skip to navigation"])
def test_skip_links_are_navigation(line):
    assert classify_line(line).kind == "nav"


@pytest.mark.parametrize("line,kind", [
    ("Trending: Storm closes mountain passes", "related"),
    ("Most read", "list_start"),                                          # a bare label heads a list
    ("Popular College Essay Topics (and How to Answer Them)", "short"),   # a headline starting with an adjective
    ("Trending Editor", "short"),
])
def test_a_related_widget_label_stands_alone_or_before_a_separator(line, kind):
    assert classify_line(line).kind == kind
