"""The host side of Service networking for ``sampan up`` / ``sampan down``.

``prepare`` routes the service range and the load-balancer pool locally before any component starts, so
from the cluster's first moment a packet to a virtual IP never leaves by the default route (the proxies
then reject what they did not program). ``teardown`` removes each node's nft table (and iptables chains)
and the routes; both do nothing without root or when the cluster runs no proxy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sampan.cli.up import LB_POOL, SERVICE_CIDR

log = logging.getLogger(__name__)


def runs_proxy(components: Iterable[str]) -> bool:
    return any(c == "proxy" or c.startswith("proxy-") for c in components)


async def prepare(components: Iterable[str]) -> None:
    if not runs_proxy(components):
        return
    from sampan.proxy import routes

    await routes.ensure_routes([SERVICE_CIDR, LB_POOL])
    routes.ensure_sysctls()


async def teardown(nodes: Iterable[str]) -> list[str]:
    """Remove every node's proxy rules and the virtual-IP routes; what was removed."""
    from sampan.proxy.routes import VIP_DEVICE, can_program_kernel, remove_routes
    from sampan.proxy.server import cleanup

    if can_program_kernel():
        return []
    removed: list[str] = []
    for node in nodes:
        try:
            removed += await cleanup(node_name=node, routes_too=False)
        except Exception as err:  # a missing nft/iptables binary: nothing of ours can be there
            log.warning("proxy cleanup failed node=%s error=%s", node, err)
    if await remove_routes():
        removed.append(f"{VIP_DEVICE} and the routes through it")
    return removed
