"""``format_micro_time`` against the ``datetime`` formatting it replaces (differential: random times, the
half-microsecond rounding edges, the once-a-second cache, and the times it leaves to ``datetime``)."""

from __future__ import annotations

import datetime
import random

import pytest

from sampan.client.leaderelection import lease_lock
from sampan.client.leaderelection.lease_lock import format_micro_time


def reference(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_random_times_match_datetime() -> None:
    rng = random.Random(21)
    for _ in range(50_000):
        ts = rng.uniform(0, 4e9) if rng.random() < 0.5 else rng.uniform(1.7e9, 1.8e9)
        assert format_micro_time(ts) == reference(ts), ts


@pytest.mark.parametrize("ts", [0.0, 1e-7, 4.999e-7, 5e-7, 1.5e-6, 2.5e-6, 1_765_000_000.9999995,
                                1_765_000_000.9999994, 1_765_000_000.0000005, 1_765_000_000.5,
                                253_402_300_799.5, 253_402_300_799.25])
def test_rounding_edges_match_datetime(ts: float) -> None:
    """Half a microsecond rounds as datetime rounds it (half to even, carried into the next second)."""
    assert format_micro_time(ts) == reference(ts)


def test_many_stamps_within_a_second_use_the_cached_second() -> None:
    rng = random.Random(7)
    base = 1_765_432_100
    for second in (base, base + 1, base, base + 86_400):  # the cache is replaced, also going back
        for _ in range(2_000):
            ts = second + rng.random()
            assert format_micro_time(ts) == reference(ts)
        assert lease_lock._last_second[0] in (second, second + 1)


@pytest.mark.parametrize("ts", [-1.5, -0.0000004, -86_400.25, -1e9])
def test_before_1970_left_to_datetime(ts: float) -> None:
    assert format_micro_time(ts) == reference(ts)


def test_past_year_9999_fails_as_datetime_does() -> None:
    with pytest.raises((ValueError, OverflowError, OSError)):
        reference(253_402_300_800.0)
    with pytest.raises((ValueError, OverflowError, OSError)):
        format_micro_time(253_402_300_800.0)
