"""unreadable: the file (or one record of it) could not be decoded or parsed at all.

Scrape folders collect what is not an article too: images and PDFs saved by a
crawler, empty or truncated downloads, files over any sane size, JSON lines a
writer cut in half. Each becomes a record with the reason, so nothing is lost
and one bad file never stops a batch. The reasons are decided where the
problem shows (ingest/discover.py, read.py, decompress.py, decode.py, parse.py,
formats/jsonl.py, formats/warc.py) with the constructors below.

Feature `is_readable`.

Reasons: unreadable/empty, /binary, /not_text, /too_large, /cannot_read,
/not_a_file, /outside_input, /invalid_json, /not_an_article, /parser_failed,
/damaged, /http_status, /too_slow.
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
TOO_LARGE = "too_large"          # over the size cap; or decompresses past the decompressed-size cap (a
                                 # decompression bomb: the message gives the ratio)
CANNOT_READ = "cannot_read"      # the OS refused to open or read it
NOT_A_FILE = "not_a_file"        # a FIFO, socket or device; a symlink to a folder
OUTSIDE_INPUT = "outside_input"  # a symlink leading out of the input folder (never followed)
INVALID_JSON = "invalid_json"    # a JSON line or file that does not parse
NOT_AN_ARTICLE = "not_an_article"  # JSON that is not an object, nested too deep, or holds no record
PARSER_FAILED = "parser_failed"  # a parser raised on this file
DAMAGED = "damaged"              # a compressed stream or WARC archive cut off or corrupt: the message names the
                                 # offset (an archive's records before it are kept, this record stands for the rest)
HTTP_STATUS = "http_status"      # a WARC response that is a page, but the server answered other than 200 OK
                                 # (an error page or a redirect: not the article the crawler asked for)
TOO_SLOW = "too_slow"            # an HTML page still parsing after the per-page time limit (formats/html.py
                                 # PAGE_SECONDS): one pathological page must not stall its batch
REASONS = (EMPTY, BINARY, NOT_TEXT, TOO_LARGE, CANNOT_READ, NOT_A_FILE, OUTSIDE_INPUT, INVALID_JSON,
           NOT_AN_ARTICLE, PARSER_FAILED, DAMAGED, HTTP_STATUS, TOO_SLOW)


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
