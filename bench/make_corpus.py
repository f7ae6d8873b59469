"""Generate a labelled raw corpus of N records with the structure of a real news feed.

    python bench/make_corpus.py --n 100000 --out bench/out/raw-100k [--seed 1] [--text real|invented]

What only scale shows, built in on purpose (issue 19):

* **shared ledes**: a story is a lede followed by paragraphs; a quarter of the
  stories are follow-ups (live-blog updates, corrections) that keep an earlier
  story's headline and lede and go on differently: they are NOT copies, and a
  popular lede gathers dozens of them;
* **shared paragraphs**: the paragraphs after the lede are drawn from one pool,
  so unrelated stories share whole paragraphs, and 30 % end with a stock
  paragraph (newsletter blurb, "contributed to this report", disclaimer);
* **true copies**: ~38 % of the records are another scrape of an earlier story,
  re-laid-out, trimmed at a paragraph, extended by a stock paragraph, or cut off;
  a few stories are syndicated to hundreds of outlets.

Defects come at the rates users meet: undated, no headline, cut off (some with a
`[+N chars]` stub), empty, unreadable. `--text real` (the default when
../shared holds the labelled corpora) recombines the headlines, ledes and
paragraphs of their articles; `--text invented` makes its own language (the
tests use it: no corpus text is copied into the tests).

The folder gets a `labels.jsonl` in the format of ../shared/tools/score.py
(`dup_group` = the story), so the scorer scores a run on it; it is written next
to the raw folder, never inside it (the run would read it).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
from dataclasses import dataclass, replace
from pathlib import Path

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
CITIES = ["ANKARA", "LONDON", "NAIROBI", "LIMA", "OSLO", "MANILA", "CAIRO", "DENVER", "SEOUL", "TORONTO"]
SECTIONS = ["WORLD", "POLITICS", "BUSINESS", "SPORTS", "SCIENCE", "HEALTH"]
NAMES = ["Ana Ruiz", "Tom Berg", "Li Wei", "Sara Cohen", "Omar Haddad", "Nina Petrova", "Jon Hale"]
# Stock paragraphs that end many unrelated stories (shared text that is not a copy).
STOCK = [
    "{name} contributed to this report.",
    "Reporting by {name}; editing by {name2}.",
    "Sign up for our morning newsletter to get the day's most important stories in your inbox.",
    "This article has been updated to correct the spelling of a name.",
    "The views expressed in this piece are those of the author and do not necessarily reflect ours.",
    "Got a tip? Send it to our newsroom; we read every message we receive.",
]

# Shares of the records (of the files, for unreadable ones).
UNREADABLE = 0.01
JSONL_FILES = 0.03          # files holding 2-6 records
COPY = 0.38                 # records that are another scrape of an earlier story
SYNDICATED = 0.25           # of the copies: copies of a syndicated story (hundreds each)
FOLLOW_UP = 0.25            # of the new stories: same headline and lede as an earlier one, different rest
STOCK_END = 0.30            # stories ending with a stock paragraph


# ------------------------------------------------------------------ text

@dataclass(frozen=True)
class Source:
    """The text a story is cut from: headlines with their ledes, and a pool of paragraphs."""
    heads: list[tuple[str, str]]   # (headline, lede)
    pool: list[str]                # paragraphs that follow ledes


def real_text(shared: Path = SHARED) -> Source | None:
    """Headlines, ledes and paragraphs of the labelled corpora's articles (None when not on this machine)."""
    heads, pool = {}, set()
    for labels in sorted(shared.glob("corpus-*/labels.jsonl")):
        for line in labels.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            paras = [p for p in (d.get("body") or "").split("\n\n") if len(p.split()) >= 12]
            pool.update(p for p in paras[1:] if p[-1:] in ".!?\"”")
            if (d.get("title") and len(paras) >= 3 and paras[0][-1:] in ".!?\"”" and len(paras[0].split()) <= 70
                    and _opens(d["title"], paras[0])):  # a lede: a sentence or two, not a whole column
                heads[d["title"]] = paras[0]
    if len(heads) < 50:
        return None
    return Source(sorted(heads.items()), sorted(pool))


def _opens(title: str, lede: str) -> bool:
    """The lede uses at least half of the headline's longer words: the pair reads as one story
    even when the rest of the body is drawn from other articles."""
    words = {w for w in re.findall(r"[^\W_]+", title.lower()) if len(w) > 3}
    return bool(words) and len(words & set(re.findall(r"[^\W_]+", lede.lower()))) >= len(words) / 2


_SYLLABLES = ("ka ri to ne sa lu mo vi da pe ran tel bor kin mar sel fu go hal jo "
              "ber li na zo qui tra ven dol pra ste mi lo ru ca fe").split()
_FUNCTION = "the of and to in a is that for on said with as was at by from it an be are has".split()


def invented_text(seed: int = 7, n_heads: int = 400, pool_size: int = 3000) -> Source:
    """A made-up language with a Zipf-like vocabulary: articles share function words, rarely content words."""
    rng = random.Random(seed)
    vocab = sorted({"".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(6000)})
    rng.shuffle(vocab)  # the frequent words are any words, not the first in alphabetical order
    weights = [1 / (i + 10) for i in range(len(vocab))]

    def sentence(lo: int = 10, hi: int = 26) -> str:
        words = []
        for _ in range(rng.randint(lo, hi)):
            words.append(rng.choice(_FUNCTION) if rng.random() < 0.35 else rng.choices(vocab, weights)[0])
        return " ".join(words).capitalize() + "."

    def paragraph() -> str:
        return " ".join(sentence() for _ in range(rng.randint(2, 4)))

    heads = []
    for _ in range(n_heads):
        lede = paragraph()
        content = [w for w in re.findall(r"[^\W_]+", lede.lower()) if w not in _FUNCTION]
        heads.append((" ".join(rng.sample(content, min(7, len(content)))).capitalize(), lede))
    return Source(heads, [paragraph() for _ in range(pool_size)])


def source_for(kind: str) -> Source:
    if kind == "real":
        src = real_text()
        if src is None:
            raise SystemExit(f"--text real needs the labelled corpora in {SHARED}; use --text invented")
        return src
    return invented_text()


# ------------------------------------------------------------------ stories and their defects

@dataclass(frozen=True)
class Story:
    key: int                 # the story (the labels' dup_group)
    title: str | None
    date: dt.date | None
    paras: tuple[str, ...]
    standfirst: str
    section: str
    author: str
    city: str
    stub: str = ""           # appended to a cut-off last paragraph ('...', '[+1234 chars]')


def new_story(key: int, src: Source, rng: random.Random, follow: Story | None, real_ledes: float) -> Story:
    """A lede (an earlier story's, for a follow-up) and 3-8 paragraphs from the shared pool.

    A fresh lede is two sentences of the pool (a real headline and lede pair for a
    `real_ledes` share of the stories); its headline is its first sentence's
    opening words, as headlines echo ledes. So ledes are shared by follow-ups and
    by the stories on the few real pairs: raise `real_ledes` for a feed where a
    few ledes are everywhere.
    """
    if follow is not None:
        title, lede = follow.title, follow.paras[0]
    elif rng.random() < real_ledes:
        title, lede = rng.choice(src.heads)
    else:
        first, second = (rng.choice(rng.choice(src.pool).split(". ")).rstrip(".") for _ in range(2))
        lede = f"{first}. {second}."
        title = " ".join(first.split()[: rng.randint(6, 11)]).rstrip(",;:")
    paras = [lede, *rng.sample(src.pool, rng.randint(3, 8))]
    if rng.random() < STOCK_END:
        paras.append(rng.choice(STOCK).format(name=rng.choice(NAMES), name2=rng.choice(NAMES)))
    day = dt.date(2019, 1, 1) + dt.timedelta(days=rng.randint(0, 1800))
    return Story(key, title, day, tuple(paras), rng.choice(src.pool).split(". ")[0].rstrip(".") + ".",
                 rng.choice(SECTIONS), rng.choice(NAMES), rng.choice(CITIES))


def with_defect(s: Story, rng: random.Random) -> tuple[Story, list[str]]:
    """The story as one scrape gave it, and the contract issue codes that scrape has."""
    r = rng.random()
    if r < 0.10:
        return replace(s, date=None), ["missing_date"]
    if r < 0.15:
        return replace(s, title=None), ["missing_title"]
    if r < 0.30:
        keep = list(s.paras[: max(2, len(s.paras) // 2)])
        words = keep[-1].split()
        keep[-1] = " ".join(words[: max(3, len(words) // 2)]).rstrip(".?!\"”,;:")
        return replace(s, paras=tuple(keep), stub=rng.choice(["", "", "...", " [+1234 chars]"])), ["truncated_body"]
    if r < 0.32:
        return replace(s, paras=()), ["empty_body"]
    return s, []


def as_copy(s: Story, rng: random.Random) -> Story:
    """Another outlet's scrape of the same story: re-laid-out (by the caller), trimmed or extended."""
    r = rng.random()
    if r < 0.25 and len(s.paras) >= 4:
        return replace(s, paras=s.paras[: max(3, (len(s.paras) * 3 + 3) // 4)])  # trimmed at a paragraph
    if r < 0.45:
        return replace(s, paras=(*s.paras, rng.choice(STOCK).format(name=rng.choice(NAMES), name2=rng.choice(NAMES))))
    return s


# ------------------------------------------------------------------ layouts

def fmt_date(d: dt.date, rng: random.Random) -> str:
    return rng.choice([d.strftime("%B %-d, %Y"), d.strftime("%-d %B %Y"), d.isoformat(),
                       "Published: " + d.strftime("%d/%m/%Y") + " 10:32 BST"])


def _paras(s: Story) -> list[str]:
    return [*s.paras[:-1], s.paras[-1] + s.stub] if s.paras else []


def clean(s: Story, rng: random.Random) -> str:
    head = [s.title] if s.title else []
    if s.date:
        head.append(fmt_date(s.date, rng))
    return "\n".join(head + _paras(s))


def page_dump(s: Story, rng: random.Random) -> str:
    lines = []
    if s.date:
        lines.append(f" date {s.date.isoformat()} {s.section}")
    lines.append(f"{rng.randint(1, 9)} MIN READ")
    if s.title:
        lines += [s.title, s.standfirst, s.title]
    lines += ["People gather at the site. / Photo: Reuters / Reuters", s.author * 2]
    if s.date:
        lines.append(s.date.strftime("%B %-d, %Y"))
    lines.append("")
    for i, p in enumerate(_paras(s)):
        lines += [p, ""]
        if i == 2:
            lines += ["RECOMMENDED", ""]
    lines += ["RelatedSome other story about the weather", "SOURCE:Agencies", "Explore"]
    return "\n".join(lines)


def wire(s: Story, rng: random.Random) -> str:
    lines = ["ADVERTISEMENT", "", s.section, ""]
    if s.title:
        lines += [s.title, ""]
    lines += [s.city, ""]
    if s.date:
        lines += [fmt_date(s.date, rng), ""]
    for p in _paras(s):
        lines += [p, ""]
    lines += ["  • We use cookies on our website to give you a better experience. By clicking “Accept” you agree "
              "to our use of cookies.", "", "    Read More"]
    return "\n".join(lines)


def jsonl_record(s: Story, rng: random.Random) -> str:
    rec = {"url": f"https://news.example/{rng.randint(1, 10**9)}"}
    if s.title:
        rec["title"] = s.title
    if s.date:
        rec["date"] = s.date.isoformat() + "T10:00:00Z"
    rec["text"] = "\n\n".join(_paras(s))
    return json.dumps(rec)


LAYOUTS = [clean, page_dump, wire]


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def html_page(s: Story, rng: random.Random) -> str:
    """The story as a news site serves it: head metadata, menus, the article, widgets, a footer.

    The date is stated as sites state it (JSON-LD, Open Graph, a <time>, or only in
    the byline's text); an undated scrape states none, and a scrape without a headline
    has no <h1> and a <title> that is only the site's name.
    """
    site = rng.choice(["Daily Courier", "The Harbour Times", "Metro Ledger", "Northern Post"])
    meta = [f"<title>{_esc(s.title)} | {site}</title>" if s.title else f"<title>{site}</title>",
            '<meta charset="utf-8">', f'<meta property="og:site_name" content="{site}">',
            f'<link rel="canonical" href="https://news.example/{s.section.lower()}/{rng.randint(1, 10**9)}">']
    if s.title:
        meta.append(f'<meta property="og:title" content="{_esc(s.title)}">')
    meta.append(f'<meta name="description" content="{_esc(s.standfirst)}">')
    date_style = rng.choice(["json-ld", "og", "time", "text"]) if s.date else None
    if date_style == "json-ld":
        ld = {"@context": "https://schema.org", "@type": "NewsArticle", "datePublished": f"{s.date}T08:15:00Z",
              "author": {"@type": "Person", "name": s.author}}
        if s.title:
            ld["headline"] = s.title
        meta.append(f'<script type="application/ld+json">{json.dumps(ld)}</script>')
    elif date_style == "og":
        meta.append(f'<meta property="article:published_time" content="{s.date}T08:15:00+00:00">')
    menu = "".join(f'<li><a href="/{x.lower()}">{x.title()}</a></li>' for x in SECTIONS)
    byline = f'<p class="byline">By <a href="/authors/{rng.randint(1, 99)}">{s.author}</a></p>'
    if date_style in ("json-ld", "og", "time"):
        byline += f'<time datetime="{s.date}T08:15:00Z">{s.date.strftime("%B %-d, %Y")}</time>'
    elif date_style == "text":
        byline += f'<p class="meta">{fmt_date(s.date, rng)}</p>'
    paras = [f"<p>{_esc(p)}</p>" for p in _paras(s)]
    if len(paras) > 3:
        paras.insert(2, '<aside class="related"><h4>Related</h4><ul><li><a href="/x">Council weighs new budget '
                        'for harbour repairs</a></li><li><a href="/y">Weather service warns of heavy rain</a></li>'
                        '</ul></aside>')
    headline = f"<h1>{_esc(s.title)}</h1>" if s.title else ""
    article = (f'<div class="kicker">{s.section.title()}</div>{headline}<p class="standfirst">{_esc(s.standfirst)}'
               f'</p>{byline}<figure><img src="/img/{rng.randint(1, 10**6)}.jpg"><figcaption>People gather at the '
               "site. Photo: Reuters</figcaption></figure>" + "".join(paras)
               + '<div class="share"><a href="#">Share</a> <a href="#">Tweet</a> <a href="#">Email</a></div>')
    body_tag = rng.choice(["article", "main-div"])
    article = (f"<article>{article}</article>" if body_tag == "article"
               else f'<div id="content"><div class="story-body">{article}</div></div>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head>" + "".join(meta) + "</head><body>"
            f'<header><a href="/" class="logo">{site}</a><nav><ul>{menu}</ul></nav>'
            '<form action="/search"><input name="q"></form></header>'
            f'<div class="layout">{article}<aside class="sidebar"><h3>Most read</h3><ol>'
            + "".join(f'<li><a href="/{i}">Story number {i} in the most read list</a></li>' for i in range(1, 6))
            + "</ol></aside></div><footer><p>&copy; 2024 " + site + ". All rights reserved.</p><ul>"
            '<li><a href="/privacy">Privacy policy</a></li><li><a href="/terms">Terms of use</a></li></ul>'
            '<div class="cookie">We use cookies to improve your experience. <button>Accept</button></div>'
            "</footer><script>window.dataLayer = window.dataLayer || [];</script></body></html>\n")


# ------------------------------------------------------------------ the feed

def label(source_path: str, scraped: Story, issues: list[str], original: Story | None) -> dict:
    """One line of labels.jsonl (the scorer's format): every scrape of a story is in its dup group."""
    body = "\n\n".join(scraped.paras) if scraped.paras else None
    out = {"source_path": source_path, "title": scraped.title,
           "published_date": scraped.date.isoformat() if scraped.date else None,
           "body": body, "issues": issues, "story": scraped.key}
    if original is not None:
        out.update(own_issues=issues, dup_candidate=True,
                   canonical_fields={"title": original.title, "published_date": original.date.isoformat()})
    return out


def generate(n: int, out: Path, seed: int = 1, text: Source | None = None, real_ledes: float = 0.1,
             html_share: float = 0.0, jsonl_files: float = JSONL_FILES) -> dict:
    """Write about n records (files, or JSON Lines records) below `out`; labels.jsonl beside it.

    `html_share`: of the single-record files, the share written as HTML pages (`html_page`),
    the rest as text dumps; `jsonl_files`: the share of files holding JSON Lines records.
    """
    rng = random.Random(seed)
    src = text or source_for("real" if real_text() else "invented")
    out.mkdir(parents=True, exist_ok=True)
    stories: list[Story] = []       # every story so far (its clean text)
    syndicated: list[Story] = []    # the few stories copied hundreds of times
    scrapes: dict[int, list[dict]] = {}
    made = files = 0

    def scrape() -> tuple[Story, list[str], bool]:
        """The next record: a new story, or another scrape of an earlier one."""
        if stories and rng.random() < COPY:
            if rng.random() < SYNDICATED:
                if not syndicated or rng.random() < 1 / 300:   # ~300 copies per syndicated story
                    syndicated.append(rng.choice(stories))
                base = syndicated[-1]
            else:
                base = rng.choice(stories[-3000:])
            scraped, issues = with_defect(as_copy(base, rng), rng)
            return scraped, issues, True
        follow = rng.choice(stories[-3000:]) if stories and rng.random() < FOLLOW_UP else None
        s = new_story(len(stories), src, rng, follow, real_ledes)
        stories.append(s)
        scraped, issues = with_defect(s, rng)
        return scraped, issues, False

    while made < n:
        folder = f"feed-{files // 1000:04d}"
        (out / folder).mkdir(exist_ok=True)
        r = rng.random()
        if r < UNREADABLE:
            rel = f"{folder}/{files:07d}.bin"
            (out / rel).write_bytes(b"\x89PNG\r\n\x1a\n" + rng.randbytes(200) if rng.random() < 0.5 else b"")
            scrapes.setdefault(-1, []).append({"source_path": rel, "title": None, "published_date": None,
                                               "body": None, "issues": ["unreadable"]})
            made += 1
        elif r < UNREADABLE + jsonl_files:
            rel = f"{folder}/{files:07d}.jsonl"
            lines = []
            for i in range(min(rng.randint(2, 6), n - made)):
                scraped, issues, _ = scrape()
                lines.append(jsonl_record(scraped, rng))
                scrapes.setdefault(scraped.key, []).append(label(f"{rel}#{i + 1}", scraped, issues, None))
            (out / rel).write_text("\n".join(lines) + "\n", encoding="utf-8")
            made += len(lines)
        elif html_share and rng.random() < html_share:
            rel = f"{folder}/{files:07d}.html"
            scraped, issues, _ = scrape()
            (out / rel).write_text(html_page(scraped, rng), encoding="utf-8")
            scrapes.setdefault(scraped.key, []).append(label(rel, scraped, issues, None))
            made += 1
        else:
            rel = f"{folder}/{files:07d}.txt"
            scraped, issues, _ = scrape()
            (out / rel).write_text(rng.choice(LAYOUTS)(scraped, rng), encoding="utf-8")
            scrapes.setdefault(scraped.key, []).append(label(rel, scraped, issues, None))
            made += 1
        files += 1
    n_copies = write_labels(out.parent / f"{out.name}.labels.jsonl", scrapes, stories)
    return {"records": made, "files": files, "stories": len(stories), "copies": n_copies,
            "labels": str(out.parent / f"{out.name}.labels.jsonl")}


def write_labels(path: Path, scrapes: dict[int, list[dict]], stories: list[Story]) -> int:
    """labels.jsonl: a story scraped more than once is a duplicate group; returns the number of extra copies."""
    n_copies = 0
    with open(path, "w", encoding="utf-8") as fh:
        for key, labs in scrapes.items():
            if key >= 0 and len(labs) > 1:
                n_copies += len(labs) - 1
                original = stories[key]
                for lab in labs:
                    lab.update(dup_group=f"story-{key}", own_issues=lab["issues"],
                               dup_candidate=not set(lab["issues"]) - {"missing_date", "missing_title"},
                               canonical_fields={"title": original.title,
                                                 "published_date": original.date.isoformat()},
                               issues=sorted({*lab["issues"], "duplicate"}))
            for lab in labs:
                fh.write(json.dumps(lab) + "\n")
    return n_copies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, required=True, help="number of records (files and JSON Lines records)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--text", choices=["real", "invented"], default="real" if real_text() else "invented")
    ap.add_argument("--html-share", type=float, default=0.0,
                    help="share of the single-record files written as HTML pages (the rest: text dumps)")
    ap.add_argument("--jsonl-files", type=float, default=JSONL_FILES, help="share of files holding JSON Lines records")
    ap.add_argument("--real-ledes", type=float, default=0.1,
                    help="share of new stories opening with one of the text's few real headline+lede pairs")
    a = ap.parse_args()
    print(json.dumps(generate(a.n, a.out, a.seed, source_for(a.text), a.real_ledes, a.html_share,
                              a.jsonl_files)))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
