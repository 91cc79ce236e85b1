"""Run the real scheduler (as ``sampan scheduler`` would, leader election off) in-process for a test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from sampan._lib.tasks import cancel_and_wait
from sampan.client import load_config
from sampan.scheduler.app import SchedulerApp, SchedulerAppOptions
from sampan.scheduler.framework.config import load_config as load_scheduler_config
from sampan.scheduler.scheduler import SchedulerOptions

FAST_BACKOFF = "podInitialBackoffSeconds: 0.1\npodMaxBackoffSeconds: 0.5\n"


@contextlib.asynccontextmanager
async def running_scheduler(kubeconfig: Path, *, config: str = FAST_BACKOFF) -> AsyncIterator[SchedulerApp]:
    """Yields once the scheduler's caches synced and it is scheduling; stops it when the block ends."""
    app = SchedulerApp(SchedulerAppOptions(
        rest=load_config(str(kubeconfig)), leader_elect=False, metrics_port=None,
        scheduler=SchedulerOptions(config=load_scheduler_config(config), backoff_flush_period=0.1)))
    task = asyncio.create_task(app.run())
    try:
        ready = asyncio.ensure_future(app.ready.wait())
        done, _ = await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if task.done():
                task.result()
            raise TimeoutError("scheduler did not become ready")
        yield app
    finally:
        await cancel_and_wait([task])
