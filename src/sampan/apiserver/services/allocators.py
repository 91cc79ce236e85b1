"""What a Service write does to the cluster-IP and node-port ranges (upstream's ``storage/alloc.go``).

Create: a Service that is neither ``ExternalName`` nor headless gets ``spec.clusterIP(s)`` (the
requested one if free and in range, else 422; otherwise a random free address that is not reserved);
``NodePort`` and ``LoadBalancer`` Services get a node port per service port (one per port number shared
by its protocols; a ``LoadBalancer`` with ``allocateLoadBalancerNodePorts: false`` only gets the ones
it asks for); a ``LoadBalancer`` with ``externalTrafficPolicy: Local`` gets a ``healthCheckNodePort``.
Update: type changes allocate what the new type needs and release what the old one held; changed node
ports allocate the new and release the old. Delete: everything the Service held is released.

Every allocation is a :class:`Transaction`: new values are taken before the Service is written and
given back by ``revert()`` if the write fails; values to release are only released by ``commit()``,
after the write succeeded (a failed update never loses an address it still holds). Dry runs check and
choose values without storing anything.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from sampan.api import errors
from sampan.apiserver.services.ranges import AllocationError, IPRange, PortRange, RangeFull, StoredRange

log = logging.getLogger(__name__)

NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


@dataclass
class Transaction:
    """Values taken for one write (to give back on failure) and values to release once it succeeded."""

    owner: ServiceAllocators | None = None
    dry: bool = False
    ips: list[str] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    release_ips: list[str] = field(default_factory=list)
    release_ports: list[int] = field(default_factory=list)

    async def revert(self) -> None:
        if self.owner is None or self.dry:
            return
        await self.owner.release(ips=self.ips, ports=self.ports)
        self.ips, self.ports = [], []

    async def commit(self) -> None:
        if self.owner is None or self.dry:
            return
        await self.owner.release(ips=self.release_ips, ports=self.release_ports)
        self.release_ips, self.release_ports = [], []


def _spec(svc: dict[str, Any]) -> dict[str, Any]:
    spec = svc.get("spec")
    return spec if isinstance(spec, dict) else {}


def _ports(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in (spec.get("ports") or []) if isinstance(p, dict)]


def has_cluster_ip(svc: dict[str, Any]) -> bool:
    """Whether the Service holds (or should hold) an address of the range: not ExternalName, not headless."""
    spec = _spec(svc)
    return spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None"


def cluster_ips(svc: dict[str, Any]) -> list[str]:
    if not has_cluster_ip(svc):
        return []
    spec = _spec(svc)
    ips = [str(ip) for ip in (spec.get("clusterIPs") or []) if ip and ip != "None"]
    return ips or ([str(spec["clusterIP"])] if spec.get("clusterIP") else [])


def should_allocate_node_ports(svc: dict[str, Any]) -> bool:
    spec = _spec(svc)
    if spec.get("type") == "NodePort":
        return True
    return spec.get("type") == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False


def needs_health_check(svc: dict[str, Any]) -> bool:
    """Upstream ``NeedsHealthCheck``: a LoadBalancer with ``externalTrafficPolicy: Local``."""
    spec = _spec(svc)
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def node_ports(svc: dict[str, Any]) -> list[int]:
    """Every node port the Service holds (ports' and the health check's), without duplicates."""
    spec = _spec(svc)
    out: list[int] = []
    for port in _ports(spec):
        np = port.get("nodePort")
        if isinstance(np, int) and np > 0 and np not in out:
            out.append(np)
    hc = spec.get("healthCheckNodePort")
    if isinstance(hc, int) and hc > 0 and hc not in out:
        out.append(hc)
    return out


def _name(svc: dict[str, Any]) -> str:
    md = svc.get("metadata")
    return str(md.get("name") or "") if isinstance(md, dict) else ""


def _invalid(svc: dict[str, Any], field_path: str, message: str) -> errors.Invalid:
    return errors.invalid_object("Service", _name(svc), [errors.Cause("FieldValueInvalid", field_path, message)])


def _internal(message: str) -> errors.InternalError:
    return errors.InternalError(f"Internal error occurred: {message}")


class ServiceAllocators:
    """The cluster's two ranges. ``ips`` reserves the range's 1st address (the ``kubernetes`` Service)
    and 10th (cluster DNS) from random allocation; a request may still name them."""

    def __init__(self, ips: StoredRange, ports: StoredRange) -> None:
        self.ips = ips
        self.ports = ports

    @classmethod
    def build(cls, store: Any, *, service_cidr: str, node_port_range: str) -> ServiceAllocators:
        ip_range = IPRange.parse(service_cidr)
        port_range = PortRange.parse(node_port_range)
        reserved = [o for o in (ip_range.offset(ip_range.nth(1)), ip_range.offset(ip_range.nth(10))) if o is not None]
        root = store.root
        return cls(StoredRange(store, f"{root}ranges/serviceips", ip_range, reserved=reserved),
                   StoredRange(store, f"{root}ranges/servicenodeports", port_range))

    @property
    def ip_range(self) -> IPRange:
        assert isinstance(self.ips.domain, IPRange)
        return self.ips.domain

    async def release(self, *, ips: list[str], ports: list[int]) -> None:
        """Give values back; failures are logged (the repair loop frees what is left)."""
        for rng, values in ((self.ips, ips), (self.ports, ports)):
            if values:
                try:
                    await rng.release(values)
                except Exception:
                    log.warning("could not release values, the repair loop will key=%s values=%s", rng.key, values,
                                exc_info=True)

    # -- families ---------------------------------------------------------------------------------

    def check_families(self, svc: dict[str, Any]) -> None:
        """422 for what a single-stack cluster cannot give (upstream ``initIPFamilyFields``)."""
        spec = _spec(svc)
        if not has_cluster_ip(svc) or (spec.get("clusterIP") == "None" and not spec.get("selector")):
            return
        family = "IPv4" if self.ip_range.net.version == 4 else "IPv6"
        causes: list[errors.Cause] = []
        if spec.get("ipFamilyPolicy") == "RequireDualStack":
            causes.append(errors.invalid("spec.ipFamilyPolicy", "RequireDualStack",
                                         "this cluster is not configured for dual-stack services"))
        for i, fam in enumerate(spec.get("ipFamilies") or []):
            if fam != family:
                causes.append(errors.invalid(f"spec.ipFamilies[{i}]", fam, "not configured on this cluster"))
        if causes:
            raise errors.invalid_object("Service", _name(svc), causes)

    # -- cluster IPs ------------------------------------------------------------------------------

    async def _alloc_cluster_ip(self, svc: dict[str, Any], txn: Transaction) -> None:
        spec = _spec(svc)
        requested = str(spec.get("clusterIP") or (spec.get("clusterIPs") or [""])[0] or "")
        if requested:
            try:
                await self.ips.allocate(requested, dry=txn.dry)
            except AllocationError as err:
                shown = ", ".join(f'"{ip}"' for ip in (spec.get("clusterIPs") or [requested]))
                message = f"Invalid value: []string{{{shown}}}: failed to allocate IP {requested}: {err}"
                raise _invalid(svc, "spec.clusterIPs", message) from None
            ip = requested
        else:
            try:
                ip = str(await self.ips.allocate_next(dry=txn.dry))
            except AllocationError as err:
                raise _internal(f"failed to allocate a serviceIP: {err}") from None
        txn.ips.append(ip)
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]

    # -- node ports -------------------------------------------------------------------------------

    async def _take_port(self, svc: dict[str, Any], txn: Transaction, index: int, port: int, *,
                         path: str = "") -> None:
        try:
            await self.ports.allocate(port, dry=txn.dry)
        except AllocationError as err:
            raise _invalid(svc, path or f"spec.ports[{index}].nodePort", f"Invalid value: {port}: {err}") from None
        txn.ports.append(port)

    async def _next_port(self, txn: Transaction, what: str = "a nodePort") -> int:
        try:
            port = int(await self.ports.allocate_next(dry=txn.dry))
        except RangeFull as err:
            raise _internal(f"failed to allocate {what}: {err}") from None
        txn.ports.append(port)
        return port

    async def _alloc_node_ports(self, svc: dict[str, Any], txn: Transaction, *, held: list[int]) -> None:
        """Give every port that needs one a node port; ``held``: ports the Service already owns (kept)."""
        by_number: dict[Any, int] = {}
        ports = _ports(_spec(svc))
        for i, port in enumerate(ports):
            np = port.get("nodePort")
            np = np if isinstance(np, int) and np > 0 else 0
            if not np and not should_allocate_node_ports(svc):
                continue
            number = port.get("port")
            if np:
                if np not in held and np not in txn.ports:
                    await self._take_port(svc, txn, i, np)
                by_number.setdefault(number, np)
                continue
            # a port number given a node port by another protocol's entry shares it (upstream)
            shared = by_number.get(number) or next(
                (p.get("nodePort") for p in ports[i + 1:] if p.get("port") == number
                 and isinstance(p.get("nodePort"), int) and p.get("nodePort")), 0)
            if shared:
                if shared not in held and shared not in txn.ports:
                    await self._take_port(svc, txn, i, shared)
                port["nodePort"] = by_number[number] = shared
            else:
                port["nodePort"] = by_number[number] = await self._next_port(txn)

    async def _alloc_health_check(self, svc: dict[str, Any], txn: Transaction) -> None:
        spec = _spec(svc)
        hc = spec.get("healthCheckNodePort")
        if isinstance(hc, int) and hc > 0:
            try:
                await self.ports.allocate(hc, dry=txn.dry)
            except AllocationError as err:
                raise _internal(f"failed to allocate requested HealthCheck NodePort {hc}: {err}") from None
            txn.ports.append(hc)
        else:
            spec["healthCheckNodePort"] = await self._next_port(txn, "a HealthCheck NodePort")

    # -- the three writes -------------------------------------------------------------------------

    async def allocate_create(self, svc: dict[str, Any], *, dry: bool = False) -> Transaction:
        txn = Transaction(self, dry)
        try:
            self.check_families(svc)
            if has_cluster_ip(svc):
                await self._alloc_cluster_ip(svc, txn)
            if _spec(svc).get("type") in NODE_PORT_TYPES:
                await self._alloc_node_ports(svc, txn, held=[])
            if needs_health_check(svc):
                await self._alloc_health_check(svc, txn)
        except BaseException:
            with contextlib.suppress(Exception):
                await txn.revert()
            raise
        return txn

    async def allocate_update(self, new: dict[str, Any], old: dict[str, Any], *, dry: bool = False) -> Transaction:
        txn = Transaction(self, dry)
        spec = _spec(new)
        try:
            self.check_families(new)
            wanted, held = cluster_ips(new), cluster_ips(old)
            if has_cluster_ip(new) and (not wanted or not set(wanted) <= set(held)):
                await self._alloc_cluster_ip(new, txn)  # from ExternalName (or stored before allocation)
            elif not has_cluster_ip(new):
                txn.release_ips = [ip for ip in cluster_ips(old) if ip not in cluster_ips(new)]
            old_ports = node_ports(old)
            if spec.get("type") in NODE_PORT_TYPES:
                await self._alloc_node_ports(new, txn, held=old_ports)
            if needs_health_check(new):
                hc = spec.get("healthCheckNodePort")
                if not (isinstance(hc, int) and hc > 0 and hc in old_ports):
                    await self._alloc_health_check(new, txn)
            kept = node_ports(new)
            txn.release_ports = [p for p in old_ports if p not in kept]
        except BaseException:
            with contextlib.suppress(Exception):
                await txn.revert()
            raise
        return txn

    async def release_service(self, svc: dict[str, Any]) -> None:
        """After a Service is removed from the store: give back everything it held."""
        await self.release(ips=cluster_ips(svc), ports=node_ports(svc))
