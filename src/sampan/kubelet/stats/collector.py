"""One reading of every running container and of the node, plus CPU rates from the previous reading.

Invariant: ``usage_nano_cores`` is computed only between two readings of the same container (same id),
so a restarted container starts without a rate rather than with a wrong one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sampan.kubelet.containers import CONTAINER_NAME, POD_NAME, POD_NAMESPACE, POD_UID
from sampan.kubelet.runtime.interface import ContainerState, Runtime
from sampan.kubelet.runtime.stats import ContainerStats, NodeUsageProvider, StatsProvider
from sampan.kubelet.stats import node as node_stats


@dataclass(frozen=True, slots=True)
class ContainerReading:
    namespace: str
    pod: str
    pod_uid: str
    container: str
    started_at: float
    stats: ContainerStats
    usage_nano_cores: int | None


@dataclass(frozen=True, slots=True)
class NodeReading:
    timestamp: float
    cpu_usage_core_ns: int
    usage_nano_cores: int | None
    memory_capacity_bytes: int
    memory_usage_bytes: int
    memory_working_set_bytes: int


@dataclass(slots=True)
class Reading:
    node: NodeReading
    containers: list[ContainerReading] = field(default_factory=list)


def _rate(prev: tuple[float, int] | None, now: tuple[float, int]) -> int | None:
    if prev is None or now[0] <= prev[0] or now[1] < prev[1]:
        return None
    return int((now[1] - prev[1]) / (now[0] - prev[0]))


class StatsCollector:
    def __init__(self, runtime: Runtime, *, wall: Callable[[], float] = time.time,
                 memory_capacity_bytes: int | None = None) -> None:
        """``memory_capacity_bytes``: the node's capacity when the runtime reports its own node usage (a
        simulated node's ``--memory``); the host's otherwise."""
        self._runtime = runtime
        self._wall = wall
        self._memory_capacity = memory_capacity_bytes
        self._last: dict[str, tuple[float, int]] = {}
        self._last_node: tuple[float, int] | None = None

    async def read(self) -> Reading:
        if isinstance(self._runtime, NodeUsageProvider):
            now, cpu, working = self._runtime.node_usage()
            capacity = self._memory_capacity if self._memory_capacity is not None else node_stats.memory()[0]
            usage = working
        else:
            now = self._wall()
            cpu = node_stats.cpu_usage_ns()
            capacity, usage, working = node_stats.memory()
        node = NodeReading(now, cpu, _rate(self._last_node, (now, cpu)), capacity, usage, working)
        self._last_node = (now, cpu)
        reading = Reading(node)
        if not isinstance(self._runtime, StatsProvider):
            return reading
        seen: dict[str, tuple[float, int]] = {}
        for status in await self._runtime.list_containers():
            if status.state is not ContainerState.RUNNING or POD_UID not in status.labels:
                continue
            stats = await self._runtime.container_stats(status.id)
            if stats is None:
                continue
            sample = (stats.timestamp, stats.cpu_usage_core_ns)
            seen[status.id] = sample
            reading.containers.append(ContainerReading(
                namespace=status.labels.get(POD_NAMESPACE, ""), pod=status.labels.get(POD_NAME, ""),
                pod_uid=status.labels[POD_UID], container=status.labels.get(CONTAINER_NAME, status.name),
                started_at=status.started_at, stats=stats, usage_nano_cores=_rate(self._last.get(status.id), sample)))
        self._last = seen
        return reading
