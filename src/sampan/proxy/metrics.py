"""kube-proxy's metrics (upstream's names) and its health and metrics HTTP servers.

- ``kubeproxy_sync_proxy_rules_duration_seconds``, ``kubeproxy_sync_full_proxy_rules_duration_seconds``,
  ``kubeproxy_sync_partial_proxy_rules_duration_seconds``: sync latency;
- ``kubeproxy_network_programming_duration_seconds``: from an EndpointSlice's change-trigger time to its
  rules being in the kernel;
- ``kubeproxy_sync_proxy_rules_last_timestamp_seconds`` / ``…_last_queued_timestamp_seconds``;
- ``kubeproxy_sync_proxy_rules_nftables_sync_failures_total`` (and ``…_iptables_restore_failures_total``);
- ``kubeproxy_sync_proxy_rules_service_changes_total``, ``…_endpoint_changes_total``.

Health (upstream's ``ProxierHealthServer``): ``/healthz`` and ``/livez`` answer 200 while the proxier is
keeping up — the last successful sync is newer than the last queued change, or the change was queued
less than ``2 x sync period`` ago — and 503 otherwise, with upstream's JSON body.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from sampan.client import metrics as client_metrics

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SYNC_BUCKETS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
                8.192, 16.384)
PROGRAMMING_BUCKETS = (0.25, 0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                       22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43,
                       44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 120, 180, 240, 300)


class ProxyMetrics:
    def __init__(self, mode: str = "nftables") -> None:
        r = self.registry = CollectorRegistry()
        client_metrics.expose(r)  # rest_client_* (client-go's names)
        self.sync_duration = Histogram("kubeproxy_sync_proxy_rules_duration_seconds",
                                       "SyncProxyRules latency in seconds", buckets=SYNC_BUCKETS, registry=r)
        self.full_sync_duration = Histogram("kubeproxy_sync_full_proxy_rules_duration_seconds",
                                            "SyncProxyRules latency in seconds for full resyncs",
                                            buckets=SYNC_BUCKETS, registry=r)
        self.partial_sync_duration = Histogram("kubeproxy_sync_partial_proxy_rules_duration_seconds",
                                               "SyncProxyRules latency in seconds for partial resyncs",
                                               buckets=SYNC_BUCKETS, registry=r)
        self.programming = Histogram("kubeproxy_network_programming_duration_seconds",
                                     "In Cluster Network Programming Latency in seconds",
                                     buckets=PROGRAMMING_BUCKETS, registry=r)
        self.last_sync = Gauge("kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                               "The last time proxy rules were successfully synced", registry=r)
        self.last_queued = Gauge("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
                                 "The last time a sync of proxy rules was queued", registry=r)
        failures = ("kubeproxy_sync_proxy_rules_nftables_sync_failures" if mode == "nftables"
                    else "kubeproxy_sync_proxy_rules_iptables_restore_failures")
        self.failures = Counter(failures, "Cumulative proxy rules sync failures", registry=r)
        self.service_changes = Counter("kubeproxy_sync_proxy_rules_service_changes",
                                       "Cumulative proxy rules Service changes", registry=r)
        self.endpoint_changes = Counter("kubeproxy_sync_proxy_rules_endpoint_changes",
                                        "Cumulative proxy rules Endpoint changes", registry=r)

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))


class HealthState:
    """Upstream's proxier health: times on the wall clock, 0 = never."""

    def __init__(self, sync_period: float) -> None:
        self.timeout = 2 * sync_period
        self.last_updated = 0.0
        self.last_queued = 0.0
        self.started = time.time()

    def queued(self) -> None:
        if self.last_queued <= self.last_updated:
            self.last_queued = time.time()

    def updated(self) -> None:
        self.last_updated = time.time()

    def healthy(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        if self.last_queued <= self.last_updated and self.last_updated:
            return True
        pending_since = self.last_queued or self.started
        return now - pending_since < self.timeout

    def body(self) -> bytes:
        def fmt(t: float) -> str:
            return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z") if t else ""

        return orjson.dumps({"lastUpdated": fmt(self.last_updated), "currentTime": fmt(time.time()),
                             "nodeEligible": True})


class HTTPEndpoint:
    """A tiny aiohttp server on ``host:port`` (port 0: a free one, in :attr:`port` after start)."""

    def __init__(self, routes: dict[str, Handler], *, host: str, port: int, name: str) -> None:
        self._routes, self.host, self.port, self.name = routes, host, port, name
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        for path, handler in self._routes.items():
            app.router.add_get(path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("serving name=%s address=%s:%d", self.name, self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def health_routes(state: HealthState) -> dict[str, Handler]:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(body=state.body(), status=200 if state.healthy() else 503,
                            content_type="application/json")

    return {"/healthz": healthz, "/livez": healthz}


def metrics_routes(metrics: ProxyMetrics, state: HealthState) -> dict[str, Handler]:
    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    return {"/metrics": serve, "/healthz": healthz}
