"""Reading a raw file's bytes: never more than the size cap, never blocking, never following a link out.

A scrape folder may hold anything by the time a batch reads it: a file grown
past any sane size, a FIFO swapped in after discovery, a file removed. Each is
a reason (rules/unreadable.py), not an exception.
"""
from __future__ import annotations

import os
import stat

from cleanwire.rules.unreadable import CANNOT_READ, NOT_A_FILE, TOO_LARGE, Why


def read_capped(path: str, max_bytes: int) -> tuple[bytes | None, Why | None]:
    """The file's bytes, or why they cannot be read; never more than max_bytes + 1 in memory."""
    try:
        # O_NONBLOCK: a FIFO swapped in after discovery must not block the batch.
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, flags)
    except OSError as e:
        return None, Why(CANNOT_READ, f"cannot open: {e.strerror or e}")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None, Why(NOT_A_FILE, "not a regular file (FIFO, socket or device)")
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as e:
        return None, Why(CANNOT_READ, f"cannot read: {e.strerror or e}")
    if len(data) > max_bytes:
        return None, Why(TOO_LARGE, f"file larger than the size cap ({max_bytes / 1e6:g} MB)")
    return data, None
