from __future__ import annotations

import asyncio
import random

import pytest

from sampan._lib.backoff import Backoff, BackoffPolicy, jittered
from sampan._lib.clock import FakeClock
from sampan.client.flowcontrol import TokenBucket


async def test_backoff_doubles_caps_and_resets_after_quiet_period() -> None:
    clock = FakeClock()
    b = Backoff(BackoffPolicy(initial=1, maximum=8, factor=2, jitter=0, reset_after=60), clock=clock)
    assert [b.next_delay() for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    await clock.advance(61)
    assert b.next_delay() == 1
    b.reset()
    assert b.next_delay() == 1


def test_jitter_stays_within_bounds() -> None:
    rng = random.Random(7)
    values = [jittered(10, 0.5, rng) for _ in range(200)]
    assert all(10 <= v < 15 for v in values)
    assert len(set(values)) > 100
    b = Backoff(BackoffPolicy(initial=1, maximum=1, jitter=1.0), clock=FakeClock(), rng=rng)
    assert all(1 <= b.next_delay() < 2 for _ in range(50))


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="initial <= maximum"):
        BackoffPolicy(initial=5, maximum=1)
    with pytest.raises(ValueError, match="factor"):
        BackoffPolicy(factor=0.5)


async def test_backoff_wait_sleeps_on_the_clock() -> None:
    clock = FakeClock()
    b = Backoff(BackoffPolicy(initial=2, maximum=2, jitter=0), clock=clock)
    task = asyncio.create_task(b.wait())
    await asyncio.sleep(0)
    await clock.advance(1.9)
    assert not task.done()
    await clock.advance(0.1)
    assert await task == 2


async def test_token_bucket_burst_then_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2, 3, clock=clock)
    assert [bucket.try_accept() for _ in range(4)] == [True, True, True, False]
    await clock.advance(0.5)
    assert bucket.try_accept()
    assert bucket.reserve() == pytest.approx(0.5)
    assert TokenBucket(0, 0).reserve() == 0.0
