"""Small string helpers shared by the parsers: whitespace, lines, words, stems.

Everything here works on plain `str` and is pure, so every rule that uses it
is testable without files, Prefect or Great Expectations.
"""
from __future__ import annotations

import re
import unicodedata
from itertools import islice

# Characters that scrapers leave in text and that are never content; runs of spaces.
INVISIBLE_CHARS = "[\u200b\u200c\u200d\u2060\ufeff\u00ad]"
_OTHER_SPACE_CHARS = "\t\u00a0\u2000-\u200a\u202f\u205f\u3000"   # spaces other than " "
_SPACE_CHARS = " " + _OTHER_SPACE_CHARS
SPACES = f"[{_SPACE_CHARS}]+"
# The runs of SPACES that folding to one " " changes: one with a space other than " ", or two " "
# or more. Matching every single " " (as SPACES does) rewrote every line: 4x the CPU in polars.
SPACES_TO_FOLD = f"[{_SPACE_CHARS}]*[{_OTHER_SPACE_CHARS}][{_SPACE_CHARS}]*| {{2,}}"
# What str.splitlines() splits on.
LINE_BREAKS = "\r\n|[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]"
MARKDOWN_MARKS = r"[#*_\[!]"
_INVISIBLE = re.compile(INVISIBLE_CHARS)
_SPACES = re.compile(SPACES)
# CJK scripts write no spaces: each ideograph / kana / hangul syllable counts as a word.
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
WORD_PATTERN = rf"[{CJK}]|[^\W_{CJK}]+(?:['’][^\W_{CJK}]+)*"
WORD_RX = re.compile(WORD_PATTERN, re.UNICODE)

# A compact English stop list: enough to keep overlap measures on content words.
STOPWORDS = frozenset("""
a an the and or but if then than so of in on at to for from by with without about as into onto over
under after before between during through up down out off is are was were be been being am do does did
has have had having it its it's this that these those there here he she they we you i me him her them us
my your his their our who whom whose which what when where why how not no nor all any both each few more
most other some such only own same too very can could should would will shall may might must just also
said says say new one two three s t
""".split())


# Markdown that scrapers and converters leave: headings, emphasis, links, images.
# Quantifiers are bounded: a hostile line of 2 MB of '[' or '*' must cost linear time.
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_MD_IMAGE = re.compile(r"!\[([^\]\[]{0,300})\]\([^)\s]{0,500}\)")
_MD_LINK = re.compile(r"\[([^\]\[]{1,300})\]\((?:https?://|/|#|mailto:)[^)\s]{0,500}\)")
_MD_EMPHASIS = re.compile(r"(?<![\w*])(\*{1,3}|_{1,3})(?=\S)([^*_\n]{1,300}?)(?<=\S)\1(?![\w*])")


def strip_markdown(line: str) -> str:
    if not any(c in line for c in "#*_[!"):
        return line
    line = _MD_HEADING.sub("", line)
    if "](" in line:
        line = _MD_IMAGE.sub("", line)
        line = _MD_LINK.sub(lambda m: m.group(1), line)
    return _MD_EMPHASIS.sub(lambda m: m.group(2), line) if ("*" in line or "_" in line) else line


def clean_line(line: str) -> str:
    """Normalise one line: drop invisible characters and Markdown marks, fold runs of spaces, strip."""
    line = _INVISIBLE.sub("", line)
    line = _SPACES.sub(" ", line)
    return strip_markdown(line.strip()).strip()


def clean_lines_batch(texts: list[str]) -> list[list[str]]:
    """split_lines for many texts at once (polars); the same rules as clean_line."""
    import polars as pl

    if not texts:
        return []
    df = pl.DataFrame({"line": pl.Series(texts, dtype=pl.String).str.replace_all(LINE_BREAKS, "\n")
                       .str.split("\n")}).with_row_index("doc").explode("line")
    line = pl.col("line").str.replace_all(INVISIBLE_CHARS, "").str.replace_all(SPACES_TO_FOLD, " ").str.strip_chars()
    df = df.with_columns(line.fill_null(""))
    md = pl.col("line").str.contains(MARKDOWN_MARKS)
    if df.select(md.any()).item():
        df = df.with_columns(pl.when(md).then(pl.col("line").map_elements(
            lambda x: strip_markdown(x).strip(), return_dtype=pl.String)).otherwise(pl.col("line")).alias("line"))
    per_doc = df.group_by("doc", maintain_order=True).agg("line")["line"].to_list()
    # A text ending in a line break gives no empty last line (as with str.splitlines).
    return [lines[:-1] if lines and lines[-1] == "" else lines for lines in per_doc]


def normalise_whitespace(text: str | None) -> str | None:
    """Whitespace-normalise a single-line field (title, author...); empty -> None."""
    if text is None:
        return None
    s = clean_line(re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)))
    return s or None


def split_lines(text: str) -> list[str]:
    """Split on any line ending (LF, CRLF, CR, Unicode separators) and clean each line."""
    return [clean_line(x) for x in text.splitlines()]


def words(text: str) -> list[str]:
    return WORD_RX.findall(text)


def words_up_to(text: str, n: int) -> list[str]:
    """The first n words of text (all of them when it has fewer): `words(text)[:n]` without the rest."""
    return [m.group() for m in islice(WORD_RX.finditer(text), n)]


_CJK_CHAR = re.compile(f"[{CJK}]")


def content_words(text: str) -> set[str]:
    """Lower-cased words that carry meaning (no stop words, no 1-letter tokens)."""
    return {w for w in (x.lower() for x in words(text))
            if (len(w) > 1 or _CJK_CHAR.match(w)) and w not in STOPWORDS}


STEM_CHARS = 6


def stem(word: str) -> str:
    """A crude prefix stem: 'hibernating'/'hibernation', 'astronauts'/'astronaut' meet at 6 letters.

    Measured on the dev corpus, 6 letters separates a story's own headline from
    another story's better than 5 (fewer chance matches on 'inter', 'under').
    """
    return word[:STEM_CHARS]


def title_case_share(line: str) -> float:
    """Share of words (of 4+ letters) that start with a capital: headlines score high."""
    ws = [w for w in words(line) if len(w) >= 4]
    if not ws:
        return 0.0
    return sum(w[0].isupper() for w in ws) / len(ws)
