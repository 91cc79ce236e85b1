"""The EndpointSlices a Service should have, computed from its selected pods (pure functions).

An endpoint is one pod: its IPs of one family, ``conditions`` (``ready``: Ready condition True and not
terminating, or the Service publishes not-ready addresses; ``serving``: Ready condition True;
``terminating``: being deleted), ``nodeName``, ``zone``, ``targetRef`` and ``hostname``. Endpoints sharing an
address type and a resolved port set go into the same group, sorted by pod name, then cut into chunks of
``max_per_slice``. A desired slice is identified by (addressType, ports, chunk index) so reconciling the
same pods twice yields identical slices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sampan.controllers.endpoints import pods as rules

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
MAX_PER_SLICE = 100

PortKey = tuple[tuple[str, int, str, str], ...]


@dataclass
class DesiredSlice:
    address_type: str
    ports: PortKey
    endpoints: list[dict[str, Any]] = field(default_factory=list)

    def ports_json(self) -> list[dict[str, Any]]:
        """Upstream always writes ``name`` (``""`` for an unnamed Service port): kubectl describe
        dereferences it, so leaving it out crashes ``kubectl describe service``."""
        return [{"name": n, "port": p, "protocol": proto, **({"appProtocol": app} if app else {})}
                for n, p, proto, app in self.ports]


def address_type(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


def _ports(service: Mapping[str, Any], pod: Mapping[str, Any]) -> PortKey:
    out = []
    for sp in (service.get("spec") or {}).get("ports") or []:
        port = rules.target_port(sp, pod)
        if port is not None:
            out.append((str(sp.get("name") or ""), port, str(sp.get("protocol") or "TCP"),
                        str(sp.get("appProtocol") or "")))
    return tuple(sorted(out))


def _endpoint(pod: Mapping[str, Any], ips: list[str], service: Mapping[str, Any],
              zone_of: Callable[[str], str | None]) -> dict[str, Any]:
    terminating = bool(pod["metadata"].get("deletionTimestamp"))
    serving = rules.pod_ready(pod)
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    ep: dict[str, Any] = {
        "addresses": ips,
        "conditions": {"ready": publish or (serving and not terminating), "serving": publish or serving,
                       "terminating": terminating},
        "targetRef": rules.target_ref(pod),
    }
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        ep["nodeName"] = node
        zone = zone_of(node)
        if zone:
            ep["zone"] = zone
    host = rules.hostname(pod, service)
    if host:
        ep["hostname"] = host
    return ep


def _no_zone(_node: str) -> str | None:
    return None


def desired_slices(service: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], *,
                   max_per_slice: int = MAX_PER_SLICE,
                   zone_of: Callable[[str], str | None] = _no_zone) -> list[DesiredSlice]:
    """The slices for ``service`` given its selected ``pods``; ``zone_of(node name)`` gives an endpoint's
    ``zone`` (the node's ``topology.kubernetes.io/zone`` label)."""
    has_ports = bool((service.get("spec") or {}).get("ports"))
    groups: dict[tuple[str, PortKey], list[dict[str, Any]]] = {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        if not rules.should_include(pod, include_terminating=True):
            continue
        ports = _ports(service, pod)
        if has_ports and not ports:
            continue
        by_family: dict[str, list[str]] = {}
        for ip in rules.pod_ips(pod):
            by_family.setdefault(address_type(ip), []).append(ip)
        for family, ips in by_family.items():
            groups.setdefault((family, ports), []).append(_endpoint(pod, ips[:1], service, zone_of))
    out: list[DesiredSlice] = []
    for (family, ports), endpoints in sorted(groups.items()):
        for i in range(0, len(endpoints), max_per_slice):
            out.append(DesiredSlice(family, ports, endpoints[i:i + max_per_slice]))
    return out


def slice_labels(service: Mapping[str, Any]) -> dict[str, str]:
    labels = {str(k): str(v) for k, v in (service["metadata"].get("labels") or {}).items()}
    labels[SERVICE_NAME_LABEL] = service["metadata"]["name"]
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    if rules.is_headless(service):
        labels[HEADLESS_LABEL] = ""
    return labels


def owner_reference(service: Mapping[str, Any]) -> dict[str, Any]:
    md = service["metadata"]
    return {"apiVersion": "v1", "kind": "Service", "name": md["name"], "uid": md.get("uid"), "controller": True,
            "blockOwnerDeletion": True}
