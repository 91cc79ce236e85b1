"""The kubelet's Prometheus metrics, with upstream's names:

- ``kubelet_node_name{node}`` (always 1), ``kubelet_running_pods``, ``kubelet_running_containers
  {container_state}`` — computed at scrape time from the statuses this kubelet last wrote (no bookkeeping on
  the hot path);
- ``kubelet_pod_start_duration_seconds``: from the kubelet first seeing a pod to the first status write
  that reports it ``Running``;
- ``kubelet_pod_status_writes_total`` is sampan's own (no upstream name), counting status writes;
- ``kubelet_runtime_operations_total{operation_type}``: CRI calls by method (a CRI runtime only), read at
  scrape time from the client's own counter;
- ``kubelet_heartbeat_failures_total{kind}`` is sampan's own: failed Lease renewals (``lease``) and node
  status posts (``node_status``), read at scrape time from the heartbeat's counters (only a run's first
  failure and its recovery are logged: :mod:`sampan.kubelet.failure_log`).

States of a pod uid in :class:`KubeletMetrics`: ``seen`` (first seen time kept) --Running written-->
``started`` (observed once, time dropped). A pod that never runs is forgotten by :meth:`forget`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

POD_START_BUCKETS = (0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200,
                     1800, 2700, 3600)
"""Upstream's buckets for kubelet_pod_start_duration_seconds."""

Statuses = Callable[[], Mapping[str, Mapping[str, Any]]]
Operations = Callable[[], Mapping[str, int]]


class _OperationsCollector(Collector):
    def __init__(self, operations: Operations) -> None:
        self._operations = operations

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("kubelet_runtime_operations", "Cumulative number of runtime operations by "
                                     "operation type.", labels=["operation_type"])
        for method, count in sorted(self._operations().items()):
            family.add_metric([method], float(count))
        yield family


class _HeartbeatFailuresCollector(Collector):
    def __init__(self, failures: Operations) -> None:
        self._failures = failures

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("kubelet_heartbeat_failures", "Failed Lease renewals and node status posts "
                                     "(sampan's own).", labels=["kind"])
        for kind, count in sorted(self._failures().items()):
            family.add_metric([kind], float(count))
        yield family


class _StateCollector(Collector):
    def __init__(self, node_name: str, statuses: Statuses) -> None:
        self._node = node_name
        self._statuses = statuses

    def collect(self) -> Iterator[GaugeMetricFamily]:
        node = GaugeMetricFamily("kubelet_node_name", "The node's name. The count is always 1.", labels=["node"])
        node.add_metric([self._node], 1.0)
        yield node
        pods = GaugeMetricFamily("kubelet_running_pods", "Number of pods that have a running pod sandbox")
        containers = GaugeMetricFamily("kubelet_running_containers", "Number of containers currently running",
                                       labels=["container_state"])
        running_pods = 0
        states = {"running": 0, "exited": 0, "created": 0, "unknown": 0}
        for status in self._statuses().values():
            if status.get("phase") == "Running":
                running_pods += 1
            for cs in status.get("containerStatuses") or []:
                state = cs.get("state") or {}
                if "running" in state:
                    states["running"] += 1
                elif "terminated" in state:
                    states["exited"] += 1
                elif "waiting" in state:
                    states["created" if cs.get("containerID") else "unknown"] += 1
        pods.add_metric([], float(running_pods))
        for state, n in sorted(states.items()):
            containers.add_metric([state], float(n))
        yield pods
        yield containers


class KubeletMetrics:
    """Registers the collectors into ``registry``; ``statuses`` returns the last status written per uid,
    ``heartbeat_failures`` the failed heartbeats by kind."""

    def __init__(self, registry: CollectorRegistry, *, node_name: str, statuses: Statuses,
                 operations: Operations | None = None, heartbeat_failures: Operations | None = None) -> None:
        registry.register(_StateCollector(node_name, statuses))
        if operations is not None:
            registry.register(_OperationsCollector(operations))
        if heartbeat_failures is not None:
            registry.register(_HeartbeatFailuresCollector(heartbeat_failures))
        self._start = Histogram("kubelet_pod_start_duration_seconds", "Duration in seconds from kubelet seeing a "
                                "pod for the first time to the pod starting to run", buckets=POD_START_BUCKETS,
                                registry=registry)
        self._writes = Counter("kubelet_pod_status_writes", "Pod status writes this kubelet made (sampan's own).",
                               registry=registry)
        self._first_seen: dict[str, float] = {}
        self._started: set[str] = set()

    def seen(self, uid: str) -> None:
        """The kubelet received pod ``uid`` (only the first call counts)."""
        if uid not in self._started:
            self._first_seen.setdefault(uid, time.monotonic())

    def status_written(self, uid: str, status: Mapping[str, Any]) -> None:
        self._writes.inc()
        if status.get("phase") == "Running":
            first = self._first_seen.pop(uid, None)
            if first is not None:
                self._started.add(uid)
                self._start.observe(time.monotonic() - first)

    def forget(self, uid: str) -> None:
        self._first_seen.pop(uid, None)
        self._started.discard(uid)
