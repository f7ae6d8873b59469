"""The types every stage shares: issue codes, frame schemas, files, batches, article fields.

`OUTPUT` is the contract of ../shared/CONTRACT.md (both published and
quarantine datasets) plus columns we add; `PARSED` is what one batch of raw
files turns into before checks; `Fields` is what a format's parser gives for
one article. The run summary's type is `cleanwire.report.summary.RunSummary`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TypedDict

import polars as pl

# Contract issue codes (more may be added, these must stay).
MISSING_DATE = "missing_date"
MISSING_TITLE = "missing_title"
TITLE_MISMATCH = "title_mismatch"
TRUNCATED_BODY = "truncated_body"
EMPTY_BODY = "empty_body"
DUPLICATE = "duplicate"
UNREADABLE = "unreadable"
# Added codes.
BATCH_REJECTED = "batch_rejected"  # the record passed, but its batch was refused by the gate

ISSUE_CODES = (MISSING_DATE, MISSING_TITLE, TITLE_MISMATCH, TRUNCATED_BODY, EMPTY_BODY, DUPLICATE, UNREADABLE)

# Contract columns, in contract order.
CONTRACT = {
    "article_id": pl.String,
    "source_path": pl.String,
    "title": pl.String,
    "subtitle": pl.String,
    "published_date": pl.Date,
    "section": pl.String,
    "author": pl.String,
    "dateline": pl.String,
    "body": pl.String,
    "word_count": pl.Int64,
    "duplicate_of": pl.String,
    "issues": pl.List(pl.String),
}
# A field a published copy took from one of its duplicates, and from which.
FILLED_FROM = pl.List(pl.Struct({"field": pl.String, "article_id": pl.String}))
# Added columns: why, provenance.
EXTRA = {
    "reasons": pl.List(pl.String),  # fine reasons, one per issue code: 'truncated_body/mid_sentence'
    "detail": pl.String,            # the reasons in words, with the evidence
    "filled_from": FILLED_FROM,     # fields taken from a duplicate (published copies of a group)
    "url": pl.String,
    "source_file": pl.String,       # the raw file (source_path without '#N')
    "format": pl.String,            # text | html | json | jsonl; warc: an archive record that is no page
    "encoding": pl.String,
    "content_hash": pl.String,      # of the raw file's bytes
    "run_id": pl.String,            # the run that produced the record
    "crawled_at": pl.Datetime("us", "UTC"),  # when the crawler fetched the page (WARC-Date; never the publication date)
}
OUTPUT = {**CONTRACT, **EXTRA}


class Fields(TypedDict):
    """What a format's parser finds in one article (every key present; None when not found)."""
    title: str | None
    subtitle: str | None
    published_date: dt.date | None
    section: str | None
    author: str | None
    dateline: str | None
    body: str | None
    url: str | None
    title_kind: str | None        # headline | label | related (rules/title_mismatch.py)
    title_repeated: bool          # the page prints its headline twice (page dumps do)
    cut_marker: str | None        # a cut-off stub seen by the parser (rules/truncated_body.py reasons)
    date_kind: str | None         # published | plain | updated | metadata | url | visible_* (ingest/dates.py)
    last_paragraph: str | None    # the last paragraph of running text (end matter passed over)


def new_fields() -> Fields:
    return Fields(title=None, subtitle=None, published_date=None, section=None, author=None, dateline=None,
                  body=None, url=None, title_kind=None, title_repeated=False, cut_marker=None, date_kind=None,
                  last_paragraph=None)


# What the parsers give for each record, before features and checks: ids and provenance,
# why it is unreadable (if so), and the Fields.
_ARTICLE_FIELDS = ("title", "subtitle", "published_date", "section", "author", "dateline", "body")
PARSED = {
    "article_id": pl.String,
    "source_path": pl.String,
    "source_file": pl.String,
    "format": pl.String,
    "encoding": pl.String,
    "content_hash": pl.String,
    "read_error": pl.String,         # unreadable: the evidence in words
    "unreadable_reason": pl.String,  # unreadable: the reason code (rules/unreadable.py)
    **{f: CONTRACT[f] for f in _ARTICLE_FIELDS},
    "url": pl.String,
    "title_kind": pl.String,
    "title_repeated": pl.Boolean,
    "cut_marker": pl.String,
    "date_kind": pl.String,
    "last_paragraph": pl.String,
    "crawled_at": EXTRA["crawled_at"],
}


def conform(df: pl.DataFrame, schema: dict) -> pl.DataFrame:
    """Select `schema`'s columns in order, adding missing ones as nulls, casting types."""
    cols = []
    for name, dtype in schema.items():
        if name in df.columns:
            cols.append(pl.col(name).cast(dtype))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return df.select(cols)


@dataclass(frozen=True, slots=True)  # slots: a run holds one per file to process
class FileRef:
    """A raw file to process, as discovery found it."""
    source_file: str        # path relative to the input dir, '/'-separated
    path: str               # absolute path to read
    size: int
    mtime_ns: int
    prev_hash: str | None = None        # content hash seen by an earlier run, if any
    problem: str | None = None          # why it cannot be read at all (a symlink out of the input dir...)
    problem_reason: str | None = None   # ... as an unreadable reason code
    # A slice of a big WARC archive (ingest/discover.py split_archives): the byte offsets of its first
    # record and of the next slice's (None: to the end), that record's number, and the archive's hash.
    slice_start: int | None = None
    slice_end: int | None = None
    first_record: int | None = None
    archive_hash: str | None = None


@dataclass(frozen=True)
class BatchResult:
    """What one parse-batch task wrote, and where its time went."""
    records_path: str | None
    files_path: str
    n_files: int
    n_records: int
    n_unchanged: int
    worker: str = ""        # host:pid of the process that parsed the batch
    started: float = 0.0    # wall clock (epoch seconds) when the batch started and ended, and the
    ended: float = 0.0      # CPU seconds it took: where the parse stage's time goes
    cpu_seconds: float = 0.0
    skipped: dict[str, int] = field(default_factory=dict)  # archive records that are no article, by kind


# One row per raw file of a batch (its `.files.parquet`): what the state index records of it.
FILE_STATUS_SCHEMA = {
    "source_file": pl.String, "size": pl.Int64, "mtime_ns": pl.Int64, "content_hash": pl.String,
    "status": pl.String, "n_records": pl.Int32,
}
