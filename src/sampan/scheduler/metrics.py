"""Prometheus metrics of one scheduler, with upstream kube-scheduler's names and labels, and the small
HTTP server that exposes them.

- ``scheduler_schedule_attempts_total{result,profile}``: attempts by result (``scheduled``,
  ``unschedulable``, ``error``);
- ``scheduler_scheduling_attempt_duration_seconds{result,profile}``: from the start of a pod's scheduling
  cycle to the end of its binding (or its failure);
- ``scheduler_e2e_scheduling_duration_seconds{result,profile}``: from a pod's first scheduling attempt to
  its binding (what a user waits, queue time and retries included);
- ``scheduler_pending_pods{queue}``: pods in ``active``, ``backoff``, ``unschedulable``, ``gated``, read
  from the queue at scrape time (no bookkeeping on the hot path).

Each :class:`SchedulerMetrics` owns its ``CollectorRegistry`` (several schedulers in one test process never
share counters). ``sampan._lib.metrics_server.RegistryServer`` serves its registry (``GET /metrics``, ``GET /healthz``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

ATTEMPT_BUCKETS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
                   8.192, 16.384)
"""Upstream's ExponentialBuckets(0.001, 2, 15)."""
E2E_BUCKETS = (*ATTEMPT_BUCKETS, 32.768, 65.536, 131.072, 262.144, 524.288)


class _PendingCollector(Collector):
    def __init__(self, pending: Callable[[], Mapping[str, int]]) -> None:
        self._pending = pending

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = GaugeMetricFamily("scheduler_pending_pods", "Number of pending pods, by the queue type. 'active' "
                              "means number of pods in activeQ; 'backoff' means number of pods in backoffQ; "
                              "'unschedulable' means number of pods in unschedulablePods; 'gated' means "
                              "number of pods gated by scheduling gates.", labels=["queue"])
        for queue, n in sorted(self._pending().items()):
            g.add_metric([queue], float(n))
        yield g


class SchedulerMetrics:
    """The ``MetricsSink`` the Scheduler reports to, plus the pending-pods gauge."""

    def __init__(self, pending: Callable[[], Mapping[str, int]] | None = None) -> None:
        self.registry = CollectorRegistry()
        self._attempts = Counter("scheduler_schedule_attempts", "Number of attempts to schedule pods, by the "
                                 "result. 'unschedulable' means a pod could not be scheduled, while 'error' means "
                                 "an internal scheduler problem.", ["result", "profile"], registry=self.registry)
        self._attempt_duration = Histogram(
            "scheduler_scheduling_attempt_duration_seconds", "Scheduling attempt latency in seconds (scheduling "
            "algorithm + binding)", ["result", "profile"], buckets=ATTEMPT_BUCKETS, registry=self.registry)
        self._e2e = Histogram(
            "scheduler_e2e_scheduling_duration_seconds", "E2e scheduling latency in seconds (from the first "
            "scheduling attempt to binding, retries included)", ["result", "profile"], buckets=E2E_BUCKETS,
            registry=self.registry)
        if pending is not None:
            self.registry.register(_PendingCollector(pending))
        # the labelled children, looked up once per (result, profile): ``labels()`` takes a lock and builds
        # a key on every call, and these run once or twice per scheduled pod
        self._attempt_children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
        self._e2e_children: dict[str, Histogram] = {}

    def attempt(self, *, result: str, profile: str, seconds: float) -> None:
        children = self._attempt_children.get((result, profile))
        if children is None:
            children = self._attempt_children[(result, profile)] = (
                self._attempts.labels(result, profile), self._attempt_duration.labels(result, profile))
        children[0].inc()
        children[1].observe(max(seconds, 0.0))

    def e2e(self, *, profile: str, seconds: float) -> None:
        child = self._e2e_children.get(profile)
        if child is None:
            child = self._e2e_children[profile] = self._e2e.labels("scheduled", profile)
        child.observe(max(seconds, 0.0))

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))
