"""The body of an article from its classified lines: one cleaner for every format.

A page dump's body span (formats/text_dump.py), an extractor's text from an
HTML page and a feed's `content` field are all cleaned here, with the same
rules: furniture lines dropped (ingest/lines.py kinds), other articles'
headlines standing between paragraphs dropped, a cut-off stub at the end
recognised (rules/truncated_body.py), and the last paragraph of running text
kept apart for the truncation check.
"""
from __future__ import annotations

import re

from cleanwire.ingest.lines import DROP_KINDS, LineInfo, classify_texts
from cleanwire.rules import truncated_body
from cleanwire.rules.patterns import BRACKETED, SENTENCE_END
from cleanwire.text import content_words, stem, title_case_share, words, words_up_to

# A list item: a bullet, a number, a letter, a date or a price at the start ('• ...', '3. ...', 'Jun 5 ...'),
# or two prices anywhere ('Reclining seat, was $60, now $45': a deal or a price list, no headline).
LIST_ITEM = re.compile(r"^(?:[•·*–-]\s|\d{1,3}[.)]\s|\(?[a-z]\)\s|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)"
                       r"[a-z]*\.?\s+\d{1,2}\b|\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|\$\d)"
                       r"|^.*?[$€£¥]\s?\d.*[$€£¥]\s?\d", re.I)
_BRACKETED = re.compile(BRACKETED)
_SENTENCE_END = re.compile(SENTENCE_END)
_QUOTE_CLOSED = re.compile(r"[\"”’']\s*$")
# Inline headlines of other articles between paragraphs (`drop_inline_headlines`). A line is
# judged only from INLINE_MIN_WORDS on (shorter ones are subheadings or items); it is another
# article's headline when few of its word stems recur in the article (< FOREIGN_SHARE), or when
# it is a long (TITLE_CASE_MIN_WORDS+) Title-Case line (TITLE_CASE_SHARE of its words) whose
# stems the article uses less than TITLE_CASE_FOREIGN of.
INLINE_MIN_WORDS = 5
FOREIGN_SHARE = 0.35
TITLE_CASE_MIN_WORDS = 8
TITLE_CASE_SHARE = 0.75
TITLE_CASE_FOREIGN = 0.6
END_LABEL_MAX_WORDS = 3    # 'Disclaimer', 'Profile: Julian Assange': a label after the text


def clean_body_texts(texts: list[str]) -> list[tuple[str | None, str | None, str | None]]:
    """Texts that are only a body (a feed's `content`, an extractor's output), in one pass.

    Returns (body, cut_marker, last_paragraph) for each text.
    """
    return [clean_body(infos) for infos in classify_texts(texts)]


def clean_body_text(text: str) -> tuple[str | None, str | None, str | None]:
    return clean_body_texts([text])[0]


def clean_body(infos: list[LineInfo]) -> tuple[str | None, str | None, str | None]:
    keep = [i for i, info in enumerate(infos) if info.kind not in DROP_KINDS
            and info.kind not in ("blank", "symbol", "list_start", "cookie")]
    # Stubs such as 'Continue reading' / 'Read more' that end the text mark a cut.
    tail = [i for i, info in enumerate(infos) if info.kind != "blank"]
    cut = truncated_body.stub_reason(infos[tail[-1]].text) if tail and infos[tail[-1]].kind == "cut_stub" else None
    if not keep:
        return None, cut, None
    paragraphs, glued_cut = body_paragraphs(infos, keep, {keep[-1]})
    body = "\n\n".join(p.text for p in paragraphs) or None
    return body, cut or glued_cut, last_prose_paragraph(paragraphs)


def body_paragraphs(infos: list[LineInfo], kept: list[int], protected: set[int] = frozenset()
                    ) -> tuple[list[LineInfo], str | None]:
    """The kept lines as paragraphs, other articles' headlines dropped, and a cut the end shows.

    `protected`: lines never judged a headline (the last paragraph may be a cut-off one).
    """
    paras = drop_inline_headlines([infos[i] for i in kept], [i in protected for i in kept])
    cut = None
    if paras:
        last, cut = truncated_body.strip_end_stub(paras[-1].text)
        if last:
            paras[-1] = LineInfo(paras[-1].kind, last, paras[-1].n_words, paras[-1].date)
        else:
            paras.pop()
    return paras, cut


def drop_inline_headlines(paras: list[LineInfo], protected: list[bool]) -> list[LineInfo]:
    """Drop other articles' headlines standing between paragraphs; keep subheadings.

    A subheading shares the article's vocabulary and is short; a related
    headline is a long Title-Case line, or one whose words the article never uses.
    """
    judged = [k for k, p in enumerate(paras) if p.kind == "short" and not protected[k]
              and p.n_words >= INLINE_MIN_WORDS and not LIST_ITEM.match(p.text)]
    if len(paras) < 3 or not judged:
        return paras
    # A word stem is used elsewhere when it occurs in the article more often than in the line
    # itself (substring counts on the lower-cased text: no need to tokenise the whole body).
    article = "\n".join(p.text for p in paras).lower()
    drop = set()
    for k in judged:
        line = paras[k].text.lower()
        own = {stem(w) for w in content_words(line)}
        if not own:
            continue
        used = sum(article.count(x) > line.count(x) for x in own) / len(own)  # share used elsewhere
        if (paras[k].n_words >= TITLE_CASE_MIN_WORDS and title_case_share(paras[k].text) >= TITLE_CASE_SHARE
                and used < TITLE_CASE_FOREIGN):
            drop.add(k)
        elif used < FOREIGN_SHARE:
            drop.add(k)
    return [p for k, p in enumerate(paras) if k not in drop]


def last_prose_paragraph(paragraphs: list[LineInfo]) -> str | None:
    """The last paragraph of running text, passing over end matter.

    Credit lines ('© Reuters', '___', '(Reporting by ...)', '[ The Verge ]'),
    captions and short labels ('Disclaimer') may close a complete article; the
    truncation check looks at the prose before them.
    """
    for p in reversed(paragraphs):
        if p.kind in ("credit", "symbol", "caption", "source"):
            continue
        if _BRACKETED.match(p.text):
            continue
        if is_end_label(p.text):
            continue
        return p.text
    return paragraphs[-1].text if paragraphs else None


def is_end_label(p: str) -> bool:
    """'Disclaimer', '© Reuters', 'Profile: Julian Assange': a label after the text, not a cut-off start.

    A paragraph opening a quote it never closes ('"He') or running lower-case
    words ('Live Nation is producing') is the start of a cut sentence instead.
    """
    ws = words_up_to(p, END_LABEL_MAX_WORDS + 1)  # a paragraph is long: its first words tell
    if len(ws) > END_LABEL_MAX_WORDS or not ws:
        return False
    if p.lstrip()[:1] in "\"“‘'" and not _QUOTE_CLOSED.search(p):
        return False
    return not is_fragment(p)


def is_fragment(line: str) -> bool:
    """'Live Nation is producing': running words cut off, not a headline."""
    ws = words(line)
    if len(ws) < 2:
        return False
    lower = sum(w[0].islower() for w in ws[1:])
    return lower >= max(1, (len(ws) - 1) // 2) and not _SENTENCE_END.search(line)
