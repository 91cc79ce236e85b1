"""The DNS component: informers -> zone -> answers on UDP and TCP, plus health, metrics and publishing.

Start-up order: the listen address's device (if asked), the informers, their sync (at most
``sync_timeout``; answering before it would hand out NXDOMAINs for names that exist), the listeners,
then readiness (``/health`` turns 200 and the published EndpointSlice turns ready). Cancellation stops
everything in reverse order, withdraws the EndpointSlice and removes the device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sampan.client import Client, SharedInformerFactory
from sampan.dns.answer import Answerer
from sampan.dns.forward import Forwarder, Upstream, read_resolv_conf
from sampan.dns.interface import ensure_interface, remove_interface
from sampan.dns.metrics import DNSMetrics, HealthServer
from sampan.dns.options import DNSOptions
from sampan.dns.publish import Publisher
from sampan.dns.server import DNSListener, QueryHandler
from sampan.dns.sources import ZoneSource
from sampan.dns.zone import Zone

log = logging.getLogger(__name__)


class DNSServer:
    def __init__(self, options: DNSOptions) -> None:
        self.options = options
        self.zone = Zone(options.cluster_domain)
        self.ready = asyncio.Event()
        self.ports: list[int] = []
        """The bound port of each listener, once :attr:`ready` is set."""
        self.health_port: int | None = None
        self.metrics = DNSMetrics(server="dns://" + ",".join(f"{h}:{p}" for h, p in options.listen))

    def upstreams(self) -> list[Upstream]:
        return list(self.options.upstreams) or read_resolv_conf(self.options.resolv_conf)

    async def run(self) -> None:
        opts = self.options
        if opts.setup_interface:
            await ensure_interface(opts.listen[0][0], device=opts.setup_interface)
        try:
            async with Client(opts.rest) as client:
                await self._serve(client)
        finally:
            if opts.setup_interface:
                with contextlib.suppress(Exception):
                    await asyncio.shield(remove_interface(opts.setup_interface))

    async def _serve(self, client: Client) -> None:
        opts = self.options
        factory = SharedInformerFactory(client)
        source = ZoneSource(factory, self.zone, watch_pods=opts.pods == "verified")
        answerer = Answerer(self.zone, ttl=opts.ttl, pods=opts.pods, pod_exists=source.pod_exists,
                            dns_ips=lambda: self._dns_service_ips(source))
        upstreams = self.upstreams()
        exclude = [Upstream(h, p) for h, p in opts.listen]
        forwarder = Forwarder(upstreams, timeout=opts.forward_timeout, exclude=exclude)
        handler = QueryHandler(answerer, forwarder, metrics=self.metrics, cache_size=opts.cache_size,
                               max_inflight=opts.max_inflight)
        listeners = [DNSListener(handler, host=h, port=p, tcp_idle_timeout=opts.tcp_idle_timeout)
                     for h, p in opts.listen]
        http = self._http_servers()
        try:
            for server in http:
                await server.start()
            factory.start()
            synced = await factory.wait_for_cache_sync(timeout=opts.sync_timeout)
            if not all(synced.values()):
                log.warning("dns serving before the caches synced synced=%s", synced)
            for listener in listeners:
                await listener.start()
            self.ports = [listener.port for listener in listeners]
            self.ready.set()
            log.info("dns ready domain=%s listen=%s upstreams=%s", opts.cluster_domain,
                     ",".join(f"{h}:{p}" for (h, _), p in zip(opts.listen, self.ports, strict=True)),
                     ",".join(map(str, forwarder.upstreams)) or "none")
            if opts.publish is not None:
                await Publisher(client, opts.publish).run(self.ready)
            else:
                await asyncio.Event().wait()
        finally:
            self.ready.clear()
            for listener in reversed(listeners):
                await listener.stop()
            await handler.aclose()
            for server in http:
                await server.stop()
            await factory.shutdown()

    def _http_servers(self) -> list[HealthServer]:
        opts = self.options
        servers = []
        if opts.health_address is not None:
            both = opts.metrics_address == opts.health_address
            servers.append(HealthServer(self.metrics if both else None, host=opts.health_address[0],
                                        port=opts.health_address[1], healthy=self.ready.is_set))
        if opts.metrics_address is not None and opts.metrics_address != opts.health_address:
            servers.append(HealthServer(self.metrics, host=opts.metrics_address[0], port=opts.metrics_address[1],
                                        healthy=self.ready.is_set))
        self._health_servers = servers
        return servers

    def http_ports(self) -> list[int]:
        """The bound ports of the health and metrics servers (in that order), once started."""
        return [s.port for s in getattr(self, "_health_servers", [])]

    def _dns_service_ips(self, source: ZoneSource) -> list[str]:
        publish = self.options.publish
        key = f"{publish.namespace}/{publish.name}" if publish else "kube-system/kube-dns"
        svc = source.services.indexer.get_by_key(key)
        if svc is None:
            return []
        spec = svc.get("spec") or {}
        ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
        return [ip for ip in ips if ip and ip != "None" and ":" not in ip]
