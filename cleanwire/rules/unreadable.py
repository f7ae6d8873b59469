"""unreadable: the file (or one record of it) could not be decoded or parsed at all.

Scrape folders collect what is not an article too: images and PDFs saved by a
crawler, empty or truncated downloads, files over any sane size, JSON lines a
writer cut in half. Each becomes a record with the reason, so nothing is lost
and one bad file never stops a batch. The reasons are decided where the
problem shows (ingest/discover.py, read.py, decode.py, parse.py, formats/jsonl.py)
with the constructors below.

Feature `is_readable`.

Reasons: unreadable/empty, /binary, /not_text, /too_large, /cannot_read,
/not_a_file, /outside_input, /invalid_json, /not_an_article, /parser_failed.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from cleanwire.types import UNREADABLE

CODE = UNREADABLE
FEATURE = "is_readable"
EMPTY = "empty"                  # no bytes, or only white space
BINARY = "binary"                # a known binary format, or control characters
NOT_TEXT = "not_text"            # no text encoding fits
TOO_LARGE = "too_large"          # over the size cap
CANNOT_READ = "cannot_read"      # the OS refused to open or read it
NOT_A_FILE = "not_a_file"        # a FIFO, socket or device; a symlink to a folder
OUTSIDE_INPUT = "outside_input"  # a symlink leading out of the input folder (never followed)
INVALID_JSON = "invalid_json"    # a JSON line or file that does not parse
NOT_AN_ARTICLE = "not_an_article"  # JSON that is not an object, nested too deep, or holds no record
PARSER_FAILED = "parser_failed"  # a parser raised on this file
REASONS = (EMPTY, BINARY, NOT_TEXT, TOO_LARGE, CANNOT_READ, NOT_A_FILE, OUTSIDE_INPUT, INVALID_JSON,
           NOT_AN_ARTICLE, PARSER_FAILED)


@dataclass(frozen=True, slots=True)
class Why:
    """Why a file or record is unreadable: a reason code and the evidence in words."""
    reason: str
    message: str


def feature() -> pl.Expr:
    return pl.col("read_error").is_null().alias(FEATURE)


def reason() -> pl.Expr:
    return pl.lit(f"{CODE}/") + pl.col("unreadable_reason").fill_null(PARSER_FAILED)


def evidence() -> pl.Expr:
    return pl.col("read_error")
