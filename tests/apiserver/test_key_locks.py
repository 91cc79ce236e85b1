"""``KeyLocks``: one lock per key, held by one update at a time, forgotten when nobody holds or waits."""

from __future__ import annotations

import asyncio

import pytest

from sampan.apiserver.handlers.guaranteed import KeyLocks


async def test_one_holder_per_key_and_nothing_kept_afterwards() -> None:
    locks = KeyLocks()
    inside: list[str] = []
    order: list[str] = []

    async def update(key: str, name: str) -> None:
        async with locks.hold(key):
            assert key not in inside  # mutual exclusion per key
            inside.append(key)
            order.append(name)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            inside.remove(key)

    await asyncio.gather(update("a", "a1"), update("a", "a2"), update("b", "b1"), update("a", "a3"))
    assert [n for n in order if n.startswith("a")] == ["a1", "a2", "a3"]  # FIFO for one key
    assert len(locks) == 0


async def test_a_cancelled_waiter_and_a_failing_holder_leave_nothing_behind() -> None:
    locks = KeyLocks()
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("k"):
            entered.set()
            await release.wait()
            raise RuntimeError("update failed")

    async def waiter() -> None:
        async with locks.hold("k"):
            pytest.fail("the cancelled waiter must not get the lock")

    held = asyncio.create_task(holder())
    await entered.wait()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    with pytest.raises(RuntimeError):
        await held
    assert len(locks) == 0
    async with locks.hold("k"):  # free again
        assert len(locks) == 1
    assert len(locks) == 0
