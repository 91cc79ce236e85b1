"""Keep the ``kube-system/kube-dns`` Service and this server's EndpointSlice in the API.

As the API server's endpoint reconciler does for the ``kubernetes`` Service: the Service (upstream's
kube-dns shape: ports ``dns`` 53/UDP, ``dns-tcp`` 53/TCP, ``metrics`` 9153/TCP, cluster IP
100.96.0.10, labels ``k8s-app: kube-dns``) has no selector, so the EndpointSlice controller leaves it
alone; this server writes one EndpointSlice of its own, ``<service>-<identity>``
(``endpointslice.kubernetes.io/managed-by: sampan-dns``), naming the address it listens on, with the
ready condition true once its caches are synced. Every ``interval`` seconds both are checked and
re-created or corrected (someone deleted or edited them); the Service is created when missing but never
rewritten (an operator may have changed it). On stop the slice is deleted, so traffic moves to the
other DNS servers at once. Several servers (identities) can publish into one Service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from sampan.api import errors
from sampan.client import Client

log = logging.getLogger(__name__)

MANAGED_BY = "sampan-dns"


@dataclass(frozen=True)
class PublishOptions:
    """``address`` None: keep the Service only (a loopback listener cannot be an endpoint)."""

    namespace: str = "kube-system"
    name: str = "kube-dns"
    cluster_ip: str = "100.96.0.10"
    address: str | None = None
    identity: str = "dns"
    dns_port: int = 53
    metrics_port: int | None = 9153
    interval: float = 10.0


def desired_service(opts: PublishOptions) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": opts.name, "namespace": opts.namespace,
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
            "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
        },
        "spec": {
            "type": "ClusterIP", "clusterIP": opts.cluster_ip, "clusterIPs": [opts.cluster_ip],
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": opts.dns_port},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": opts.dns_port},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": opts.metrics_port or 9153},
            ],
        },
    }


def slice_name(opts: PublishOptions) -> str:
    return f"{opts.name}-{opts.identity}"[:253]


def desired_slice(opts: PublishOptions, *, ready: bool) -> dict[str, Any]:
    ports = [{"name": "dns", "port": opts.dns_port, "protocol": "UDP"},
             {"name": "dns-tcp", "port": opts.dns_port, "protocol": "TCP"}]
    if opts.metrics_port:
        ports.append({"name": "metrics", "port": opts.metrics_port, "protocol": "TCP"})
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": slice_name(opts), "namespace": opts.namespace,
                     "labels": {"kubernetes.io/service-name": opts.name,
                                "endpointslice.kubernetes.io/managed-by": MANAGED_BY}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [opts.address],
                       "conditions": {"ready": ready, "serving": ready, "terminating": False}}],
        "ports": ports,
    }


class Publisher:
    def __init__(self, client: Client, opts: PublishOptions) -> None:
        self.client = client
        self.opts = opts

    async def reconcile(self, *, ready: bool) -> None:
        """One pass: the Service exists; our slice exists and says what it should."""
        services = await self.client.resource("v1", "services")
        try:
            await services.get(self.opts.name, namespace=self.opts.namespace)
        except errors.NotFound:
            with contextlib.suppress(errors.AlreadyExists):
                await services.create(desired_service(self.opts), namespace=self.opts.namespace)
                log.info("dns service created service=%s/%s ip=%s", self.opts.namespace, self.opts.name,
                         self.opts.cluster_ip)
        if self.opts.address is None:
            return
        slices = await self.client.resource("discovery.k8s.io/v1", "endpointslices")
        want = desired_slice(self.opts, ready=ready)
        try:
            have = await slices.get(slice_name(self.opts), namespace=self.opts.namespace)
        except errors.NotFound:
            with contextlib.suppress(errors.AlreadyExists):
                await slices.create(want, namespace=self.opts.namespace)
                log.info("dns endpointslice created slice=%s/%s address=%s", self.opts.namespace,
                         slice_name(self.opts), self.opts.address)
            return
        if any(have.get(k) != want[k] for k in ("addressType", "endpoints", "ports")) or \
                (have.get("metadata") or {}).get("labels") != want["metadata"]["labels"]:
            updated = {**have, "addressType": want["addressType"], "endpoints": want["endpoints"],
                       "ports": want["ports"], "metadata": {**have["metadata"], "labels": want["metadata"]["labels"]}}
            with contextlib.suppress(errors.Conflict, errors.NotFound):
                await slices.update(updated, namespace=self.opts.namespace)

    async def run(self, ready: asyncio.Event) -> None:
        """Reconcile every ``interval`` (and as soon as ``ready`` is set) until cancelled; then delete our
        slice (best effort, 5 s)."""
        try:
            while True:
                try:
                    await self.reconcile(ready=ready.is_set())
                except Exception as err:  # the API server may be away: try again next round
                    log.warning("dns publish failed service=%s/%s error=%s", self.opts.namespace, self.opts.name, err)
                was_ready = ready.is_set()
                with contextlib.suppress(TimeoutError):
                    if was_ready:
                        await asyncio.sleep(self.opts.interval)
                    else:
                        await asyncio.wait_for(ready.wait(), self.opts.interval)
        finally:
            if self.opts.address is not None:
                await self._withdraw()

    async def _withdraw(self) -> None:
        async def delete() -> None:
            slices = await self.client.resource("discovery.k8s.io/v1", "endpointslices")
            with contextlib.suppress(errors.NotFound):
                await slices.delete(slice_name(self.opts), namespace=self.opts.namespace)

        try:
            await asyncio.wait_for(asyncio.shield(delete()), 5.0)
        except (TimeoutError, errors.APIError, OSError, asyncio.CancelledError) as err:
            log.warning("dns endpointslice not withdrawn slice=%s error=%r", slice_name(self.opts), err)
