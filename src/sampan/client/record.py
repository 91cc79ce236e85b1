"""The event recorder: writes core/v1 Events about objects, aggregated as upstream's ``EventCorrelator``.

``recorder.event(obj, "Normal", "Scheduled", "assigned default/web to node-1")`` never blocks: it puts the
event in a bounded queue (1000, like upstream's broadcaster) and **drops** it when full (events are best
effort; every drop is counted in ``dropped``; a run of drops is logged twice, when it starts and when the
queue accepts again with how many it dropped — one line per drop cost a saturated scheduler thousands of
log lines a second). :meth:`EventRecorder.run` writes them:

- identical events (same object, type, reason, message, source) within the cache's memory become one
  Event whose ``count`` and ``lastTimestamp`` are bumped (PUT of the Event last written);
- more than ``max_similar`` events for one object+reason with *different* messages within
  ``similar_window`` seconds are folded into one Event whose message starts with
  ``(combined from similar events): `` (upstream's aggregator: 10 within 10 minutes);
- a per-object token bucket (burst 25, one token per 5 minutes, as upstream) drops event storms.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan.api import errors
from sampan.api.humanize import format_rfc3339
from sampan.client.dynamic import ResourceClient
from sampan.client.flowcontrol import TokenBucket

log = logging.getLogger(__name__)

NORMAL, WARNING = "Normal", "Warning"
COMBINED_PREFIX = "(combined from similar events): "



@dataclass(frozen=True, slots=True)
class _Pending:
    ref: dict[str, Any]
    type: str
    reason: str
    message: str
    at: float


def object_reference(obj: dict[str, Any]) -> dict[str, Any]:
    """The ``involvedObject`` reference of an object dict."""
    meta = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""), "name": meta.get("name", ""),
           "namespace": meta.get("namespace", ""), "uid": meta.get("uid", ""),
           "resourceVersion": meta.get("resourceVersion", "")}
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    def __init__(
        self,
        events: ResourceClient,
        *,
        component: str,
        host: str = "",
        reporting_instance: str | None = None,
        clock: Clock | None = None,
        queue_size: int = 1000,
        cache_size: int = 4096,
        max_similar: int = 10,
        similar_window: float = 600.0,
        spam_burst: int = 25,
        spam_qps: float = 1.0 / 300.0,
    ) -> None:
        if events.info.resource != "events" or events.info.group != "":
            raise ValueError("EventRecorder writes core/v1 events")
        self._events = events
        self.component = component
        self.host = host
        #: ``reportingInstance``; when given apart from ``host``, events carry no ``source.host`` (upstream's
        #: events/v1 recorders, e.g. the scheduler's ``default-scheduler-<hostname>``, leave it empty).
        self.reporting_instance = host if reporting_instance is None else reporting_instance
        self._clock = clock or RealClock()
        self._queue: deque[_Pending] = deque()
        self._queue_size = queue_size
        self._ready = asyncio.Event()
        self._cache_size = cache_size
        self._written: OrderedDict[tuple[str, ...], dict[str, Any]] = OrderedDict()
        self._similar: OrderedDict[tuple[str, ...], tuple[float, set[str]]] = OrderedDict()
        self._max_similar = max_similar
        self._similar_window = similar_window
        self._spam: OrderedDict[str, TokenBucket] = OrderedDict()
        self._spam_burst, self._spam_qps = spam_burst, spam_qps
        self.dropped = 0
        self._full_drops = 0
        """Drops since the queue was last found full (0: it is accepting)."""
        self._last_ns = 0
        self.written = collections.Counter[str]()

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str, *, field_path: str = "") -> None:
        """Record an event about ``obj`` (type ``Normal`` or ``Warning``); never blocks. ``field_path`` names
        the part of the object the event is about (``spec.containers{web}``: ``involvedObject.fieldPath``)."""
        if type_ not in (NORMAL, WARNING):
            raise ValueError(f"event type must be Normal or Warning, got {type_!r}")
        if len(self._queue) >= self._queue_size:
            self.dropped += 1
            self._full_drops += 1
            if self._full_drops == 1:
                log.warning("event queue full, dropping events until it drains first_reason=%s size=%d",
                            reason, self._queue_size)
            return
        if self._full_drops:
            log.warning("event queue accepting again dropped=%d", self._full_drops)
            self._full_drops = 0
        ref = object_reference(obj)
        if field_path:
            ref["fieldPath"] = field_path
        self._queue.append(_Pending(ref, type_, reason, message, self._clock.wall()))
        self._ready.set()

    async def run(self) -> None:
        """Write queued events until cancelled."""
        while True:
            while not self._queue:
                self._ready.clear()
                await self._ready.wait()
            pending = self._queue.popleft()
            try:
                await self._write(pending)
            except asyncio.CancelledError:
                raise
            except errors.APIError as e:
                log.warning("could not write event reason=%s error=%s", pending.reason, e)

    async def flush(self) -> None:
        """Write everything queued now (for tests and for shutdown)."""
        while self._queue:
            pending = self._queue.popleft()
            try:
                await self._write(pending)
            except errors.APIError as e:
                log.warning("could not write event reason=%s error=%s", pending.reason, e)

    def _obj_key(self, ref: dict[str, Any]) -> str:
        return "/".join((self.component, self.host, ref.get("kind", ""), ref.get("namespace", ""),
                         ref.get("name", ""), ref.get("uid", "")))

    async def _write(self, p: _Pending) -> None:
        obj_key = self._obj_key(p.ref)
        if not self._spam_ok(obj_key):
            self.dropped += 1
            return
        message, combined = self._aggregate(obj_key, p)
        key = (obj_key, p.ref.get("fieldPath", ""), p.type, p.reason, COMBINED_PREFIX if combined else message)
        previous = self._written.get(key)
        if previous is not None:
            updated = {**previous, "count": int(previous.get("count") or 1) + 1, "lastTimestamp": format_rfc3339(p.at),
                       "message": message}
            try:
                result = await self._events.update(updated)
            except (errors.NotFound, errors.Conflict):
                result = None
            if result is not None:
                self._remember(key, result)
                self.written["updated"] += 1
                return
        result = await self._events.create(self._new_event(p, message))
        self._remember(key, result)
        self.written["created"] += 1

    def _aggregate(self, obj_key: str, p: _Pending) -> tuple[str, bool]:
        """Upstream's EventAggregator: the message to record, and whether it is a combined one (after more
        than ``max_similar`` distinct messages for one object and reason within the window)."""
        akey = (obj_key, p.type, p.reason)
        first, messages = self._similar.get(akey, (p.at, set()))
        if p.at - first > self._similar_window:
            first, messages = p.at, set()
        messages.add(p.message)
        self._similar[akey] = (first, messages)
        self._similar.move_to_end(akey)
        while len(self._similar) > self._cache_size:
            self._similar.popitem(last=False)
        if len(messages) > self._max_similar:
            return COMBINED_PREFIX + p.message, True
        return p.message, False

    def _spam_ok(self, obj_key: str) -> bool:
        bucket = self._spam.get(obj_key)
        if bucket is None:
            bucket = self._spam[obj_key] = TokenBucket(self._spam_qps, self._spam_burst, clock=self._clock)
            while len(self._spam) > self._cache_size:
                self._spam.popitem(last=False)
        return bucket.try_accept()

    def _remember(self, key: tuple[str, ...], event: dict[str, Any]) -> None:
        self._written[key] = event
        self._written.move_to_end(key)
        while len(self._written) > self._cache_size:
            self._written.popitem(last=False)

    def _unique_ns(self, at: float) -> int:
        """Nanosecond timestamp for the event name, strictly increasing within this recorder."""
        self._last_ns = max(int(at * 1e9), self._last_ns + 1)
        return self._last_ns

    def _new_event(self, p: _Pending, message: str) -> dict[str, Any]:
        name = p.ref.get("name") or "unknown"
        namespace = p.ref.get("namespace") or "default"
        stamp = format_rfc3339(p.at)
        return {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.{self._unique_ns(p.at):x}", "namespace": namespace},
            "involvedObject": p.ref, "reason": p.reason, "message": message, "type": p.type,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": self.component, "reportingInstance": self.reporting_instance,
        }
