"""One writer per output folder: an advisory lock held for the whole run.

An s3:// output has no lock (object storage has no such thing, and runs on several
machines would not share it): there, two runs are kept apart by the Delta commit
itself (publish/delta.py: the loser of a race for version N fails in one line).
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from cleanwire.errors import OutputLocked
from cleanwire.paths import Layout
from cleanwire.storage import is_url


@contextmanager
def output_lock(out_dir: Path, wait: bool = False):
    """Hold `OUT_DIR/.cleanwire/lock`; refuse at once (or wait) when another run has it.

    flock() locks are released by the kernel when the holder dies, so a killed
    run never leaves a stale lock behind.
    """
    if is_url(out_dir):
        yield
        return
    path = Layout(out_dir).lock
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise OutputLocked(f"another cleanwire run (pid {holder}) is writing to {out_dir}; "
                               "wait for it to finish or use another --output") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
