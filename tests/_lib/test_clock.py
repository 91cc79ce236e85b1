from __future__ import annotations

import asyncio

from sampan._lib.clock import FakeClock


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
