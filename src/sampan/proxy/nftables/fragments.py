"""One Service's share of the ruleset (pure): its per-port chains, its per-endpoint chains and affinity
sets, and its elements in the shared maps and sets. The ruleset is the base table plus the union of every
Service's fragment, so a change to one Service rewrites only that Service's fragment (partial sync).

The rules follow upstream's nftables proxier:

- ``service-…`` (Cluster policy) / ``local-…`` (Local policy) chains: affinity checks
  (``ip saddr @affinity-E goto endpoint-E``), then ``numgen random mod N vmap {…}`` over the endpoints;
  the chain used for cluster-IP traffic first marks off-node traffic for masquerade.
- ``external-…`` chain for NodePort, external and load-balancer IPs: masquerade and go to the Cluster
  chain, or for ``externalTrafficPolicy: Local`` short-circuit pod and host traffic to the Cluster chain
  and send the rest to the Local chain (source IP kept).
- ``endpoint-…`` chains: hairpin masquerade, affinity update, ``dnat to ip:port``.
- Elements: ``service-ips`` / ``service-nodeports`` dispatch when there are endpoints;
  ``no-endpoint-services`` / ``no-endpoint-nodeports`` REJECT (no endpoint anywhere) or DROP (none
  for a Local policy); ``cluster-ips`` lists the Service's virtual IPs (unknown ports are rejected).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sampan.proxy.model import Endpoint, ServicePort, ServicePortName
from sampan.proxy.nftables import names
from sampan.proxy.topology import categorize

SERVICE_IPS = "service-ips"
SERVICE_NODEPORTS = "service-nodeports"
NO_ENDPOINT_SERVICES = "no-endpoint-services"
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
CLUSTER_IPS = "cluster-ips"
REJECT_CHAIN = "reject-chain"
MARK_MASQ_CHAIN = "mark-for-masquerade"


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose traffic a table handles: this node's pod traffic is what comes from ``local_cidr`` (the
    Node's ``spec.podCIDR``, upstream's ``--detect-local-mode=NodeCIDR``) or, without it, what enters from
    ``local_interface`` (the node's pod bridge, ``BridgeInterface`` mode); neither: the node has no pods
    of its own. ``host_traffic``: the table also handles traffic that host processes send (the ``output``
    hook) and traffic no node claims."""

    node_name: str = ""
    local_interface: str = ""
    host_traffic: bool = True
    local_cidr: str = ""

    @property
    def detects_local(self) -> bool:
        return bool(self.local_cidr or self.local_interface)

    def if_local(self) -> str:
        """A match for this node's pod traffic ("" when the node has none)."""
        if self.local_cidr:
            return f"ip saddr {self.local_cidr}"
        return f'iifname "{self.local_interface}"' if self.local_interface else ""

    def if_not_local(self) -> str:
        """A match for traffic not from this node's pods ("" matches everything)."""
        if self.local_cidr:
            return f"ip saddr != {self.local_cidr}"
        return f'iifname != "{self.local_interface}"' if self.local_interface else ""

    def iptables_local(self) -> list[str]:
        """The iptables arguments matching this node's pod traffic ([] when the node has none)."""
        if self.local_cidr:
            return ["-s", self.local_cidr]
        return ["-i", self.local_interface] if self.local_interface else []


@dataclass(frozen=True)
class Fragment:
    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Chain name -> its rules, in order (insertion order: a chain is listed after the chains it jumps to)."""
    elements: dict[tuple[str, str], str] = field(default_factory=dict)
    """(map or set, key) -> value ("" for set elements)."""
    affinity_sets: dict[str, int] = field(default_factory=dict)
    """Set name -> element timeout in seconds."""


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _balance(chain_rules: list[str], pn: ServicePortName, svc: ServicePort, eps: Sequence[Endpoint]) -> None:
    if svc.affinity_timeout:
        for ep in eps:
            aff = names.affinity_set(pn, ep, svc.affinity_timeout)
            chain_rules.append(f"ip saddr @{aff} goto {names.endpoint_chain(pn, ep)}")
    targets = ", ".join(f"{i} : goto {names.endpoint_chain(pn, ep)}" for i, ep in enumerate(eps))
    chain_rules.append(f"numgen random mod {len(eps)} vmap {{ {targets} }}")


def port_fragment(svc: ServicePort, endpoints: Sequence[Endpoint], scope: Scope, out: Fragment) -> None:
    """Add ``svc``'s chains, sets and elements to ``out`` (endpoints in any order: sorted here)."""
    pn, proto = svc.name, svc.protocol.lower()
    cat = categorize(sorted(endpoints), svc, scope.node_name)
    cluster_chain, local_chain = names.cluster_chain(pn), names.local_chain(pn)
    external_chain = names.external_chain(pn)
    uses_cluster = bool(cat.cluster) and svc.uses_cluster_endpoints
    uses_local = bool(cat.local) and svc.uses_local_endpoints
    internal_chain, has_internal = cluster_chain, cat.has_any
    if svc.internal_policy_local:
        internal_chain, has_internal = local_chain, bool(cat.local)
    external_policy_chain, has_external = cluster_chain, cat.has_any
    if svc.external_policy_local:
        external_policy_chain, has_external = local_chain, bool(cat.local)
    uses_external = cat.has_any and svc.externally_accessible
    if not cat.has_any:
        internal_verdict = external_verdict = f"goto {REJECT_CHAIN}"
    else:
        internal_verdict = "" if has_internal else "drop"
        external_verdict = "" if has_external else "drop"

    # Endpoint chains first (the policy chains jump to them).
    for ep in cat.reachable:
        rules = [f"ip saddr {ep.ip} jump {MARK_MASQ_CHAIN}"]
        if svc.affinity_timeout:
            aff = names.affinity_set(pn, ep, svc.affinity_timeout)
            out.affinity_sets[aff] = svc.affinity_timeout
            rules.append(f"update @{aff} {{ ip saddr }}")
        rules.append(f"meta l4proto {proto} dnat to {ep.ip}:{ep.port}")
        out.chains[names.endpoint_chain(pn, ep)] = tuple(rules)

    for chain, used, eps in ((cluster_chain, uses_cluster, cat.cluster), (local_chain, uses_local, cat.local)):
        if not used:
            continue
        rules = []
        if chain == internal_chain and has_internal:
            # Masquerade traffic to the cluster IP that does not come from this node's pods.
            rules.append(_join(f"ip daddr {svc.cluster_ip} {proto} dport {svc.port}", scope.if_not_local(),
                               f"jump {MARK_MASQ_CHAIN}"))
        _balance(rules, pn, svc, eps)
        out.chains[chain] = tuple(rules)

    if uses_external:
        rules = []
        if not svc.external_policy_local:
            rules.append(f"jump {MARK_MASQ_CHAIN}")
        elif uses_cluster:
            if scope.if_local():
                rules.append(f"{scope.if_local()} goto {cluster_chain}")  # short-circuit pod traffic
            rules.append(f"fib saddr type local jump {MARK_MASQ_CHAIN}")
            rules.append(f"fib saddr type local goto {cluster_chain}")  # short-circuit host traffic
        if has_external:
            rules.append(f"goto {external_policy_chain}")
        out.chains[external_chain] = tuple(rules)

    key = f"{svc.cluster_ip} . {proto} . {svc.port}"
    if has_internal:
        out.elements[(SERVICE_IPS, key)] = f"goto {internal_chain}"
    else:
        out.elements[(NO_ENDPOINT_SERVICES, key)] = internal_verdict
    out.elements[(CLUSTER_IPS, svc.cluster_ip)] = ""
    for ip in (*svc.external_ips, *svc.load_balancer_ips):
        key = f"{ip} . {proto} . {svc.port}"
        if uses_external:
            out.elements[(SERVICE_IPS, key)] = f"goto {external_chain}"
        if not has_external:
            out.elements[(NO_ENDPOINT_SERVICES, key)] = external_verdict
    for ip in svc.load_balancer_ips:
        out.elements[(CLUSTER_IPS, ip)] = ""
    if svc.node_port:
        key = f"{proto} . {svc.node_port}"
        if uses_external:
            out.elements[(SERVICE_NODEPORTS, key)] = f"goto {external_chain}"
        if not has_external:
            out.elements[(NO_ENDPOINT_NODEPORTS, key)] = external_verdict


def service_fragment(ports: Mapping[ServicePortName, ServicePort],
                     endpoints: Mapping[ServicePortName, Sequence[Endpoint]], scope: Scope) -> Fragment:
    """The fragment of one Service (all its ports), deterministic for equal inputs."""
    out = Fragment()
    for pn in sorted(ports):
        port_fragment(ports[pn], endpoints.get(pn, ()), scope, out)
    return out
