"""The kubelet's heartbeats — Lease renewals and node status posts — on their own thread, event loop and
client (docs/liveness.md: liveness never waits behind work).

Starting 110 pods at once and probing them keeps the kubelet's loop busy and its work client's rate
limiter full; neither may delay a heartbeat, or the node controller marks the node NotReady exactly when
it is busiest. So :class:`NodeHeartbeat` runs :class:`~sampan.kubelet.node_lease.NodeLease` and the status
loop on a thread of their own (:func:`~sampan._lib.own_loop.run_in_own_loop`) with a client of their own
(:func:`~sampan.client.config.heartbeat_config`: own connections, no rate limit, a request timeout), as
upstream's kubelet has its own ``heartbeatClient``.

What crosses threads: ``post_status`` (the kubelet's, which replaces ``Kubelet.node`` whole and hands
node events back to the kubelet's loop) and the counters read by tests. With ``own_thread=False`` (a fake
clock in unit tests) both loops run on the caller's loop, still with their own client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sampan._lib.clock import Clock, RealClock
from sampan._lib.own_loop import run_in_own_loop
from sampan.api import errors
from sampan.api.resources import ResourceInfo
from sampan.client.config import RESTConfig, heartbeat_config
from sampan.client.dynamic import Client, ResourceClient
from sampan.kubelet.node_lease import LeaseOptions, NodeLease

log = logging.getLogger(__name__)

NODES = ResourceInfo("", "v1", "nodes", "Node", "node", False, subresources=("status",))
LEASES = ResourceInfo("coordination.k8s.io", "v1", "leases", "Lease", "lease", True)

PostStatus = Callable[[ResourceClient], Awaitable[None]]


class NodeHeartbeat:
    """Renews ``kube-node-lease/<node>`` every ``lease.renew_interval`` and posts node status every
    ``status_frequency`` until cancelled. ``lease`` is the running :class:`NodeLease` (None before start)."""

    def __init__(self, rest: RESTConfig, *, node_name: str, node_uid: str, lease_options: LeaseOptions,
                 status_frequency: float, post_status: PostStatus, own_thread: bool = True,
                 clock: Clock | None = None) -> None:
        self.node_name = node_name
        self.node_uid = node_uid
        self.lease_options = lease_options
        self.status_frequency = status_frequency
        self._post_status = post_status
        self._own_thread = own_thread
        self._clock = clock or RealClock()
        timeout = max(1.0, min(status_frequency, lease_options.duration / 4))
        self._rest = heartbeat_config(rest, purpose="heartbeat", timeout=timeout)
        self.lease: NodeLease | None = None

    async def run(self) -> None:
        if self._own_thread:
            await run_in_own_loop(self._beat, name=f"kubelet-heartbeat-{self.node_name}")
        else:
            await self._beat()

    async def _beat(self) -> None:
        clock = RealClock() if self._own_thread else self._clock
        async with Client(self._rest, clock=clock) as client:
            self.lease = NodeLease(client.resource_for(LEASES), node_name=self.node_name, clock=clock,
                                   options=self.lease_options, node_uid=self.node_uid)
            nodes = client.resource_for(NODES)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.lease.run(), name="kubelet-lease")
                tg.create_task(self._status_loop(nodes, clock), name="kubelet-node-status")

    async def _status_loop(self, nodes: ResourceClient, clock: Clock) -> None:
        while True:
            await clock.sleep(self.status_frequency)
            try:
                await self._post_status(nodes)
            except (errors.APIError, OSError, TimeoutError) as err:
                log.warning("node status update failed node=%s err=%s", self.node_name, err)
