"""Freed heap goes back to the OS between batches (cleanwire.memory)."""
import sys

import pytest

from cleanwire.memory import release_free_memory


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return int(fh.read().split("VmRSS:")[1].split()[0]) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux-only")
def test_freed_fragmented_heap_is_returned_to_the_os():
    # Texts of a parsed chunk: many blocks over 512 bytes (glibc's, not pymalloc's), freed
    # but for a few survivors scattered through the heap, which keep it from shrinking by itself.
    blocks = [bytes(2000) + i.to_bytes(4, "little") for i in range(60_000)]
    survivors = blocks[::500]
    del blocks
    before = _rss_mb()
    assert release_free_memory() is True
    after = _rss_mb()
    assert before - after > 50, (before, after)
    assert len(survivors) == 120
