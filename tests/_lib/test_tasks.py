"""cancel_and_wait: owned tasks are cancelled and awaited, and the caller's own cancellation is never eaten
(the bug behind an intermittent hang of the static pod manager's teardown)."""

from __future__ import annotations

import asyncio

import pytest

from sampan._lib.tasks import cancel_and_wait


async def slow_to_stop(stopping: asyncio.Event, release: asyncio.Event) -> None:
    """A task whose cancellation takes time (cleanup that waits for ``release``)."""
    try:
        await asyncio.Event().wait()
    finally:
        stopping.set()
        await release.wait()


async def test_owned_tasks_are_cancelled_and_awaited_and_their_failures_absorbed() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failing = asyncio.ensure_future(fails())
    await asyncio.sleep(0)
    forever = asyncio.ensure_future(asyncio.Event().wait())
    await cancel_and_wait([failing, forever])
    assert forever.cancelled()
    assert failing.done()


async def test_a_cancel_of_the_caller_while_it_waits_propagates() -> None:
    stopping, release = asyncio.Event(), asyncio.Event()
    child = asyncio.ensure_future(slow_to_stop(stopping, release))
    await asyncio.sleep(0)

    async def loop_that_stops_its_child() -> str:
        while True:
            try:
                await asyncio.sleep(0)
            finally:
                await cancel_and_wait([child])
            return "returned normally"  # reached only if a cancellation was swallowed

    caller = asyncio.ensure_future(loop_that_stops_its_child())
    await stopping.wait()  # the caller is now inside cancel_and_wait, the child still cleaning up
    caller.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert child.done()
