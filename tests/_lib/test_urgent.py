"""The urgent lane of the event loop (sampan._lib.urgent): a marked task's steps run ahead of ordinary ready
callbacks, on the real asyncio loop."""

from __future__ import annotations

import asyncio
import contextvars
import os

import pytest

from sampan._lib import urgent

if os.environ.get("SAMPAN_EVENT_LOOP", "").strip().lower() == "uvloop":  # tests/conftest.py's override
    @pytest.fixture(scope="module")
    def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
        """CPython's loop even under SAMPAN_EVENT_LOOP=uvloop: the lanes replace its ready deque (uvloop has
        none, tests/_lib/test_eventloop.py)."""
        return asyncio.DefaultEventLoopPolicy()


async def steps(name: str, count: int, log: list[str], *, marked: bool = False) -> None:
    async def run() -> None:
        for _ in range(count):
            log.append(name)
            await asyncio.sleep(0)  # one loop turn per step: back to the end of the ready queue

    if marked:
        with urgent.urgent():
            await run()
    else:
        await run()


async def test_marked_task_runs_all_its_steps_before_ordinary_ones() -> None:
    loop = asyncio.get_running_loop()
    assert urgent.install(loop)
    assert urgent.install(loop)  # idempotent
    log: list[str] = []
    busy = [asyncio.create_task(steps(f"work{i}", 50, log)) for i in range(20)]
    await asyncio.sleep(0)  # the work is running and queued
    heartbeat = asyncio.create_task(steps("beat", 20, log, marked=True))
    await heartbeat
    # without the lane, each of the heartbeat's 20 steps waits behind 20 other tasks (~400 entries)
    first, last = log.index("beat"), len(log) - 1 - log[::-1].index("beat")
    assert last - first + 1 < 20 + 2 * 20, log[first:last + 1]
    await asyncio.gather(*busy)
    assert log.count("beat") == 20
    assert all(log.count(f"work{i}") == 50 for i in range(20))


async def test_urgent_callbacks_jump_the_queue_and_ordinary_order_is_kept() -> None:
    loop = asyncio.get_running_loop()
    urgent.install(loop)
    with urgent.urgent():
        pass
    assert not urgent.URGENT.get()  # the mark ends with the block
    marked = contextvars.copy_context()
    marked.run(urgent.URGENT.set, urgent.HEARTBEAT)
    critical = contextvars.copy_context()
    critical.run(urgent.URGENT.set, urgent.CRITICAL)
    order: list[object] = []
    for i in range(5):
        loop.call_soon(order.append, i)
    loop.call_soon(order.append, "u1", context=marked)
    loop.call_soon(order.append, "u2", context=marked)
    loop.call_soon(order.append, "c", context=critical)
    done = loop.create_future()
    loop.call_soon(done.set_result, None)
    await done
    assert order == ["c", "u1", "u2", 0, 1, 2, 3, 4]
