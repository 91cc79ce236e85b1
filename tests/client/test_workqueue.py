from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sampan._lib.clock import FakeClock
from sampan.client.workqueue import (
    BucketRateLimiter,
    DelayingQueue,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimitingQueue,
    ShutDown,
    WorkQueue,
)


async def settle() -> None:
    """Let background tasks run until they block (a bounded number of loop turns)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def advance(clock: FakeClock, seconds: float) -> None:
    await settle()
    await clock.advance(seconds)
    await settle()


async def test_dedup_and_fifo_order() -> None:
    q: WorkQueue[str] = WorkQueue()
    for k in "abab":
        q.add(k)
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"


async def test_item_added_while_processing_is_processed_again_after_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    item = await q.get()
    q.add("a")
    assert len(q) == 0  # not handed to another worker while processing
    q.done(item)
    assert len(q) == 1
    assert await q.get() == "a"


async def test_shut_down_wakes_getters() -> None:
    q: WorkQueue[str] = WorkQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.shut_down()
    with pytest.raises(ShutDown):
        await getter
    q.add("x")
    assert len(q) == 0


async def test_shut_down_with_drain_finishes_in_flight_work() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("b")
    processed: list[str] = []

    async def worker() -> None:
        while True:
            try:
                item = await q.get()
            except ShutDown:
                return
            await asyncio.sleep(0)
            processed.append(item)
            q.done(item)

    workers = [asyncio.create_task(worker()) for _ in range(2)]
    await asyncio.sleep(0)
    await q.shut_down_with_drain()
    await asyncio.wait_for(asyncio.gather(*workers), 1)
    assert sorted(processed) == ["a", "b"]


async def test_cancelled_getter_passes_on_its_wakeup() -> None:
    q: WorkQueue[str] = WorkQueue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("a")  # wakes `first`
    first.cancel()
    assert await asyncio.wait_for(second, 1) == "a"


@settings(max_examples=60, deadline=None)
@given(
    workers=st.integers(1, 4),
    script=st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 3), st.booleans()), min_size=1, max_size=40),
)
def test_workqueue_properties(workers: int, script: list[tuple[str, int, bool]]) -> None:
    """No key is processed by two workers at once, and every add is followed by a processing of that key
    that starts after it."""

    async def scenario() -> None:
        q: WorkQueue[str] = WorkQueue()
        active: set[str] = set()
        last_add: dict[str, int] = {}
        last_start: dict[str, int] = {}
        tick = 0
        readds = iter(script)

        def add(key: str) -> None:
            nonlocal tick
            if q.shutting_down:
                return  # refused by design once shutdown started; nothing to check
            tick += 1
            last_add[key] = tick
            q.add(key)

        async def worker() -> None:
            nonlocal tick
            while True:
                try:
                    key = await q.get()
                except ShutDown:
                    return
                assert key not in active, f"{key} processed by two workers"
                active.add(key)
                tick += 1
                last_start[key] = tick
                step = next(readds, None)
                for _ in range(step[1] if step else 0):
                    await asyncio.sleep(0)
                if step and step[2]:
                    add(step[0])  # a change arrives while we work
                active.discard(key)
                q.done(key)

        tasks = [asyncio.create_task(worker()) for _ in range(workers)]
        for key, pause, _ in script:
            add(key)
            for _ in range(pause):
                await asyncio.sleep(0)
        await asyncio.wait_for(q.shut_down_with_drain(), 5)
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        for key, added in last_add.items():
            assert last_start.get(key, -1) > added, f"{key} added at {added} never processed after"

    asyncio.run(scenario())


async def test_delaying_queue_adds_after_delay_on_the_clock() -> None:
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("late", 10)
    q.add_after("early", 5)
    q.add_after("late", 20)  # a later time never postpones a waiting item
    q.add_after("now", 0)
    assert len(q) == 1
    await advance(clock, 5)
    assert [await q.get(), await q.get()] == ["now", "early"]
    await advance(clock, 4.9)
    assert len(q) == 0
    await advance(clock, 0.1)
    assert await q.get() == "late"
    assert q.waiting() == 0
    q.shut_down()


@settings(max_examples=30, deadline=None)
@given(failures=st.lists(st.sampled_from("xyz"), min_size=1, max_size=15))
def test_rate_limited_items_come_back_after_their_delay(failures: list[str]) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        limiter = ItemExponentialFailureRateLimiter(1.0, 64.0)
        q: RateLimitingQueue[str] = RateLimitingQueue(rate_limiter=limiter, clock=clock)
        for key in failures:
            expected = min(64.0, 2.0 ** q.num_requeues(key))
            q.add_rate_limited(key)
            if expected > 0.5:
                await advance(clock, expected - 0.5)
                assert key not in await _drain(q)
            await advance(clock, 0.5)
            assert key in await _drain(q)
        q.shut_down()

    asyncio.run(scenario())


async def _drain(q: WorkQueue[str]) -> set[str]:
    """Take and finish everything queued now."""
    got: set[str] = set()
    while len(q):
        item = await q.get()
        q.done(item)
        got.add(item)
    return got


def test_exponential_limiter() -> None:
    r = ItemExponentialFailureRateLimiter()
    delays = [r.when("a") for _ in range(20)]
    assert delays[:3] == [0.005, 0.01, 0.02]
    assert delays[-1] == 1000.0
    assert r.num_requeues("a") == 20
    r.forget("a")
    assert r.when("a") == 0.005
    assert r.num_requeues("b") == 0
    for _ in range(2000):
        r.when("big")
    assert r.when("big") == 1000.0


def test_bucket_and_max_of() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(10, 2, clock=clock)
    assert [bucket.when(i) for i in range(4)] == [0.0, 0.0, pytest.approx(0.1), pytest.approx(0.2)]
    combo = MaxOfRateLimiter(ItemFastSlowRateLimiter(0.5, 3.0, 2), BucketRateLimiter(1000, 1000, clock=clock))
    assert [combo.when("a") for _ in range(3)] == [0.5, 0.5, 3.0]
    assert combo.num_requeues("a") == 3
    combo.forget("a")
    assert combo.num_requeues("a") == 0
