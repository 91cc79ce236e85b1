"""Prometheus metrics of one API server, with upstream's metric names and labels.

Each :class:`APIMetrics` owns its own ``CollectorRegistry`` (several servers in one test process never
share counters). How the server uses it:

* ``app.middlewares.append(metrics.middleware)`` (or :func:`install`): every request is counted in
  ``apiserver_request_total{verb,group,version,resource,subresource,scope,component,code}`` and timed in
  ``apiserver_request_duration_seconds``; non-watch requests are counted in
  ``apiserver_current_inflight_requests{request_kind}`` while they run; watches in
  ``apiserver_longrunning_requests`` and ``apiserver_registered_watchers{group,version,kind}`` while open.
* the watch handler counts each event it writes with a child from :meth:`APIMetrics.watch_events`
  (``apiserver_watch_events_total``, ``apiserver_watch_events_sizes``);
* storage calls are timed by wrapping the store: ``storage = metrics.instrument(storage)``
  (``etcd_request_duration_seconds{operation,type}``, the name upstream uses for any backend).
* ``GET /metrics`` serves the text exposition (:func:`install` adds the route).

Verbs follow upstream's metric convention: ``GET``, ``LIST``, ``WATCH``, ``POST``, ``PUT``, ``PATCH``,
``APPLY`` (server-side apply), ``DELETE`` (also deletecollection); non-resource requests use the
HTTP method and empty resource labels.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

from sampan.api.errors import APIError
from sampan.storage.interface import Storage

log = logging.getLogger(__name__)

COMPONENT = "apiserver"
REQUEST_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15,
                   20, 30, 45, 60)
STORAGE_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15,
                   20, 30, 45, 60)
SIZE_BUCKETS = (1024.0, 3072.0, 9216.0, 27648.0, 82944.0, 248832.0, 746496.0)


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What a request is about, parsed from method, path and query as upstream's RequestInfoFactory
    does. ``is_resource`` is False for ``/healthz``, ``/version``, discovery roots, ``/openapi``…"""

    is_resource: bool
    verb: str
    """Lower-case API verb: get, list, watch, create, update, patch, delete, deletecollection (or the
    lower-case HTTP method for non-resource requests)."""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def scope(self) -> str:
        """upstream's scope label: ``resource`` (one object), ``namespace`` or ``cluster``."""
        if not self.is_resource:
            return ""
        if self.name:
            return "resource"
        return "namespace" if self.namespace else "cluster"

    @property
    def long_running(self) -> bool:
        return self.verb == "watch" or self.subresource in {"log", "exec", "attach", "portforward", "proxy"}


_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


#: Classified requests remembered at most (several filters classify each request); emptied when full.
_INFO_MEMO_SIZE = 4096
_infos: dict[tuple[str, str, str], RequestInfo] = {}


def request_info(method: str, path: str, query: dict[str, str] | Any) -> RequestInfo:
    """Classify a request. ``query`` is a mapping of query parameters (only ``watch`` is read). A pure
    function of method, path and ``watch``: memoized (the authorizer, APF and metrics each ask)."""
    key = (method, path, str(query.get("watch", "")))
    info = _infos.get(key)
    if info is None:
        info = _classify(method, path, key[2])
        if len(_infos) >= _INFO_MEMO_SIZE:
            _infos.clear()
        _infos[key] = info
    return info


def _classify(method: str, path: str, watch: str) -> RequestInfo:
    method = method.upper()
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return RequestInfo(is_resource=False, verb=method.lower())
    watch_prefix = bool(rest) and rest[0] == "watch"
    if watch_prefix:
        rest = rest[1:]
    if not rest:
        return RequestInfo(is_resource=False, verb=method.lower())
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if resource == "namespaces" and namespace and name == namespace:
        namespace = ""  # /api/v1/namespaces/foo is the namespace object itself (cluster-scoped)
    watching = watch_prefix or watch.lower() in ("true", "1")
    verb = _verb(method, has_name=bool(name), watching=watching)
    return RequestInfo(True, verb, group, version, resource, subresource, namespace, name)


def _verb(method: str, *, has_name: bool, watching: bool) -> str:
    if method in ("GET", "HEAD"):
        if watching:
            return "watch"
        return "get" if has_name else "list"
    return {
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if has_name else "deletecollection",
    }.get(method, method.lower())


def metric_verb(info: RequestInfo, method: str, content_type: str = "") -> str:
    """Upstream's verb label for apiserver_request_total."""
    if not info.is_resource:
        return method.upper()
    if info.verb == "patch" and content_type.startswith("application/apply-patch"):
        return "APPLY"
    return {"get": "GET", "list": "LIST", "watch": "WATCH", "create": "POST", "update": "PUT",
            "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE"}.get(info.verb, method.upper())


class KindResolver(Protocol):
    def __call__(self, group: str, version: str, resource: str) -> str | None: ...


class APIMetrics:
    """The metric families of one server (see the module docstring). Thread-compatible: used from the
    event loop only."""

    def __init__(self, registry: CollectorRegistry | None = None, *, kind_of: KindResolver | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._kind_of = kind_of
        labels = ["verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component"]
        self.requests = Counter("apiserver_request_total", "Counter of apiserver requests broken out for each "
                                "verb, dry run value, group, version, resource, scope, component, and HTTP "
                                "response code.", [*labels, "code"], registry=self.registry)
        self.durations = Histogram("apiserver_request_duration_seconds", "Response latency distribution in "
                                   "seconds for each verb, dry run value, group, version, resource, subresource, "
                                   "scope and component.", labels, buckets=REQUEST_BUCKETS, registry=self.registry)
        self.inflight = Gauge("apiserver_current_inflight_requests", "Maximal number of currently used inflight "
                              "request limit of this apiserver per request kind in last second.", ["request_kind"],
                              registry=self.registry)
        self.inflight.labels("readOnly").set(0)
        self.inflight.labels("mutating").set(0)
        self.longrunning = Gauge("apiserver_longrunning_requests", "Gauge of all active long-running apiserver "
                                 "requests broken out by verb, group, version, resource, scope and component.",
                                 ["verb", "group", "version", "resource", "subresource", "scope", "component"],
                                 registry=self.registry)
        self.watchers = Gauge("apiserver_registered_watchers", "Number of currently registered watchers for a "
                              "given resources", ["group", "version", "kind"], registry=self.registry)
        self._watch_stats: dict[tuple[str, str, str], WatchEventStats] = {}
        self.registry.register(_WatchEventsCollector(self._watch_stats))
        self.storage_durations = Histogram("etcd_request_duration_seconds", "Etcd request latency in seconds for "
                                           "each operation and object type.", ["operation", "type"],
                                           buckets=STORAGE_BUCKETS, registry=self.registry)
        self.storage_errors = Counter("etcd_request_errors_total", "Etcd failed request counts for each "
                                      "operation and object type.", ["operation", "type"], registry=self.registry)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def _child(self, metric: Any, values: tuple[str, ...]) -> Any:
        """``metric.labels(*values)``, memoized: every request touches four or five children, and
        prometheus_client's lookup (str() of each value, a lock) showed up per request. Bounded by the
        label combinations the registry holds anyway; these metrics never remove a child."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    # ---- request middleware ----------------------------------------------------------------------

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """aiohttp middleware recording every request (see module docstring). Works whether it sits
        outside or inside the error-rendering middleware: APIError and HTTPException codes are read."""
        if request.path == "/metrics":
            return await handler(request)
        info = request_info(request.method, request.path, request.query)
        verb = metric_verb(info, request.method, request.headers.get("Content-Type", ""))
        dry_run = "All" if request.query.get("dryRun") else ""
        base = (verb, dry_run, info.group, info.version, info.resource, info.subresource, info.scope, COMPONENT)
        long_running = info.long_running
        kind = ""
        request_kind = "readOnly" if request.method in ("GET", "HEAD", "OPTIONS") else "mutating"
        if long_running:
            kind = self._kind(info)
            self.longrunning.labels(verb, info.group, info.version, info.resource, info.subresource, info.scope,
                                    COMPONENT).inc()
            if info.verb == "watch":
                self.watchers.labels(info.group, info.version, kind).inc()
        else:
            self._child(self.inflight, (request_kind,)).inc()
        start = time.perf_counter()
        code = 500
        try:
            response = await handler(request)
            code = response.status
            return response
        except APIError as err:
            code = err.code
            raise
        except web.HTTPException as err:
            code = err.status
            raise
        finally:
            self._child(self.durations, base).observe(time.perf_counter() - start)
            self._child(self.requests, (*base, str(code))).inc()
            if long_running:
                self.longrunning.labels(verb, info.group, info.version, info.resource, info.subresource,
                                        info.scope, COMPONENT).dec()
                if info.verb == "watch":
                    self.watchers.labels(info.group, info.version, kind).dec()
            else:
                self._child(self.inflight, (request_kind,)).dec()

    def _kind(self, info: RequestInfo) -> str:
        if self._kind_of is not None:
            try:
                kind = self._kind_of(info.group, info.version, info.resource)
            except Exception:  # a resolver bug must not fail the request
                log.exception("metrics kind resolver failed resource=%s", info.resource)
                kind = None
            if kind:
                return kind
        return info.resource

    # ---- hooks for the watch handler ---------------------------------------------------------------

    def watch_events(self, *, group: str, version: str, kind: str) -> WatchEventCounter:
        """A counter bound to one resource type; the watch handler keeps it for the connection's life
        and calls ``.sent(nbytes)`` per event written (cheap: no label lookup per event)."""
        key = (group, version, kind)
        stats = self._watch_stats.get(key)
        if stats is None:
            stats = self._watch_stats[key] = WatchEventStats()
        return WatchEventCounter(stats)

    # ---- storage ------------------------------------------------------------------------------------

    def observe_storage(self, operation: str, resource: str, seconds: float, *, failed: bool = False) -> None:
        self._child(self.storage_durations, (operation, resource)).observe(seconds)
        if failed:
            self.storage_errors.labels(operation, resource).inc()

    def instrument(self, storage: Storage) -> Storage:
        """``storage`` wrapped so every call is timed (see
        :class:`~sampan.apiserver.storage_metrics.InstrumentedStorage`)."""
        from sampan.apiserver.storage_metrics import InstrumentedStorage

        return InstrumentedStorage(storage, self)

    # ---- exposition -----------------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition of this server's registry."""
        return bytes(generate_latest(self.registry))

    async def handle_metrics(self, request: web.Request) -> web.Response:
        body = self.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class WatchEventStats:
    """Plain counters of the events sent for one (group, version, kind); read at scrape time.

    Kept outside prometheus-client's locked children because the watch path runs once per event per
    watcher (100k/s at fan-out): ``buckets[i]`` counts events of size <= ``SIZE_BUCKETS[i]`` (the last
    slot: larger), not cumulative; ``count == sum(buckets)``.
    """

    __slots__ = ("buckets", "count", "total_bytes")

    def __init__(self) -> None:
        self.count = 0
        self.total_bytes = 0
        self.buckets = [0] * (len(SIZE_BUCKETS) + 1)


class WatchEventCounter:
    """Counts events written to one watch connection's resource type (about 0.2 us per event)."""

    __slots__ = ("_stats",)

    def __init__(self, stats: WatchEventStats) -> None:
        self._stats = stats

    def sent(self, nbytes: int) -> None:
        s = self._stats
        s.count += 1
        s.total_bytes += nbytes
        s.buckets[bisect.bisect_left(SIZE_BUCKETS, nbytes)] += 1


class _WatchEventsCollector:
    """Exposes the :class:`WatchEventStats` as ``apiserver_watch_events_total`` (counter) and
    ``apiserver_watch_events_sizes`` (histogram), with upstream's names and labels."""

    def __init__(self, stats: dict[tuple[str, str, str], WatchEventStats]) -> None:
        self._stats = stats

    def _families(self) -> tuple[CounterMetricFamily, HistogramMetricFamily]:
        labels = ["group", "version", "kind"]
        total = CounterMetricFamily("apiserver_watch_events", "Number of events sent in watch clients",
                                    labels=labels)
        sizes = HistogramMetricFamily("apiserver_watch_events_sizes", "Watch event size distribution in bytes",
                                      labels=labels)
        return total, sizes

    def describe(self) -> list[Any]:
        return list(self._families())

    def collect(self) -> list[Any]:
        total, sizes = self._families()
        for key, s in sorted(self._stats.items()):
            total.add_metric(list(key), s.count)
            cumulative = 0
            buckets = []
            for bound, n in zip([*SIZE_BUCKETS, float("inf")], s.buckets, strict=True):
                cumulative += n
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            sizes.add_metric(list(key), buckets, s.total_bytes)
        return [total, sizes]


METRICS_KEY = web.AppKey("sampan.metrics", APIMetrics)


def install(app: web.Application, metrics: APIMetrics) -> None:
    """Add ``GET /metrics`` and append the request middleware to ``app`` (before the app starts)."""
    app.router.add_get("/metrics", metrics.handle_metrics)
    if metrics.middleware not in app.middlewares:
        app.middlewares.append(metrics.middleware)
    app[METRICS_KEY] = metrics
