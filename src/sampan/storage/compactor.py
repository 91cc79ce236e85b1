"""Periodic compaction, as the API server does against etcd.

Each tick compacts to the revision that was current at the previous tick, so roughly one interval of
history always survives (upstream's model), and never more recent than ``current - min_retained``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sampan._lib.clock import Clock, RealClock
from sampan.storage.errors import StorageError
from sampan.storage.interface import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompactorOptions:
    interval: float = 300.0
    """Seconds between compactions (upstream ``--etcd-compaction-interval``, 5m). 0 disables."""
    min_retained: int = 1000
    """Revisions always kept behind the current one."""


class Compactor:
    def __init__(self, store: Storage, options: CompactorOptions, clock: Clock | None = None) -> None:
        self._store = store
        self._options = options
        self._clock = clock or RealClock()
        self._previous_tick_revision = 0

    async def tick(self) -> int:
        """Compact once; return the revision compacted to (0 when nothing was due)."""
        current = await self._store.current_revision()
        target = min(self._previous_tick_revision, current - self._options.min_retained)
        self._previous_tick_revision = current
        if target <= await self._store.compacted_revision():
            return 0
        await self._store.compact(target)
        log.info("compacted revision=%d current=%d", target, current)
        return target

    async def run(self) -> None:
        """Compact every interval until cancelled; errors are logged and retried next tick."""
        if self._options.interval <= 0:
            return
        while True:
            await self._clock.sleep(self._options.interval)
            try:
                await self.tick()
            except StorageError:
                log.exception("compaction failed")
