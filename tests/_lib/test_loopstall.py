"""The loop-stall monitor and the own-loop runner (the two mechanisms of docs/liveness.md)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from sampan._lib.loopstall import LoopStallMonitor
from sampan._lib.own_loop import run_in_own_loop
from tests.support.busy import hold_loop


async def test_a_blocking_turn_is_measured_and_exported() -> None:
    monitor = LoopStallMonitor("test", interval=0.01)
    task = asyncio.create_task(monitor.run())
    try:
        await asyncio.sleep(0.05)
        hold_loop(0.3)  # a CPU-bound turn holding the loop
        await asyncio.sleep(0.05)
        assert monitor.longest >= 0.25
        assert monitor.wakeups > 3
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    registry = CollectorRegistry()
    monitor.register(registry)
    text = generate_latest(registry).decode()
    assert 'sampan_event_loop_stall_seconds_max{component="test"}' in text
    assert 'sampan_event_loop_stall_seconds_bucket{component="test",le="+Inf"}' in text
    monitor.reset()
    assert monitor.longest == 0.0


async def test_a_stall_spent_waiting_is_told_apart_from_one_spent_running() -> None:
    monitor = LoopStallMonitor("test", interval=0.01)
    task = asyncio.create_task(monitor.run())
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.3)  # noqa: ASYNC251 - holds the loop using no CPU (as when waiting for a core or the GIL)
        await asyncio.sleep(0.05)
        assert monitor.longest >= 0.25
        assert monitor.longest_cpu < monitor.longest / 2
        waited = monitor.longest_cpu
        hold_loop(0.3)  # a CPU-bound turn
        await asyncio.sleep(0.05)
        assert monitor.longest_cpu > waited
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    registry = CollectorRegistry()
    monitor.register(registry)
    assert 'sampan_event_loop_stall_cpu_seconds_max{component="test"}' in generate_latest(registry).decode()


async def test_current_stall_is_seen_from_another_thread() -> None:
    monitor = LoopStallMonitor("test", interval=0.01)
    task = asyncio.create_task(monitor.run())
    seen: list[float] = []
    await asyncio.sleep(0.03)

    def probe() -> None:
        time.sleep(0.2)
        seen.append(monitor.current_stall())

    t = threading.Thread(target=probe)
    t.start()
    hold_loop(0.4)  # the loop is stuck while the other thread looks
    t.join()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert seen[0] >= 0.1
    assert monitor.current_stall() == 0.0  # stopped monitors report nothing


async def test_own_loop_returns_result_on_another_thread() -> None:
    async def work() -> tuple[str, bool]:
        await asyncio.sleep(0.01)
        return threading.current_thread().name, asyncio.get_running_loop() is caller

    caller = asyncio.get_running_loop()
    name, same_loop = await run_in_own_loop(work, name="sampan-test-loop")
    assert name == "sampan-test-loop"
    assert not same_loop


async def test_own_loop_keeps_time_while_the_caller_is_blocked() -> None:
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    task = asyncio.create_task(run_in_own_loop(ticker, name="sampan-ticker"))
    await asyncio.sleep(0.1)
    before = len(ticks)
    # the caller's loop stays blocked (no await) until the ticker's own loop has turned 10 more times: no
    # timing assumption (a CPU-starved ticker once managed only 6 ticks in a fixed 0.5 s hold)
    deadline = time.monotonic() + 60
    while len(ticks) - before < 10:
        assert time.monotonic() < deadline, f"the own loop stopped while the caller was blocked: {ticks}"
        time.sleep(0.01)  # noqa: ASYNC251 - blocking the caller's loop on purpose
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_own_loop_errors_propagate_and_cancellation_runs_finally() -> None:
    async def boom() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        await run_in_own_loop(boom, name="sampan-boom")

    cleaned = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.05)  # cleanup that itself awaits
            cleaned.set()

    task = asyncio.create_task(run_in_own_loop(forever, name="sampan-forever"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned.is_set()  # finished before the caller saw the cancellation


async def test_time_slice_gives_other_tasks_a_turn() -> None:
    from sampan._lib.slicing import TimeSlice

    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    async def busy(slice_: TimeSlice | None) -> None:
        for _ in range(30):
            hold_loop(0.005)  # one small CPU-bound step
            if slice_ is not None:
                await slice_.checkpoint()

    t = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    await busy(None)  # never suspends: the ticker does not run at all
    assert ticks == before
    sliced = TimeSlice(budget=0.01)
    await busy(sliced)
    done = True
    await t
    assert sliced.yields >= 5
    assert ticks - before >= 5
