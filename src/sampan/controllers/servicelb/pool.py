"""The load-balancer address pool and its record in the API.

Allocations live in one ConfigMap, ``kube-system/sampan-load-balancer-ips``: ``data`` maps an address to
the ``namespace/name`` of the Service holding it. Every change is an update carrying the ConfigMap's
``resourceVersion`` (upstream's RangeAllocation model): of two writers working from the same version, one
gets 409 Conflict and retries on fresh data, so restarts and several controller-managers never hand one
address to two Services. The pure helpers pick addresses; :class:`PoolRecord` reads and writes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from sampan.api import errors
from sampan.client import ResourceClient

RECORD_NAMESPACE = "kube-system"
RECORD_NAME = "sampan-load-balancer-ips"


def parse_pool(text: str) -> ipaddress.IPv4Network | None:
    """The pool ``--load-balancer-ip-range`` names ("" = none); ValueError outside 100.64.0.0/10."""
    if not text.strip():
        return None
    try:
        net = ipaddress.IPv4Network(text.strip(), strict=True)
    except ValueError as err:
        raise ValueError(f"--load-balancer-ip-range: {err}") from None
    if not net.subnet_of(ipaddress.IPv4Network("100.64.0.0/10")):
        raise ValueError(f"--load-balancer-ip-range {text} must lie inside 100.64.0.0/10")
    return net


def usable(net: ipaddress.IPv4Network) -> list[str]:
    """Addresses handed out: every host address (network and broadcast excluded)."""
    return [str(ip) for ip in net.hosts()]


def choose(net: ipaddress.IPv4Network, allocations: Mapping[str, str], owner: str, requested: str = "") -> str | None:
    """The address ``owner`` should hold: the one it holds, else ``requested`` if free and in the pool,
    else the lowest free one; None when the pool is exhausted (or ``requested`` is taken/outside)."""
    for ip, who in sorted(allocations.items()):
        if who == owner:
            return ip
    if requested:
        try:
            inside = ipaddress.IPv4Address(requested) in net
        except ValueError:
            inside = False
        return requested if inside and requested not in allocations else None
    return next((ip for ip in usable(net) if ip not in allocations), None)


class PoolRecord:
    """Reads and compare-and-swaps the allocation ConfigMap."""

    def __init__(self, configmaps: ResourceClient) -> None:
        self.configmaps = configmaps

    async def read(self) -> tuple[dict[str, str], dict[str, Any] | None]:
        """The allocations and the ConfigMap they came from (None when it does not exist yet)."""
        try:
            cm = await self.configmaps.get(RECORD_NAME, namespace=RECORD_NAMESPACE)
        except errors.NotFound:
            return {}, None
        return dict(cm.get("data") or {}), cm

    async def write(self, allocations: Mapping[str, str], current: dict[str, Any] | None) -> None:
        """Store ``allocations``; raises Conflict/AlreadyExists when someone wrote in between."""
        data = dict(sorted(allocations.items()))
        if current is None:
            await self.configmaps.create({"apiVersion": "v1", "kind": "ConfigMap",
                                          "metadata": {"name": RECORD_NAME, "namespace": RECORD_NAMESPACE},
                                          "data": data}, namespace=RECORD_NAMESPACE)
            return
        body = {**current, "data": data}
        await self.configmaps.update(body, namespace=RECORD_NAMESPACE)
