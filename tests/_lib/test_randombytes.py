"""The pool of system randomness behind object UIDs and generated names."""

from __future__ import annotations

import os
import uuid
from collections import Counter

import pytest

from sampan._lib.randombytes import RandomBytes
from sampan.api.humanize import format_rfc3339


def test_bytes_are_never_handed_out_twice_across_refills() -> None:
    pool = RandomBytes(block=64)
    taken = [pool.take(16) for _ in range(200)]  # 50 refills
    assert all(len(t) == 16 for t in taken)
    assert len(set(taken)) == len(taken)
    assert len(pool.take(100)) == 100  # more than one block at once


def test_uuid4_is_a_canonical_version_4_uuid() -> None:
    pool = RandomBytes()
    values = {pool.uuid4() for _ in range(1000)}
    assert len(values) == 1000
    for text in list(values)[:50]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_below_stays_in_range_and_reaches_every_value() -> None:
    pool = RandomBytes()
    seen = Counter(pool.below(27) for _ in range(5000))
    assert set(seen) == set(range(27))
    with pytest.raises(ValueError):
        pool.below(0)
    with pytest.raises(ValueError):
        pool.below((1 << 32) + 1)


def test_a_forked_child_does_not_reuse_the_parents_block() -> None:
    pool = RandomBytes()
    pool.take(1)  # the parent holds a block now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next bytes, to the parent
        try:
            os.write(write, pool.take(32))
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 64)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert child != pool.take(32)  # what the parent hands out next is not what the child got


def test_format_rfc3339_memo_follows_the_second() -> None:
    assert format_rfc3339(1_700_000_000.2) == "2023-11-14T22:13:20Z"
    assert format_rfc3339(1_700_000_000.9) == "2023-11-14T22:13:20Z"
    assert format_rfc3339(1_700_000_001.0) == "2023-11-14T22:13:21Z"
    assert format_rfc3339(0) == "1970-01-01T00:00:00Z"
    assert format_rfc3339(1_700_000_000) == "2023-11-14T22:13:20Z"
