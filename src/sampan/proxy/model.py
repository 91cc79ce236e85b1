"""Typed, immutable views of what kube-proxy needs from Services and EndpointSlices.

A Service contributes one :class:`ServicePort` per ``spec.ports`` entry, keyed by
:class:`ServicePortName` (namespace, service, port name, protocol) — upstream's ``proxy.ServicePortName``.
An EndpointSlice contributes :class:`Endpoint` values to the same keys (the slice's port names match the
Service's). Services that kube-proxy ignores (headless, ExternalName, no IPv4 cluster IP) yield nothing.
Parsing never raises: malformed fields are skipped, as upstream's proxier skips what it cannot use.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
DEFAULT_AFFINITY_TIMEOUT = 10800
PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True, slots=True, order=True)
class ServiceKey:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True, order=True)
class ServicePortName:
    namespace: str
    name: str
    port: str
    """The port's name ("" for a single unnamed port)."""
    protocol: str = "TCP"

    @property
    def service(self) -> ServiceKey:
        return ServiceKey(self.namespace, self.name)

    def __str__(self) -> str:
        """``ns/svc:port`` as upstream prints it (``ns/svc`` for an unnamed port)."""
        return f"{self.namespace}/{self.name}" + (f":{self.port}" if self.port else "")


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One port of one Service, as the proxier programs it."""

    name: ServicePortName
    cluster_ip: str
    port: int
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    load_balancer_ips: tuple[str, ...] = ()
    affinity_timeout: int = 0
    """ClientIP session affinity timeout in seconds; 0 = no affinity."""
    external_policy_local: bool = False
    """externalTrafficPolicy Local (only meaningful when externally accessible)."""
    internal_policy_local: bool = False

    @property
    def protocol(self) -> str:
        return self.name.protocol

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.external_ips or self.load_balancer_ips)

    @property
    def uses_cluster_endpoints(self) -> bool:
        return not self.internal_policy_local or (self.externally_accessible and not self.external_policy_local)

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_policy_local or (self.externally_accessible and self.external_policy_local)


@dataclass(frozen=True, slots=True, order=True)
class Endpoint:
    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: str = ""

    def is_local(self, node: str) -> bool:
        return bool(node) and self.node_name == node

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


def _ipv4(text: Any) -> str | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        return None


def _port(value: Any) -> int:
    return value if isinstance(value, int) and 0 < value < 65536 else 0


def service_key(obj: dict[str, Any]) -> ServiceKey:
    meta = obj.get("metadata") or {}
    return ServiceKey(str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def service_ports(svc: dict[str, Any] | None) -> dict[ServicePortName, ServicePort]:
    """The ports kube-proxy programs for ``svc`` (empty for None, headless and ExternalName services)."""
    if not svc:
        return {}
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return {}
    cluster_ip = _ipv4(spec.get("clusterIP"))
    if cluster_ip is None:
        return {}
    key = service_key(svc)
    externals = tuple(ip for ip in (_ipv4(x) for x in spec.get("externalIPs") or ()) if ip)
    lb_ips: tuple[str, ...] = ()
    if spec.get("type") == "LoadBalancer":
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or ()
        lb_ips = tuple(ip for ip in (_ipv4(i.get("ip")) for i in ingress
                                     if isinstance(i, dict) and i.get("ipMode", "VIP") == "VIP") if ip)
    timeout = 0
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")
        timeout = cfg if isinstance(cfg, int) and cfg > 0 else DEFAULT_AFFINITY_TIMEOUT
    node_port_type = spec.get("type") in ("NodePort", "LoadBalancer")
    external = bool(externals or lb_ips or node_port_type)
    out: dict[ServicePortName, ServicePort] = {}
    for p in spec.get("ports") or ():
        if not isinstance(p, dict) or not _port(p.get("port")):
            continue
        protocol = p.get("protocol") or "TCP"
        if protocol not in PROTOCOLS:
            continue
        name = ServicePortName(key.namespace, key.name, str(p.get("name") or ""), protocol)
        out[name] = ServicePort(
            name=name, cluster_ip=cluster_ip, port=int(p["port"]),
            node_port=_port(p.get("nodePort")) if node_port_type else 0,
            external_ips=externals, load_balancer_ips=lb_ips, affinity_timeout=timeout,
            external_policy_local=external and spec.get("externalTrafficPolicy") == "Local",
            internal_policy_local=spec.get("internalTrafficPolicy") == "Local")
    return out


def slice_service(obj: dict[str, Any]) -> ServiceKey | None:
    """The Service an EndpointSlice belongs to (its ``kubernetes.io/service-name`` label)."""
    meta = obj.get("metadata") or {}
    name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    if not name or obj.get("addressType", "IPv4") != "IPv4":
        return None
    return ServiceKey(str(meta.get("namespace") or ""), str(name))


def slice_endpoints(obj: dict[str, Any]) -> dict[ServicePortName, tuple[Endpoint, ...]]:
    """The endpoints of one EndpointSlice by service port (only IPv4 slices of a Service)."""
    svc = slice_service(obj)
    if svc is None:
        return {}
    out: dict[ServicePortName, tuple[Endpoint, ...]] = {}
    for p in obj.get("ports") or ():
        if not isinstance(p, dict) or not _port(p.get("port")):
            continue
        name = ServicePortName(svc.namespace, svc.name, str(p.get("name") or ""), p.get("protocol") or "TCP")
        eps = []
        for ep in obj.get("endpoints") or ():
            if not isinstance(ep, dict):
                continue
            cond = ep.get("conditions") or {}
            ready = cond.get("ready") is not False
            serving = cond.get("serving") if isinstance(cond.get("serving"), bool) else ready
            terminating = cond.get("terminating") is True
            for addr in ep.get("addresses") or ():
                ip = _ipv4(addr)
                if ip:
                    eps.append(Endpoint(ip, int(p["port"]), ready=ready, serving=bool(serving),
                                        terminating=terminating, node_name=str(ep.get("nodeName") or "")))
        out[name] = tuple(eps)
    return out
