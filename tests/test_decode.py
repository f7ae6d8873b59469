"""Bytes -> text: encodings, line endings, and refusing files that are not text.

`decode_bytes` directly, plus `parse_file` where the result matters to a
record (an unreadable record with its reason; CRLF pages parsed like LF ones).
"""
from __future__ import annotations

import codecs
import random

import pytest

from cleanwire.ingest.decode import decode_bytes
from cleanwire.ingest.parse import parse_file

TEXT = ("Harbour café reopens — owners say “we’re finally back” after the storm’s damage.\n"
        "The council leader said: “It’s good news for the whole waterfront.”\n")

PAGE_LINES = [
    "Harbour café reopens after storm damage",
    "June 17, 2023",
    "",
    "The waterfront café that lost its roof in the January storm reopened on Saturday, with a queue of regulars "
    "stretching along the quay before the doors opened at eight o'clock.",
    "",
    "The owners, Ines and Pedro Alves, said insurance had covered most of the repairs, and that neighbours had "
    "helped them repaint the dining room and carry the new tables inside.",
    "",
    "“We’re finally back,” Ines Alves said, “and the coffee is still the same price as before the storm.”",
]


def test_utf8_is_decoded():
    d = decode_bytes(TEXT.encode("utf-8"))
    assert d.text == TEXT
    assert d.error is None


def test_utf8_with_bom_is_decoded_without_the_bom():
    d = decode_bytes(codecs.BOM_UTF8 + TEXT.encode("utf-8"))
    assert d.text == TEXT
    assert not d.text.startswith("\ufeff")


@pytest.mark.parametrize("encoded", [
    TEXT.encode("utf-16"),                                   # BOM + native order
    codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"),
    codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"),
])
def test_utf16_with_bom_is_decoded(encoded):
    d = decode_bytes(encoded)
    assert d.text == TEXT
    assert d.error is None


def test_cp1252_smart_quotes_and_dashes_are_decoded_right():
    text = "\n".join(PAGE_LINES) + "\n"
    d = decode_bytes(text.encode("cp1252"))
    assert d.text == text
    assert d.encoding == "cp1252"


def test_cp1252_short_quote_is_decoded_right():
    # A few bytes with only smart quotes: not enough for statistics, still cp1252 on the web.
    text = "“Yes,” she said. “It’s open.”"
    assert decode_bytes(text.encode("cp1252")).text == text


def test_cp1252_page_parses_with_the_right_characters():
    text = "\n".join(PAGE_LINES) + "\n"
    (rec,) = parse_file("cafe.txt", text.encode("cp1252"))
    assert rec["read_error"] is None
    assert rec["title"] == "Harbour café reopens after storm damage"
    assert "“We’re finally back,” Ines Alves said" in rec["body"]


def test_crlf_text_is_decoded_and_parsed_like_lf_text():
    lf = "\n".join(PAGE_LINES) + "\n"
    crlf = lf.replace("\n", "\r\n")
    assert decode_bytes(crlf.encode()).text.replace("\r\n", "\n") == lf
    (rec_lf,) = parse_file("cafe.txt", lf.encode())
    (rec_crlf,) = parse_file("cafe.txt", crlf.encode())
    for field in ("title", "published_date", "body"):
        assert rec_crlf[field] == rec_lf[field]
    assert "\r" not in rec_crlf["body"]


@pytest.mark.parametrize("data, reason", [(b"", "empty"), (b"   \n\n\t  \r\n", "white space")])
def test_empty_or_blank_file_is_an_error(data, reason):
    d = decode_bytes(data)
    assert d.text is None
    assert reason in d.error.message


@pytest.mark.parametrize("magic, name", [
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"%PDF-1.7\n", "PDF"),
])
def test_binary_magic_is_an_error(magic, name):
    payload = magic + random.Random(7).randbytes(500)
    d = decode_bytes(payload)
    assert d.text is None
    assert name in d.error.message


def test_binary_file_with_a_text_extension_gives_an_unreadable_record():
    (rec,) = parse_file("scans/photo.txt", b"\x89PNG\r\n\x1a\n" + random.Random(3).randbytes(300))
    assert rec["source_path"] == "scans/photo.txt"
    assert rec["read_error"]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("size", [64, 4096])
def test_random_bytes_are_an_error(seed, size):
    d = decode_bytes(random.Random(seed * 1000 + size).randbytes(size))
    assert d.text is None
    assert d.error


def test_empty_file_gives_an_unreadable_record():
    (rec,) = parse_file("empty.txt", b"")
    assert rec["read_error"]
    assert rec["source_path"] == "empty.txt"


def test_windows_1252_punctuation_pasted_into_utf8_text_is_read_as_such():
    """'And finally…' with the ellipsis as the single cp1252 byte 0x85, the rest UTF-8 (café, an em dash)."""
    data = "And finally".encode() + b"\x85 trouble brewing at the caf\xc3\xa9 \xe2\x80\x94 builders say"
    d = decode_bytes(data * 3)
    assert d.encoding == "utf-8" and d.error is None
    assert d.text.startswith("And finally… trouble brewing at the café — builders say")
    assert "\ufffd" not in d.text
