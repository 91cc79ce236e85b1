"""``release_free_memory``: freed heap pages go back to the OS (glibc), a no-op elsewhere."""

from __future__ import annotations

import platform

import pytest

from sampan._lib.malloc import release_free_memory


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_heap_is_returned_after_a_transient_peak() -> None:
    # 40,000 values of 4 KB (below glibc's mmap threshold: on the heap) with a survivor above every 16th
    # (600 B: malloc's, not pymalloc's), as a watch cache's load leaves them: freed, but below live objects
    values: list[bytes] = []
    survivors: list[bytes] = []
    for i in range(40_000):
        values.append(bytes(4000) + i.to_bytes(4, "little"))
        if i % 16 == 0:
            survivors.append(bytes(600) + i.to_bytes(4, "little"))
    del values
    before = _rss()  # free() alone gave back ~nothing here (0.5 MiB when measured)
    assert release_free_memory() is True
    assert _rss() < before - 100 * 2**20  # most of the ~153 MiB freed is given back
    assert len(survivors) == 2_500
