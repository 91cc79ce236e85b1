"""Event handlers and the per-handler listener that feeds one handler, in order, from a bounded buffer.

Overflow policy of a listener's buffer: **block**. When a handler falls ``capacity`` notifications
behind, the informer's distribution waits for room. That stalls the DeltaFIFO consumer, the FIFO fills
past its high-water mark, the reflector stops reading its watch, and the server closes the slow watch;
the reflector then resumes or relists. So memory stays bounded and no handler ever misses or reorders a
notification; the price is that one slow handler slows its informer's other handlers (give slow work to
a workqueue, which is what handlers are for). Notifications replayed to a handler registered on a
running informer (its "initial list") bypass the bound: they are at most the cache's size.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sampan._lib import tracing
from sampan._lib.slicing import TimeSlice
from sampan.client import metrics

log = logging.getLogger(__name__)


class ResourceEventHandler(Protocol):
    """What an informer calls. Methods may be plain functions or coroutines. ``on_delete`` may receive a
    :class:`~sampan.client.cache.store.DeletedFinalStateUnknown` tombstone instead of the object."""

    def on_add(self, obj: Any, is_in_initial_list: bool) -> Awaitable[None] | None: ...
    def on_update(self, old: Any, new: Any) -> Awaitable[None] | None: ...
    def on_delete(self, obj: Any) -> Awaitable[None] | None: ...


Callback = Callable[..., Awaitable[None] | None]


@dataclass
class EventHandlerFuncs:
    """A handler from loose functions; a missing one ignores its event. ``on_add`` takes ``(obj)`` or
    ``(obj, is_in_initial_list)``."""

    on_add_func: Callback | None = None
    on_update_func: Callback | None = None
    on_delete_func: Callback | None = None

    def __post_init__(self) -> None:
        self._add_takes_flag = self.on_add_func is not None and _arity(self.on_add_func) >= 2

    def on_add(self, obj: Any, is_in_initial_list: bool) -> Awaitable[None] | None:
        if self.on_add_func is None:
            return None
        if self._add_takes_flag:
            return self.on_add_func(obj, is_in_initial_list)
        return self.on_add_func(obj)

    def on_update(self, old: Any, new: Any) -> Awaitable[None] | None:
        return self.on_update_func(old, new) if self.on_update_func else None

    def on_delete(self, obj: Any) -> Awaitable[None] | None:
        return self.on_delete_func(obj) if self.on_delete_func else None


def _arity(fn: Callable[..., Any]) -> int:
    try:
        return len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return 1


class Kind(enum.Enum):
    ADD = "add"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Notification:
    kind: Kind
    new: Any
    old: Any = None
    initial: bool = False


class Listener:
    """Feeds one handler from a bounded buffer (see the module docstring for the overflow policy).

    Invariants: ``pending_initial`` counts initial-list notifications queued but not yet handled;
    ``_queued_at`` holds the monotonic arrival time of exactly the buffered notifications, in order, so the
    oldest one's age and the total wait of the delivered ones (``wait_total``) are known without any per-
    notification metric call (they are read at scrape time, see :func:`sampan.client.metrics.track_listener`).
    """

    def __init__(self, handler: ResourceEventHandler, *, capacity: int, resync_period: float, name: str = "",
                 informer: str = "") -> None:
        if capacity < 1:
            raise ValueError(f"handler buffer capacity must be >= 1, got {capacity}")
        self.handler = handler
        self.capacity = capacity
        self.resync_period = resync_period
        self.next_resync = 0.0
        self.resyncing = False
        self.name = name
        self.pending_initial = 0
        self.handled = 0
        self.informer = informer
        self.wait_total = 0.0
        """Seconds the handled notifications waited in the buffer, summed."""
        self._buf: deque[Notification] = deque()
        self._queued_at: deque[float] = deque()
        self._has_items = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._closed = False
        metrics.track_listener(self)

    def close(self) -> None:
        """The handler was removed: drop what is buffered and never block a producer again."""
        self._closed = True
        self._buf.clear()
        self._queued_at.clear()
        self.pending_initial = 0
        self._has_room.set()

    def try_put(self, n: Notification) -> bool:
        """Queue ``n`` if there is room now (the fast path of :meth:`put`)."""
        if self._closed:
            return True
        if len(self._buf) >= self.capacity:
            return False
        self._append(n)
        return True

    async def put(self, n: Notification) -> None:
        """Queue ``n``, waiting while the buffer is full."""
        while len(self._buf) >= self.capacity and not self._closed:
            self._has_room.clear()
            await self._has_room.wait()
        if not self._closed:
            self._append(n)

    def put_unbounded(self, n: Notification) -> None:
        """Queue ``n`` without waiting (only for the replay of the cache to a new handler)."""
        self._append(n)

    def _append(self, n: Notification) -> None:
        if n.initial:
            self.pending_initial += 1
        self._buf.append(n)
        self._queued_at.append(time.monotonic())
        self._has_items.set()

    def __len__(self) -> int:
        return len(self._buf)

    @property
    def closed(self) -> bool:
        return self._closed

    def oldest_pending_age(self, now: float) -> float:
        """Seconds the oldest buffered notification has waited (0.0 when caught up)."""
        queued = self._queued_at
        return max(0.0, now - queued[0]) if queued else 0.0

    async def run(self) -> None:
        """Call the handler for each notification, in order, until cancelled; handler errors are logged.
        A full buffer is drained in time slices, so a burst never holds the event loop."""
        slice_ = TimeSlice()
        while True:
            if not self._buf:
                while not self._buf:
                    self._has_items.clear()
                    await self._has_items.wait()
                slice_.restart()
            else:
                await slice_.checkpoint()
            n = self._buf.popleft()
            self.wait_total += time.monotonic() - self._queued_at.popleft()
            if len(self._buf) < self.capacity:
                self._has_room.set()
            try:
                if tracing.STATE.on and not n.initial:
                    await self._traced_call(n)
                else:
                    result = self._call(n)
                    if result is not None:
                        await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event handler failed handler=%s event=%s", self.name, n.kind.value)
            finally:
                self.handled += 1
                if n.initial:
                    self.pending_initial -= 1

    async def _traced_call(self, n: Notification) -> None:
        """The handler call inside an ``informer.deliver`` span (the object's uid and resourceVersion, so
        the trace store can measure the lag from the write to this handler)."""
        obj = n.new if isinstance(n.new, dict) else getattr(n.new, "obj", None)
        attrs = tracing.object_attributes(obj if isinstance(obj, dict) else None)
        attrs.update({"informer": self.informer, "handler": self.name, "event": n.kind.value,
                      "buffered": len(self._buf)})
        with tracing.span("informer.deliver", attrs):
            result = self._call(n)
            if result is not None:
                await result

    def _call(self, n: Notification) -> Awaitable[None] | None:
        if n.kind is Kind.ADD:
            return self.handler.on_add(n.new, n.initial)
        if n.kind is Kind.UPDATE:
            return self.handler.on_update(n.old, n.new)
        return self.handler.on_delete(n.new)
