"""The scheduler's seams to the outside world, implemented later over the API client.

- ``Binder`` (in framework.interface): POST ``pods/binding``; used by DefaultBinder.
- ``PodStatusWriter``: write the ``PodScheduled=False`` condition (reason ``Unschedulable`` or
  ``SchedulerError``, upstream's message) and ``status.nominatedNodeName``.
- ``Evictor``: delete a preemption victim (with the preemptor named in the event/condition).
- ``EventRecorder``: ``FailedScheduling`` / ``Scheduled`` events.
- ``MetricsSink``: scheduling attempts and end-to-end latency, for the Prometheus endpoint.

Every method may raise; the scheduler logs the failure and carries on (the pod is retried by the
queue's back-off or by the informer's next event).
"""

from __future__ import annotations

from typing import Protocol

from sampan.scheduler.framework.interface import Binder
from sampan.scheduler.framework.pod_info import PodInfo

__all__ = ["Binder", "EventRecorder", "Evictor", "MetricsSink", "PodStatusWriter"]


class PodStatusWriter(Protocol):
    async def set_unschedulable(self, pod: PodInfo, *, reason: str, message: str, nominated_node_name: str | None
                                ) -> None:
        """Set condition PodScheduled=False with ``reason``/``message``; when ``nominated_node_name`` is
        not None also set (or, when empty, clear) ``status.nominatedNodeName``."""
        ...


class Evictor(Protocol):
    async def evict(self, victim: PodInfo, *, preemptor: PodInfo) -> None: ...


class EventRecorder(Protocol):
    def event(self, pod: PodInfo, *, type_: str, reason: str, message: str) -> None: ...


class MetricsSink(Protocol):
    def attempt(self, *, result: str, profile: str, seconds: float) -> None:
        """One scheduling attempt ended with ``result`` (scheduled, unschedulable or error) after
        ``seconds`` (from the start of its scheduling cycle to the end of its binding)."""
        ...

    def e2e(self, *, profile: str, seconds: float) -> None:
        """A pod got bound ``seconds`` after its first scheduling attempt began."""
        ...
