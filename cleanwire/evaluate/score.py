"""Score an output directory of `cleanwire run` against labelled samples (`cleanwire eval`).

A user labels some raw files (labels.jsonl, one JSON object per source_path, in
the format of the evaluation corpus: ../shared/corpus-dev/README.md) and checks
how well the rules do on them:

    labels = load_labels("labels.jsonl")
    result = evaluate(labels, read_output("OUT"))
    print(format_report(result))

The metrics are those of the benchmark's scorer (../shared/tools/score.py), and
give the same numbers:

* issue codes: precision / recall / F1 per code over source_paths; the score is
  the macro F1 over the contract codes that occur (in the truth or the output).
  Duplicate groups are resolved against the output: when it publishes exactly
  one copy that may be published (`dup_candidate`, no defect but a missing date
  or title), that copy is the canonical one, else the label's preferred copy is.
  The canonical copy expects no issue and the group's title, date and full body;
  every other copy expects `duplicate` plus its own defects, where the fillable
  ones (missing_date, missing_title) are optional. Optional codes are never
  counted. A title slot holding a section label or a "Related:" link may be
  reported as `missing_title` instead of `title_mismatch`.
* fields: title accuracy (normalised exact match), date accuracy (the label's
  date or one of its `published_date_alternates`), body tokens as a bag of
  words (precision / recall / F1, mean over the files that have a body).
* publishing: purity (published records whose truth has no issue) and clean
  recall (clean articles published; a duplicate group counts once).
* duplicates: share of groups handled correctly (one good copy published with
  the group's title, date and body; the other copies quarantined as `duplicate`).
* accounting: labelled files missing from the output, files appearing more than
  once, source_paths the labels do not know.

When the output has a record more than once, the fields are read from its
first published record (else its first record) and the issue codes are the
union over all of them.
"""
from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import polars as pl

from cleanwire.types import CONTRACT, DUPLICATE, ISSUE_CODES, MISSING_DATE, MISSING_TITLE, TITLE_MISMATCH

DATASETS = ("published", "quarantine")
FILLABLE = frozenset({MISSING_DATE, MISSING_TITLE})   # a published copy may take these from its duplicate
NO_HEADLINE_KINDS = frozenset({"related_headline", "section_label"})
DUP_BODY_F1 = 0.8          # body F1 below which the published copy of a group has the wrong body
_LIST_OF_CODES = pl.List(pl.String)


# ------------------------------------------------------------------ text measures

# Typographic variants that do not make a title different.
_TITLE_FOLD = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u00a0": " ", "\u2026": "...",
})
_TITLE_EDGE = " .:;,!-|\"'"
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+")                                                # letter/digit runs
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")  # kana, han, hangul


def normalise_title(title: str | None) -> str:
    """NFKC, straight quotes and dashes, casefolded, spaces collapsed, outer punctuation dropped."""
    if not title:
        return ""
    s = unicodedata.normalize("NFKC", str(title)).translate(_TITLE_FOLD).casefold()
    return _SPACES.sub(" ", s).strip().strip(_TITLE_EDGE)


def tokens(text: str | None) -> list[str]:
    """Lowercased letter/digit runs; a run holding CJK or Hangul gives one token per character."""
    out: list[str] = []
    for word in _WORD.findall(str(text or "").lower()):
        out.extend(word if _CJK.search(word) else (word,))
    return out


def body_prf(truth: str | None, got: str | None) -> tuple[float, float, float]:
    """Bag-of-words precision, recall, F1 of `got` against `truth` (both empty: a perfect match)."""
    want, have = Counter(tokens(truth)), Counter(tokens(got))
    n_want, n_have = want.total(), have.total()
    if not n_want and not n_have:
        return 1.0, 1.0, 1.0
    if not n_want or not n_have:
        return 0.0, 0.0, 0.0
    common = (want & have).total()
    if not common:
        return 0.0, 0.0, 0.0
    p, r = common / n_have, common / n_want
    return p, r, 2 * p * r / (p + r)


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _one_line(msg: object) -> str:
    return " ".join(str(msg).split())


# ------------------------------------------------------------------ labels

_STR_FIELDS = ("title", "published_date", "body", "dup_group", "dup_canonical", "mismatch_kind")
_LIST_FIELDS = ("issues", "issues_optional", "own_issues", "published_date_alternates")


def _norm_path(p: str) -> str:
    p = p.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return p


def _label_problem(d: Any) -> str | None:
    if not isinstance(d, dict):
        return f"expected a JSON object, got {type(d).__name__}"
    sp = d.get("source_path")
    if not isinstance(sp, str) or not sp.strip():
        return "no source_path (a non-empty string)"
    for k in _STR_FIELDS:
        if d.get(k) is not None and not isinstance(d[k], str):
            return f"{k} must be a string or null, got {type(d[k]).__name__}"
    for k in _LIST_FIELDS:
        v = d.get(k)
        if v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            return f"{k} must be a list of strings"
    cf = d.get("canonical_fields")
    if cf is not None:
        if not isinstance(cf, dict):
            return "canonical_fields must be an object or null"
        for k in ("title", "published_date", "body_source_path"):
            if cf.get(k) is not None and not isinstance(cf[k], str):
                return f"canonical_fields.{k} must be a string or null"
        alts = cf.get("published_date_alternates")
        if alts is not None and not (isinstance(alts, list) and all(isinstance(x, str) for x in alts)):
            return "canonical_fields.published_date_alternates must be a list of strings"
    return None


def load_labels(path: str | Path) -> dict[str, dict]:
    """labels.jsonl -> {source_path: label}; ValueError (one line) when unreadable or invalid."""
    path = Path(path)
    labels: dict[str, dict] = {}
    lines: dict[str, int] = {}
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                except ValueError as e:
                    raise ValueError(f"invalid labels {path} line {n}: not JSON ({_one_line(e)})") from None
                problem = _label_problem(d)
                if problem:
                    raise ValueError(f"invalid labels {path} line {n}: {problem}")
                sp = _norm_path(d["source_path"])
                if sp in labels:
                    raise ValueError(f"invalid labels {path} line {n}: source_path {sp!r} "
                                     f"already labelled on line {lines[sp]}")
                labels[sp], lines[sp] = d, n
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(_one_line(f"cannot read labels {path}: {e}")) from None
    if not labels:
        raise ValueError(f"invalid labels {path}: no labels in the file")
    return labels


# ------------------------------------------------------------------ output

def _split_codes(s: str) -> list[str]:
    """Issue codes written as text: a JSON list, or separated by , ; or |."""
    s = s.strip()
    if s.startswith("["):
        try:
            return [str(x) for x in json.loads(s) if x is not None]
        except ValueError:
            pass
    return re.split(r"[,;|]", s)


def _issues_expr(dtype: pl.DataType) -> pl.Expr:
    col = pl.col("issues")
    if isinstance(dtype, pl.List) or dtype == pl.Null:
        codes = col.cast(_LIST_OF_CODES)
    else:
        codes = col.cast(pl.String).map_elements(_split_codes, return_dtype=_LIST_OF_CODES)
    cleaned = codes.list.eval(pl.element().str.strip_chars()).list.eval(
        pl.element().filter(pl.element().is_not_null() & (pl.element() != "")))
    return cleaned.fill_null(pl.lit([], dtype=_LIST_OF_CODES)).alias("issues")


def _date_expr(dtype: pl.DataType) -> pl.Expr:
    col = pl.col("published_date")
    if dtype == pl.Date:
        return col
    if isinstance(dtype, pl.Datetime):
        return col.dt.date()
    if dtype == pl.Null:
        return col.cast(pl.Date)
    return (col.cast(pl.String).str.extract(r"^\s*(\d{4}-\d{2}-\d{2})", 1)
            .str.to_date("%Y-%m-%d", strict=False).alias("published_date"))


def normalise_output(frame: pl.DataFrame) -> pl.DataFrame:
    """Comparable types: source_path '/'-separated, issues list[str] (never null), published_date Date."""
    schema = frame.schema
    exprs = []
    if "source_path" in schema:
        exprs.append(pl.col("source_path").cast(pl.String).str.replace_all("\\", "/", literal=True)
                     .str.replace(r"^(?:\./)+", ""))
    if "issues" in schema:
        exprs.append(_issues_expr(schema["issues"]))
    if "published_date" in schema:
        exprs.append(_date_expr(schema["published_date"]))
    return frame.with_columns(exprs) if exprs else frame


def _hive_columns(file: Path, root: Path) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for part in file.relative_to(root).parts[:-1]:
        key, eq, value = part.partition("=")
        if eq:
            out[key] = None if value in ("", "__HIVE_DEFAULT_PARTITION__") else value
    return out


def _read_dataset(root: Path, name: str, problems: list[str]) -> pl.DataFrame:
    """Every parquet file below root, with its hive partition values as columns."""
    files = sorted(p for p in root.rglob("*.parquet") if p.is_file())
    frames = []
    for f in files:
        try:
            df = pl.read_parquet(f, hive_partitioning=False)
        except Exception as e:  # noqa: BLE001 - one bad file is reported, the others are still scored
            problems.append(_one_line(f"unreadable parquet {f}: {type(e).__name__}: {e}"))
            continue
        hive = {k: v for k, v in _hive_columns(f, root).items() if k not in df.columns}
        df = df.with_columns(pl.lit(v, dtype=pl.String).alias(k) for k, v in hive.items())
        frames.append(normalise_output(df).with_columns(pl.lit(name).alias("dataset")))
    if files and not frames:
        raise ValueError(f"none of the {len(files)} parquet files under {root} could be read")
    return _concat(frames)


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    if not frames:
        return pl.DataFrame()
    try:
        return pl.concat(frames, how="diagonal_relaxed")
    except Exception:  # noqa: BLE001 - types too different to relax: compare the other columns as text
        keep = {"source_path", "issues", "published_date", "dataset"}
        return pl.concat([f.with_columns(pl.exclude(*keep).cast(pl.String)) for f in frames],
                         how="diagonal_relaxed")


def read_output(out_dir: str | Path, problems: list[str] | None = None) -> pl.DataFrame:
    """Both datasets of OUT_DIR in one frame, with a `dataset` column (published | quarantine).

    `OUT_DIR/published` may be a symlink; hive partition values become columns.
    Problems that still allow scoring (a dataset or a parquet file missing or
    unreadable) are appended to `problems`; ValueError when nothing can be scored.
    """
    out = Path(out_dir)
    problems = [] if problems is None else problems
    frames, found = [], 0
    for name in DATASETS:
        root = out / name / "articles"
        if not root.is_dir():
            problems.append(f"no {name} dataset at {root}")
            continue
        found += 1
        df = _read_dataset(root, name, problems)
        if df.height:
            frames.append(df)
    if not found:
        raise ValueError(f"not a cleanwire output: neither {out}/published/articles nor "
                         f"{out}/quarantine/articles exists")
    if not frames:
        return pl.DataFrame(schema={**CONTRACT, "dataset": pl.String})
    frame = _concat(frames)
    if "source_path" not in frame.columns:
        raise ValueError(f"the output in {out} has no source_path column: nothing can be matched to labels")
    return frame


# ------------------------------------------------------------------ results

@dataclass
class CodeScore:
    support: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    contract: bool       # a contract issue code (only these make the macro F1)
    scored: bool         # occurs in the truth or the output


@dataclass
class Accounting:
    labelled: int
    records: int
    published: int
    quarantined: int
    missing: list[str]          # labelled source_paths absent from the output
    repeated: list[str]         # labelled source_paths with more than one record
    unknown: list[str]          # source_paths of records the labels do not know (one per record)


@dataclass
class BodyScore:
    files: int
    precision: float | None
    recall: float | None
    f1: float | None


@dataclass
class DuplicateScore:
    groups: int
    handled: int
    share: float | None
    failures: dict[str, int]
    duplicate_of_correct: int    # non-published copies whose duplicate_of names the published copy
    duplicate_of_checked: int


@dataclass
class EvalResult:
    accounting: Accounting
    per_code: dict[str, CodeScore]
    macro_f1: float | None
    title_accuracy: float | None
    title_counts: tuple[int, int]          # (correct, with a known title)
    date_accuracy: float | None
    date_counts: tuple[int, int]
    dates_without_truth: int | None        # dates output for files that have none
    body: BodyScore
    purity: float | None
    purity_counts: tuple[int, int]         # (published with no issue in truth, published and labelled)
    clean_recall: float | None
    clean_recall_counts: tuple[int, int]   # (clean articles published, clean articles)
    duplicates: DuplicateScore
    missing_columns: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)   # error kind -> examples

    @property
    def summary(self) -> str:
        return (f"score: {_fmt(self.macro_f1)} purity={_fmt(self.purity)} recall={_fmt(self.clean_recall)} "
                f"body_f1={_fmt(self.body.f1)} title_acc={_fmt(self.title_accuracy)} "
                f"date_acc={_fmt(self.date_accuracy)}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["summary"] = self.summary
        return json.loads(json.dumps(d))   # tuples -> lists: exactly what json.dumps gives


# ------------------------------------------------------------------ truth

def _own_issues(lab: dict) -> set[str]:
    if lab.get("own_issues") is not None:
        return set(lab["own_issues"])
    return set(lab.get("issues") or []) - {DUPLICATE}


def _publishable(lab: dict) -> bool:
    """A copy that may be the published one of its group (a missing date/title is taken from another)."""
    return bool(lab.get("dup_candidate", True)) and _own_issues(lab) <= FILLABLE


def _groups(labels: dict[str, dict]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for sp, lab in labels.items():
        if lab.get("dup_group"):
            groups.setdefault(lab["dup_group"], []).append(sp)
    return groups


def _canonical_copies(labels: dict[str, dict], groups: dict[str, list[str]], published: set[str]) -> dict[str, str]:
    """dup_group -> the copy treated as canonical: the published publishable copy, else the preferred one."""
    chosen = {}
    for g, members in groups.items():
        members = sorted(members)
        publishable = [m for m in members if _publishable(labels[m])]
        preferred = (next((m for m in members if labels[m].get("dup_preferred")), None)
                     or labels[members[0]].get("dup_canonical")
                     or (publishable or members)[0])
        out_choice = [m for m in publishable if m in published]
        chosen[g] = preferred if preferred in out_choice or not out_choice else out_choice[0]
    return chosen


def _expected(sp: str, lab: dict, labels: dict[str, dict], canonical: dict[str, str]) -> dict:
    """The truth of one file once its duplicate group is resolved."""
    alts = list(lab.get("published_date_alternates") or [])
    g = lab.get("dup_group")
    if not g:
        return {"issues": sorted(set(lab.get("issues") or [])), "optional": sorted(set(lab.get("issues_optional") or [])),
                "title": lab.get("title"), "date": lab.get("published_date"), "alts": alts, "body": lab.get("body")}
    own = _own_issues(lab)
    if canonical[g] != sp:
        return {"issues": sorted((own - FILLABLE) | {DUPLICATE}), "optional": sorted(own & FILLABLE),
                "title": lab.get("title"), "date": lab.get("published_date"), "alts": alts, "body": lab.get("body")}
    cf = lab.get("canonical_fields") or {}
    body = lab.get("body")
    if cf.get("body_source_path") in labels:
        body = labels[cf["body_source_path"]].get("body") or body
    return {"issues": [], "optional": [],
            "title": cf.get("title", lab.get("title")),
            "date": cf.get("published_date", lab.get("published_date")),
            "alts": sorted(set(cf.get("published_date_alternates") or []) | set(alts)),
            "body": body}


# ------------------------------------------------------------------ scoring

@dataclass
class _Scoring:
    """What every metric needs: the labels, one row per labelled file (truth and output side by side)."""
    labels: dict[str, dict]
    table: pl.DataFrame                 # labelled files: exp_* (truth) + the output's picked record
    rows: dict[str, dict]               # the same, by source_path
    observed: dict[str, dict]           # labelled files present in the output
    published: set[str]                 # labelled files with a published record
    groups: dict[str, list[str]]        # dup_group -> members, in label order
    canonical: dict[str, str]           # dup_group -> the copy treated as canonical
    has: dict[str, bool]                # contract column -> present in the output
    examples: dict[str, list[str]] = field(default_factory=dict)

    def example(self, kind: str, text: str) -> None:
        self.examples.setdefault(kind, []).append(text)


def _observed(known: pl.DataFrame) -> pl.DataFrame:
    """One row per labelled source_path in the output: its first published record (else its first
    record) and, over all of its records, the union of issue codes and where they went."""
    is_pub = (pl.col("dataset") == "published").fill_null(False)
    first = (known.sort(~is_pub, "_row")
             .unique("source_path", keep="first", maintain_order=True)
             .select("source_path", "article_id", "title", "body",
                     pl.col("published_date").dt.to_string("%Y-%m-%d").alias("got_date")))
    per_file = known.group_by("source_path").agg(
        is_pub.any().alias("published"),
        (~is_pub).any().alias("quarantined"),
        pl.col("issues").list.explode(keep_nulls=False, empty_as_null=False).unique().sort().alias("predicted"),
        pl.col("issues").list.contains(DUPLICATE).any().alias("marked_duplicate"),
        pl.col("duplicate_of").drop_nulls().unique().alias("duplicate_of"),
    )
    return first.join(per_file, on="source_path", how="left")


def _truth(labels: dict[str, dict], canonical: dict[str, str]) -> pl.DataFrame:
    rows = [{"source_path": sp, "mismatch_kind": lab.get("mismatch_kind"),
             **{f"exp_{k}": v for k, v in _expected(sp, lab, labels, canonical).items()}}
            for sp, lab in labels.items()]
    return pl.DataFrame(rows, schema={
        "source_path": pl.String, "mismatch_kind": pl.String, "exp_issues": _LIST_OF_CODES,
        "exp_optional": _LIST_OF_CODES, "exp_title": pl.String, "exp_date": pl.String,
        "exp_alts": _LIST_OF_CODES, "exp_body": pl.String})


def _accounting(labels: dict[str, dict], frame: pl.DataFrame, known: pl.DataFrame) -> Accounting:
    counts = dict(known.group_by("source_path").len().iter_rows())
    unknown = frame.join(known.select("_row"), on="_row", how="anti")["source_path"].to_list()
    return Accounting(
        labelled=len(labels), records=frame.height,
        published=frame.filter(pl.col("dataset") == "published").height,
        quarantined=frame.filter(pl.col("dataset") == "quarantine").height,
        missing=sorted(sp for sp in labels if sp not in counts),
        repeated=sorted(sp for sp, n in counts.items() if n > 1),
        unknown=sorted(map(str, unknown)))


def _code_score(table: pl.DataFrame, code: str) -> tuple[CodeScore, list[str], list[str]]:
    """Counts of one code over the labelled files (where it is optional, a file is left out),
    and the files it is wrongly said / not said of."""
    predicted = pl.col("predicted").list.contains(code)
    expected = pl.col("exp_issues").list.contains(code)
    rows = table.filter(~pl.col("exp_optional").list.contains(code))
    false_pos = rows.filter(predicted & ~expected)["source_path"].to_list()
    false_neg = rows.filter(~predicted & expected)["source_path"].to_list()
    tp, fp, fn = rows.filter(predicted & expected).height, len(false_pos), len(false_neg)
    p = tp / (tp + fp) if tp + fp else float(fn == 0)
    r = tp / (tp + fn) if tp + fn else float(fp == 0)
    f = 2 * p * r / (p + r) if p + r else 0.0
    score = CodeScore(support=tp + fn, tp=tp, fp=fp, fn=fn, precision=p, recall=r, f1=f,
                      contract=code in ISSUE_CODES, scored=tp + fp + fn > 0)
    return score, false_pos, false_neg


def _issue_scores(s: _Scoring) -> tuple[dict[str, CodeScore], float | None]:
    """Per-code scores (contract codes, then any other code the output uses) and their macro F1."""
    if not s.has["issues"]:
        return {}, None
    # A slot holding a section label or a "Related:" link has no real headline: missing_title is right too.
    predicted = pl.col("predicted")
    said_missing = (pl.col("mismatch_kind").is_in(list(NO_HEADLINE_KINDS)).fill_null(False)
                    & pl.col("exp_issues").list.contains(TITLE_MISMATCH)
                    & predicted.list.contains(MISSING_TITLE) & ~predicted.list.contains(TITLE_MISMATCH))
    table = s.table.with_columns(
        pl.when(said_missing)
        .then(predicted.list.set_difference([MISSING_TITLE]).list.concat(pl.lit([TITLE_MISMATCH])))
        .otherwise(predicted).alias("predicted"))
    used = set(table["predicted"].explode().drop_nulls().to_list())
    per_code = {}
    for code in [*ISSUE_CODES, *sorted(used - set(ISSUE_CODES))]:
        per_code[code], false_pos, false_neg = _code_score(table, code)
        for sp in false_pos:
            s.example(f"FP {code}", sp)
        for sp in false_neg:
            s.example(f"FN {code}", sp)
    return per_code, _mean([c.f1 for c in per_code.values() if c.contract and c.scored])


def _accuracy(s: _Scoring, column: str, got_key: str, want_key: str,
              right: Callable[[Any, dict], bool]) -> tuple[float | None, tuple[int, int]]:
    """Share of the files with a known value (`want_key` not null) whose picked record has it right."""
    if not s.has[column]:
        return None, (0, 0)
    n = good = 0
    for sp, row in s.rows.items():
        if row[want_key] is None:
            continue
        n += 1
        if sp in s.observed and right(row[got_key], row):
            good += 1
        else:
            s.example(column, f"{sp}: got {str(row[got_key])[:70]!r} want {str(row[want_key])[:70]!r}")
    return _ratio(good, n), (good, n)


def _title_right(got: str | None, row: dict) -> bool:
    want = normalise_title(row["exp_title"])
    return bool(want) and normalise_title(got) == want


def _date_right(got: str | None, row: dict) -> bool:
    return got is not None and (got == row["exp_date"] or got in row["exp_alts"])


def _body_score(s: _Scoring) -> BodyScore:
    if not s.has["body"]:
        return BodyScore(0, None, None, None)
    prfs = [body_prf(row["exp_body"], row["body"]) for row in s.rows.values() if row["exp_body"]]
    p, r, f = (_mean(list(x)) for x in zip(*prfs)) if prfs else (None, None, None)
    return BodyScore(len(prfs), p, r, f)


def _purity(s: _Scoring, frame: pl.DataFrame) -> tuple[int, int]:
    """(published records of labelled files whose truth has no issue - a file counted once, all of them)."""
    published = (frame.filter(pl.col("dataset") == "published")
                 .join(s.table.select("source_path", "exp_issues"), on="source_path", how="inner",
                       maintain_order="left"))
    pure = published.filter(pl.col("source_path").is_first_distinct() & (pl.col("exp_issues").list.len() == 0))
    return pure.height, published.height


def _clean_recall(s: _Scoring) -> tuple[int, int]:
    """(clean articles published, clean articles): a file with no issue, or a duplicate group
    (counted once, published when one of its publishable copies is)."""
    got = units = 0
    for sp, row in s.rows.items():
        if s.labels[sp].get("dup_group") or row["exp_issues"]:
            continue
        units += 1
        got += sp in s.published
        if sp not in s.published:
            s.example("clean file not published", sp)
    for members in s.groups.values():
        units += 1
        got += any(m in s.published and _publishable(s.labels[m]) for m in members)
    return got, units


def _group_failure(s: _Scoring, members: list[str], want: dict | None) -> str | None:
    """Why a duplicate group is handled wrongly (None: it is not). `want`: the canonical copy's truth."""
    pubs = [m for m in members if m in s.published]
    if not pubs:
        return "no copy published"
    if len(pubs) > 1:
        return "several copies published"
    if not _publishable(s.labels[pubs[0]]):
        return "a defective copy was published"
    got = s.observed[pubs[0]]
    if s.has["title"] and normalise_title(got["title"]) != normalise_title(want["exp_title"]):
        return "wrong title on the published copy"
    if s.has["published_date"] and got["got_date"] != want["exp_date"] and got["got_date"] not in want["exp_alts"]:
        return "wrong or missing date on the published copy"
    if s.has["body"] and body_prf(want["exp_body"], got["body"])[2] < DUP_BODY_F1:
        return "body of the published copy differs"
    for m in members:
        if m == pubs[0]:
            continue
        other = s.observed.get(m)
        if other is None or not other["quarantined"]:
            return "another copy missing from quarantine"
        if s.has["issues"] and not other["marked_duplicate"]:
            return "another copy not marked duplicate"
    return None


def _duplicate_scores(s: _Scoring) -> DuplicateScore:
    failures: Counter = Counter()
    handled = dup_of_ok = dup_of_n = 0
    for g, members in sorted(s.groups.items()):
        why = _group_failure(s, members, s.rows.get(s.canonical[g]))
        if why:
            failures[why] += 1
            s.example("duplicate group", f"{g}: {why} (members {', '.join(members)})")
        else:
            handled += 1
        # duplicate_of is checked whenever exactly one publishable copy is published
        pubs = [m for m in members if m in s.published]
        if len(pubs) == 1 and _publishable(s.labels[pubs[0]]) and s.has["duplicate_of"] and s.has["article_id"]:
            aid = s.observed[pubs[0]]["article_id"]
            for m in members:
                if m != pubs[0]:
                    dup_of_n += 1
                    dup_of_ok += aid is not None and aid in (s.observed.get(m, {}).get("duplicate_of") or [])
    return DuplicateScore(groups=len(s.groups), handled=handled, share=_ratio(handled, len(s.groups)),
                          failures=dict(failures), duplicate_of_correct=dup_of_ok, duplicate_of_checked=dup_of_n)


def evaluate(labels: dict[str, dict], output: pl.DataFrame, problems: Iterable[str] = ()) -> EvalResult:
    """Score `output` (read_output's frame: the records of both datasets, a `dataset` column) against labels."""
    if "dataset" not in output.columns:
        raise ValueError("the output frame has no `dataset` column (published | quarantine)")
    if output.height and "source_path" not in output.columns:
        raise ValueError("the output has no source_path column: nothing can be matched to labels")
    frame = normalise_output(output)
    # With no record at all nothing is missing; else a metric whose column is missing is n/a.
    missing_columns = [c for c in CONTRACT if c not in frame.columns] if frame.height else []
    frame = (frame.with_columns(pl.lit(None, dtype=CONTRACT[c]).alias(c) for c in CONTRACT if c not in frame.columns)
             .with_row_index("_row"))
    known = frame.filter(pl.col("source_path").is_in(list(labels)).fill_null(False))

    # Duplicate groups are resolved against the output (which copy did it publish?), then the truth is known.
    seen = _observed(known)
    observed = {r["source_path"]: r for r in seen.iter_rows(named=True)}
    published = {sp for sp, r in observed.items() if r["published"]}
    groups = _groups(labels)
    canonical = _canonical_copies(labels, groups, published)
    table = (_truth(labels, canonical).join(seen, on="source_path", how="left", maintain_order="left")
             .with_columns(pl.col("predicted").fill_null(pl.lit([], dtype=_LIST_OF_CODES))))
    s = _Scoring(labels=labels, table=table, rows={r["source_path"]: r for r in table.iter_rows(named=True)},
                 observed=observed, published=published, groups=groups, canonical=canonical,
                 has={c: c not in missing_columns for c in CONTRACT})

    per_code, macro = _issue_scores(s)
    title_acc, title_counts = _accuracy(s, "title", "title", "exp_title", _title_right)
    date_acc, date_counts = _accuracy(s, "published_date", "got_date", "exp_date", _date_right)
    dates_without_truth = None
    if s.has["published_date"] and frame.height:
        dates_without_truth = sum(1 for sp, row in s.rows.items()
                                  if row["exp_date"] is None and MISSING_DATE in row["exp_issues"]
                                  and sp in observed and row["got_date"])
    pure, n_published = _purity(s, frame)
    clean_got, clean_units = _clean_recall(s)
    return EvalResult(
        accounting=_accounting(labels, frame, known), per_code=per_code, macro_f1=macro,
        title_accuracy=title_acc, title_counts=title_counts,
        date_accuracy=date_acc, date_counts=date_counts, dates_without_truth=dates_without_truth,
        body=_body_score(s),
        purity=_ratio(pure, n_published), purity_counts=(pure, n_published),
        clean_recall=_ratio(clean_got, clean_units), clean_recall_counts=(clean_got, clean_units),
        duplicates=_duplicate_scores(s),
        missing_columns=missing_columns, problems=list(problems), examples=s.examples)


# ------------------------------------------------------------------ report

def format_report(result: EvalResult, errors: int = 0) -> str:
    """The results in words; `errors`: how many examples of each kind of error to list.
    The last line is the summary: `score: <macro F1> purity=.. recall=.. body_f1=.. title_acc=.. date_acc=..`."""
    r, a = result, result.accounting
    lines = ["== accounting",
             f"labelled source_paths: {a.labelled}   output records: {a.records} "
             f"(published {a.published}, quarantine {a.quarantined})",
             f"missing from output: {len(a.missing)}   appearing more than once: {len(a.repeated)}   "
             f"unknown source_paths: {len(a.unknown)}"]
    shown = max(errors, 5)
    for what, paths in (("missing", a.missing), ("more than once", a.repeated), ("unknown", a.unknown)):
        if paths:
            more = f" (+{len(paths) - shown} more)" if len(paths) > shown else ""
            lines.append(f"  e.g. {what}: {', '.join(paths[:shown])}{more}")
    if r.missing_columns:
        lines.append(f"MISSING COLUMNS: {', '.join(r.missing_columns)} (metrics that need them are n/a)")
    lines += [f"problem: {p}" for p in r.problems]

    lines.append("== issue codes (over source_paths)")
    if r.per_code:
        lines.append(f"{'code':<16}{'support':>8}{'tp':>6}{'fp':>6}{'fn':>6}{'prec':>8}{'recall':>8}{'f1':>8}")
        for code, s in r.per_code.items():
            tag = "" if s.contract else "  (not a contract code)"
            if s.scored:
                lines.append(f"{code:<16}{s.support:>8}{s.tp:>6}{s.fp:>6}{s.fn:>6}"
                             f"{s.precision:>8.3f}{s.recall:>8.3f}{s.f1:>8.3f}{tag}")
            else:
                lines.append(f"{code:<16}{0:>8}{'':>18}{'n/a':>8}{'n/a':>8}{'n/a':>8}{tag}")
    else:
        lines.append("n/a (no issues column)")
    lines.append(f"macro F1 over contract codes that occur: {_fmt(r.macro_f1)}")

    b = r.body
    lines += ["== fields",
              f"title accuracy: {_fmt(r.title_accuracy)} ({r.title_counts[0]}/{r.title_counts[1]})",
              f"date accuracy:  {_fmt(r.date_accuracy)} ({r.date_counts[0]}/{r.date_counts[1]})"]
    if r.dates_without_truth is not None:
        lines.append(f"dates output where the file has none: {r.dates_without_truth}")
    lines += [f"body tokens (mean over {b.files} files): precision {_fmt(b.precision)} "
              f"recall {_fmt(b.recall)} F1 {_fmt(b.f1)}",
              "== publishing",
              f"published purity: {_fmt(r.purity)} ({r.purity_counts[0]}/{r.purity_counts[1]})",
              f"clean recall:     {_fmt(r.clean_recall)} ({r.clean_recall_counts[0]}/{r.clean_recall_counts[1]})"]

    d = r.duplicates
    lines += ["== duplicates", f"groups handled correctly: {d.handled}/{d.groups}"]
    lines += [f"  {n:>4}  {why}" for why, n in sorted(d.failures.items(), key=lambda x: -x[1])]
    if d.duplicate_of_checked:
        lines.append(f"duplicate_of naming the published copy: {d.duplicate_of_correct}/{d.duplicate_of_checked}")

    if errors > 0 and r.examples:
        lines.append("== examples of errors")
        for kind, items in r.examples.items():
            more = f" (+{len(items) - errors} more)" if len(items) > errors else ""
            lines.append(f"  {kind}{more}:")
            lines += [f"    {x}" for x in items[:errors]]
    lines.append(r.summary)
    return "\n".join(lines)


# ------------------------------------------------------------------ several corpora

HEADLINE_METRICS = ("macro_f1", "purity", "clean_recall", "body_f1", "title_accuracy", "date_accuracy")


def _headline(r: EvalResult) -> dict[str, float | None]:
    return {"macro_f1": r.macro_f1, "purity": r.purity, "clean_recall": r.clean_recall, "body_f1": r.body.f1,
            "title_accuracy": r.title_accuracy, "date_accuracy": r.date_accuracy}


def average(results: list[EvalResult]) -> dict[str, float | None]:
    """The macro average of each headline metric over corpora (each corpus weighs the same)."""
    rows = [_headline(r) for r in results]
    return {m: _mean([row[m] for row in rows if row[m] is not None]) for m in HEADLINE_METRICS}


def format_table(results: dict[str, EvalResult]) -> str:
    """One line per corpus and their macro average: the picture across corpora at a glance."""
    names = {k: Path(k).parent.name or k for k in results}
    width = max(len("macro average"), *(len(n) for n in names.values()))
    head = f"{'corpus':<{width}}  " + "  ".join(f"{m:>14}" for m in HEADLINE_METRICS)
    lines = [head, "-" * len(head)]
    for k, r in results.items():
        lines.append(f"{names[k]:<{width}}  " + "  ".join(f"{_fmt(v):>14}" for v in _headline(r).values()))
    lines.append(f"{'macro average':<{width}}  "
                 + "  ".join(f"{_fmt(v):>14}" for v in average(list(results.values())).values()))
    return "\n".join(lines)
