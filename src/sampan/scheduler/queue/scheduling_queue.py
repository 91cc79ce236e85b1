"""SchedulingQueue: where pending pods wait for a scheduling attempt.

Three parts, and a pod (by uid) is in at most one of them, or "in flight" (popped, being scheduled):

- activeQ: ready now, ordered by the profile's QueueSort (PrioritySort: priority, then arrival);
- backoffQ: failed recently; leaves for activeQ when its back-off ends (``initial * 2^(attempts-1)``,
  at most ``max_backoff``; 1 s doubling to 10 s by default), checked every ``backoff_flush_period``;
- unschedulable: rejected by plugins; moved back only by a cluster event that one of the plugins that
  rejected it registered interest in (``move_all_to_active_or_backoff``), or after ``max_unschedulable``
  (5 min) by the periodic leftover flush. A pod that fails with an error (no rejecting plugin) goes to
  backoffQ; so does a pod whose cycle overlapped a move request (the event may already have helped);
- gated: pods with ``spec.schedulingGates`` (upstream's SchedulingGates PreEnqueue) wait here, untouched
  by events, until an update removes the gates.

Pods moved by an event go to backoffQ while still backing off, else to activeQ. ``run()`` drives the
periodic flushes with the injected clock; ``pop()`` waits for activeQ. Mutators are synchronous and
called from the scheduler's event loop only. The queue holds at most one entry per pending pod in the
cluster (it mirrors API state), so it needs no overflow policy of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sampan._lib.clock import Clock
from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.interface import QueuedPodInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.queue.heap import KeyedHeap
from sampan.scheduler.queue.nominator import PodNominator

log = logging.getLogger(__name__)


class QueueClosed(Exception):
    """``pop`` on a closed queue."""


@dataclass(frozen=True)
class QueueOptions:
    initial_backoff: float = 1.0
    max_backoff: float = 10.0
    max_unschedulable: float = 300.0
    backoff_flush_period: float = 1.0
    unschedulable_flush_period: float = 30.0


class SchedulingQueue:
    def __init__(
        self, *, less: Callable[[QueuedPodInfo, QueuedPodInfo], bool], clock: Clock,
        events_by_plugin: Mapping[str, Sequence[ev.ClusterEvent]] | None = None,
        options: QueueOptions | None = None,
    ) -> None:
        self._clock = clock
        self.options = options or QueueOptions()
        self._events = {k: list(v) for k, v in (events_by_plugin or {}).items()}
        self._active: KeyedHeap[QueuedPodInfo] = KeyedHeap(less)
        self._backoff: KeyedHeap[QueuedPodInfo] = KeyedHeap(
            lambda a, b: self.backoff_expiry(a) < self.backoff_expiry(b))
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._gated: dict[str, QueuedPodInfo] = {}
        self._in_flight: dict[str, QueuedPodInfo] = {}
        self.scheduling_cycle = 0
        self._move_request_cycle = -1
        self._wakeup = asyncio.Event()
        self._closed = False
        self.nominator = PodNominator()

    # -- adding and removing pods -----------------------------------------------------------
    def add(self, pod: PodInfo) -> None:
        """A new pending pod: straight to activeQ (or to the gated set while it has scheduling gates)."""
        now = self._clock.monotonic()
        self._forget_everywhere(pod.uid)
        q = QueuedPodInfo(pod, now, initial_attempt_timestamp=None)
        if pod.scheduling_gates:
            q.pending_plugins = {"SchedulingGates"}
            self._gated[pod.uid] = q
        else:
            self._push_active(q)
        if pod.nominated_node_name:
            self.nominator.add(pod)

    def update(self, pod: PodInfo, *, spec_changed: bool = True) -> None:
        """The pending pod changed: replace it where it waits; an unschedulable pod gets another try
        unless only its status/metadata bookkeeping changed (``spec_changed`` False, as upstream's
        ``isPodUpdated``: our own condition write must not requeue the pod)."""
        uid = pod.uid
        gated = self._gated.pop(uid, None)
        if gated is not None:
            self.add(pod)  # still gated: stays; ungated: a fresh attempt
            return
        for heap in (self._active, self._backoff):
            q = heap.get(uid)
            if q is not None:
                q.pod_info = pod
                heap.push(uid, q)
                return
        if not spec_changed and uid in self._unschedulable:
            self._unschedulable[uid].pod_info = pod
            return
        q = self._unschedulable.pop(uid, None)
        if q is not None:
            q.pod_info = pod
            self._requeue(q, ev.ClusterEvent(ev.POD, ev.ActionType.UPDATE_POD_OTHER, "PodUpdate"))
            return
        if uid in self._in_flight:
            self._in_flight[uid].pod_info = pod
            return
        self.add(pod)

    def delete(self, uid: str) -> None:
        self._forget_everywhere(uid)
        self._in_flight.pop(uid, None)
        self.nominator.delete(uid)

    def _forget_everywhere(self, uid: str) -> None:
        self._active.delete(uid)
        self._backoff.delete(uid)
        self._unschedulable.pop(uid, None)
        self._gated.pop(uid, None)

    def _push_active(self, q: QueuedPodInfo) -> None:
        self._active.push(q.pod_info.uid, q)
        self._wakeup.set()

    # -- popping -----------------------------------------------------------------------------
    def pop_nowait(self) -> QueuedPodInfo | None:
        q = self._active.pop()
        if q is None:
            return None
        self.scheduling_cycle += 1
        q.attempts += 1
        if q.initial_attempt_timestamp is None:
            q.initial_attempt_timestamp = self._clock.monotonic()
        self._in_flight[q.pod_info.uid] = q
        return q

    async def pop(self) -> QueuedPodInfo:
        """The next pod by QueueSort order; waits while activeQ is empty. Raises QueueClosed."""
        while True:
            if self._closed:
                raise QueueClosed()
            q = self.pop_nowait()
            if q is not None:
                return q
            self._wakeup.clear()
            await self._wakeup.wait()

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    def in_flight(self, uid: str) -> bool:
        """Whether the pod was popped and its cycle has not ended (False once it is deleted meanwhile)."""
        return uid in self._in_flight

    def done(self, uid: str) -> None:
        """The pod's cycle ended (scheduled, or handed back with ``add_unschedulable``)."""
        self._in_flight.pop(uid, None)

    # -- failures ----------------------------------------------------------------------------
    def backoff_duration(self, q: QueuedPodInfo) -> float:
        d = self.options.initial_backoff
        for _ in range(1, q.attempts):
            d *= 2
            if d >= self.options.max_backoff:
                return self.options.max_backoff
        return min(d, self.options.max_backoff)

    def backoff_expiry(self, q: QueuedPodInfo) -> float:
        return q.timestamp + self.backoff_duration(q)

    def is_backing_off(self, q: QueuedPodInfo) -> bool:
        return self.backoff_expiry(q) > self._clock.monotonic()

    def add_unschedulable(self, q: QueuedPodInfo, *, pod_scheduling_cycle: int) -> None:
        """Hand back a pod whose attempt failed. ``q.unschedulable_plugins`` says who rejected it
        (empty for an internal error, which goes to backoffQ)."""
        uid = q.pod_info.uid
        if self._in_flight.pop(uid, None) is None:
            return  # deleted while it was being scheduled, or already handed back
        if uid in self._active or uid in self._backoff or uid in self._unschedulable:
            return
        q.timestamp = self._clock.monotonic()
        if not q.unschedulable_plugins or self._move_request_cycle >= pod_scheduling_cycle:
            self._backoff.push(uid, q)
        else:
            self._unschedulable[uid] = q

    # -- events ------------------------------------------------------------------------------
    def _interested(self, q: QueuedPodInfo, event: ev.ClusterEvent) -> bool:
        if event.resource == ev.WILDCARD or not q.unschedulable_plugins:
            return True
        for plugin in q.unschedulable_plugins:
            for registered in self._events.get(plugin, ()):
                if event.matches(registered):
                    return True
        return False

    def _requeue(self, q: QueuedPodInfo, event: ev.ClusterEvent) -> None:
        uid = q.pod_info.uid
        if self.is_backing_off(q):
            self._backoff.push(uid, q)
        else:
            self._push_active(q)
        log.debug("pod moved pod=%s event=%s", q.pod_info.key, event.label or event.resource)

    def move_all_to_active_or_backoff(
        self, event: ev.ClusterEvent, *, pre_check: Callable[[PodInfo], bool] | None = None
    ) -> int:
        """Move the unschedulable pods that ``event`` may help; returns how many moved."""
        moved = 0
        for uid, q in list(self._unschedulable.items()):
            if pre_check is not None and not pre_check(q.pod_info):
                continue
            if self._interested(q, event):
                del self._unschedulable[uid]
                self._requeue(q, event)
                moved += 1
        self._move_request_cycle = self.scheduling_cycle
        return moved

    def assigned_pod_added(self, pod: PodInfo) -> int:
        """A pod got bound: only pods with required affinity terms it matches may now fit."""
        return self.move_all_to_active_or_backoff(
            ev.ASSIGNED_POD_ADD,
            pre_check=lambda p: any(t.matches(pod) for t in p.required_affinity),
        )

    # -- periodic flushes ------------------------------------------------------------------------
    def flush_backoff_completed(self) -> int:
        now = self._clock.monotonic()
        moved = 0
        while True:
            q = self._backoff.peek()
            if q is None or self.backoff_expiry(q) > now:
                return moved
            self._backoff.pop()
            self._push_active(q)
            moved += 1

    def flush_unschedulable_leftover(self) -> int:
        now = self._clock.monotonic()
        moved = 0
        for uid, q in list(self._unschedulable.items()):
            if now - q.timestamp > self.options.max_unschedulable:
                del self._unschedulable[uid]
                self._requeue(q, ev.UNSCHEDULABLE_TIMEOUT)
                moved += 1
        return moved

    async def run(self) -> None:
        """Run the periodic flushes until cancelled."""
        next_leftover = self._clock.monotonic() + self.options.unschedulable_flush_period
        while True:
            await self._clock.sleep(self.options.backoff_flush_period)
            self.flush_backoff_completed()
            if self._clock.monotonic() >= next_leftover:
                self.flush_unschedulable_leftover()
                next_leftover = self._clock.monotonic() + self.options.unschedulable_flush_period

    # -- introspection -------------------------------------------------------------------------
    def pending(self) -> dict[str, int]:
        """Pending pods by queue (the ``scheduler_pending_pods`` metric's labels)."""
        return {"active": len(self._active), "backoff": len(self._backoff),
                "unschedulable": len(self._unschedulable), "gated": len(self._gated)}

    def where(self, uid: str) -> str:
        if uid in self._active:
            return "active"
        if uid in self._backoff:
            return "backoff"
        if uid in self._unschedulable:
            return "unschedulable"
        if uid in self._in_flight:
            return "in-flight"
        if uid in self._gated:
            return "gated"
        return ""
