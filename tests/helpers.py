"""Plain helpers of the end-to-end suite: raw-file fixtures and dataset readers.

Nothing here imports Prefect or the flow (Prefect reads its settings at import
time; conftest.py sets them first). `run_etl` lives in conftest.py.

Article fixtures are generated from a seed: each one is a long, obviously
complete news article (a headline whose words open the lede, several
paragraphs of running text, every paragraph ending with a full stop), and two
different seeds give articles that share too little text to be near-duplicates.
"""
from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parent.parent
SEED_DIR = REPO / "data" / "raw"          # the 5 seed files

# The contract's columns and types (../shared/CONTRACT.md). word_count: any integer type.
CONTRACT_TYPES = {
    "article_id": pl.String, "source_path": pl.String, "title": pl.String, "subtitle": pl.String,
    "published_date": pl.Date, "section": pl.String, "author": pl.String, "dateline": pl.String,
    "body": pl.String, "word_count": pl.Int64, "duplicate_of": pl.String, "issues": pl.List(pl.String),
}
ISSUE_CODES = ("missing_date", "missing_title", "title_mismatch", "truncated_body", "empty_body", "duplicate",
               "unreadable")
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa"

# ------------------------------------------------------------------ article text

_PLACES = ["Marlow", "Ashford", "Brenton", "Calder", "Dunmore", "Elgin", "Fenwick", "Garston", "Holloway", "Ilkley",
           "Jarrow", "Kendal", "Ludlow", "Malton", "Newquay", "Oakham", "Penrith", "Quarndon", "Redruth", "Selby",
           "Thirsk", "Ulverston", "Ventnor", "Whitby", "Yarmouth", "Alnwick", "Bideford", "Cromer", "Dawlish",
           "Evesham", "Frome", "Goole", "Hexham", "Ilminster", "Keswick", "Lewes", "Morpeth", "Nairn", "Otley",
           "Padstow", "Ripon", "Settle", "Tenby", "Uckfield", "Wells", "Bakewell", "Clitheroe", "Dorking"]
_BODIES = ["council", "water board", "school trust", "port authority", "transit agency", "hospital board",
           "farmers union", "library service", "fire service", "housing association", "river authority",
           "chamber of commerce", "parish assembly", "harbour commission", "planning committee"]
_NAMES = ["Alice Marsh", "Tomas Reyes", "Priya Natarajan", "Owen Caldwell", "Greta Lindqvist", "Samuel Okafor",
          "Hannah Brooks", "Mateo Alvarez", "Ingrid Holm", "Daniel Mercer", "Yusuf Demir", "Clara Whitfield",
          "Felix Baranov", "Rosa Castellano", "Kenji Watanabe", "Leila Haddad", "Victor Almeida", "Nora Quinlan",
          "Bruno Keller", "Agnes Doyle", "Ravi Menon", "Sofia Berg", "Liam Gallagher", "Maya Patel"]
_NOUNS = ["bridge", "quarry", "market", "harbour", "library", "depot", "meadow", "tunnel", "chapel", "school",
          "clinic", "orchard", "ferry", "canal", "reservoir", "stadium", "bakery", "warehouse", "garage", "pier",
          "lighthouse", "greenhouse", "mill", "brewery", "laundry", "foundry", "pavilion", "theatre", "bandstand",
          "allotment", "footpath", "roundabout", "junction", "viaduct", "embankment", "weir", "jetty", "boatyard",
          "kiln", "granary", "stable", "barn", "cottage", "terrace", "courtyard", "station", "platform", "workshop",
          "playground", "cemetery", "creamery", "tannery", "sawmill", "dairy", "hostel", "observatory", "aqueduct",
          "causeway", "lido", "arcade"]
_ADJS = ["narrow", "crumbling", "busy", "quiet", "flooded", "historic", "battered", "rebuilt", "damp", "draughty",
         "gleaming", "noisy", "modern", "disused", "popular", "cramped", "sagging", "wooden", "derelict", "sunny",
         "windswept", "muddy", "leafy", "steep", "shallow", "costly", "fragile", "sturdy", "rusting", "tiny",
         "sprawling", "gloomy", "spacious", "neglected", "famous", "forgotten", "boarded", "crowded", "lonely",
         "chilly"]
_VERBS = ["repair", "widen", "replace", "reopen", "insure", "inspect", "repaint", "relocate", "demolish", "extend",
          "modernise", "clean", "fence", "light", "heat", "rent", "sell", "buy", "survey", "restore", "rebuild",
          "drain", "insulate", "convert", "protect", "shelter", "reroof", "landscape", "connect", "open"]
_GROUPS = ["farmers", "pupils", "pensioners", "cyclists", "fishermen", "shopkeepers", "nurses", "tourists",
           "commuters", "students", "volunteers", "drivers", "walkers", "traders", "parents", "carers",
           "musicians", "painters", "bakers", "sailors", "gardeners", "runners", "climbers", "miners", "weavers"]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
_TEMPLATES = [
    "{Name} said the {adj} {noun} near the {noun2} would need {adj2} {noun3} before {groups} could use it.",
    "Several {groups} asked whether the {body} could {verb} the {adj} {noun} without closing the {noun2}.",
    "Engineers hope to {verb} the {noun} and {verb2} the {adj} {noun2} while {groups} and {groups2} wait.",
    "Last winter the {adj} {noun} beside the {noun2} was shut for weeks, leaving {groups} without a {noun3}.",
    "{Name}, whose {noun} overlooks the {adj} {noun2}, called the {noun3} {adj2} but {adj3}.",
    "Money from the {noun} levy might also {verb} a {adj} {noun2} for {groups} in {Place}.",
    "{Groups} from {Place} packed the {adj} {noun} to hear {Name} explain how the {noun2} would change.",
    "A survey found the {noun} had a {adj} roof, a {adj2} {noun2} and walls that {groups} described as {adj3}.",
    "{Name} warned that {groups} would suffer if the {body} chose to {verb} the {noun} first.",
    "The {adj} {noun} once fed {groups} across {Place}, and {Name} wants its {noun2} saved.",
    "Neighbours of the {noun} in {Place} said {adj} {groups} gathered there every weekend near the {noun2}.",
    "Plans shown to {groups} include a {adj} {noun}, a {adj2} {noun2} and space to {verb} the {noun3}.",
]


@dataclass
class Article:
    """A generated article: its parts, and the text a clean source would hold."""
    seed: int
    title: str
    date: dt.date
    paragraphs: list[str] = field(default_factory=list)

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)


def _sentence(r: random.Random, body: str) -> str:
    nouns, adjs, groups = r.sample(_NOUNS, 3), r.sample(_ADJS, 3), r.sample(_GROUPS, 2)
    verbs = r.sample(_VERBS, 2)
    return r.choice(_TEMPLATES).format(
        Name=r.choice(_NAMES), Place=r.choice(_PLACES), body=body, noun=nouns[0], noun2=nouns[1], noun3=nouns[2],
        adj=adjs[0], adj2=adjs[1], adj3=adjs[2], groups=groups[0], groups2=groups[1],
        Groups=groups[0].capitalize(), verb=verbs[0], verb2=verbs[1])


def make_article(seed: int, n_paragraphs: int = 6) -> Article:
    """A long, complete article (every paragraph ends with a full stop); seeds differ in most word triples."""
    r = random.Random(seed)
    place, body, verb, adj, noun = (r.choice(_PLACES), r.choice(_BODIES), r.choice(_VERBS), r.choice(_ADJS),
                                    r.choice(_NOUNS))
    title = f"{place} {body} to {verb} {adj} {noun}"
    lede = (f"The {body} in {place} agreed on {r.choice(_WEEKDAYS)} to {verb} the {adj} {noun}, "
            f"a decision that {r.choice(_GROUPS)} and {r.choice(_GROUPS)} had sought for years. "
            + _sentence(r, body))
    paras = [lede] + [" ".join(_sentence(r, body) for _ in range(3)) for _ in range(n_paragraphs - 1)]
    date = dt.date(2023, 1, 1) + dt.timedelta(days=r.randrange(0, 700))
    return Article(seed, title, date, paras)


# ------------------------------------------------------------------ raw file layouts

def clean_dump(a: Article, date: bool = True) -> str:
    """A clean extract: headline, date line, paragraphs."""
    head = [a.title] + ([f"Published: {a.date.isoformat()}"] if date else [])
    return "\n\n".join(head + a.paragraphs) + "\n"


def full_page_dump(a: Article, date: bool = True, byline: str | None = None) -> str:
    """A whole page: menus, a read-time badge, an ad, related links, a list of other headlines, a cookie notice."""
    lines = ["Home", "Menu", "Search", "", a.title, "", "4 MIN READ"] + ([byline] if byline else [])
    if date:
        lines.append(a.date.strftime("%B %d, %Y"))
    lines.append("")
    for i, p in enumerate(a.paragraphs):
        lines += [p, ""]
        if i == 1:
            lines += ["ADVERTISEMENT", ""]
    lines += ["Related: Storm closes mountain passes across the northern valleys", "",
              "Share", "Explore", "Ferry operators warn of strikes over the holiday weekend",
              "Museum unveils restored tapestry after a decade of work",
              "Local team wins regional cup in penalty shoot-out", "",
              "We use cookies to give you a better experience. By clicking Accept you agree to our use of cookies."]
    return "\n".join(lines) + "\n"


def no_title_dump(a: Article) -> str:
    """The text starts with the body; the date line stands at the end."""
    return "\n\n".join(a.paragraphs + [f"Published: {a.date.isoformat()}"]) + "\n"


def cut_mid_sentence_dump(a: Article) -> str:
    """The last paragraph stops in the middle of a sentence."""
    last = a.paragraphs[-1].rstrip(".")
    cut = " ".join(last.split()[:-4])
    return "\n\n".join([a.title, f"Published: {a.date.isoformat()}"] + a.paragraphs[:-1] + [cut]) + "\n"


def chars_stub_dump(a: Article, keep: int | None = None) -> str:
    """A feed snippet: the text stops with '… [+1234 chars]'."""
    paras = a.paragraphs[:keep] if keep else a.paragraphs[:-1]
    last = paras[-1].rstrip(".")
    last = " ".join(last.split()[:-3]) + "… [+1234 chars]"
    return "\n\n".join([a.title, f"Published: {a.date.isoformat()}"] + paras[:-1] + [last]) + "\n"


def label_title_dump(a: Article) -> str:
    """The headline slot holds a section label, printed twice."""
    return "\n\n".join(["WORLD", "WORLD", f"Published: {a.date.isoformat()}"] + a.paragraphs) + "\n"


def related_title_dump(a: Article, other_headline: str) -> str:
    """The headline slot holds a related-link line naming another article."""
    return "\n\n".join([f"Related: {other_headline}", f"Published: {a.date.isoformat()}"] + a.paragraphs) + "\n"


def empty_body_dump(a: Article) -> str:
    """Headline and date, then only navigation lines: no article text."""
    return "\n".join([a.title, f"Published: {a.date.isoformat()}", "", "Home", "Menu", "Subscribe", "Share",
                      "Sign in"]) + "\n"


def json_record(a: Article) -> str:
    return json.dumps({"title": a.title, "publishedAt": f"{a.date.isoformat()}T08:30:00Z", "content": a.body})


def html_page(a: Article) -> str:
    paras = "\n".join(f"<p>{p}</p>" for p in a.paragraphs)
    return (f"<!DOCTYPE html>\n<html><head><title>{a.title}</title>"
            f'<meta property="article:published_time" content="{a.date.isoformat()}T09:00:00Z">'
            f"</head><body><header><nav><a href='/'>Home</a></nav></header>"
            f"<article><h1>{a.title}</h1>\n{paras}\n</article>"
            f"<footer>Copyright 2024 Example News</footer></body></html>\n")


def write(root: Path, rel: str, content: str | bytes) -> Path:
    p = Path(root) / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def write_clean_articles(root: Path, seeds, prefix: str = "clean") -> dict[str, Article]:
    """One clean text dump per seed; returns source_path -> article."""
    out = {}
    for s in seeds:
        rel = f"{prefix}_{s:04d}.txt"
        a = make_article(s)
        write(root, rel, clean_dump(a))
        out[rel] = a
    return out


# ------------------------------------------------------------------ reading the output

def dataset_pattern(out: Path, name: str) -> str:
    return f"{out}/{name}/articles/**/*.parquet"


def read_dataset(out: Path, name: str) -> pl.DataFrame:
    """`published` or `quarantine` as a reader of the contract loads it (empty frame when no files)."""
    pattern = dataset_pattern(out, name)
    if not glob.glob(pattern, recursive=True):
        return pl.DataFrame(schema=CONTRACT_TYPES)
    return pl.scan_parquet(pattern, hive_partitioning=True).collect()


def published(out: Path) -> pl.DataFrame:
    return read_dataset(out, "published")


def quarantine(out: Path) -> pl.DataFrame:
    return read_dataset(out, "quarantine")


def by_path(df: pl.DataFrame) -> dict[str, dict]:
    return {r["source_path"]: r for r in df.iter_rows(named=True)}


def dataset_files(out: Path, name: str) -> dict[str, tuple[int, str]]:
    """Parquet files of a dataset as the reader sees them: relative path -> (inode, sha256)."""
    root = Path(out) / name / "articles"
    res = {}
    for f in sorted(root.rglob("*.parquet")):
        res[f.relative_to(root).as_posix()] = (f.stat().st_ino, hashlib.sha256(f.read_bytes()).hexdigest())
    return res


def current_target(out: Path) -> str:
    import os

    return os.readlink(Path(out) / ".cleanwire" / "current")


def summary_json(out: Path) -> dict:
    return json.loads((Path(out) / "reports" / "summary.json").read_text())


# ------------------------------------------------------------------ robustness suites (added)
# Used by test_hostile_input.py, test_crash_safety.py, test_config_errors.py, test_properties.py.

CLI_PATH = Path(__import__("sys").executable).with_name("cleanwire")


def check_contract_schema(df: pl.DataFrame, name: str = "dataset") -> None:
    """Every contract column is present with the contract's type (word_count: any integer)."""
    for col, dtype in CONTRACT_TYPES.items():
        assert col in df.columns, f"{name}: contract column {col!r} missing (have {df.columns})"
        got = df.schema[col]
        if col == "word_count":
            assert got.is_integer(), f"{name}.word_count is {got}, not an integer type"
        else:
            assert got == dtype, f"{name}.{col} is {got}, the contract says {dtype}"


def all_records(out: Path) -> pl.DataFrame:
    """published + quarantine (contract columns and `detail`, `source_file`), with a `dataset` column."""
    cols = [*CONTRACT_TYPES, "detail", "source_file"]
    frames = []
    for name in ("published", "quarantine"):
        df = read_dataset(out, name)
        df = df.select([c for c in cols if c in df.columns])
        for c in cols:
            if c not in df.columns:
                df = df.with_columns(pl.lit(None, dtype=pl.String).alias(c))
        frames.append(df.select(cols).with_columns(pl.lit(name).alias("dataset")))
    return pl.concat(frames, how="vertical_relaxed")


def tree_snapshot(root: Path) -> dict[str, tuple]:
    """Every entry below root (never following links, never opening FIFOs): what it is, and its content.

    relative path -> (kind, mode, size, mtime_ns, sha256 | link target | None). The root itself is included.
    """
    import os
    import stat as st

    snap: dict[str, tuple] = {}
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [".", *dirnames, *filenames]:
            p = Path(dirpath) / name if name != "." else Path(dirpath)
            s = os.lstat(p)
            rel = os.path.relpath(p, root)
            if st.S_ISLNK(s.st_mode):
                snap[rel] = ("link", s.st_mode, s.st_size, s.st_mtime_ns, os.readlink(p))
            elif st.S_ISREG(s.st_mode):
                digest = hashlib.sha256()
                with open(p, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
                snap[rel] = ("file", s.st_mode, s.st_size, s.st_mtime_ns, digest.hexdigest())
            elif st.S_ISDIR(s.st_mode):
                snap[rel] = ("dir", s.st_mode, None, s.st_mtime_ns, None)
            else:
                snap[rel] = ("other", s.st_mode, s.st_size, s.st_mtime_ns, None)
    return snap


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a `cleanwire` subprocess: the session's Prefect API and home, wide, uncoloured."""
    import os

    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    env.update(extra)
    return env


# The start of a `python -c` hook that patches one step of a `cleanwire run` to pause there: `pause(label)`
# writes "label pid" to $CW_MARKER and waits until $CW_RESUME exists (or until the test kills the run).
PAUSE_HOOK = r"""
import os, sys, time
point, marker, resume = os.environ["CW_POINT"], os.environ["CW_MARKER"], os.environ.get("CW_RESUME", "")

def pause(label):
    with open(marker, "w") as fh:
        fh.write(f"{label} {os.getpid()}")
    deadline = time.time() + 300
    while time.time() < deadline:
        if resume and os.path.exists(resume):
            return
        time.sleep(0.02)
    os._exit(99)
"""
