"""``nft -f`` text for our table (pure functions: configuration and fragments in, text out).

Hook layout (upstream's, in one ``ip`` table per proxy):

====================  =========================  ======================================================
chain                 hook / priority             does
====================  =========================  ======================================================
filter-input          input, dstnat-10            new connections: ``endpoints-check``; drop martian
                                                  packets to 127/8 that were not DNAT-ed (route_localnet)
filter-forward        forward, dstnat-10          new connections: ``endpoints-check``
filter-output         output, dstnat-10           (host table) new connections: ``endpoints-check``
filter-forward-post   forward, filter             ``cluster-ips-check``: reject what was not DNAT-ed
filter-output-post    output, dstnat+10           (host table) the same for host processes
nat-prerouting        prerouting, dstnat          ``services``
nat-output            output, dstnat              (host table) ``services``
nat-postrouting       postrouting, srcnat         ``masquerading`` of marked packets
====================  =========================  ======================================================

Several proxies on one machine (one per node, all in the host's network namespace) each own a table
(see :class:`~sampan.proxy.nftables.fragments.Scope`). A node table without ``host_traffic`` handles only
packets entering from its pod bridge: its prerouting chain runs first (priority dstnat-5) and marks them
with :data:`CLAIM_MARK`; the host table skips claimed packets, so every packet is handled by exactly one
table. NAT is decided once per connection: the first nat chain that DNATs wins.

A transaction is applied atomically by ``nft -f``; nothing is ever flushed outside a transaction that
rewrites it, so traffic always sees either the old or the new rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sampan.proxy.nftables.fragments import (
    CLUSTER_IPS,
    MARK_MASQ_CHAIN,
    NO_ENDPOINT_NODEPORTS,
    NO_ENDPOINT_SERVICES,
    REJECT_CHAIN,
    SERVICE_IPS,
    SERVICE_NODEPORTS,
    Fragment,
    Scope,
)

MASQUERADE_MARK = 0x4000
"""Upstream's default (``--masquerade-bit 14``)."""
CLAIM_MARK = 0x1000
"""Set on packets a node table took from its bridge, so the host table leaves them alone."""

SERVICES_CHAIN = "services"
ENDPOINTS_CHECK_CHAIN = "endpoints-check"
CLUSTER_IPS_CHECK_CHAIN = "cluster-ips-check"
MASQUERADING_CHAIN = "masquerading"

MAPS: tuple[tuple[str, str], ...] = (
    (SERVICE_IPS, "ipv4_addr . inet_proto . inet_service : verdict"),
    (SERVICE_NODEPORTS, "inet_proto . inet_service : verdict"),
    (NO_ENDPOINT_SERVICES, "ipv4_addr . inet_proto . inet_service : verdict"),
    (NO_ENDPOINT_NODEPORTS, "inet_proto . inet_service : verdict"),
)


@dataclass(frozen=True, slots=True)
class TableConfig:
    table: str
    scope: Scope = field(default_factory=Scope)
    reject_cidrs: tuple[str, ...] = ("100.96.0.0/16",)
    """Virtual-IP ranges (service CIDR, load-balancer pool): traffic to an address there that no rule
    DNAT-ed is rejected (connection refused at once), never routed on."""


@dataclass
class Delta:
    """What one transaction changes among the per-service objects."""

    write_chains: dict[str, tuple[str, ...]] = field(default_factory=dict)
    delete_chains: list[str] = field(default_factory=list)
    add_sets: dict[str, int] = field(default_factory=dict)
    delete_sets: list[str] = field(default_factory=list)
    add_elements: dict[tuple[str, str], str] = field(default_factory=dict)
    delete_elements: list[tuple[str, str]] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.write_chains or self.delete_chains or self.add_sets or self.delete_sets
                    or self.add_elements or self.delete_elements)


def _base_chains(cfg: TableConfig) -> list[tuple[str, str, str, int]]:
    """(name, type, hook, priority) of the table's base chains."""
    host = cfg.scope.host_traffic
    chains = [
        ("filter-input", "filter", "input", -110),
        ("filter-forward", "filter", "forward", -110),
        ("filter-forward-post", "filter", "forward", 0),
        ("nat-prerouting", "nat", "prerouting", -100 if host else -105),
        ("nat-postrouting", "nat", "postrouting", 100),
    ]
    if host:
        chains += [("filter-output", "filter", "output", -110), ("filter-output-post", "filter", "output", -90),
                   ("nat-output", "nat", "output", -100)]
    return chains


def _scope_rules(cfg: TableConfig, chain: str) -> list[str]:
    """The rules that make a base chain see only this table's traffic."""
    scope = cfg.scope
    if chain.endswith("output") or chain.endswith("output-post") or chain == "nat-postrouting":
        return []
    if not scope.host_traffic:
        rules = [f"{scope.if_not_local()} return".strip()]
        if chain == "nat-prerouting":
            rules.append(f"meta mark set meta mark or {CLAIM_MARK:#x}")
        return rules
    return [f"meta mark and {CLAIM_MARK:#x} != 0 return"]


_JUMPS: dict[str, str] = {
    "filter-input": f"ct state new jump {ENDPOINTS_CHECK_CHAIN}",
    "filter-forward": f"ct state new jump {ENDPOINTS_CHECK_CHAIN}",
    "filter-output": f"ct state new jump {ENDPOINTS_CHECK_CHAIN}",
    "filter-forward-post": f"ct state new jump {CLUSTER_IPS_CHECK_CHAIN}",
    "filter-output-post": f"ct state new jump {CLUSTER_IPS_CHECK_CHAIN}",
    "nat-prerouting": f"jump {SERVICES_CHAIN}",
    "nat-output": f"jump {SERVICES_CHAIN}",
    "nat-postrouting": f"jump {MASQUERADING_CHAIN}",
}


def base_lines(cfg: TableConfig) -> list[str]:
    """Create (or reset) the table's fixed part: base chains, top-level chains, maps and the cluster-ips
    set. Maps and sets are flushed: a full sync re-adds every element after this."""
    t = f"ip {cfg.table}"
    out = [f"add table {t}"]
    regular = {
        SERVICES_CHAIN: [
            f"ip daddr . meta l4proto . th dport vmap @{SERVICE_IPS}",
            f"fib daddr type local meta l4proto . th dport vmap @{SERVICE_NODEPORTS}",
        ],
        ENDPOINTS_CHECK_CHAIN: [
            f"ip daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}",
            f"fib daddr type local meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}",
        ],
        CLUSTER_IPS_CHECK_CHAIN: [
            f"ip daddr @{CLUSTER_IPS} reject",
            *([f"ip daddr {{ {', '.join(cfg.reject_cidrs)} }} reject"] if cfg.reject_cidrs else []),
        ],
        REJECT_CHAIN: ["reject"],
        MARK_MASQ_CHAIN: [f"meta mark set meta mark or {MASQUERADE_MARK:#x}"],
        MASQUERADING_CHAIN: [
            f"meta mark and {MASQUERADE_MARK:#x} == 0 return",
            f"meta mark set meta mark xor {MASQUERADE_MARK:#x}",
            "masquerade fully-random",
        ],
    }
    for name, kind in MAPS:
        out += [f"add map {t} {name} {{ type {kind} ; }}", f"flush map {t} {name}"]
    out.append(f"add set {t} {CLUSTER_IPS} {{ type ipv4_addr ; }}")
    out.append(f"flush set {t} {CLUSTER_IPS}")
    for name, rules in regular.items():
        out += [f"add chain {t} {name}", f"flush chain {t} {name}"]
        out += [f"add rule {t} {name} {r}" for r in rules]
    for name, kind, hook, prio in _base_chains(cfg):
        out.append(f"add chain {t} {name} {{ type {kind} hook {hook} priority {prio} ; policy accept ; }}")
        out.append(f"flush chain {t} {name}")
        rules = []
        if name == "filter-input":
            rules.append("ip daddr 127.0.0.0/8 ip saddr != 127.0.0.0/8 ct state new ct status & dnat == 0 drop")
        rules += _scope_rules(cfg, name)
        rules.append(_JUMPS[name])
        out += [f"add rule {t} {name} {r}" for r in rules]
    return out


def _element(t: str, verb: str, collection: str, key: str, value: str) -> str:
    body = f"{key} : {value}" if value and verb == "add" else key
    return f"{verb} element {t} {collection} {{ {body} }}"


def delta_lines(cfg: TableConfig, delta: Delta) -> list[str]:
    """Apply ``delta`` in a safe order: drop references before what they refer to, create targets before
    references to them."""
    t = f"ip {cfg.table}"
    out = [_element(t, "delete", c, k, "") for c, k in delta.delete_elements]
    for name, timeout in delta.add_sets.items():
        out.append(f"add set {t} {name} {{ type ipv4_addr ; flags dynamic,timeout ; timeout {timeout}s ; }}")
    for name in delta.write_chains:
        out += [f"add chain {t} {name}", f"flush chain {t} {name}"]
    for name, rules in delta.write_chains.items():
        out += [f"add rule {t} {name} {r}" for r in rules]
    out += [_element(t, "add", c, k, v) for (c, k), v in delta.add_elements.items()]
    for name in delta.delete_chains:
        out.append(f"flush chain {t} {name}")
    out += [f"delete chain {t} {name}" for name in delta.delete_chains]
    out += [f"delete set {t} {name}" for name in delta.delete_sets]
    return out


def merge(fragments: Iterable[Fragment]) -> Fragment:
    """The union of ``fragments``; an element key claimed by two fragments keeps the first value (two
    Services with one virtual IP and port: the first programmed wins, as with a duplicate map key)."""
    out = Fragment()
    for f in fragments:
        out.chains.update(f.chains)
        out.affinity_sets.update(f.affinity_sets)
        for k, v in f.elements.items():
            out.elements.setdefault(k, v)
    return out


def full_transaction(cfg: TableConfig, fragments: Iterable[Fragment], *,
                     existing_chains: Iterable[str] = (), existing_sets: Iterable[str] = ()) -> str:
    """The whole table: the base, every fragment, and deletion of the per-service chains and sets in
    ``existing_*`` (what the kernel holds now) that no fragment wants. Affinity sets that already exist are
    kept with their entries (``add`` of an existing set is a no-op), so a resync does not break
    sessions."""
    whole = merge(fragments)
    existing_chains = set(existing_chains)
    existing_sets = set(existing_sets)
    delta = Delta(write_chains=whole.chains, add_sets=whole.affinity_sets, add_elements=whole.elements,
                  delete_chains=sorted(existing_chains - whole.chains.keys()),
                  delete_sets=sorted(existing_sets - whole.affinity_sets.keys()))
    return "\n".join([*base_lines(cfg), *delta_lines(cfg, delta)]) + "\n"


def diff(old: Fragment, new: Fragment) -> Delta:
    """The delta that turns ``old`` into ``new`` (only chains whose rules changed are rewritten; an
    affinity set's name includes its timeout, so a set is never changed in place)."""
    d = Delta()
    for name, rules in new.chains.items():
        if old.chains.get(name) != rules:
            d.write_chains[name] = rules
    d.delete_chains = [n for n in old.chains if n not in new.chains]
    d.add_sets = {n: t for n, t in new.affinity_sets.items() if n not in old.affinity_sets}
    d.delete_sets = [n for n in old.affinity_sets if n not in new.affinity_sets]
    for k, v in old.elements.items():
        if new.elements.get(k) != v:
            d.delete_elements.append(k)
    for k, v in new.elements.items():
        if old.elements.get(k) != v:
            d.add_elements[k] = v
    return d


def transaction_text(cfg: TableConfig, delta: Delta) -> str:
    return "\n".join(delta_lines(cfg, delta)) + "\n"


def delete_table_text(table: str) -> str:
    """Remove the table (``add`` first so that deleting a missing table is not an error)."""
    return f"add table ip {table}\ndelete table ip {table}\n"
