"""Process-wide client metrics with client-go's names, as client-go keeps them in a global registry:

- ``workqueue_depth``, ``workqueue_adds_total``, ``workqueue_queue_duration_seconds`` (add → get),
  ``workqueue_work_duration_seconds`` (get → done), ``workqueue_retries_total``,
  ``workqueue_unfinished_work_seconds`` and ``workqueue_longest_running_processor_seconds``, all labelled
  ``name`` = the queue's name (a controller's name); unnamed queues report nothing, as upstream;
- ``rest_client_requests_total{code,method,host}`` and ``rest_client_request_duration_seconds{verb,host}``
  for every request a :class:`~sampan.client.rest.RESTClient` makes (``code`` ``<error>`` when no answer);
- ``leader_election_master_status{name}``: 1 while this process leads the lock ``name``, else 0;
- informer delivery, per ``informer`` (``v1/pods``…) and ``handler`` (no upstream names: client-go dropped
  its reflector metrics): ``sampan_informer_pending_notifications``, ``sampan_informer_oldest_pending_seconds``
  (how far the handler lags behind its informer now), ``sampan_informer_notifications_total`` and
  ``sampan_informer_notification_wait_seconds_total`` (their ratio is the mean delivery lag), read at scrape
  time from the live listeners (nothing is recorded per notification);
- reflectors, per ``name`` (the informer's): client-go's former ``reflector_lists_total``,
  ``reflector_watches_total``, ``reflector_last_resource_version`` and ``sampan_reflector_expired_total``
  (410 Expired/Gone answers that forced a relist), read at scrape time from the live reflectors.

:data:`REGISTRY` holds them; a component exposes them by registering :data:`COLLECTOR` into its own
registry (``registry.register(COLLECTOR)``; the same collector may sit in several registries).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Hashable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

WORKQUEUE_BUCKETS = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
"""client-go's ExponentialBuckets(10e-9, 10, 10)."""
REST_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)

_depth = Gauge("workqueue_depth", "Current depth of workqueue", ["name"], registry=REGISTRY)
_adds = Counter("workqueue_adds", "Total number of adds handled by workqueue", ["name"], registry=REGISTRY)
_queue_latency = Histogram("workqueue_queue_duration_seconds", "How long in seconds an item stays in workqueue "
                           "before being requested.", ["name"], buckets=WORKQUEUE_BUCKETS, registry=REGISTRY)
_work_duration = Histogram("workqueue_work_duration_seconds", "How long in seconds processing an item from "
                           "workqueue takes.", ["name"], buckets=WORKQUEUE_BUCKETS, registry=REGISTRY)
_retries = Counter("workqueue_retries", "Total number of retries handled by workqueue", ["name"], registry=REGISTRY)
_requests = Counter("rest_client_requests", "Number of HTTP requests, partitioned by status code, method, and "
                    "host.", ["code", "method", "host"], registry=REGISTRY)
_request_latency = Histogram("rest_client_request_duration_seconds", "Request latency in seconds. Broken down by "
                             "verb, and host.", ["verb", "host"], buckets=REST_BUCKETS, registry=REGISTRY)
_leader = Gauge("leader_election_master_status", "Gauge of if the reporting system is master of the relevant "
                "lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease.",
                ["name"], registry=REGISTRY)


class QueueMetrics:
    """The metrics of one named queue. Invariant: ``_added`` holds the add time of exactly the items waiting
    in the queue, ``_started`` the start time of exactly the items being processed (by this queue's calls)."""

    __slots__ = ("_added", "_adds", "_depth", "_queue_latency", "_retries", "_started", "_work_duration", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._depth = _depth.labels(name)
        self._adds = _adds.labels(name)
        self._queue_latency = _queue_latency.labels(name)
        self._work_duration = _work_duration.labels(name)
        self._retries = _retries.labels(name)
        self._added: dict[Hashable, float] = {}
        self._started: dict[Hashable, float] = {}
        _LIVE_QUEUES[name] = self

    def add(self, item: Hashable) -> None:
        self._adds.inc()
        self._depth.inc()
        self._added.setdefault(item, time.monotonic())

    def get(self, item: Hashable) -> float:
        """Record that ``item`` left the queue; returns how long it waited there (0.0 if unknown)."""
        now = time.monotonic()
        self._depth.dec()
        added = self._added.pop(item, None)
        self._started[item] = now
        if added is None:
            return 0.0
        self._queue_latency.observe(now - added)
        return now - added

    def done(self, item: Hashable) -> None:
        started = self._started.pop(item, None)
        if started is not None:
            self._work_duration.observe(time.monotonic() - started)

    def retry(self) -> None:
        self._retries.inc()

    def cleared(self, dropped: int) -> None:
        """The queue dropped ``dropped`` waiting items (shut down)."""
        self._depth.dec(dropped)
        self._added.clear()

    def in_flight(self) -> list[float]:
        return list(self._started.values())


_LIVE_QUEUES: dict[str, QueueMetrics] = {}
"""The last queue created under each name (a restarted controller replaces its predecessor)."""


def queue_metrics(name: str) -> QueueMetrics | None:
    """The metrics handle for a queue called ``name``; None for an unnamed queue."""
    return QueueMetrics(name) if name else None


_request_children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
"""(code, method, host) -> the counter's and the histogram's children: ``labels()`` looked them up under a lock
on every request (~5% of a hollow-node heartbeat's client CPU, issue 21). The children are never removed
from these two metrics, so a cached child is the one ``labels()`` would return."""


def observe_request(*, method: str, host: str, code: str, seconds: float) -> None:
    key = (code, method, host)
    children = _request_children.get(key)
    if children is None:
        children = _request_children[key] = (_requests.labels(code, method, host),
                                             _request_latency.labels(method, host))
    children[0].inc()
    children[1].observe(seconds)


def set_leader(name: str, leading: bool) -> None:
    _leader.labels(name).set(1.0 if leading else 0.0)


class _InFlightCollector(Collector):
    """``workqueue_unfinished_work_seconds`` and ``workqueue_longest_running_processor_seconds``, computed at
    scrape time from the items in flight."""

    def collect(self) -> Iterator[Metric]:
        unfinished = GaugeMetricFamily("workqueue_unfinished_work_seconds", "How many seconds of work has been "
                                       "done that is in progress and hasn't been observed by work_duration.",
                                       labels=["name"])
        longest = GaugeMetricFamily("workqueue_longest_running_processor_seconds", "How many seconds has the "
                                    "longest running processor for workqueue been running.", labels=["name"])
        now = time.monotonic()
        for name, q in sorted(_LIVE_QUEUES.items()):
            ages = [now - s for s in q.in_flight()]
            unfinished.add_metric([name], sum(ages))
            longest.add_metric([name], max(ages, default=0.0))
        yield unfinished
        yield longest


REGISTRY.register(_InFlightCollector())


_LISTENERS: weakref.WeakSet[Any] = weakref.WeakSet()


def track_listener(listener: Any) -> None:
    """Report ``listener`` (a :class:`~sampan.client.cache.handlers.Listener`: ``informer``, ``name``,
    ``closed``, ``handled``, ``wait_total``, ``len()``, ``oldest_pending_age(now)``) until it is closed or
    garbage."""
    _LISTENERS.add(listener)


class _InformerCollector(Collector):
    """The informer delivery metrics, summed over the live listeners of each (informer, handler)."""

    def collect(self) -> Iterator[Metric]:
        labels = ["informer", "handler"]
        pending = GaugeMetricFamily("sampan_informer_pending_notifications", "Notifications an informer has "
                                    "queued for a handler and the handler has not taken yet.", labels=labels)
        oldest = GaugeMetricFamily("sampan_informer_oldest_pending_seconds", "Age of the oldest notification "
                                   "queued for a handler (0 when the handler is caught up).", labels=labels)
        handled = CounterMetricFamily("sampan_informer_notifications", "Notifications handed to a handler.",
                                      labels=labels)
        waited = CounterMetricFamily("sampan_informer_notification_wait_seconds", "Seconds the handled "
                                     "notifications waited for their handler, summed.", labels=labels)
        now = time.monotonic()
        sums: dict[tuple[str, str], list[float]] = {}
        for listener in list(_LISTENERS):
            if listener.closed:
                continue
            row = sums.setdefault((listener.informer, listener.name), [0.0, 0.0, 0.0, 0.0])
            row[0] += len(listener)
            row[1] = max(row[1], listener.oldest_pending_age(now))
            row[2] += listener.handled
            row[3] += listener.wait_total
        for key, (n, age, count, wait) in sorted(sums.items()):
            pending.add_metric(list(key), n)
            oldest.add_metric(list(key), age)
            handled.add_metric(list(key), count)
            waited.add_metric(list(key), wait)
        yield from (pending, oldest, handled, waited)


REGISTRY.register(_InformerCollector())

_REFLECTORS: weakref.WeakSet[Any] = weakref.WeakSet()


def track_reflector(reflector: Any) -> None:
    """Report ``reflector`` (a :class:`~sampan.client.cache.reflector.Reflector`: ``name``, ``stats``,
    ``last_sync_resource_version``) until it is garbage."""
    _REFLECTORS.add(reflector)


class _ReflectorCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        lists = CounterMetricFamily("reflector_lists", "Total number of API lists done by the reflectors",
                                    labels=["name"])
        watches = CounterMetricFamily("reflector_watches", "Total number of API watches done by the reflectors",
                                      labels=["name"])
        expired = CounterMetricFamily("sampan_reflector_expired", "410 answers (resourceVersion too old) that "
                                      "made a reflector list again from the latest version", labels=["name"])
        last_rv = GaugeMetricFamily("reflector_last_resource_version", "Last resource version seen for the "
                                    "reflectors", labels=["name"])
        sums: dict[str, list[float]] = {}
        for r in list(_REFLECTORS):
            row = sums.setdefault(r.name, [0.0, 0.0, 0.0, 0.0])
            row[0] += r.stats.lists
            row[1] += r.stats.watches
            row[2] += r.stats.expired
            rv = r.last_sync_resource_version
            row[3] = max(row[3], float(rv) if rv.isdigit() else 0.0)
        for name, (n_lists, n_watches, n_expired, rv) in sorted(sums.items()):
            lists.add_metric([name], n_lists)
            watches.add_metric([name], n_watches)
            expired.add_metric([name], n_expired)
            last_rv.add_metric([name], rv)
        yield from (lists, watches, expired, last_rv)


REGISTRY.register(_ReflectorCollector())


class _RegistryCollector(Collector):
    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


COLLECTOR: Collector = _RegistryCollector()
"""Register into a component's registry to expose the client metrics there."""


def expose(registry: CollectorRegistry) -> None:
    """Expose the client metrics in ``registry`` (idempotent)."""
    try:
        registry.register(COLLECTOR)
    except ValueError:
        pass  # already registered there
