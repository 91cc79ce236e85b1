"""The ``kubernetes`` Service in ``default`` and its endpoints, kept by every API server (upstream's
``kubernetesservice`` controller and ``--endpoint-reconciler-type=lease``).

At start each server creates the Service unless it exists: ``clusterIP`` = the 1st address of the
service range, port ``443`` named ``https`` → the server's port (plain HTTP until sampan serves TLS),
labels ``component: apiserver``, ``provider: kubernetes``. Then, every ``interval``, it

1. renews its *master lease*: ``/registry/masterleases/<ip>:<port>`` in the store holding its advertised
   address, port and the wall time of the renewal (the store has no TTLs, so the time is in the value);
2. drops leases older than ``ttl`` (a server that died), with compare-and-swap so servers never fight;
3. writes the Endpoints ``default/kubernetes`` (one subset per port, label
   ``endpointslice.kubernetes.io/skip-mirror: "true"``) and the EndpointSlice(s) ``default/kubernetes``
   (label ``kubernetes.io/service-name: kubernetes``; a second port gets ``kubernetes-<port>``) from the
   live leases, only when they differ from what is stored.

A server that stops removes its own lease and reconciles once, so its address leaves at once; one that
is killed leaves after ``ttl``. Writes go through the same create/update/delete paths as requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson

from sampan.api import errors, meta
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.handlers.create import create_object
from sampan.apiserver.handlers.delete import delete_object
from sampan.apiserver.handlers.deletion import DeleteOptions
from sampan.apiserver.handlers.guaranteed import UpdateRequest, update_object
from sampan.apiserver.handlers.writeopts import WriteOptions
from sampan.storage import Conflict, KeyExists, KeyNotFound

log = logging.getLogger(__name__)

NAME = "kubernetes"
NAMESPACE = "default"
MANAGER = "kube-apiserver"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"

Member = tuple[str, int]
"""(advertised address, port) of one API server."""


def service_object(cluster_ip: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"component": "apiserver", "provider": NAME}},
        "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                 "sessionAffinity": "None",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
    }


def _ports(port: int) -> list[dict[str, Any]]:
    return [{"name": "https", "port": port, "protocol": "TCP"}]


def desired_endpoints(members: list[Member]) -> dict[str, Any]:
    by_port: dict[int, list[str]] = {}
    for ip, port in sorted(members):
        by_port.setdefault(port, []).append(ip)
    subsets = [{"addresses": [{"ip": ip} for ip in ips], "ports": _ports(port)}
               for port, ips in sorted(by_port.items())]
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Endpoints",
                           "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {SKIP_MIRROR_LABEL: "true"}}}
    if subsets:
        obj["subsets"] = subsets
    return obj


def desired_slices(members: list[Member]) -> dict[str, dict[str, Any]]:
    """Slice name -> EndpointSlice; one slice per port (all servers normally share one port)."""
    by_port: dict[int, list[str]] = {}
    for ip, port in sorted(members):
        by_port.setdefault(port, []).append(ip)
    out: dict[str, dict[str, Any]] = {}
    for i, (port, ips) in enumerate(sorted(by_port.items())):
        name = NAME if i == 0 else f"{NAME}-{port}"
        family = "IPv6" if ":" in ips[0] else "IPv4"
        out[name] = {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {SERVICE_NAME_LABEL: NAME}},
            "addressType": family,
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
            "ports": _ports(port),
        }
    if not out:  # no live server (only while the last one stops): an empty slice, as upstream
        out[NAME] = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                     "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {SERVICE_NAME_LABEL: NAME}},
                     "addressType": "IPv4", "endpoints": [], "ports": None}
    return out


class KubernetesService:
    """See the module docstring. ``address``/``port``: what this server advertises."""

    def __init__(self, ctx: ServerContext, *, cluster_ip: str, address: str, port: int, interval: float,
                 ttl: float) -> None:
        self.ctx = ctx
        self.cluster_ip = cluster_ip
        self.address = address
        self.port = port
        self.interval = interval
        self.ttl = ttl
        self.lease_prefix = f"{ctx.store.root}masterleases/"
        self.initialized = asyncio.Event()
        """Set after the first round (Service, lease, endpoints), whether or not it succeeded."""

    def _scope(self, group: str, version: str, resource: str) -> Scope:
        scope = self.ctx.scope(group, version, resource)
        assert scope is not None, f"{resource} is always served"
        return scope

    def _opts(self) -> WriteOptions:
        return WriteOptions(dry=False, manager=MANAGER, field_validation="Ignore")

    # -- the Service ------------------------------------------------------------------------------

    async def ensure_service(self) -> None:
        scope = self._scope("", "v1", "services")
        try:
            await self.ctx.store.get(scope.key(NAMESPACE, NAME))
            return
        except KeyNotFound:
            pass
        try:
            await create_object(self.ctx, scope, service_object(self.cluster_ip, self.port), opts=self._opts())
            log.info("created the kubernetes service cluster_ip=%s", self.cluster_ip)
        except errors.AlreadyExists:
            pass

    # -- master leases ----------------------------------------------------------------------------

    @property
    def lease_key(self) -> str:
        return f"{self.lease_prefix}{self.address}:{self.port}"

    async def renew(self) -> None:
        value = orjson.dumps({"ip": self.address, "port": self.port, "renewTime": self.ctx.clock.wall()})
        for _ in range(8):
            try:
                kv = await self.ctx.store.get(self.lease_key)
            except KeyNotFound:
                try:
                    await self.ctx.store.create(self.lease_key, value)
                    return
                except KeyExists:
                    continue
            try:
                await self.ctx.store.update(self.lease_key, value, expected_mod_revision=kv.mod_revision)
                return
            except (Conflict, KeyNotFound):
                continue

    async def remove_lease(self) -> None:
        with contextlib.suppress(KeyNotFound):
            await self.ctx.store.delete(self.lease_key)

    async def members(self) -> list[Member]:
        """Live servers; expired leases are deleted on the way."""
        page = await self.ctx.store.list(self.lease_prefix)
        now = self.ctx.clock.wall()
        live: list[Member] = []
        for kv in page.kvs:
            try:
                lease = orjson.loads(kv.value)
                member = (str(lease["ip"]), int(lease["port"]))
                fresh = now - float(lease["renewTime"]) <= self.ttl
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                member, fresh = ("", 0), False
            if fresh:
                live.append(member)
                continue
            log.info("dropping an expired master lease key=%s", kv.key)
            with contextlib.suppress(KeyNotFound, Conflict):
                await self.ctx.store.delete(kv.key, expected_mod_revision=kv.mod_revision)
        return live

    # -- endpoints --------------------------------------------------------------------------------

    async def _put(self, scope: Scope, desired: dict[str, Any], fields: tuple[str, ...]) -> None:
        """Create ``desired`` or make the stored object's ``fields`` and labels equal to it."""
        name = meta.name(desired)
        try:
            kv = await self.ctx.store.get(scope.key(NAMESPACE, name))
        except KeyNotFound:
            with contextlib.suppress(errors.AlreadyExists):
                await create_object(self.ctx, scope, desired, opts=self._opts())
            return
        current = scope.decode(kv.value, kv.mod_revision)
        labels = meta.metadata(desired).get("labels") or {}
        if all(current.get(f) == desired.get(f) for f in fields) and all(
                (meta.metadata(current).get("labels") or {}).get(k) == v for k, v in labels.items()):
            return

        def transform(old: dict[str, Any]) -> dict[str, Any]:
            for f in fields:
                if desired.get(f) is None:
                    old.pop(f, None)
                else:
                    old[f] = desired[f]
            old["metadata"].setdefault("labels", {}).update(labels)
            old["metadata"].pop("resourceVersion", None)
            return old

        await update_object(self.ctx, UpdateRequest(scope, NAMESPACE, name, None, transform, self._opts()))

    async def reconcile(self) -> None:
        members = await self.members()
        await self._put(self._scope("", "v1", "endpoints"), desired_endpoints(members), ("subsets",))
        slices = self._scope("discovery.k8s.io", "v1", "endpointslices")
        desired = desired_slices(members)
        for obj in desired.values():
            await self._put(slices, obj, ("addressType", "endpoints", "ports"))
        page = await self.ctx.store.list(slices.list_prefix(NAMESPACE))
        for kv in page.kvs:
            obj = slices.decode(kv.value, kv.mod_revision)
            name = meta.name(obj)
            if (name.startswith(f"{NAME}-") and name not in desired
                    and (meta.metadata(obj).get("labels") or {}).get(SERVICE_NAME_LABEL) == NAME):
                with contextlib.suppress(errors.NotFound):
                    await delete_object(self.ctx, slices, kv.key, name, DeleteOptions(), dry=False)

    async def run(self) -> None:
        """Create the Service, then renew and reconcile every ``interval``; on cancellation remove this
        server's lease and reconcile once more."""
        try:
            while True:
                try:
                    await self.ensure_service()
                    await self.renew()
                    await self.reconcile()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("kubernetes service reconcile failed")
                self.initialized.set()
                await self.ctx.clock.sleep(self.interval)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._leave(), timeout=2.0)

    async def _leave(self) -> None:
        await self.remove_lease()
        await self.reconcile()
