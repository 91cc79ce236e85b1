from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampan._lib.clock import CoalescingClock, FakeClock, coalesced_tick


async def test_fake_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = FakeClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper("late", 10)), asyncio.create_task(sleeper("early", 5))]
    await asyncio.sleep(0)
    await clock.advance(4)
    assert woke == []
    await clock.advance(1)
    assert woke == ["early"]
    await clock.advance(5)
    await asyncio.gather(*tasks)
    assert woke == ["early", "late"]
    assert clock.monotonic() == 10


@given(now=st.floats(0, 1e7), seconds=st.floats(0, 1e4, exclude_min=True),
       tick=st.sampled_from([0.001, 0.05, 0.1, 0.25, 1.0]))
def test_coalesced_tick_is_a_grid_point_near_the_deadline_and_in_the_future(now: float, seconds: float,
                                                                            tick: float) -> None:
    eps = 1e-6 * max(1.0, now + seconds)
    index = coalesced_tick(now, seconds, tick)
    at = index * tick
    assert at > now  # a short sleep still waits (for the next grid point): no polling loop can spin
    assert at >= now + seconds - tick / 2 - eps  # at most half a tick early
    assert at <= now + seconds + tick + eps  # at most a tick late
    if seconds >= tick:  # long sleeps end on the nearest grid point: a periodic loop does not drift
        assert abs(at - (now + seconds)) <= tick / 2 + eps


async def test_coalescing_clock_wakes_each_grid_point_with_one_timer() -> None:
    clock = CoalescingClock(0.05)
    loop = asyncio.get_running_loop()
    woke: list[tuple[float, float]] = []

    async def sleeper(seconds: float) -> None:
        deadline = loop.time() + seconds
        await clock.sleep(seconds)
        woke.append((deadline, loop.time()))

    delays = [0.1 + 0.01 * i for i in range(20)]  # 0.10 .. 0.29 s: about five grid points for twenty sleepers
    start = loop.time()
    tasks = [asyncio.create_task(sleeper(d)) for d in delays]
    await asyncio.sleep(0)
    expected = {coalesced_tick(start, d, 0.05) for d in delays}
    assert len(expected) - 1 <= clock.pending <= len(expected) + 1  # one timer per grid point, not per sleeper
    cancelled = asyncio.create_task(sleeper(0.2))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(*tasks)
    assert len(woke) == 20
    assert all(at >= deadline - 0.025 - 1e-3 for deadline, at in woke)  # never more than tick/2 early
    assert clock.pending == 0


async def test_coalescing_clock_returns_at_once_for_nothing_to_wait() -> None:
    clock = CoalescingClock(1.0)
    await asyncio.wait_for(clock.sleep(0), 0.5)
    await asyncio.wait_for(clock.sleep(-3), 0.5)
    assert clock.pending == 0
    with pytest.raises(ValueError, match="tick"):
        CoalescingClock(0)
