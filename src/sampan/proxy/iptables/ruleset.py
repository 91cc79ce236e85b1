"""``iptables-restore`` input for one proxy (pure).

Chains are ``SAMPAN-<node hash>-…`` (at most 28 characters): ``SERVICES`` (from nat PREROUTING/OUTPUT),
``NODEPORTS``, ``SVC-``/``SVL-`` (Cluster/Local policy), ``EXT-`` (external traffic), ``SEP-`` (one per
endpoint, the DNAT), ``MARK-MASQ`` and ``POSTROUTING`` in nat; ``FILTER`` in filter (REJECT/DROP for
services without endpoints, unknown ports of known VIPs and unallocated addresses of the VIP ranges).
Jumps from the built-in chains are managed by the backend, not here.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sampan.proxy.model import Endpoint, ServiceKey, ServicePortName
from sampan.proxy.nftables.fragments import Scope
from sampan.proxy.snapshot import ServiceState
from sampan.proxy.topology import categorize

MASQ = "0x4000"
CLAIM = "0x1000"


def _h(text: str, n: int) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:n]


def chain_prefix(node_name: str) -> str:
    return f"SAMPAN-{_h(node_name, 4)}-"


@dataclass(frozen=True, slots=True)
class IptablesConfig:
    node_name: str
    scope: Scope
    reject_cidrs: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        return chain_prefix(self.node_name)

    def chain(self, kind: str, name: str = "") -> str:
        return f"{self.prefix}{kind}" + (f"-{_h(name, 12)}" if name else "")


def _pn_text(pn: ServicePortName) -> str:
    return f"{pn.namespace}/{pn.name}/{pn.protocol.lower()}/{pn.port}"


def _ep_text(pn: ServicePortName, ep: Endpoint) -> str:
    return f"{_pn_text(pn)}__{ep.ip}/{ep.port}"


def render(cfg: IptablesConfig, services: Mapping[ServiceKey, ServiceState], *,
           stale_nat: Iterable[str] = (), stale_filter: Iterable[str] = ()) -> str:
    """The whole ruleset of this proxy; ``stale_*``: chains with our prefix that the kernel holds now
    (those not rewritten are deleted)."""
    c = cfg.chain
    scope = cfg.scope
    not_local = ["!", *scope.iptables_local()] if scope.detects_local else []
    nat: dict[str, list[str]] = {c("SERVICES"): [], c("NODEPORTS"): [], c("MARK-MASQ"): [f"-j MARK --or-mark {MASQ}"],
                                 c("POSTROUTING"): [f"-m mark ! --mark {MASQ}/{MASQ} -j RETURN",
                                                    f"-j MARK --xor-mark {MASQ}", "-j MASQUERADE --random-fully"]}
    if not scope.host_traffic:
        nat[c("SERVICES")].append(f"-j MARK --or-mark {CLAIM}")
    filt: dict[str, list[str]] = {c("FILTER"): []}
    vips: set[str] = set()
    masq = c("MARK-MASQ")
    for key in sorted(services):
        state = services[key]
        for pn in sorted(state.ports):
            svc = state.ports[pn]
            proto = svc.protocol.lower()
            cat = categorize(state.endpoints.get(pn, ()), svc, scope.node_name)
            svc_chain, svl_chain, ext_chain = c("SVC", _pn_text(pn)), c("SVL", _pn_text(pn)), c("EXT", _pn_text(pn))
            uses_cluster = bool(cat.cluster) and svc.uses_cluster_endpoints
            uses_local = bool(cat.local) and svc.uses_local_endpoints
            internal, has_internal = (svl_chain, bool(cat.local)) if svc.internal_policy_local else (svc_chain,
                                                                                                     cat.has_any)
            ext_policy, has_external = (svl_chain, bool(cat.local)) if svc.external_policy_local else (svc_chain,
                                                                                                       cat.has_any)
            uses_external = cat.has_any and svc.externally_accessible
            no_ep = "REJECT" if not cat.has_any else "DROP"
            match = f"-p {proto} -m {proto} --dport {svc.port}"
            vips.add(svc.cluster_ip)
            vips.update(svc.load_balancer_ips)
            for ep in cat.reachable:
                sep = c("SEP", _ep_text(pn, ep))
                rules = [f"-s {ep.ip}/32 -j {masq}"]
                recent = f"-m recent --name {sep} --set " if svc.affinity_timeout else ""
                rules.append(f"-p {proto} {recent}-j DNAT --to-destination {ep.ip}:{ep.port}")
                nat[sep] = rules
            for chain, used, eps in ((svc_chain, uses_cluster, cat.cluster), (svl_chain, uses_local, cat.local)):
                if not used:
                    continue
                rules = []
                if chain == internal and has_internal:
                    rules.append(" ".join([f"-d {svc.cluster_ip}/32", match, *not_local, "-j", masq]))
                seps = [c("SEP", _ep_text(pn, ep)) for ep in eps]
                if svc.affinity_timeout:
                    rules += [f"-m recent --name {s} --rcheck --seconds {svc.affinity_timeout} --reap -j {s}"
                              for s in seps]
                for i, s in enumerate(seps):
                    left = len(seps) - i
                    prob = f"-m statistic --mode random --probability {1 / left:.10f} " if left > 1 else ""
                    rules.append(f"{prob}-j {s}")
                nat[chain] = rules
            if uses_external:
                rules = []
                if not svc.external_policy_local:
                    rules.append(f"-j {masq}")
                elif uses_cluster:
                    if scope.detects_local:
                        rules.append(f"{' '.join(scope.iptables_local())} -j {svc_chain}")
                    rules += [f"-m addrtype --src-type LOCAL -j {masq}", f"-m addrtype --src-type LOCAL -j {svc_chain}"]
                if has_external:
                    rules.append(f"-j {ext_policy}")
                nat[ext_chain] = rules
            if has_internal:
                nat[c("SERVICES")].append(f"-d {svc.cluster_ip}/32 {match} -j {internal}")
            else:
                filt[c("FILTER")].append(f"-d {svc.cluster_ip}/32 {match} -j {no_ep}")
            for ip in (*svc.external_ips, *svc.load_balancer_ips):
                if uses_external:
                    nat[c("SERVICES")].append(f"-d {ip}/32 {match} -j {ext_chain}")
                if not has_external:
                    filt[c("FILTER")].append(f"-d {ip}/32 {match} -j {no_ep}")
            if svc.node_port:
                np_match = f"-p {proto} -m {proto} --dport {svc.node_port}"
                if uses_external:
                    nat[c("NODEPORTS")].append(f"{np_match} -j {ext_chain}")
                if not has_external:
                    filt[c("FILTER")].append(f"-m addrtype --dst-type LOCAL {np_match} -j {no_ep}")
    nat[c("SERVICES")].append(f"-m addrtype --dst-type LOCAL -j {c('NODEPORTS')}")
    filt[c("FILTER")] += [f"-d {ip}/32 -j REJECT" for ip in sorted(vips)]
    filt[c("FILTER")] += [f"-d {cidr} -j REJECT" for cidr in cfg.reject_cidrs]
    out = []
    for table, chains, stale in (("nat", nat, set(stale_nat)), ("filter", filt, set(stale_filter))):
        gone = sorted(stale - chains.keys())
        out.append(f"*{table}")
        out += [f":{name} - [0:0]" for name in [*chains, *gone]]
        for name, rules in chains.items():
            out += [f"-A {name} {r}" for r in rules]
        out += [f"-X {name}" for name in gone]
        out.append("COMMIT")
    return "\n".join(out) + "\n"
