"""The stats seam: what a runtime reports of one container's resource use (CRI ``ContainerStats``).

A runtime that can measure its containers implements :class:`StatsProvider` (the process runtime from
cgroups or ``/proc``, the containerd runtime through CRI ``ContainerStats``); the kubelet's stats
endpoints skip containers of runtimes that cannot. Counters are cumulative (CPU) or instantaneous
(memory), each stamped with the time it was read: rates are the reader's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class ContainerStats:
    container_id: str
    timestamp: float
    """Epoch seconds when the counters were read."""
    cpu_usage_core_ns: int
    """Cumulative CPU time of every process of the container, in nanoseconds."""
    memory_working_set_bytes: int
    """Memory in use minus what the kernel can reclaim at once (inactive file pages), as cAdvisor counts."""
    memory_usage_bytes: int = 0


@runtime_checkable
class StatsProvider(Protocol):
    async def container_stats(self, container_id: str) -> ContainerStats | None:
        """The container's counters now; None when it is not running or cannot be measured."""
        ...


@runtime_checkable
class NodeUsageProvider(Protocol):
    """A runtime whose node is not the host (the simulated runtime): the node's figures come from it."""

    def node_usage(self) -> tuple[float, int, int]:
        """(epoch seconds, cumulative CPU ns, memory working set bytes) of the node."""
        ...
