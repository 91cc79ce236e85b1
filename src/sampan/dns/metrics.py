"""CoreDNS-named metrics and the ``/health`` + ``/metrics`` HTTP endpoints.

Names and labels follow CoreDNS (``plugin/metrics``, ``plugin/forward``, ``plugin/cache``):
``coredns_dns_requests_total{server,zone,proto,family,type}``,
``coredns_dns_responses_total{server,zone,rcode,plugin}``,
``coredns_dns_request_duration_seconds{server,zone,type}``, ``coredns_forward_requests_total{to}``,
``coredns_forward_responses_total{to,rcode}``, ``coredns_cache_hits_total{server,type}`` and
``coredns_cache_misses_total{server}`` (the wire cache of authoritative answers). Each
:class:`DNSMetrics` owns its registry (several servers in one test process never clash).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

log = logging.getLogger(__name__)

#: CoreDNS's request-duration buckets: prometheus.ExponentialBuckets(0.00025, 2, 16).
DURATION_BUCKETS = tuple(0.00025 * 2**i for i in range(16))
#: Query types CoreDNS reports by name; the rest are "other".
KNOWN_TYPES = frozenset({"A", "AAAA", "NS", "PTR", "SOA", "CNAME", "MX", "TXT", "SRV", "ANY", "DS", "DNSKEY",
                         "HTTPS", "SVCB", "NAPTR", "OPT"})


def type_label(name: str) -> str:
    return name if name in KNOWN_TYPES else "other"


class DNSMetrics:
    def __init__(self, server: str) -> None:
        self.server = server
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("coredns_dns_requests", "Counter of DNS requests made per zone, protocol and "
                                "family.", ["server", "zone", "view", "proto", "family", "type"], registry=r)
        self.responses = Counter("coredns_dns_responses", "Counter of response status codes.",
                                 ["server", "zone", "view", "rcode", "plugin"], registry=r)
        self.duration = Histogram("coredns_dns_request_duration_seconds", "Histogram of the time (in seconds) "
                                  "each request took per zone.", ["server", "zone", "view", "type"],
                                  buckets=DURATION_BUCKETS, registry=r)
        self.forward_requests = Counter("coredns_forward_requests", "Counter of requests made per upstream.",
                                        ["to"], registry=r)
        self.forward_responses = Counter("coredns_forward_responses", "Counter of responses received per "
                                         "upstream.", ["to", "rcode"], registry=r)
        self.cache_hits = Counter("coredns_cache_hits", "The count of cache hits.", ["server", "type", "view"],
                                  registry=r)
        self.cache_misses = Counter("coredns_cache_misses", "The count of cache misses.", ["server", "view"],
                                    registry=r)

    def request(self, *, zone: str, proto: str, qtype: str, rcode: str, plugin: str, seconds: float) -> None:
        t = type_label(qtype)
        self.requests.labels(self.server, zone, "", proto, "1", t).inc()
        self.responses.labels(self.server, zone, "", rcode, plugin).inc()
        self.duration.labels(self.server, zone, "", t).observe(seconds)

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))


class HealthServer:
    """``GET /health`` (``OK`` while ``healthy()``, else 503) and ``GET /metrics`` on one address;
    port 0 picks a free one (the bound port is in :attr:`port` after :meth:`start`)."""

    def __init__(self, metrics: DNSMetrics | None, *, host: str, port: int,
                 healthy: Callable[[], bool] = lambda: True) -> None:
        self._metrics = metrics
        self.host = host
        self.port = port
        self._healthy = healthy
        self._runner: web.AppRunner | None = None

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="OK") if self._healthy() else web.Response(status=503, text="not ready")

    async def _metrics_page(self, request: web.Request) -> web.Response:
        body = self._metrics.exposition() if self._metrics is not None else b""
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/ready", self._health)
        if self._metrics is not None:
            app.router.add_get("/metrics", self._metrics_page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("dns health serving address=%s port=%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
