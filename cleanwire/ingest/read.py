"""Reading a raw file's bytes: never more than the size cap, never blocking, never following a link out.

A scrape folder may hold anything by the time a batch reads it: a file grown
past any sane size, a FIFO swapped in after discovery, a file removed. Each is
a reason (rules/unreadable.py), not an exception. An archive (a WARC file of
any size) is not read whole: `open_regular` gives it to a streaming reader.

An `s3://` path is an object, read through pyarrow's S3 file system (endpoint and
credentials from the environment of the process reading it: a Dask worker too):
the same size cap (a ranged read of max_bytes + 1), the same reasons.
"""
from __future__ import annotations

import hashlib
import io
import os
import stat
from typing import BinaryIO

from cleanwire import storage
from cleanwire.rules.unreadable import CANNOT_READ, NOT_A_FILE, TOO_LARGE, Why

HASH_BLOCK = 1 << 20


def read_capped(path: str, max_bytes: int) -> tuple[bytes | None, Why | None]:
    """The file's bytes, or why they cannot be read; never more than max_bytes + 1 in memory."""
    if storage.is_url(path):
        fh, why = open_object(path)
        if fh is None:
            return None, why
        try:
            with fh:
                data = fh.read(max_bytes + 1)
        except OSError as e:
            return None, Why(CANNOT_READ, f"cannot read: {e.strerror or e}")
        return _capped(data, max_bytes)
    fd, size, why = _open_fd(path)
    if fd is None:
        return None, why
    # With the descriptor and a read of the size the file has: a file object reading up to the
    # cap allocated the cap (10 MB) for every file, and cost ~30 us a file (measured).
    try:
        want = min(size, max_bytes) + 1
        parts = [os.read(fd, want)]
        got = len(parts[0])
        # A short read is the file's end; a full one: it grew since its size was taken, read on to the cap.
        while len(parts[-1]) == want and got <= max_bytes:
            want = max_bytes + 1 - got
            parts.append(os.read(fd, want))
            got += len(parts[-1])
    except OSError as e:
        return None, Why(CANNOT_READ, f"cannot read: {e.strerror or e}")
    finally:
        os.close(fd)
    return _capped(parts[0] if len(parts) == 1 else b"".join(parts), max_bytes)


def _capped(data: bytes, max_bytes: int) -> tuple[bytes | None, Why | None]:
    if len(data) > max_bytes:
        return None, Why(TOO_LARGE, f"file larger than the size cap ({max_bytes / 1e6:g} MB)")
    return data, None


def open_regular(path: str) -> tuple[BinaryIO | None, Why | None]:
    """The file open for reading, or why it cannot be: not a regular file, or the OS refused."""
    if storage.is_url(path):
        return open_object(path)
    fd, _, why = _open_fd(path)
    if fd is None:
        return None, why
    try:
        return os.fdopen(fd, "rb"), None
    except OSError as e:
        os.close(fd)
        return None, Why(CANNOT_READ, f"cannot read: {e.strerror or e}")


def _open_fd(path: str) -> tuple[int | None, int, Why | None]:
    """A descriptor of the regular file at `path` and its size, or why there is none."""
    try:
        # O_NONBLOCK: a FIFO swapped in after discovery must not block the batch.
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, flags)
    except OSError as e:
        return None, 0, Why(CANNOT_READ, f"cannot open: {e.strerror or e}")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None, 0, Why(NOT_A_FILE, "not a regular file (FIFO, socket or device)")
    except OSError as e:
        os.close(fd)
        return None, 0, Why(CANNOT_READ, f"cannot read: {e.strerror or e}")
    return fd, st.st_size, None


def hash_stream(fh: BinaryIO) -> str:
    """parse.content_hash of the whole file, read a block at a time (then back at its start)."""
    fh.seek(0)
    h = hashlib.blake2b(digest_size=16)
    while block := fh.read(HASH_BLOCK):
        h.update(block)
    fh.seek(0)
    return h.hexdigest()


def open_object(url: str) -> tuple[BinaryIO | None, Why | None]:
    """An s3:// object open for reading (seekable: a WARC slice starts at its offset), or why not."""
    try:
        fs = storage.settings().filesystem()
        fh = fs.open_input_file(storage.location(url).key_path)
    except FileNotFoundError:
        return None, Why(CANNOT_READ, "cannot open: the object no longer exists")
    except OSError as e:
        return None, Why(CANNOT_READ, f"cannot open: {' '.join(str(e).split())[:160]}")
    # pyarrow's file has read/seek/tell; the archive readers also want readline() and peek(): buffered.
    return io.BufferedReader(_RawObject(fh), buffer_size=1 << 20), None


class _RawObject(io.RawIOBase):
    """A pyarrow input file as a raw stream (io.BufferedReader's source)."""

    def __init__(self, f):
        self._f = f

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self._f.read(len(b))
        b[:len(data)] = data
        return len(data)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._f.seek(pos, whence)

    def tell(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()
