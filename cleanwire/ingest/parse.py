"""Raw files -> their records (one, or one per JSON record), never an exception.

Per file: decode the bytes, pick the format (by extension, confirmed by
sniffing the content) and hand it to its parser (`FORMATS`). Whatever goes
wrong becomes an `unreadable` record with the reason (rules/unreadable.py), so
one bad file never stops a batch. Page dumps and feed bodies of many files are
parsed together, in one vectorised pass each.
"""
from __future__ import annotations

import hashlib
import re

from cleanwire.ingest.body import clean_body_texts
from cleanwire.ingest.decode import decode_bytes
from cleanwire.ingest.formats.html import parse_html
from cleanwire.ingest.formats.jsonl import record_to_fields, split_json_records
from cleanwire.ingest.formats.text_dump import parse_page_dumps
from cleanwire.rules.unreadable import NOT_AN_ARTICLE, PARSER_FAILED, Why

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
    return Why(PARSER_FAILED, f"{fmt} parser failed: {type(e).__name__}: {str(e)[:200]}")


def parse_file(source_file: str, data: bytes) -> list[dict]:
    """All records of one raw file (`source_file` is its path relative to the input dir)."""
    return parse_files([(source_file, data)])[0]


class _Pending:
    """Texts queued for the batch passes: page dumps, and feed bodies, with the records they fill."""

    def __init__(self):
        self.dumps: list[tuple[dict, str]] = []
        self.bodies: list[tuple[dict, str]] = []

    def finish(self, isolate: bool = False) -> None:
        try:
            for (rec, _), fields in zip(self.dumps, parse_page_dumps([t for _, t in self.dumps]) if self.dumps else []):
                rec.update(fields)
            for (rec, _), (body, cut, last) in zip(self.bodies, clean_body_texts([t for _, t in self.bodies])
                                                   if self.bodies else []):
                rec.update(body=body, cut_marker=cut, last_paragraph=last)
        except (Exception, RecursionError) as e:  # noqa: BLE001
            if not isolate or isinstance(e, ImportError):
                raise
            for rec, _ in self.dumps + self.bodies:
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


def parse_files(items: list[tuple[str, bytes]], digests: list[str] | None = None) -> list[list[dict]]:
    """The records of many raw files at once (`digests`: their content_hash, when the caller has it)."""
    if digests is None:
        digests = [content_hash(data) for _, data in items]
    elif len(digests) != len(items):
        raise ValueError(f"{len(digests)} digests for {len(items)} files")
    pending = _Pending()
    out = [_prepare(source_file, data, digest, pending) for (source_file, data), digest in zip(items, digests)]
    try:
        pending.finish()
    except ImportError:
        raise
    except Exception:  # noqa: BLE001 - isolate the file that broke the batch pass
        pending.one_by_one()
    return out


def _prepare(source_file: str, data: bytes, digest: str, pending: _Pending) -> list[dict]:
    """Records of one file, with their text queued for the batch passes."""
    decoded = decode_bytes(data)
    if decoded.text is None:
        return [unreadable(source_file, decoded.error, digest, encoding=decoded.encoding)]
    fmt = detect_format(source_file, decoded.text)
    try:
        return FORMATS[fmt](source_file, decoded.text, fmt, decoded.encoding, digest, pending)
    except ImportError:
        raise  # a broken install is not bad input: fail the run instead of quarantining every file
    except (Exception, RecursionError) as e:  # noqa: BLE001 - bad input is data: keep the reason, go on
        return [unreadable(source_file, failed(fmt, e), digest, fmt, decoded.encoding)]


def _text(source_file: str, text: str, fmt: str, encoding: str | None, digest: str, pending: _Pending) -> list[dict]:
    rec = _base(source_file, source_file, fmt, encoding, digest)
    pending.dumps.append((rec, text))
    return [rec]


def _html(source_file: str, text: str, fmt: str, encoding: str | None, digest: str, pending: _Pending) -> list[dict]:
    return [{**_base(source_file, source_file, fmt, encoding, digest), **parse_html(text)}]


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
