"""Run a component's main coroutine until SIGINT or SIGTERM: the signal cancels it, and cancellation is
the stop signal every component honours (DESIGN.md §1)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any


async def run_until_signalled(main: Coroutine[Any, Any, None], *, name: str) -> None:
    """Await ``main`` as a task; SIGINT/SIGTERM cancel it. Exceptions other than the cancellation
    propagate to the caller."""
    task = asyncio.create_task(main, name=name)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
