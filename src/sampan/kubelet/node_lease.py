"""The node's heartbeat Lease: ``kube-node-lease/<node>``, renewed every ``renew_interval`` (10 s) with
``leaseDurationSeconds`` 40, as upstream's ``nodelease`` controller.

The Lease carries an ownerReference to the Node, so deleting the Node garbage-collects it. A renewal
is a PUT with the resourceVersion last seen (a Conflict re-reads and retries on the next tick); a
missing Lease is created. Failures are retried after ``retry_interval`` — never fatal — and logged through
a :class:`~sampan.kubelet.failure_log.FailureLog` (a run's first failure and its recovery; every failure
counted in ``failures.total``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sampan._lib.clock import Clock
from sampan.api import errors
from sampan.client.dynamic import ResourceClient
from sampan.client.leaderelection.lease_lock import format_micro_time
from sampan.kubelet.failure_log import FailureLog

log = logging.getLogger(__name__)

NODE_LEASE_NAMESPACE = "kube-node-lease"


@dataclass(frozen=True, slots=True)
class LeaseOptions:
    duration: float = 40.0
    renew_interval: float = 10.0
    retry_interval: float = 0.2
    """Delay before retrying a failed renewal, doubled after each further failure (upstream: 200 ms)."""
    max_retry_interval: float = 7.0
    """The most the retry delay grows to (upstream's lease controller: 7 s). Flat retries every 200 ms made
    1,000 hollow nodes whose renewals timed out on a saturated server send ~5 requests a second each: a
    retry storm that kept the server saturated (issue 21)."""


class NodeLease:
    """Keeps the node's Lease fresh. ``renewals`` counts successful writes, ``failures.total`` failed
    attempts (observability)."""

    def __init__(self, leases: ResourceClient, *, node_name: str, clock: Clock, options: LeaseOptions,
                 node_uid: str = "") -> None:
        self._leases = leases
        self.node_name = node_name
        self.node_uid = node_uid
        self._clock = clock
        self.options = options
        self._lease: dict[str, Any] | None = None
        self.renewals = 0
        self.failures = FailureLog(log, "renew node lease", node_name, clock.monotonic)

    def _spec(self) -> dict[str, Any]:
        return {"holderIdentity": self.node_name, "leaseDurationSeconds": int(self.options.duration),
                "renewTime": format_micro_time(self._clock.wall())}

    def _new(self) -> dict[str, Any]:
        md: dict[str, Any] = {"name": self.node_name, "namespace": NODE_LEASE_NAMESPACE}
        if self.node_uid:
            md["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.node_name,
                                      "uid": self.node_uid}]
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": md, "spec": self._spec()}

    async def renew(self) -> None:
        """One renewal (create when missing); raises the API error when it fails."""
        if self._lease is None:
            try:
                self._lease = await self._leases.get(self.node_name, namespace=NODE_LEASE_NAMESPACE)
            except errors.NotFound:
                self._lease = await self._leases.create(self._new(), namespace=NODE_LEASE_NAMESPACE)
                self.renewals += 1
                return
        lease = dict(self._lease)
        lease["spec"] = {**(lease.get("spec") or {}), **self._spec()}
        try:
            self._lease = await self._leases.update(lease, namespace=NODE_LEASE_NAMESPACE)
        except (errors.Conflict, errors.NotFound):
            self._lease = None  # re-read (or re-create) on the next attempt
            raise
        self.renewals += 1

    async def run(self) -> None:
        """Renew until cancelled."""
        while True:
            stamped = self._clock.monotonic()
            try:
                await self.renew()
                self.failures.succeeded()
                # the next renewTime is due renew_interval after this one's, however long the request took
                delay = max(0.0, self.options.renew_interval - (self._clock.monotonic() - stamped))
            except (errors.APIError, OSError, TimeoutError) as err:
                delay = min(self.options.max_retry_interval,
                            self.options.retry_interval * 2 ** min(self.failures.failures, 16))
                self.failures.failed(err)
            await self._clock.sleep(delay)
