"""Line rules: which lines of a page dump are page furniture, and why.

`classify_line` looks at one cleaned line (no context) and returns a kind.
Kinds in `DROP_KINDS` never belong to an article body; the page parser
(`formats/text_dump.py`) uses the others, with their position, to find the
headline, the byline area and the body. The rules describe patterns of news
pages in general (ads, cookie banners, read-time badges, related-link widgets,
photo captions, image credits), never one site.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from cleanwire.dates import DateLine, classify_date_line
from cleanwire.text import is_doubled, upper_share, words

# ---------------------------------------------------------------- patterns

AD = re.compile(r"^(?:advertisement|advertising|sponsored(?: content)?|ad|ads by \w+|(?:skip|close) (?:advertisement|ad)|"
                r"(?:story|article) continues (?:below|after)(?: (?:this )?(?:advertisement|ad))?|"
                r"continue reading (?:below|the main story)|scroll to continue(?: with content)?|paid content|promoted|"
                r"(?:\w+\s+){0,2}(?:partner|sponsored) content)\W*$", re.I)
COOKIE = re.compile(r"\b(?:cookies?|cookie policy|privacy policy)\b.*\b(?:use|accept|agree|consent|browsing|experience|settings)\b|"
                    r"\b(?:accept|agree|consent)\b.*\bcookies?\b|\b(?:we|this (?:site|website)) (?:use|uses|rely on) cookies\b", re.I)
READ_TIME = re.compile(r"^\d+\s*(?:-\s*\d+\s*)?(?:min(?:ute)?s?|m)\.?\s*(?:read|reading(?: time)?)$|^(?:reading time|read time)\s*:?\s*\d+", re.I)
# A related-link widget: 'RelatedNorth Korea fires...' (glued), 'Related: ...', 'READ MORE: ...'.
RELATED = re.compile(r"^(?:related(?:\s+(?:articles?|stories|news|coverage|content|links?|reading|topics))?\s*[:\-–—|]?\s*(?=\S)|"
                     r"(?:read|see|watch|click)\s+(?:more|also|next)\s*[:\-–—|]|also\s+read\s*[:\-–—|]|"
                     r"(?:you\s+(?:may|might)\s+also\s+like|more\s+from|recommended(?:\s+for\s+you)?|"
                     r"editor'?s\s+picks?|don'?t\s+miss|must\s+read|trending(?:\s+now)?|popular(?:\s+now)?|"
                     r"most\s+(?:read|popular|viewed|shared))\s*[:\-–—|]?)", re.I)
RELATED_GLUED = re.compile(r"^Related(?=[A-Z0-9‘'\"“])")
SOURCE = re.compile(r"^(?:source|sources|via)\s*:\s*\S", re.I)
CHARS_STUB = re.compile(r"(?:\.\.\.|…)?\s*\[\s*\+\s*\d[\d,]*\s*chars?\s*\]", re.I)
# 'Tags: a, b, c', 'Filed under: ...': the topic list that closes an article page.
TAG_LIST = re.compile(r"^(?:tags?|topics?|filed under|categories|category|related topics|keywords)\s*:\s*\S.{0,200}$", re.I)
# Headers of lists of OTHER articles: once the body has started, the article is over.
LIST_START = re.compile(r"^(?:(?:more|other|related|recommended|latest|top|trending|popular|similar|recent|further)\b"
                        r"[\w ,'’-]{0,30}\b(?:stories|articles|news|posts|reads|reading|videos|links|content)(?: like this(?: one)?"
                        r"| for you| from [\w .]+| in [\w .]+| on [\w .]+)?|"
                        r"explore|explore more|more stories|more news|more from [\w .]+|related tags|tags|topics|"
                        r"you may also like|you might also like|recommended(?: stories| for you| reading)?|read next|"
                        r"up next|latest(?: news| stories)?|most (?:read|popular|viewed|shared)|trending(?: now| stories)?|"
                        r"top stories|also in [\w ]+|around the web|from around the web|related (?:articles|stories|news|coverage)|"
                        r"comments?|\d+ comments?|post comment|leave a (?:comment|reply)|"
                        r"photo gallery|videos?|sponsored stories|promoted stories)\s*:?$", re.I)
_SOCIAL = (r"share(?: (?:on|this|via|article|story))?|tweet|e-?mail|print|whatsapp|facebook|twitter|x|linkedin|reddit|"
           r"pinterest|instagram|youtube|tumblr|telegram|flipboard|messenger|pocket|sms|mail|copy(?: link)?|link|"
           r"comments?|save|follow(?: us)?|subscribe|rss|gift(?: this)? article")
SHARE = re.compile(rf"^(?:{_SOCIAL})(?:[\s|/,•·]+(?:{_SOCIAL}))*\s*:?$|"
                   rf"^(?:click|tap) to (?:share|email|print|tweet)\b.*$|^share (?:this|the) (?:article|story|page)\b.{{0,40}}$",
                   re.I)
HANDLE = re.compile(r"^@\w{2,30}$")
# Photo captions and their credits: '... / Photo: AP Archive / AP Archive', '(Photo by X/Getty Images)'.
CAPTION = re.compile(r"(?:^|[\s/|(\[])(?:photo|photograph|image|picture|pic|illustration|video|graphic|credit|"
                     r"image source|photo credit|file photo|archive image)s?\s*(?:by|credit|courtesy|source)?\s*:|"
                     r"\b(?:getty images|shutterstock|afp via getty|ap photo|reuters/|epa-efe|istock(?:photo)?|"
                     r"alamy|wikimedia commons|/ ?photo|photo/)\b|^file:\S|^credit\s*(?:\.{2,}|…)", re.I)
CAPTION_START = re.compile(r"^(?:file photo|archive (?:image|photo)|photo|image|picture|caption)\b", re.I)
CUT_STUB = re.compile(r"(?:\[\s*\+\s*\d[\d,]*\s*chars?\s*\]|"
                      r"^(?:(?:click|tap) here to )?(?:continue reading|read more|keep reading|show more|see more|"
                      r"read (?:the )?(?:full|whole|rest of the|entire) (?:story|article|piece))\b.{0,40}$|"
                      r"^(?=.*\b(?:subscri\w*|sign in|log ?in|paywall|premium|members only|registered users)\b)"
                      r"(?=.*\b(?:articles?|story|stories|content|read\w*|continu\w*|access|unlock|full|only|exclusive)\b).{0,120}$|"
                      r"^already (?:a )?(?:subscriber|member)\b.{0,40}$|^\[(?:\.\.\.|…)\]$)", re.I)
CREDIT = re.compile(r"(?:^©|©\s*\d{4}|\bcopyright\b|all rights reserved|^\(?(?:reporting|additional reporting|writing|editing|"
                    r"compiled|contributing|contributed)\b|\bcontributed to this report\b|^[-–—]{2,}$|^_{2,}$|^\*\s*\*\s*\*$|"
                    r"^source\s*:|^\(?with (?:afp|reuters|ap|agencies|inputs)\b|^\(?with\s+(?:[\w.]+\s+){0,3}(?:wires?|agencies|reports?|inputs?)\)?$|^follow\s+(?:us|(?:[\w.'’-]+\s+){1,4})on\b|^[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,3} (?:is|was) (?:an?|the) (?:[\w-]+\s+){0,4}(?:journalist|reporter|writer|correspondent|editor|columnist|contributor|author|producer|analyst)\b|^\S+@\S+\.\w+$|"
                    r"^(?:this (?:story|article) (?:was|has been) (?:updated|corrected|first published|originally published))|"
                    r"^(?:provided|supplied|courtesy|distributed|syndicated|produced) (?:by|of)\b|"
                    r"^(?:(?:\w+\s+){0,3}(?:staff|wire|news service|agencies)\s+)?(?:contributed|reported)\b)", re.I)
BYLINE = re.compile(r"^(?i:by|written by|words by|author|reporter|posted by|story by)\s*[:\-]?\s+[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,4}"
                    r"(?:\s*(?:,|and|&)\s*[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,4})*(?:\s*[,|•·-]\s*.*)?$")
# An author box: 'Jane DoeView More Articles', 'View all posts by Jane Doe'.
AUTHOR_LINK = re.compile(r"(?:view|see|read|more)\s+(?:all\s+|more\s+)?(?:articles|stories|posts|columns)(?:\s+by\b.*)?$|"
                         r"^(?:view|see)\s+all\s+(?:articles|stories|posts)\s+by\b", re.I)
BREADCRUMB = re.compile(r"^(?:you are (?:here|at)\s*:?\s*)?[\w&'’ .-]{1,30}(?:\s*[>»›/|]\s*[\w&'’ .-]{1,30}){1,5}$", re.I)
NAV = re.compile(r"^(?:home|menu|search|sign in|log in|login|register|subscribe|newsletter|newsletters|close|skip to (?:main )?content|"
                 r"live tv|live|watch live|you are at|you are here|back to top|next|previous|prev|more|loading|"
                 r"terms of (?:use|service)|privacy(?: policy)?|contact(?: us)?|about(?: us)?|sitemap|rss|careers?|"
                 r"advertise(?: with us)?|feedback|help|faq|accessibility|cookie (?:policy|settings)|ok|accept|"
                 r"(?:\d+\s+)?post comment(?:\s*\(\+\))?|\d+ comments?)\s*[:»›>]*$", re.I)
GENERIC_LABEL = re.compile(r"^(?:(?:latest|top|breaking|world|local|national|international|business|sports?|tech(?:nology)?|"
                           r"entertainment|politics|health|science|opinion|lifestyle|culture|travel|markets?|economy|"
                           r"featured|trending|more|related|editor'?s|today'?s|daily|weekly|live)\s*)+"
                           r"(?:news|stories|headlines|updates|picks?|coverage|blog)?$|^(?:news|home|headlines|front page)$", re.I)

# A whole line in brackets: '[ The Verge ]', '(Reporting by ...)', '[Al Maa-idah 2]'.
BRACKETED = re.compile(r"^\s*(?:\[[^\]]{1,200}\]|\([^)]{1,300}\))\s*$")

# Kinds that never belong to the body, wherever they stand.
DROP_KINDS = frozenset({"ad", "cookie", "read_time", "related", "source", "share", "caption", "byline",
                        "date", "last_updated", "nav", "cut_stub"})


@dataclass(frozen=True)
class LineInfo:
    kind: str
    text: str
    n_words: int
    date: DateLine | None = None


def classify_line(line: str) -> LineInfo:
    """Classify one cleaned line. Order matters: the most specific rules come first."""
    n = len(words(line))
    if not line:
        return LineInfo("blank", line, 0)
    if n == 0:
        # Only punctuation: '___' (AP end mark), '* * *', '•'.
        return LineInfo("credit" if CREDIT.search(line) else "symbol", line, 0)
    if n == 1 and (line.isdigit() or HANDLE.match(line)):
        return LineInfo("symbol" if line.isdigit() else "byline", line, n)  # a counter; a @handle
    short = n <= 14
    if short and AD.match(line):
        return LineInfo("ad", line, n)
    if short and READ_TIME.match(line):
        return LineInfo("read_time", line, n)
    if short and CUT_STUB.search(line) and (not CHARS_STUB.search(line) or len(words(CHARS_STUB.sub("", line))) < 3):
        return LineInfo("cut_stub", line, n)  # only the stub: a line of text ending in one keeps its text
    if COOKIE.search(line) and n <= 80:
        return LineInfo("cookie", line, n)
    if short and LIST_START.match(line):
        return LineInfo("list_start", line, n)
    if n <= 40 and TAG_LIST.match(line):
        return LineInfo("nav", line, n)
    if short and NAV.match(line):
        return LineInfo("nav", line, n)
    if short and SHARE.match(line):
        return LineInfo("share", line, n)
    if n <= 30 and (RELATED_GLUED.match(line) or RELATED.match(line)):
        return LineInfo("related", line, n)
    if short and SOURCE.match(line):
        return LineInfo("source", line, n)
    dl = classify_date_line(line) if n <= 30 else None
    if dl is not None:
        return LineInfo("last_updated" if dl.kind == "last_updated" else "date", line, n, dl)
    if n <= 10 and BREADCRUMB.match(line) and _crumb_like(line):
        return LineInfo("nav", line, n)  # 'Home > World > Asia'
    if short and is_doubled(line.replace(" ", "")):
        return LineInfo("byline", line, n)
    if n <= 12 and (BYLINE.match(line) or AUTHOR_LINK.search(line)):
        return LineInfo("byline", line, n)
    if n <= 40 and (CAPTION.search(line) or (CAPTION_START.match(line) and n <= 12)):
        return LineInfo("caption", line, n)
    if n <= 25 and (CREDIT.search(line) or BRACKETED.match(line)):
        return LineInfo("credit", line, n)
    if n <= 5 and upper_share(line) > 0.9 and len(line) >= 2:
        return LineInfo("caps", line, n)
    if is_prose(CHARS_STUB.sub("", line).rstrip() if "chars" in line else line, n):
        return LineInfo("prose", line, n)
    return LineInfo("short", line, n)


_SENTENCE_END = re.compile(r"[.!?…:;。！？]['\"”’)\]」』）]*$")
_HEADLINE_END = re.compile(r"[?!！？]['\"”’)\]」』）]*$")


def _crumb_like(line: str) -> bool:
    """'Home > World > Asia', 'News / Business': short items between separators, not a headline with a slash."""
    parts = [p.strip() for p in re.split(r"[>»›/|]", line)]
    if not all(re.search(r"[^\W\d_]", p) for p in parts):
        return False  # '2016/03/15', '3/4': numbers, not a trail of section names
    return len(parts) >= 3 and all(1 <= len(words(p)) <= 3 for p in parts) or (
        len(parts) == 2 and parts[0].lower() in ("home", "news", "you are here: home"))


def is_prose(line: str, n_words: int | None = None) -> bool:
    """A paragraph of running text: long, or a full sentence with lower-case words."""
    n = len(words(line)) if n_words is None else n_words
    if n >= 25:
        return True
    if n < 6:
        return False
    # Words of scripts without letter case (CJK, Arabic...) count as lower-case running text.
    lower = sum(w[0].islower() or not (w[0].isupper() or w[0].isdigit()) for w in words(line))
    if _SENTENCE_END.search(line) and lower >= 2:
        # A headline-length line ending in ? or ! is a headline, not running text.
        return not (n < 20 and _HEADLINE_END.search(line))
    
    # Long running text without a final stop (a cut-off paragraph) is prose too; a
    # headline of up to ~30 words has no final stop either, so it stays 'short'.
    return n >= 30 and lower / n >= 0.4


def is_generic_label(line: str) -> bool:
    """'WORLD', 'Latest News', 'Top Stories': a section label, not a headline."""
    if GENERIC_LABEL.match(line):
        return True
    n = len(words(line))
    return 0 < n <= 4 and upper_share(line) > 0.9
