"""The records one Service publishes, from the Service and its EndpointSlices (pure; no I/O, no state).

Follows the Kubernetes DNS specification (schema 1.1.0, github.com/kubernetes/dns docs/specification.md)
as CoreDNS's kubernetes plugin serves it, for an IPv4-only cluster. For Service ``s`` in namespace ``n``
and zone ``z`` (``cluster.local.``):

- ClusterIP (and NodePort/LoadBalancer) Service with a cluster IP: ``s.n.svc.z`` A -> each IPv4 cluster
  IP; for each named port ``_port._proto.s.n.svc.z`` SRV ``0 100 <port> s.n.svc.z``; PTR for each cluster IP.
- Headless Service (``clusterIP: None``): ``s.n.svc.z`` A -> every *ready* endpoint address; every ready
  endpoint also gets ``<h>.s.n.svc.z`` A, where ``h`` is its ``hostname`` (StatefulSet pods) or its
  address with dashes (``100-64-0-5``, CoreDNS's system-assigned name); for each named port, one SRV per
  ready endpoint ``0 <w> <port> <h>.s.n.svc.z`` (``w`` = 100 / number of targets, as CoreDNS weighs them).
- ExternalName Service: ``s.n.svc.z`` CNAME -> ``spec.externalName``.
- Every ready endpoint address (any Service type with endpoints) -> PTR ``<h>.s.n.svc.z``.
- The bare service name answers SRV with every named port's records too (CoreDNS does).

An endpoint is ready when ``conditions.ready`` is absent or true (EndpointSlice semantics: the
EndpointSlice controller already folds ``publishNotReadyAddresses`` into it). Only ``addressType: IPv4``
slices count. Names are lower-case, absolute (trailing dot); record order is deterministic.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.PTR
import dns.rdtypes.IN.A
import dns.rdtypes.IN.SRV

IN = dns.rdataclass.IN
A, SRV, CNAME, PTR = dns.rdatatype.A, dns.rdatatype.SRV, dns.rdatatype.CNAME, dns.rdatatype.PTR

#: name (lower-case, absolute) -> rdtype -> rdatas, in order.
NameTable = dict[str, dict[int, list[dns.rdata.Rdata]]]


@dataclass
class ServiceRecords:
    """What one Service publishes. ``names`` are owned by this Service alone (they all end in its
    ``s.n.svc.z``); ``ptrs`` maps an IPv4 address to the names pointing back at it (several Services
    may claim the same address)."""

    names: NameTable = field(default_factory=dict)
    ptrs: dict[str, list[str]] = field(default_factory=dict)


def service_name(name: str, namespace: str, zone: str) -> str:
    return f"{name}.{namespace}.svc.{zone}".lower()


def dashed(ip: str) -> str:
    """``100.64.0.5`` -> ``100-64-0-5``."""
    return ip.replace(".", "-").replace(":", "-")


def reverse_name(ip: str) -> str:
    """``100.96.0.10`` -> ``10.0.96.100.in-addr.arpa.``"""
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa."


def endpoint_is_ready(endpoint: Mapping[str, Any]) -> bool:
    ready = (endpoint.get("conditions") or {}).get("ready")
    return ready is None or bool(ready)


def _ipv4(text: Any) -> str | None:
    try:
        return str(ipaddress.IPv4Address(str(text)))
    except ValueError:
        return None


def _a(ip: str) -> dns.rdata.Rdata:
    return dns.rdtypes.IN.A.A(IN, A, ip)


def _srv(port: int, weight: int, target: str) -> dns.rdata.Rdata:
    return dns.rdtypes.IN.SRV.SRV(IN, SRV, 0, weight, port, dns.name.from_text(target))


def _add(table: NameTable, name: str, rdtype: int, rdata: dns.rdata.Rdata) -> None:
    records = table.setdefault(name, {}).setdefault(rdtype, [])
    if rdata not in records:
        records.append(rdata)


def _srv_name(port_name: str, protocol: str, owner: str) -> str:
    return f"_{port_name}._{protocol}.{owner}".lower()


def _weigh(targets: list[tuple[int, str]]) -> list[dns.rdata.Rdata]:
    """SRV records for (port, target) pairs, weights split as CoreDNS does: floor(100 / count)."""
    weight = max(1, 100 // len(targets)) if targets else 100
    return [_srv(port, weight, target) for port, target in targets]


def ready_endpoints(slices: Iterable[Mapping[str, Any]]) -> list[tuple[str, str | None, list[Mapping[str, Any]]]]:
    """(address, hostname or None, the slice's ports) for every ready IPv4 endpoint, in slice-name order."""
    out = []
    for sl in sorted(slices, key=lambda s: str((s.get("metadata") or {}).get("name", ""))):
        if sl.get("addressType", "IPv4") != "IPv4":
            continue
        ports = list(sl.get("ports") or [])
        for ep in sl.get("endpoints") or []:
            if not endpoint_is_ready(ep):
                continue
            for address in ep.get("addresses") or []:
                ip = _ipv4(address)
                if ip is not None:
                    out.append((ip, ep.get("hostname") or None, ports))
    return out


def build_service_records(service: Mapping[str, Any], slices: Iterable[Mapping[str, Any]], *,
                          zone: str) -> ServiceRecords:
    """The records of ``service`` given its EndpointSlices (``zone`` absolute, e.g. ``cluster.local.``)."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    owner = service_name(str(meta.get("name", "")), str(meta.get("namespace", "")), zone)
    out = ServiceRecords(names={owner: {}})
    if spec.get("type") == "ExternalName":
        target = str(spec.get("externalName") or "").rstrip(".")
        if target:
            out.names[owner][CNAME] = [dns.rdtypes.ANY.CNAME.CNAME(IN, CNAME, dns.name.from_text(target + "."))]
        return out
    endpoints = ready_endpoints(slices)
    srv_targets: dict[str, list[tuple[int, str]]] = {}
    if spec.get("clusterIP") == "None":
        for ip, hostname, ports in endpoints:
            host = f"{(hostname or dashed(ip))}.{owner}".lower()
            _add(out.names, owner, A, _a(ip))
            _add(out.names, host, A, _a(ip))
            for port in ports:
                if port.get("name") and port.get("port"):
                    name = _srv_name(str(port["name"]), str(port.get("protocol") or "TCP").lower(), owner)
                    pair = (int(port["port"]), host)
                    if pair not in srv_targets.setdefault(name, []):
                        srv_targets[name].append(pair)
    else:
        ips = [ip for ip in (_ipv4(x) for x in (spec.get("clusterIPs") or [spec.get("clusterIP")])) if ip]
        for ip in ips:
            _add(out.names, owner, A, _a(ip))
            out.ptrs.setdefault(ip, []).append(owner)
        if ips:
            for port in spec.get("ports") or []:
                if port.get("name") and port.get("port"):
                    name = _srv_name(str(port["name"]), str(port.get("protocol") or "TCP").lower(), owner)
                    srv_targets.setdefault(name, []).append((int(port["port"]), owner))
    for ip, hostname, _ in endpoints:
        target = f"{(hostname or dashed(ip))}.{owner}".lower()
        if target not in out.ptrs.setdefault(ip, []):
            out.ptrs[ip].append(target)
    for name, targets in srv_targets.items():
        records = _weigh(targets)
        out.names[name] = {SRV: records}
        for rd in records:
            _add(out.names, owner, SRV, rd)
    return out


def names_between(name: str, zone: str) -> list[str]:
    """The ancestors of ``name`` strictly below it and down to (and including) ``zone``: the empty
    non-terminals its existence implies (``a.b.svc.z`` -> ``b.svc.z``, ``svc.z``, ``z``)."""
    out = []
    labels = name.split(".")
    for i in range(1, len(labels)):
        parent = ".".join(labels[i:])
        if not parent.endswith(zone) or len(parent) < len(zone):
            break
        out.append(parent)
        if parent == zone:
            break
    return out
