from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sampan.cli.supervisor import ComponentSpec, Supervisor, SupervisorOptions


async def _wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_restarts_a_dying_child_and_stops_all_on_cancel(tmp_path: Path) -> None:
    dies = ComponentSpec("dies", (sys.executable, "-c", "print('bye')"))
    lives = ComponentSpec("lives", (sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"))
    sup = Supervisor([dies, lives], SupervisorOptions(log_dir=tmp_path, initial_backoff=0.01, max_backoff=0.02))
    task = asyncio.create_task(sup.run())
    await _wait_for(lambda: sup.children[0].restarts >= 3)
    living = sup.children[1]
    await _wait_for(lambda: living.process is not None and (tmp_path / "lives.log").read_bytes() != b"")
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert living.process is not None
    assert living.process.returncode is not None, "children are stopped with the supervisor"
    assert (tmp_path / "dies.log").read_text().count("bye") >= 3
