"""Audit backends: where events go, without ever making a request wait.

Upstream's log backend writes in the request's goroutine by default (``--audit-log-mode=blocking``), or
through a buffer (``batch``). Here every backend is the batch kind: :meth:`process` puts the event on a
bounded queue (``--audit-log-batch-buffer-size``, 10000) and returns at once; one writer task owned by
the server drains it in batches of up to ``batch_size`` events and writes them outside the event loop.
When the queue is full the event is dropped, counted in ``apiserver_audit_error_total{plugin}`` and
logged (at most once a minute), as upstream's batch mode does ("audit buffer queue blocked"). At
shutdown whatever is queued is written before the server stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import orjson
from prometheus_client import CollectorRegistry, Counter

from sampan.apiserver.audit.rotation import RotatingFile

log = logging.getLogger(__name__)

DEFAULT_BUFFER_SIZE = 10000
DEFAULT_BATCH_SIZE = 400
DROP_LOG_INTERVAL = 60.0


class Backend(Protocol):
    name: str

    def process(self, event: dict[str, Any]) -> None:
        """Take ``event``; never blocks."""
        ...

    async def run(self) -> None:
        """Deliver events until cancelled."""
        ...

    async def flush(self) -> None:
        """Deliver what is queued (at shutdown)."""
        ...


class AuditMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.events = Counter("apiserver_audit_event_total", "Counter of audit events generated and sent to the "
                              "audit backend.", registry=registry)
        self.errors = Counter("apiserver_audit_error_total", "Counter of audit events that failed to be audited "
                              "properly. Plugin identifies the plugin affected by the error.", ["plugin"],
                              registry=registry)


class BufferedBackend:
    """A bounded queue and the batch loop; subclasses say how a batch is delivered (:meth:`deliver`)."""

    name = "buffered"

    def __init__(self, *, metrics: AuditMetrics, buffer_size: int = DEFAULT_BUFFER_SIZE,
                 batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(buffer_size)
        self.batch_size = batch_size
        self.metrics = metrics
        self.dropped = 0
        self._last_drop_log = 0.0

    def process(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            self.metrics.errors.labels(self.name).inc()
            now = time.monotonic()
            if now - self._last_drop_log > DROP_LOG_INTERVAL:
                self._last_drop_log = now
                log.error("audit buffer queue blocked, events dropped plugin=%s dropped=%d", self.name, self.dropped)

    def _take(self, first: dict[str, Any]) -> list[dict[str, Any]]:
        batch = [first]
        while len(batch) < self.batch_size and not self.queue.empty():
            batch.append(self.queue.get_nowait())
        return batch

    async def run(self) -> None:
        while True:
            batch = self._take(await self.queue.get())
            await self._deliver_counting(batch)

    async def flush(self) -> None:
        while not self.queue.empty():
            await self._deliver_counting(self._take(self.queue.get_nowait()))

    async def _deliver_counting(self, batch: list[dict[str, Any]]) -> None:
        try:
            await self.deliver(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.metrics.errors.labels(self.name).inc(len(batch))
            log.error("audit backend failed plugin=%s events=%d err=%s", self.name, len(batch), exc)

    async def deliver(self, batch: list[dict[str, Any]]) -> None:
        raise NotImplementedError


class LogBackend(BufferedBackend):
    """JSON lines into ``--audit-log-path`` (``-``: standard output), rotated by :class:`RotatingFile`."""

    name = "log"

    def __init__(self, file: RotatingFile, *, metrics: AuditMetrics, buffer_size: int = DEFAULT_BUFFER_SIZE,
                 batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        super().__init__(metrics=metrics, buffer_size=buffer_size, batch_size=batch_size)
        self.file = file

    async def deliver(self, batch: list[dict[str, Any]]) -> None:
        data = b"".join(orjson.dumps(ev) + b"\n" for ev in batch)
        await asyncio.to_thread(self.file.write, data)

    async def flush(self) -> None:
        await super().flush()
        self.file.close()
