"""Waiting for the Node's pod CIDR: without ``--pod-cidr`` the kubelet takes its pods' addresses from
``node.spec.podCIDR``, which the controller-manager's node IPAM controller sets
(``--allocate-node-cidrs``). Until then no pod gets a network (upstream: the network is "not ready")."""

from __future__ import annotations

import logging
from typing import Any

from sampan._lib.clock import Clock
from sampan.api import errors
from sampan.client.dynamic import ResourceClient
from sampan.kubelet.network.ipam import IPAMError, parse_pod_cidr

log = logging.getLogger(__name__)

WARN_EVERY = 20
"""Polls between two reminders that the CIDR is still missing."""


def node_pod_cidr(node: dict[str, Any]) -> str:
    spec = node.get("spec") or {}
    return str(spec.get("podCIDR") or (spec.get("podCIDRs") or [""])[0] or "")


async def wait_for_pod_cidr(nodes: ResourceClient, node_name: str, *, clock: Clock, period: float) -> str:
    """Poll the Node every ``period`` until it has a usable pod CIDR (inside 100.64.0.0/10); its value."""
    polls = 0
    while True:
        try:
            cidr = node_pod_cidr(await nodes.get(node_name))
        except errors.APIError as err:
            log.warning("reading the node failed node=%s err=%s", node_name, err)
            cidr = ""
        if cidr:
            try:
                parse_pod_cidr(cidr)
                return cidr
            except IPAMError as err:
                if polls % WARN_EVERY == 0:
                    log.error("the node's pod CIDR is unusable here node=%s err=%s", node_name, err)
        elif polls % WARN_EVERY == 0:
            log.info("waiting for the node's spec.podCIDR (controller-manager --allocate-node-cidrs) node=%s",
                     node_name)
        polls += 1
        await clock.sleep(period)
