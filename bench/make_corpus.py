"""Generate a synthetic raw corpus of N files in the layouts cleanwire reads.

    python bench/make_corpus.py --n 100000 --out bench/out/raw-100k [--seed 1]

Layouts follow the sample files (data/raw) and the documented scrape styles:
clean extracts, full page dumps (read-time badge, repeated headline, caption,
doubled byline, related links, Explore list), wire pages (ad, section label,
dateline city, cookie banner) and JSON Lines feeds of 2-6 records. Defects come
at rates like those users meet: ~8 % undated, ~5 % without a headline, ~15 %
cut off (some with a stub), ~2 % empty, ~15 % duplicates (another layout of an
earlier article), ~1 % unreadable (binary, empty). Text is made of sentences
drawn from a fixed word list: the numbers are about throughput, not language.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
from pathlib import Path

WORDS = ("the of and to in a is that for on said with as was at by from his it an have be are has "
         "government minister officials police president city people year week report country court "
         "company market prices talks election security health school water energy trade border "
         "vote plan law council workers army state group leaders support months former national "
         "public rights team season deal crisis village storm fire bank oil budget tax union "
         "protest hospital judge study research climate river island airport bridge coast").split()
CITIES = ["ANKARA", "LONDON", "NAIROBI", "LIMA", "OSLO", "MANILA", "CAIRO", "DENVER", "SEOUL", "TORONTO"]
SECTIONS = ["WORLD", "POLITICS", "BUSINESS", "SPORTS", "SCIENCE", "HEALTH"]
NAMES = ["Ana Ruiz", "Tom Berg", "Li Wei", "Sara Cohen", "Omar Haddad", "Nina Petrova", "Jon Hale"]


def sentence(rng: random.Random, lo: int = 8, hi: int = 24) -> str:
    ws = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    ws[0] = ws[0].capitalize()
    return " ".join(ws) + rng.choice([".", ".", ".", "?"])


def article(rng: random.Random) -> dict:
    n_par = rng.randint(6, 14)
    paras = [" ".join(sentence(rng) for _ in range(rng.randint(1, 4))) for _ in range(n_par)]
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12))).capitalize()
    day = dt.date(2019, 1, 1) + dt.timedelta(days=rng.randint(0, 1800))
    return {"title": title, "date": day, "paras": paras, "standfirst": sentence(rng, 12, 20),
            "section": rng.choice(SECTIONS), "author": rng.choice(NAMES), "city": rng.choice(CITIES)}


def defect(a: dict, rng: random.Random) -> dict:
    """Apply defects at realistic rates (a copy; the original stays clean)."""
    a = dict(a, paras=list(a["paras"]))
    r = rng.random()
    if r < 0.08:
        a["date"] = None
    elif r < 0.13:
        a["title"] = None
    elif r < 0.28:
        cut = a["paras"][: max(2, len(a["paras"]) // 2)]
        words = cut[-1].split()
        cut[-1] = " ".join(words[: max(3, len(words) // 2)]).rstrip(".?\"") + rng.choice(["", "", "...", " [+1234 chars]"])
        a["paras"] = cut
    elif r < 0.30:
        a["paras"] = []
    return a


def fmt_date(d: dt.date, rng: random.Random) -> str:
    return rng.choice([d.strftime("%B %-d, %Y"), d.strftime("%-d %B %Y"), d.isoformat(),
                       "Published: " + d.strftime("%d/%m/%Y") + " 10:32 BST"])


def clean(a: dict, rng: random.Random) -> str:
    head = [a["title"]] if a["title"] else []
    if a["date"]:
        head.append(fmt_date(a["date"], rng))
    return "\n".join(head + a["paras"])


def page_dump(a: dict, rng: random.Random) -> str:
    lines = []
    if a["date"]:
        lines.append(f" date {a['date'].isoformat()} {a['section']}")
    lines.append(f"{rng.randint(1, 9)} MIN READ")
    if a["title"]:
        lines += [a["title"], a["standfirst"], a["title"]]
    lines += ["People gather at the site. / Photo: Reuters / Reuters", a["author"] * 2]
    if a["date"]:
        lines.append(a["date"].strftime("%B %-d, %Y"))
    lines.append("")
    for i, p in enumerate(a["paras"]):
        lines += [p, ""]
        if i == 2:
            lines += ["RECOMMENDED", ""]
    lines += ["RelatedSome other story about the " + rng.choice(WORDS), "SOURCE:Agencies", "Explore"]
    lines += [" ".join(rng.choice(WORDS) for _ in range(8)).capitalize() for _ in range(10)]
    return "\n".join(lines)


def wire(a: dict, rng: random.Random) -> str:
    lines = ["ADVERTISEMENT", "", a["section"], ""]
    if a["title"]:
        lines += [a["title"], ""]
    lines += [a["city"], ""]
    if a["date"]:
        lines += [fmt_date(a["date"], rng), ""]
    for p in a["paras"]:
        lines += [p, ""]
    lines += ["  • We use cookies on our website to give you a better experience. By clicking “Accept” you agree "
              "to our use of cookies.", "", "    Read More"]
    return "\n".join(lines)


def jsonl_record(a: dict, rng: random.Random) -> str:
    rec = {"url": f"https://news.example/{rng.randint(1, 10**9)}"}
    if a["title"]:
        rec["title"] = a["title"]
    if a["date"]:
        rec["date"] = a["date"].isoformat() + "T10:00:00Z"
    rec["text"] = "\n\n".join(a["paras"])
    return json.dumps(rec)


LAYOUTS = [clean, page_dump, wire]


def generate(n: int, out: Path, seed: int = 1) -> dict:
    """Write about n source records (files, or JSON Lines records) below `out`."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    made = 0
    files = 0
    earlier: list[dict] = []
    while made < n:
        folder = out / f"feed-{files // 1000:04d}"
        folder.mkdir(exist_ok=True)
        r = rng.random()
        if r < 0.01:
            (folder / f"{files:07d}.bin").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200) if rng.random() < 0.5 else b"")
            made += 1
        elif r < 0.16:
            k = min(rng.randint(2, 6), n - made)
            recs = []
            for _ in range(k):
                a = article(rng)
                earlier.append(a)
                recs.append(jsonl_record(defect(a, rng), rng))
            (folder / f"{files:07d}.jsonl").write_text("\n".join(recs) + "\n")
            made += k
        else:
            if earlier and rng.random() < 0.15:
                a = rng.choice(earlier)  # another scrape of an earlier article, in another layout
            else:
                a = article(rng)
                earlier.append(a)
            layout = rng.choice(LAYOUTS)
            (folder / f"{files:07d}.txt").write_text(layout(defect(a, rng), rng))
            made += 1
        if len(earlier) > 5000:
            earlier = earlier[-2000:]
        files += 1
    return {"records": made, "files": files}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, required=True, help="number of records (files and JSON Lines records)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    print(json.dumps(generate(a.n, a.out, a.seed)))


if __name__ == "__main__":
    main()
