"""The line rules run in polars with ASCII word boundaries (rules/patterns.for_polars): they must
still find what the same patterns find with Unicode boundaries (Python's re) on news lines
with curly quotes, accents and other scripts."""
from __future__ import annotations

import re

import polars as pl
import pytest

from cleanwire.ingest import lines
from cleanwire.rules import patterns, truncated_body
from cleanwire.rules.patterns import for_polars

# Invented lines of the kinds the rules look for, written as sites print them: curly quotes,
# accented names, non-Latin scripts next to the keywords.
LINES = [
    "© 2024 Gazette du Léman. All rights reserved.",
    "Copyright “Nordlys Avis” 2023",
    "Reporting by Zoë Ménard; editing by Jürgen Öberg",
    "Photo: Ana Ruíz / Getty Images",
    "(Photo by Łukasz Żak/AFP via Getty Images)",
    "Bildunterschrift: Straße in München",
    "We use cookies to personalise content — “accept” to continue.",
    "Subscribe to read the full story, it’s for members only.",
    "Already a subscriber? Log in",
    "Continue reading…",
    "Follow Amélie Durand on Twitter",
    "Amélie Durand is a freelance journalist based in Québec.",
    "The café’s copyrighted recipe was sold in 2019.",
    "Les élèves ont préparé un exposé sur la photosynthèse.",
    "Τα νέα της ημέρας: photo gallery",
    "Жители города собрались на площади. Photo: Reuters",
    "She said the écopyright project was “premature”.",
    "Ends June 17, 2023 — or 17 June 2023 in Europe.",
    "Advertisement",
    "View all posts by Zoë Ménard",
    "By Zoë Ménard and Jane Doe",
    "More stories from Québec",
    "Share on Facebook · Twitter",
    "Skip to main content",
]
PATTERNS = {name: getattr(lines, name) for name in ("AD", "COOKIE", "CAPTION", "CREDIT", "AUTHOR_BIO", "BYLINE",
                                                    "AUTHOR_LINK", "LIST_START", "SHARE", "NAV")}
PATTERNS.update(PAYWALL=truncated_body.PAYWALL, PAYWALL_WHAT=truncated_body.PAYWALL_WHAT,
                CUT_STUB=truncated_body.CUT_STUB, DATE_IN_TEXT=patterns.DATE_IN_TEXT)


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_polars_form_of_a_rule_finds_what_python_finds(name):
    pattern = PATTERNS[name]
    python = [re.search(pattern, line) is not None for line in LINES]
    polars = pl.Series(LINES).str.contains(for_polars(pattern)).to_list()
    # 'écopyright': the one place the two differ, a keyword glued to a non-ASCII letter
    differ = [line for line, a, b in zip(LINES, python, polars) if a != b and "écopyright" not in line]
    assert differ == [], f"{name} finds differently in polars: {differ}"
    assert any(python), f"no invented line meets {name}: the test would not see a difference"


def test_only_word_boundaries_change():
    assert for_polars(r"(?i)\bby\b [A-Z]\w+") == r"(?i)(?-u:\b)by(?-u:\b) [A-Z]\w+"
    assert for_polars(r"a\\b") == r"a\\b"   # an escaped backslash followed by 'b' is not a boundary
