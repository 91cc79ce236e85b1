"""Liveness first inside one event loop: the steps of tasks marked urgent run before any other ready callback.

Why (issue 21, DESIGN.md §6 "liveness never waits behind work"): API Priority and Fairness orders only the
*start* of requests. Once started, every request's steps wait in the loop's one FIFO of ready callbacks, so
on a saturated server a Lease renewal that APF dispatched at once still took ~0.6 s to run: each of its
awaits put it behind every other running request's next step, the watch fan-out and LIST encoding. Upstream
has one goroutine per request on many cores and does not see this.

Mechanism: :func:`install` swaps the running loop's queue of ready callbacks (CPython's
``BaseEventLoop._ready``, a deque) for an :class:`UrgentFirst` deque. Its ``append`` puts a callback whose
context has :data:`URGENT` set into one of two more deques (:data:`CRITICAL`: leader election and probes;
:data:`HEARTBEAT`: node Leases and status); ``popleft`` serves them first, critical before heartbeat. Two
lanes, because 1,000 registering nodes fill the heartbeat lane for minutes and a leader-election renewal
behind them came late again. A request handler
marks itself with ``with urgent():`` (a context variable set in the task's own context and reset on exit):
every step its task schedules from then on (``call_soon`` of a task step, a future's done callback) carries
that context, so the request runs to its end ahead of the queue, waiting only for real I/O (the store's
commit, the socket). Callbacks with no context (I/O readiness, timers, thread hand-offs) stay in order.

Invariants: every appended handle is popped exactly once; order is FIFO within each class; ``len`` counts
both. Urgent work can starve the rest only while it keeps coming: callers mark only bounded, cheap work
(the API server: requests of the leader-election and node-high priority levels and probes, which APF caps
by their seats). A loop without a ``_ready`` deque (another implementation) is left alone: :func:`install`
returns False.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

HEARTBEAT = 1
"""Urgency of work that keeps many things alive and tolerates seconds of delay (kubelets' Leases: 40 s)."""
CRITICAL = 2
"""Urgency of the few requests whose delay restarts a component (leader election: 10 s) or fails a probe."""
URGENT: contextvars.ContextVar[int] = contextvars.ContextVar("sampan_urgent", default=0)
"""The urgency of the current task's steps: 0 ordinary, :data:`HEARTBEAT` or :data:`CRITICAL` (set through
:func:`urgent`); higher runs first."""


class UrgentFirst(collections.deque[Any]):
    """The loop's ready queue with urgent lanes in front (see the module docstring). The deque itself holds
    the ordinary callbacks; ``critical`` and ``heartbeat`` the urgent ones, served in that order."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self.critical: collections.deque[Any] = collections.deque()
        self.heartbeat: collections.deque[Any] = collections.deque()
        self.served_urgent = 0
        """Urgent callbacks run so far (observability, tests)."""

    def append(self, handle: Any) -> None:
        ctx = getattr(handle, "_context", None)
        level = ctx.get(URGENT, 0) if ctx is not None else 0
        if level >= CRITICAL:
            self.critical.append(handle)
        elif level:
            self.heartbeat.append(handle)
        else:
            super().append(handle)

    def popleft(self) -> Any:
        if self.critical:
            self.served_urgent += 1
            return self.critical.popleft()
        if self.heartbeat:
            self.served_urgent += 1
            return self.heartbeat.popleft()
        return super().popleft()

    def clear(self) -> None:
        self.critical.clear()
        self.heartbeat.clear()
        super().clear()

    def __len__(self) -> int:
        return super().__len__() + len(self.critical) + len(self.heartbeat)

    def __bool__(self) -> bool:
        return bool(self.critical) or bool(self.heartbeat) or super().__len__() > 0


def install(loop: asyncio.AbstractEventLoop) -> bool:
    """Give ``loop`` an urgent lane (idempotent). Call on the loop's own thread, e.g. from a coroutine
    running on it: ready callbacks already queued keep their order. False when the loop is not CPython's
    ``BaseEventLoop`` (nothing changed)."""
    ready = getattr(loop, "_ready", None)
    if isinstance(ready, UrgentFirst):
        return True
    if type(ready) is not collections.deque:
        log.warning("event loop has no ready deque; urgent requests are not run first loop=%s", type(loop).__name__)
        return False
    loop._ready = UrgentFirst(ready)  # type: ignore[attr-defined]
    return True


@contextlib.contextmanager
def urgent(level: int = HEARTBEAT) -> Iterator[None]:
    """Run the current task's steps ahead of ordinary (and less urgent) callbacks until the block exits (on a
    loop with the lanes installed; elsewhere a no-op)."""
    token = URGENT.set(level)
    try:
        yield
    finally:
        URGENT.reset(token)
