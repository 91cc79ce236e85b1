"""networking.k8s.io/v1 networkpolicies (``netpol``): which traffic may reach or leave selected pods.

sampan stores and validates NetworkPolicies but bundles no network plugin that enforces them: pod
traffic is not filtered by them.

Defaults, as upstream: ``policyTypes`` is ``[Ingress]`` (plus ``Egress`` when egress rules exist) when
empty; every port's ``protocol`` is ``TCP`` when absent. Validation, as ``ValidateNetworkPolicy``:
selectors are valid label selectors; a port's protocol is TCP, UDP or SCTP, a numeric port is 1-65535,
a named one an IANA name, ``endPort`` only with a numeric ``port`` and not below it; each peer sets
a pod and/or namespace selector or an ``ipBlock`` (never both kinds) whose ``cidr`` is a CIDR and whose
``except`` entries are strict subsets of it; at most two ``policyTypes``, each Ingress or Egress.
Generation is tracked; there is no status (upstream removed it). Table: Name, Pod-Selector, Age.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from sampan.api import validation
from sampan.api.errors import Cause, forbidden, invalid, not_supported, required
from sampan.api.resources import ResourceInfo
from sampan.api.selectors import format_label_selector
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.columns import doc_column
from sampan.apiserver.registry.labelselectors import validate_label_selector
from sampan.apiserver.registry.pod_validation import port_name
from sampan.apiserver.registry.strategy import Object, TableColumn

POLICY_TYPES = ["Ingress", "Egress"]
CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
_PROTOCOLS = ["TCP", "UDP", "SCTP"]


@functools.cache
def _columns() -> tuple[TableColumn, ...]:
    return (NAME_COLUMN, doc_column("Pod-Selector", "io.k8s.api.networking.v1.NetworkPolicySpec", "podSelector"),
            AGE_COLUMN)


class NetworkPolicyStrategy(BaseStrategy):
    info = ResourceInfo(
        group="networking.k8s.io", version="v1", resource="networkpolicies", kind="NetworkPolicy",
        singular="networkpolicy", namespaced=True, short_names=("netpol",),
    )
    tracks_generation = True

    def default(self, obj: Object) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        for direction in ("ingress", "egress"):
            for rule in as_list(spec.get(direction)):
                for port in as_list(as_dict(rule).get("ports")):
                    if isinstance(port, dict) and port.get("protocol") is None:
                        port["protocol"] = "TCP"
        if not spec.get("policyTypes"):
            spec["policyTypes"] = ["Ingress", "Egress"] if as_list(spec.get("egress")) else ["Ingress"]

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        causes = validate_label_selector(spec.get("podSelector"), "spec.podSelector")
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for i, rule in enumerate(as_list(spec.get(direction))):
                rule, path = as_dict(rule), f"spec.{direction}[{i}]"
                for j, port in enumerate(as_list(rule.get("ports"))):
                    causes += validate_port(as_dict(port), f"{path}.ports[{j}]")
                for j, peer in enumerate(as_list(rule.get(peers_key))):
                    causes += validate_peer(as_dict(peer), f"{path}.{peers_key}[{j}]")
        types = as_list(spec.get("policyTypes"))
        if len(types) > len(POLICY_TYPES):
            return [*causes, invalid("spec.policyTypes", str(types), "may not specify more than two policyTypes")]
        for i, ptype in enumerate(types):
            if ptype not in POLICY_TYPES:
                causes.append(not_supported(f"spec.policyTypes[{i}]", ptype, POLICY_TYPES))
        return causes

    def table_columns(self) -> list[TableColumn]:
        return list(_columns())

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [format_label_selector(as_dict(obj.get("spec")).get("podSelector") or {}), age_cell(obj, now)]


def validate_port(port: dict[str, Any], path: str) -> list[Cause]:
    """Upstream ``ValidateNetworkPolicyPort``."""
    causes: list[Cause] = []
    protocol, value, end = port.get("protocol"), port.get("port"), port.get("endPort")
    if protocol is not None and protocol not in _PROTOCOLS:
        causes.append(not_supported(f"{path}.protocol", protocol, _PROTOCOLS))
    if value is None:
        if end is not None:
            causes.append(invalid(f"{path}.endPort", end, "may not be specified when `port` is not specified"))
    elif isinstance(value, int) and not isinstance(value, bool):
        causes += [invalid(f"{path}.port", value, m) for m in validation.port_number(value)]
        if end is not None:
            if isinstance(end, int) and end < value:
                causes.append(invalid(f"{path}.endPort", end, "must be greater than or equal to `port`"))
            causes += [invalid(f"{path}.endPort", end, m) for m in validation.port_number(end)]
    else:
        if end is not None:
            causes.append(invalid(f"{path}.endPort", end, "may not be specified when `port` is non-numeric"))
        causes += validation.validate_name(value, f"{path}.port", port_name)
    return causes


def validate_peer(peer: dict[str, Any], path: str) -> list[Cause]:
    """Upstream ``ValidateNetworkPolicyPeer``."""
    causes: list[Cause] = []
    count = 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            count += 1
            causes += validate_label_selector(peer[key], f"{path}.{key}")
    block = peer.get("ipBlock")
    if block is not None:
        count += 1
        causes += validate_ip_block(as_dict(block), f"{path}.ipBlock")
    if count == 0:
        causes.append(Cause("FieldValueRequired", path, "Required value: must specify a peer"))
    elif count > 1 and block is not None:
        causes.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return causes


def validate_ip_block(block: dict[str, Any], path: str) -> list[Cause]:
    """Upstream ``ValidateIPBlock``: a CIDR, and ``except`` entries strictly inside it."""
    cidr = block.get("cidr")
    if not cidr:
        return [required(f"{path}.cidr")]
    outer = _network(cidr)
    if outer is None:
        return [invalid(f"{path}.cidr", str(cidr), CIDR_MSG)]
    causes: list[Cause] = []
    for i, text in enumerate(as_list(block.get("except"))):
        inner = _network(text)
        if inner is None:
            causes.append(invalid(f"{path}.except[{i}]", str(text), CIDR_MSG))
        elif not _strict_subset(inner, outer):
            causes.append(invalid(f"{path}.except[{i}]", text, "must be a strict subset of `cidr`"))
    return causes


def _strict_subset(inner: ipaddress.IPv4Network | ipaddress.IPv6Network,
                   outer: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return inner.subnet_of(outer) and inner.prefixlen > outer.prefixlen
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return inner.subnet_of(outer) and inner.prefixlen > outer.prefixlen
    return False


def _network(text: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not isinstance(text, str) or "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
