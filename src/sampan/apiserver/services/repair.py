"""The repair loop (upstream's ``ipallocator/controller`` and ``portallocator/controller`` ``Repair``):
compares the stored bitmaps with the Services that exist and fixes the difference.

* A value a Service holds but the bitmap does not: marked allocated (logged; another server or an
  older version stored the Service).
* A value the bitmap holds but no Service does (a leak: the API server died between allocating and
  storing, or a release failed): freed once ``leak_repairs`` runs in a row saw it leaked, so a create
  that allocated but has not stored its Service yet is never robbed.

Each run lists every Service at one revision and changes each bitmap with compare-and-swap, so several
API servers may run it at once. It runs once when the server starts and then every ``interval``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sampan._lib.clock import Clock
from sampan.apiserver.context import Scope
from sampan.apiserver.services.allocators import ServiceAllocators, cluster_ips, node_ports
from sampan.apiserver.services.bitmap import Bitmap
from sampan.apiserver.services.ranges import StoredRange
from sampan.storage import Storage

log = logging.getLogger(__name__)


@dataclass
class RepairResult:
    marked: int = 0
    """Values in use that were missing from a bitmap."""
    freed: int = 0
    """Leaked values released."""
    leaked: int = 0
    """Values seen leaked this run but not freed yet."""


class Repair:
    def __init__(self, store: Storage, services: Scope, allocators: ServiceAllocators, *, clock: Clock,
                 interval: float, leak_repairs: int = 3, page_size: int = 1000) -> None:
        self.store = store
        self.services = services
        self.allocators = allocators
        self.clock = clock
        self.interval = interval
        self.leak_repairs = max(1, leak_repairs)
        self.page_size = page_size
        self._leaks: dict[str, dict[int, int]] = {}
        """range key -> offset -> consecutive runs that saw it leaked."""

    async def _services(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        revision: int | None = None
        start_after: str | None = None
        while True:
            page = await self.store.list(self.services.prefix, revision=revision, limit=self.page_size,
                                         start_after=start_after)
            revision = page.revision
            out.extend(self.services.decode(kv.value, kv.mod_revision) for kv in page.kvs)
            if not page.more or not page.kvs:
                return out
            start_after = page.kvs[-1].key

    async def _repair(self, rng: StoredRange, in_use: Iterable[str | int], result: RepairResult) -> None:
        used: set[int] = set()
        for value in in_use:
            offset = rng.domain.offset(value)
            if offset is None:
                log.warning("a service holds a value outside the range key=%s value=%s range=%s", rng.key, value,
                            rng.domain.text)
            else:
                used.add(offset)
        prior = dict(self._leaks.get(rng.key, {}))
        outcome: dict[str, object] = {}

        def fix(bitmap: Bitmap) -> bool:
            changed = False
            marked = freed = 0
            leaks: dict[int, int] = {}
            for offset in used:
                if not bitmap.has(offset):
                    bitmap.set(offset)
                    marked += 1
                    changed = True
            for offset in list(bitmap.offsets()):
                if offset in used:
                    continue
                seen = prior.get(offset, 0) + 1
                if seen >= self.leak_repairs:
                    bitmap.clear(offset)
                    freed += 1
                    changed = True
                else:
                    leaks[offset] = seen
            outcome.update(marked=marked, freed=freed, leaks=leaks)
            return changed

        await rng.change(fix)
        leaks = outcome.get("leaks")
        self._leaks[rng.key] = leaks if isinstance(leaks, dict) else {}
        marked, freed = int(str(outcome.get("marked", 0))), int(str(outcome.get("freed", 0)))
        if marked:
            log.warning("repair marked values in use that were not allocated key=%s count=%d", rng.key, marked)
        if freed:
            log.info("repair freed leaked values key=%s count=%d", rng.key, freed)
        result.marked += marked
        result.freed += freed
        result.leaked += len(self._leaks[rng.key])

    async def run_once(self) -> RepairResult:
        services = await self._services()
        result = RepairResult()
        ips = [ip for svc in services for ip in cluster_ips(svc)]
        ports = [p for svc in services for p in node_ports(svc)]
        await self._repair(self.allocators.ips, ips, result)
        await self._repair(self.allocators.ports, ports, result)
        return result

    async def run(self) -> None:
        """Repair now and every ``interval`` until cancelled; a failed run is logged and retried next time."""
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("service allocation repair failed")
            await self.clock.sleep(self.interval)
