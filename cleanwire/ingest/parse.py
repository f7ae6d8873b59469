"""Raw files -> their records (one, or one per JSON record), never an exception.

Per file: decompress it if it is compressed (ingest/decompress.py), decode the
bytes, pick the format (by extension, without a compression suffix, confirmed
by sniffing the content) and hand it to its parser (`FORMATS`). The pages of a
WARC archive (ingest/formats/warc.py) take the same path (`parse_pages`). Whatever goes
wrong becomes an `unreadable` record with the reason (rules/unreadable.py), so
one bad file never stops a batch. Page dumps and feed bodies of many files are
parsed together, in one vectorised pass each.
"""
from __future__ import annotations

import codecs
import hashlib
import re

from cleanwire.ingest import decompress
from cleanwire.ingest.body import clean_body_texts
from cleanwire.ingest.decode import Decoded, decode_bytes
from cleanwire.ingest.formats.html import HtmlPage, PageTooSlow, finish_pages, read_page, url_date
from cleanwire.ingest.formats.jsonl import record_to_fields, split_json_records
from cleanwire.ingest.formats.text_dump import parse_page_dumps
from cleanwire.ingest.formats.warc import Page, Refused
from cleanwire.rules.unreadable import NOT_AN_ARTICLE, PARSER_FAILED, TOO_SLOW, Why

TEXT_EXTENSIONS = {"", ".txt", ".text"}
HTML_EXTENSIONS = {".html", ".htm", ".xhtml"}
JSON_EXTENSIONS = {".json", ".jsonl", ".ndjson"}
_HTML_SNIFF = re.compile(r"^\s*(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])", re.I)


def article_id(source_path: str) -> str:
    """Stable id: the same source_path gives the same id on every run."""
    return hashlib.blake2b(source_path.encode("utf-8"), digest_size=8).hexdigest()


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def extension(source_file: str) -> str:
    name = source_file.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name.lstrip(".") else ""


def detect_format(source_file: str, text: str) -> str:
    ext = extension(source_file)
    head = text[:2048]
    if ext in HTML_EXTENSIONS or _HTML_SNIFF.match(head):
        return "html"
    if ext in JSON_EXTENSIONS:
        return "jsonl" if ext in (".jsonl", ".ndjson") else "json"
    if ext not in TEXT_EXTENSIONS and head.lstrip()[:1] in ("{", "["):
        return "json"
    return "text"


def _base(source_file: str, source_path: str, fmt: str | None, encoding: str | None, digest: str | None) -> dict:
    return {"article_id": article_id(source_path), "source_path": source_path, "source_file": source_file,
            "format": fmt, "encoding": encoding, "content_hash": digest, "read_error": None,
            "unreadable_reason": None}


def unreadable(source_file: str, why: Why, digest: str | None = None, fmt: str | None = None,
               encoding: str | None = None, source_path: str | None = None) -> dict:
    rec = _base(source_file, source_path or source_file, fmt, encoding, digest)
    rec.update(read_error=why.message, unreadable_reason=why.reason)
    return rec


def failed(fmt: str | None, e: BaseException) -> Why:
    """A parser raised on bad input: the input is data, the exception its reason."""
    if isinstance(e, RecursionError):
        return Why(PARSER_FAILED, f"{fmt} too deeply nested to parse")
    if isinstance(e, PageTooSlow):
        return Why(TOO_SLOW, str(e))
    return Why(PARSER_FAILED, f"{fmt} parser failed: {type(e).__name__}: {str(e)[:200]}")


def parse_file(source_file: str, data: bytes) -> list[dict]:
    """All records of one raw file (`source_file` is its path relative to the input dir)."""
    return parse_files([(source_file, data)])[0]


class _Pending:
    """Texts queued for the batch passes: page dumps, feed bodies and read HTML pages, with the records they fill."""

    def __init__(self):
        self.dumps: list[tuple[dict, str]] = []
        self.bodies: list[tuple[dict, str]] = []
        self.pages: list[tuple[dict, HtmlPage]] = []

    def finish(self, isolate: bool = False) -> None:
        try:
            for (rec, _), fields in zip(self.dumps, parse_page_dumps([t for _, t in self.dumps]) if self.dumps else []):
                rec.update(fields)
            for (rec, _), (body, cut, last) in zip(self.bodies, clean_body_texts([t for _, t in self.bodies])
                                                   if self.bodies else []):
                rec.update(body=body, cut_marker=cut, last_paragraph=last)
            for (rec, _), fields in zip(self.pages, finish_pages([p for _, p in self.pages]) if self.pages else []):
                rec.update(fields)
        except (Exception, RecursionError) as e:  # noqa: BLE001
            if not isolate or isinstance(e, ImportError):
                raise
            for rec, _ in self.dumps + self.bodies + self.pages:
                rec.update(unreadable(rec["source_file"], failed(rec.get("format"), e), rec["content_hash"],
                                      rec.get("format"), rec.get("encoding"), rec["source_path"]))

    def one_by_one(self) -> None:
        """After a failed pass: each text alone, so the file that broke it is reported on its own."""
        for rec, text in self.dumps:
            single = _Pending()
            single.dumps.append((rec, text))
            single.finish(isolate=True)
        for rec, text in self.bodies:
            single = _Pending()
            single.bodies.append((rec, text))
            single.finish(isolate=True)
        for rec, page in self.pages:
            single = _Pending()
            single.pages.append((rec, page))
            single.finish(isolate=True)


def parse_files(items: list[tuple[str, bytes]], digests: list[str] | None = None,
                max_decompressed_bytes: int = decompress.DEFAULT_MAX_DECOMPRESSED) -> list[list[dict]]:
    """The records of many raw files at once (`digests`: their content_hash, when the caller has it;
    a compressed file is read as what it holds, up to `max_decompressed_bytes`)."""
    if digests is None:
        digests = [content_hash(data) for _, data in items]
    elif len(digests) != len(items):
        raise ValueError(f"{len(digests)} digests for {len(items)} files")
    pending = _Pending()
    out = [_prepare(source_file, data, digest, pending, max_decompressed_bytes)
           for (source_file, data), digest in zip(items, digests)]
    _finish(pending)
    return out


def _finish(pending: _Pending) -> None:
    try:
        pending.finish()
    except ImportError:
        raise
    except Exception:  # noqa: BLE001 - isolate the file that broke the batch pass
        pending.one_by_one()


def _prepare(source_file: str, data: bytes, digest: str, pending: _Pending,
             max_decompressed_bytes: int = decompress.DEFAULT_MAX_DECOMPRESSED) -> list[dict]:
    """Records of one file, with their text queued for the batch passes."""
    data, compression, why = decompress.decompress_capped(data, max_decompressed_bytes)
    if why is not None:
        return [unreadable(source_file, why, digest)]
    # 'feed.jsonl.gz' holds a feed: its format is read from the name without the suffix.
    name = decompress.inner_name(source_file) if compression else source_file
    decoded = decode_bytes(data)
    if decoded.text is None:
        return [unreadable(source_file, decoded.error, digest, encoding=decoded.encoding)]
    fmt = detect_format(name, decoded.text)
    try:
        return FORMATS[fmt](source_file, decoded.text, fmt, decoded.encoding, digest, pending)
    except ImportError:
        raise  # a broken install is not bad input: fail the run instead of quarantining every file
    except (Exception, RecursionError) as e:  # noqa: BLE001 - bad input is data: keep the reason, go on
        return [unreadable(source_file, failed(fmt, e), digest, fmt, decoded.encoding)]


def _text(source_file: str, text: str, fmt: str, encoding: str | None, digest: str, pending: _Pending,
          source_path: str | None = None) -> list[dict]:
    rec = _base(source_file, source_path or source_file, fmt, encoding, digest)
    pending.dumps.append((rec, text))
    return [rec]


def _html(source_file: str, text: str, fmt: str, encoding: str | None, digest: str, pending: _Pending,
          source_path: str | None = None) -> list[dict]:
    page = read_page(text)  # what needs the page's tree, now; its texts are parsed with the batch's
    rec = _base(source_file, source_path or source_file, fmt, encoding, digest)
    pending.pages.append((rec, page))
    return [rec]


def _json(source_file: str, text: str, fmt: str, encoding: str | None, digest: str, pending: _Pending) -> list[dict]:
    records, many = split_json_records(text, is_lines=(fmt == "jsonl"))
    if not records:
        return [unreadable(source_file, Why(NOT_AN_ARTICLE, "JSON file holds no records"), digest, fmt, encoding)]
    out = []
    for n, obj, why in records:
        sp = f"{source_file}#{n}" if many else source_file
        if obj is None:
            out.append(unreadable(source_file, why or Why(NOT_AN_ARTICLE, "not a JSON object"), digest, fmt,
                                  encoding, sp))
            continue
        try:
            fields, raw_body = record_to_fields(obj)
        except ImportError:
            raise
        except Exception as e:  # noqa: BLE001
            out.append(unreadable(source_file, Why(PARSER_FAILED, f"record {n}: {type(e).__name__}: {str(e)[:200]}"),
                                  digest, fmt, encoding, sp))
            continue
        rec = {**_base(source_file, sp, fmt, encoding, digest), **fields}
        if raw_body:
            pending.bodies.append((rec, raw_body))
        out.append(rec)
    return out


# The parser of each format: (source_file, text, format, encoding, content hash, pending passes) -> records.
FORMATS = {"text": _text, "html": _html, "json": _json, "jsonl": _json}


# ------------------------------------------------------------------ pages of a WARC archive

def parse_pages(source_file: str, pages: list[Page], digest: str) -> list[dict]:
    """The records of an archive's pages (`source_path` 'archive.warc.gz#N'), parsed together.

    Each page goes the way of a file of its format (the same parsers, the same
    rules), decoded by its HTTP charset when it is not UTF-8. The record's target
    URI is its `url`, and a date in its path its publication date when the page
    states none; the crawl time goes into `crawled_at`, never into `published_date`.
    """
    pending = _Pending()
    out = [_page(source_file, p, digest, pending) for p in pages]
    _finish(pending)
    for rec, page in zip(out, pages):
        if rec.get("published_date") is None and rec["read_error"] is None:
            rec["published_date"] = url_date(page.url)
            rec["date_kind"] = "url" if rec["published_date"] else rec.get("date_kind")
        rec.update(url=page.url or rec.get("url"), crawled_at=page.crawled_at)
    return out


def refused_record(source_file: str, item: Refused, digest: str | None) -> dict:
    """The unreadable record an archive's record stands as (an HTTP error page, damage...)."""
    rec = unreadable(source_file, item.why, digest, "warc", source_path=f"{source_file}#{item.number}")
    rec.update(url=item.url, crawled_at=item.crawled_at)
    return rec


def _page(source_file: str, page: Page, digest: str, pending: _Pending) -> dict:
    sp = f"{source_file}#{page.number}"
    decoded = _decode_page(page.payload, page.charset)
    if decoded.text is None:
        return unreadable(source_file, decoded.error, digest, page.fmt, decoded.encoding, sp)
    try:
        (rec,) = FORMATS[page.fmt](source_file, decoded.text, page.fmt, decoded.encoding, digest, pending, sp)
        return rec
    except ImportError:
        raise
    except (Exception, RecursionError) as e:  # noqa: BLE001
        return unreadable(source_file, failed(page.fmt, e), digest, page.fmt, decoded.encoding, sp)


def _decode_page(data: bytes, charset: str | None) -> Decoded:
    """UTF-8 first (servers often declare latin-1 and send UTF-8), then the declared charset, then detection."""
    codec = None
    if charset:
        try:
            codec = codecs.lookup(charset).name
        except LookupError:
            codec = None
    if codec in ("iso8859-1", "ascii"):
        codec = "cp1252"  # what browsers read for these labels (WHATWG Encoding Standard)
    if codec and codec != "utf-8" and data.strip():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                pass
            else:
                fixed = decode_bytes(text.encode("utf-8"))  # the same checks as a file: binary, empty
                return Decoded(fixed.text, codec if fixed.text is not None else fixed.encoding, fixed.error)
    return decode_bytes(data)
