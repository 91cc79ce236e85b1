"""kube-proxy as a component: ``ProxyServer(client, options).run()`` blocks until cancelled.

It routes the virtual-IP ranges locally (:mod:`sampan.proxy.routes`), starts informers on Services and
EndpointSlices (Services labelled ``service.kubernetes.io/service-proxy-name`` belong to another proxy
and headless ones to none, as upstream's label selector says), serves ``/healthz`` and ``/metrics``, and
runs the :class:`~sampan.proxy.proxier.Proxier` over the chosen backend. Stopping leaves the rules in
place (traffic keeps flowing while the proxy restarts); ``cleanup`` removes them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from sampan.api import errors
from sampan.client import Client, EventHandlerFuncs, SharedInformerFactory, wait_for_cache_sync
from sampan.proxy import routes
from sampan.proxy.metrics import HealthState, HTTPEndpoint, ProxyMetrics, health_routes, metrics_routes
from sampan.proxy.nftables.backend import NftablesBackend
from sampan.proxy.nftables.fragments import Scope
from sampan.proxy.nftables.ruleset import TableConfig
from sampan.proxy.options import ProxyOptions, parse_bind_address
from sampan.proxy.proxier import Backend, Proxier

log = logging.getLogger(__name__)

NODE_CIDR_POLL = 0.5
"""Seconds between two reads of the Node while waiting for its pod CIDR."""
SERVICE_SELECTOR = "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"


def build_backend(options: ProxyOptions) -> Backend:
    node_cidr = options.detect_local_mode == "NodeCIDR"
    scope = Scope(node_name=options.node_name, host_traffic=options.handle_host_traffic,
                  local_interface="" if node_cidr else options.pod_bridge_interface,
                  local_cidr=options.local_cidr if node_cidr else "")
    if options.mode == "iptables":
        from sampan.proxy.iptables.backend import IptablesBackend

        return IptablesBackend(options.node_name, scope=scope, reject_cidrs=options.reject_cidrs)
    return NftablesBackend(TableConfig(table=options.table, scope=scope, reject_cidrs=options.reject_cidrs))


class ProxyServer:
    def __init__(self, client: Client, options: ProxyOptions) -> None:
        self.client = client
        self.options = options
        self.metrics = ProxyMetrics(options.mode)
        self.health = HealthState(options.sync_period)
        self.proxier = Proxier(build_backend(options), sync_period=options.sync_period,
                               min_sync_period=options.min_sync_period, metrics=self.metrics, health=self.health)
        self.endpoints: list[HTTPEndpoint] = []

    async def _serve(self) -> None:
        for flag, value, default, routes_ in (
                ("healthz", self.options.healthz_bind_address, 10256, health_routes(self.health)),
                ("metrics", self.options.metrics_bind_address, 10249, metrics_routes(self.metrics, self.health))):
            host, port = parse_bind_address(value, default)
            if port < 0:
                continue
            ep = HTTPEndpoint(routes_, host=host, port=port, name=flag)
            await ep.start()
            self.endpoints.append(ep)

    async def _node_pod_cidr(self) -> str:
        """The Node's ``spec.podCIDR``, polled until the node is registered and has one."""
        nodes = await self.client.resource("v1", "nodes")
        waited = False
        while True:
            try:
                cidr = str(((await nodes.get(self.options.node_name)).get("spec") or {}).get("podCIDR") or "")
            except (errors.APIError, OSError) as err:
                cidr = ""
                log.debug("node not readable yet node=%s err=%s", self.options.node_name, err)
            if cidr:
                return cidr
            if not waited:
                log.info("waiting for the node's pod CIDR (--detect-local-mode=NodeCIDR) node=%s",
                         self.options.node_name)
                waited = True
            await asyncio.sleep(NODE_CIDR_POLL)

    async def run(self) -> None:
        if self.options.detect_local_mode == "NodeCIDR" and not self.options.local_cidr:
            cidr = await self._node_pod_cidr()
            log.info("local traffic: from the node's pod CIDR node=%s cidr=%s", self.options.node_name, cidr)
            self.options = dataclasses.replace(self.options, local_cidr=cidr)
            self.proxier = Proxier(build_backend(self.options), sync_period=self.options.sync_period,
                                   min_sync_period=self.options.min_sync_period, metrics=self.metrics,
                                   health=self.health)
        o = self.options
        if o.manage_routes:
            await routes.ensure_routes(o.reject_cidrs, device=o.vip_interface)
            routes.ensure_sysctls()
        services = SharedInformerFactory(self.client, label_selector=SERVICE_SELECTOR)
        slices = SharedInformerFactory(self.client)
        p = self.proxier
        svc_reg = services.informer("v1", "services").add_event_handler(EventHandlerFuncs(
            on_add_func=p.on_service, on_update_func=lambda _old, new: p.on_service(new),
            on_delete_func=p.on_service_delete), name="proxy-services")
        eps_reg = slices.informer("discovery.k8s.io/v1", "endpointslices").add_event_handler(EventHandlerFuncs(
            on_add_func=p.on_slice, on_update_func=lambda _old, new: p.on_slice(new),
            on_delete_func=p.on_slice_delete), name="proxy-endpointslices")
        await self._serve()
        try:
            services.start()
            slices.start()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(p.run(), name="proxier")

                async def mark_ready() -> None:
                    await wait_for_cache_sync(svc_reg, eps_reg)
                    log.info("proxy caches synced node=%s mode=%s table=%s", o.node_name, o.mode, o.table)
                    p.ready.set()

                tg.create_task(mark_ready(), name="proxy-wait-synced")
        finally:
            await services.shutdown()
            await slices.shutdown()
            for ep in self.endpoints:
                await ep.stop()


async def cleanup(*, node_name: str = "", mode: str = "", routes_too: bool = True,
                  vip_interface: str = routes.VIP_DEVICE) -> list[str]:
    """Remove what proxies created: every ``sampan-proxy*`` nft table (or only ``node_name``'s), the iptables
    chains, and the virtual-IP routes; what was removed, for a message."""
    from sampan.proxy.iptables.backend import remove_all_chains
    from sampan.proxy.nftables.backend import delete_table, list_tables, nft_binary
    from sampan.proxy.options import TABLE_PREFIX, table_name

    removed: list[str] = []
    if nft_binary() is not None and mode in ("", "nftables"):
        tables = [table_name(node_name)] if node_name else await list_tables(TABLE_PREFIX)
        for t in tables:
            await delete_table(t)
            removed.append(f"nft table ip {t}")
    if mode in ("", "iptables"):
        from sampan.proxy.iptables.ruleset import chain_prefix

        removed += await remove_all_chains(chain_prefix(node_name) if node_name else "SAMPAN-", node_name=node_name)
    if routes_too and routes.can_program_kernel() == "" and await routes.remove_routes(vip_interface):
        removed.append(f"{vip_interface} and the routes through it")
    return removed
