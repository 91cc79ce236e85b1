"""Run a coroutine on its own thread and event loop, awaited from the caller's loop.

This is how heartbeats escape the work of their component (docs/liveness.md): a coroutine on another
thread keeps its timers even while the component's loop runs a long CPU-bound turn — the interpreter
switches threads every few milliseconds (``sys.getswitchinterval()``), so the heartbeat waits at most that
long for the GIL, never for the other loop's turn to end.

Contract of :func:`run_in_own_loop`:

- the coroutine is created *on the new thread* by ``factory`` (so whatever it builds — an aiohttp
  session, a client — belongs to that thread's loop);
- its result or exception is the caller's result or exception;
- cancelling the caller cancels the coroutine on its thread and waits until it has finished (its
  ``finally`` blocks ran, e.g. a lease released), then re-raises the cancellation;
- the thread's loop is closed when the coroutine ends; nothing survives it.

Talking back to the caller's loop is the coroutine's business: use ``loop.call_soon_threadsafe`` (never
touch an object of the other loop directly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Handle:
    """The thread's loop and task, published once the thread has created them."""

    def __init__(self) -> None:
        self.created = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None

    def cancel(self) -> None:
        self.created.wait()
        if self.loop is not None and self.task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed: the task has finished
                self.loop.call_soon_threadsafe(self.task.cancel)


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and finish whatever the coroutine left running, then close the loop."""
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


async def run_in_own_loop(factory: Callable[[], Coroutine[Any, Any, T]], *, name: str) -> T:
    """Run ``factory()`` on a new daemon thread named ``name`` with its own loop (see module docstring)."""
    caller = asyncio.get_running_loop()
    outcome: asyncio.Future[T] = caller.create_future()
    handle = _Handle()

    def deliver(result: T | None, error: BaseException | None) -> None:
        if outcome.done():
            return
        if isinstance(error, asyncio.CancelledError):
            outcome.cancel()
        elif error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(result)  # type: ignore[arg-type]

    def main() -> None:
        loop = asyncio.new_event_loop()
        result: T | None = None
        error: BaseException | None = None
        try:
            asyncio.set_event_loop(loop)
            try:
                handle.task = loop.create_task(factory(), name=name)
            finally:
                handle.loop = loop
                handle.created.set()
            result = loop.run_until_complete(handle.task)
        except BaseException as e:
            error = e
        finally:
            _drain(loop)
            with contextlib.suppress(RuntimeError):  # the caller's loop is gone: nobody is waiting
                caller.call_soon_threadsafe(deliver, result, error)

    thread = threading.Thread(target=main, name=name, daemon=True)
    thread.start()
    try:
        return await asyncio.shield(outcome)
    except asyncio.CancelledError:
        handle.cancel()
        with contextlib.suppress(BaseException):
            await outcome
        raise
