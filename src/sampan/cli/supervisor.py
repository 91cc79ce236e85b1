"""A small process supervisor for ``sampan up``: start each component as its own process (so a 2-core
machine uses both cores), restart whatever dies with exponential back-off, stop all on cancellation.

Each :class:`Child` is in one of: starting -> running -> (exited -> backing off -> starting …) and
finally stopped. Output of each child goes to ``<log_dir>/<name>.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sampan._lib.clock import Clock, RealClock
from sampan.cli import leftovers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SupervisorOptions:
    log_dir: Path
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    stable_after: float = 60.0
    """A child that ran this long before exiting restarts after ``initial_backoff`` again."""
    stop_grace: float = 10.0
    """Seconds between SIGTERM and SIGKILL when stopping."""
    pid_dir: Path | None = None
    """Where each running child's pid is recorded (:mod:`sampan.cli.leftovers`), so ``sampan down`` can stop
    children a dead supervisor left behind; None = not recorded."""


class Child:
    """Keeps one component process alive until cancelled."""

    def __init__(self, spec: ComponentSpec, options: SupervisorOptions, clock: Clock) -> None:
        self.spec = spec
        self._options = options
        self._clock = clock
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0

    async def run(self) -> None:
        backoff = self._options.initial_backoff
        log_path = self._options.log_dir / f"{self.spec.name}.log"
        while True:
            with log_path.open("ab") as out:
                started = self._clock.monotonic()
                self.process = await asyncio.create_subprocess_exec(
                    *self.spec.argv,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                    stdin=asyncio.subprocess.DEVNULL,
                    env={**os.environ, **self.spec.env},
                    start_new_session=True,
                )
                log.info("started component=%s pid=%d", self.spec.name, self.process.pid)
                pid_dir = self._options.pid_dir
                if pid_dir is not None:
                    leftovers.record(pid_dir, self.spec.name, self.process.pid)
                try:
                    code = await self.process.wait()
                except asyncio.CancelledError:
                    await self._stop()
                    raise
                finally:
                    if pid_dir is not None and (self.process.returncode is not None):
                        leftovers.forget(pid_dir, self.spec.name)
            ran = self._clock.monotonic() - started
            if ran >= self._options.stable_after:
                backoff = self._options.initial_backoff
            log.warning("component exited component=%s code=%s restart_in=%.1fs", self.spec.name, code, backoff)
            self.restarts += 1
            await self._clock.sleep(backoff)
            backoff = min(backoff * 2, self._options.max_backoff)

    async def _stop(self) -> None:
        proc = self.process
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), self._options.stop_grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


class Supervisor:
    def __init__(
        self, specs: Sequence[ComponentSpec], options: SupervisorOptions, clock: Clock | None = None
    ) -> None:
        options.log_dir.mkdir(parents=True, exist_ok=True)
        self.children = [Child(s, options, clock or RealClock()) for s in specs]

    async def run(self) -> None:
        """Run every child until cancelled; then stop them in reverse start order (each SIGTERM, then
        SIGKILL after the grace), so clients of the API server leave before it does."""
        tasks = [asyncio.create_task(c.run(), name=f"supervise-{c.spec.name}") for c in self.children]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a supervisor bug: surface it
        finally:
            for task in reversed(tasks):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
