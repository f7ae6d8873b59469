"""Give freed heap memory back to the operating system between steps.

CPython allocates file contents, decoded texts and record dicts (anything over
512 bytes) with glibc's malloc, which keeps freed blocks for reuse: a worker
that parses batch after batch grows by fragments it never returns (measured:
337 -> 516 MB over 28 batches of 4,000 files, with no Python object left
alive). `malloc_trim(0)` returns them (the same worker stays near 300 MB, for
no measurable CPU). Dask's documentation gives the same remedy for its workers
("Memory not released back to the OS"). A no-op where glibc is not the allocator.

polars' own allocator (jemalloc) is tuned apart, for the flow process only: see
FLOW_MALLOC_CONF.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import lru_cache

# polars allocates with its own jemalloc, which keeps freed pages for reuse and hands
# them back only after a decay time (polars sets 0.5 s, then 1 s more for pages it has
# already advised away; `_RJEM_MALLOC_CONF` is polars' documented override, appended to
# its own settings when polars is imported). The flow process runs the whole-run steps
# (banding, the run's frame, GX, publish) one after another, each with other sizes, and
# kept pages add up: with no decay a 300k-record run's checks peaked at 592 MB instead
# of 648 and its publish at 695 MB instead of 719 (measured), for ~10 % more time in
# those steps. Parse workers keep polars' settings: no decay cost them ~8 % CPU
# (measured on one batch). A run small enough to parse on a thread of the flow
# process pays that 8 % too; it is a small run.
MALLOC_CONF_VAR = "_RJEM_MALLOC_CONF"   # read by polars' jemalloc once, when polars is imported
FLOW_MALLOC_CONF = "dirty_decay_ms:0,muzzy_decay_ms:0"
# Set beside it when cleanwire (not the user) chose the value: it travels with the
# environment to a flow run that Prefect starts in a new process (serve, a worker).
MALLOC_CONF_OURS = "CLEANWIRE_FLOW_MALLOC_CONF"


def flow_malloc_conf_defaults() -> dict[str, str]:
    """Environment for a flow process: the no-decay setting, unless the user set their own."""
    if MALLOC_CONF_VAR in os.environ and MALLOC_CONF_OURS not in os.environ:
        return {}
    return {MALLOC_CONF_VAR: FLOW_MALLOC_CONF, MALLOC_CONF_OURS: "1"}


def withhold_flow_malloc_conf_from_workers() -> None:
    """Worker processes started after this get polars' own allocator settings instead of the
    flow's, if cleanwire set them; a value the user set reaches the workers unchanged."""
    if os.environ.pop(MALLOC_CONF_OURS, None) is not None:
        os.environ.pop(MALLOC_CONF_VAR, None)


@lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return None


def release_free_memory() -> bool:
    """Return glibc's free heap pages to the OS; True when it could be asked."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def peak_rss_mb() -> int:
    """This process's peak resident memory so far (MiB), after giving freed heap back."""
    import resource

    release_free_memory()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
