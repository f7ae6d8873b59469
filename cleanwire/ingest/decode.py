"""Bytes -> text, or a reason why a file is not text.

UTF-8 (with or without BOM) is tried first because nearly every scrape is
UTF-8 and a strict decode is both fast and certain; UTF-16/32 are recognised
by their BOM. Anything else goes to charset-normalizer, a maintained detector
that scores candidate code pages by how plausible the decoded text is (it
tells cp1252 from latin-1 and from mojibake). Binary files are refused by
their magic numbers and by the share of control characters after decoding.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from cleanwire.rules.unreadable import BINARY, EMPTY, NOT_TEXT, Why

_MAGIC = [
    (b"%PDF", "PDF document"), (b"\x89PNG", "PNG image"), (b"GIF8", "GIF image"), (b"\xff\xd8\xff", "JPEG image"),
    (b"PK\x03\x04", "ZIP archive"), (b"\x1f\x8b", "gzip archive"), (b"BZh", "bzip2 archive"),
    (b"\xfd7zXZ", "xz archive"), (b"7z\xbc\xaf", "7z archive"), (b"RIFF", "RIFF media"), (b"OggS", "Ogg media"),
    (b"ID3", "MP3 audio"), (b"\x00\x00\x00\x18ftyp", "MP4 video"), (b"\x00\x00\x00 ftyp", "MP4 video"),
    (b"\x7fELF", "ELF binary"), (b"MZ", "Windows binary"), (b"SQLite format 3", "SQLite database"),
    (b"PAR1", "Parquet file"), (b"\xd0\xcf\x11\xe0", "MS Office document"),
]
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
]
_LATIN_CODEPAGE = re.compile(r"^(?:cp125[02]|cp85[028]|cp775|cp437|latin_1|iso8859_(?:[1-4]|9|1[0356])|mac_(?:latin2|iceland|roman))$")
# Above this share of control/unassigned characters a "text" is really binary.
MAX_CONTROL_SHARE = 0.02


@dataclass(frozen=True)
class Decoded:
    text: str | None
    encoding: str | None
    error: Why | None = None


def decode_bytes(data: bytes) -> Decoded:
    if not data.strip():
        return Decoded(None, None, Why(EMPTY, "empty file" if not data else "file holds only white space"))
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return Decoded(None, None, Why(BINARY, f"binary file ({name})"))
    text, encoding = _decode(data)
    if text is None:
        return Decoded(None, None, Why(NOT_TEXT, "not text in any known encoding"))
    text = text.replace("\x00", "")
    bad = _control_share(text)
    if bad > MAX_CONTROL_SHARE:
        return Decoded(None, encoding, Why(BINARY, f"binary content ({bad:.0%} control characters)"))
    if not text.strip():
        return Decoded(None, encoding, Why(EMPTY, "file holds only white space"))
    return Decoded(text, encoding)


def _decode(data: bytes) -> tuple[str | None, str | None]:
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError:
                return None, None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    mostly = _mostly_utf8(data)
    if mostly is not None:
        # The stray bytes are most often Windows-1252 punctuation pasted into UTF-8 text (a '…'
        # as 0x85, a quote as 0x92): read them as such, and the rest as UTF-8.
        return data.decode("utf-8", errors=_CP1252_STRAYS), "utf-8"
    if data.count(b"\x00") > len(data) // 8:
        return None, None  # NUL-heavy and no UTF-16 BOM: binary
    from charset_normalizer import from_bytes  # imported only when UTF-8 fails

    best = from_bytes(data).best()
    if best is None:
        return None, None
    if _LATIN_CODEPAGE.match(best.encoding):
        # Detectors cannot tell Latin code pages apart on a few smart quotes; the web's
        # legacy default for Latin-script text is windows-1252 (WHATWG Encoding Standard).
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            pass
    return str(best), best.encoding


def _cp1252_strays(err: UnicodeDecodeError) -> tuple[str, int]:
    bad = err.object[err.start:err.end]
    return bad.decode("cp1252", errors="replace"), err.end


_CP1252_STRAYS = "cleanwire-cp1252-strays"
codecs.register_error(_CP1252_STRAYS, _cp1252_strays)

# C0/C1 controls (not line/tab breaks), replacement and private-use characters.
_BAD_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd\ue000-\uf8ff\ud800-\udfff]")


# UTF-8 with a stray invalid byte or two is still UTF-8 (a truncated download, one bad
# copy-paste): decoding the whole file as a legacy code page would garble every accent.
MAX_UTF8_ERRORS = 0.01


def _mostly_utf8(data: bytes) -> str | None:
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    multibyte = sum(1 for ch in text if ord(ch) > 127 and ch != "\ufffd") if bad else 0
    # A legacy code page decoded as UTF-8 fails on (nearly) every non-ASCII byte and forms
    # no valid multi-byte character: more valid ones than errors means UTF-8 with damage.
    if bad and multibyte >= bad and bad <= max(3, MAX_UTF8_ERRORS * len(text)):
        return text
    return None


def _control_share(text: str) -> float:
    sample = text[:20000]
    if not sample:
        return 0.0
    return len(_BAD_CHARS.findall(sample)) / len(sample)
