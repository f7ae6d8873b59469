"""One raw file -> its records (one, or one per JSON record), never an exception.

`parse_file` is the per-file step of a batch: decode the bytes, pick the
format (by extension, confirmed by sniffing the content) and call its parser.
Whatever goes wrong becomes an `unreadable` record with the reason in
`read_error`, so one bad file never stops a batch.
"""
from __future__ import annotations

import hashlib
import re

from cleanwire.ingest.decode import decode_bytes
from cleanwire.ingest.formats.jsonl import record_to_fields, split_json_records

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
            "format": fmt, "encoding": encoding, "content_hash": digest, "read_error": None}


def unreadable(source_file: str, reason: str, digest: str | None = None, fmt: str | None = None,
               encoding: str | None = None, source_path: str | None = None) -> dict:
    rec = _base(source_file, source_path or source_file, fmt, encoding, digest)
    rec["read_error"] = reason
    return rec


def parse_file(source_file: str, data: bytes) -> list[dict]:
    """All records of one raw file (`source_file` is its path relative to the input dir)."""
    return parse_files([(source_file, data)])[0]


def parse_files(items: list[tuple[str, bytes]], digests: list[str] | None = None) -> list[list[dict]]:
    """The records of many raw files at once (`digests`: their content_hash, when the caller has it).

    Per file: decode, pick the format, split JSON records, extract HTML. Then
    all page dumps, and all feed bodies, are parsed in one vectorised pass each
    (`text_dump.parse_page_dumps`, `clean_body_texts`). If a pass fails, the
    files are parsed one by one, so that one bad file is reported on its own.
    """
    from cleanwire.ingest.formats.text_dump import clean_body_texts, parse_page_dumps

    out: list[list[dict]] = []
    dumps: list[tuple[dict, str]] = []   # (record, text) awaiting the page-dump pass
    bodies: list[tuple[dict, str]] = []  # (record, raw body) awaiting the body pass
    if digests is None:
        digests = [content_hash(data) for _, data in items]
    elif len(digests) != len(items):
        raise ValueError(f"{len(digests)} digests for {len(items)} files")
    for (source_file, data), digest in zip(items, digests):
        out.append(_prepare(source_file, data, dumps, bodies, digest))
    try:
        _finish(dumps, bodies, parse_page_dumps, clean_body_texts)
    except ImportError:
        raise
    except Exception:  # noqa: BLE001 - isolate the file that broke the batch pass
        for rec, text in dumps:
            _finish([(rec, text)], [], parse_page_dumps, clean_body_texts, isolate=True)
        for rec, text in bodies:
            _finish([], [(rec, text)], parse_page_dumps, clean_body_texts, isolate=True)
    return out


def _finish(dumps, bodies, parse_page_dumps, clean_body_texts, isolate: bool = False) -> None:
    try:
        for (rec, _), fields in zip(dumps, parse_page_dumps([t for _, t in dumps]) if dumps else []):
            rec.update(fields)
        for (rec, _), (body, cut, last) in zip(bodies, clean_body_texts([t for _, t in bodies]) if bodies else []):
            rec.update(body=body, cut_marker=cut, last_paragraph=last)
    except (Exception, RecursionError) as e:  # noqa: BLE001
        if not isolate or isinstance(e, ImportError):
            raise
        for rec, _ in dumps + bodies:
            rec["read_error"] = f"{rec.get('format')} parser failed: {type(e).__name__}: {str(e)[:200]}"


def _prepare(source_file: str, data: bytes, dumps: list, bodies: list, digest: str) -> list[dict]:
    """Records of one file, with their text queued for the batch passes."""
    decoded = decode_bytes(data)
    if decoded.text is None:
        return [unreadable(source_file, decoded.error or "unreadable", digest, encoding=decoded.encoding)]
    fmt = detect_format(source_file, decoded.text)
    try:
        if fmt in ("json", "jsonl"):
            return _parse_json(source_file, decoded.text, fmt, decoded.encoding, digest, bodies)
        rec = _base(source_file, source_file, fmt, decoded.encoding, digest)
        if fmt == "html":
            from cleanwire.ingest.formats.html import parse_html

            rec.update(parse_html(decoded.text))
        else:
            dumps.append((rec, decoded.text))
        return [rec]
    except ImportError:
        raise  # a broken install is not bad input: fail the run instead of quarantining every file
    except RecursionError:
        return [unreadable(source_file, f"{fmt} too deeply nested to parse", digest, fmt, decoded.encoding)]
    except Exception as e:  # noqa: BLE001 - bad input is data: keep the reason, go on
        return [unreadable(source_file, f"{fmt} parser failed: {type(e).__name__}: {str(e)[:200]}",
                           digest, fmt, decoded.encoding)]


def _parse_json(source_file: str, text: str, fmt: str, encoding: str | None, digest: str, bodies: list) -> list[dict]:
    records, many = split_json_records(text, is_lines=(fmt == "jsonl"))
    if not records:
        return [unreadable(source_file, "JSON file holds no records", digest, fmt, encoding)]
    out = []
    for n, obj, error in records:
        sp = f"{source_file}#{n}" if many else source_file
        if obj is None:
            out.append(unreadable(source_file, error or "not a JSON object", digest, fmt, encoding, sp))
            continue
        try:
            fields = record_to_fields(obj, clean_body=False)
        except ImportError:
            raise
        except Exception as e:  # noqa: BLE001
            out.append(unreadable(source_file, f"record {n}: {type(e).__name__}: {str(e)[:200]}",
                                  digest, fmt, encoding, sp))
            continue
        raw = fields.pop("raw_body")
        rec = {**_base(source_file, sp, fmt, encoding, digest), **fields}
        if raw:
            bodies.append((rec, raw))
        out.append(rec)
    return out
