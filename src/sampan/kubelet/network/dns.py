"""A pod's ``/etc/resolv.conf`` and ``/etc/hosts``, as upstream's kubelet computes them (pure functions).

resolv.conf (``pkg/kubelet/network/dns``): the pod's ``dnsPolicy`` picks a base —

* ``ClusterFirst`` (the default): the cluster DNS servers (``--cluster-dns``), searches
  ``<ns>.svc.<domain> svc.<domain> <domain>`` followed by the host's searches, ``options ndots:5``;
  a ``hostNetwork`` pod falls back to ``Default``, and so does every pod when no cluster DNS is set;
* ``ClusterFirstWithHostNet``: the cluster base even with ``hostNetwork``;
* ``Default``: the node's resolv.conf (``--resolv-conf``) as it is;
* ``None``: nothing —

then ``spec.dnsConfig`` is merged in: its nameservers and searches appended without duplicates, its
options override options of the same name. Limits as upstream: 3 nameservers, 32 searches.

/etc/hosts (``managedHostsFileContent``): the loopback block, the pod's addresses with its hostname
(``<hostname>.<subdomain>.<ns>.svc.<domain>`` first when ``subdomain`` is set), then the ``hostAliases``;
for a ``hostNetwork`` pod the node's own hosts file plus the aliases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_NAMESERVERS = 3
MAX_SEARCHES = 32
DEFAULT_OPTIONS = ("ndots:5",)


@dataclass(frozen=True, slots=True)
class DNSConfig:
    servers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


def parse_resolv_conf(text: str) -> DNSConfig:
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            servers.append(fields[1])
        elif fields[0] in ("search", "domain"):
            searches = fields[1:]  # the last search/domain line wins, as in resolv.conf(5)
        elif fields[0] == "options":
            options.extend(fields[1:])
    return DNSConfig(tuple(servers), tuple(searches), tuple(options))


def _unique(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item and item not in out:
            out.append(item)
    return out


def _merge_options(base: Iterable[str], extra: Iterable[Mapping[str, Any]]) -> list[str]:
    """Upstream ``mergeDNSOptions``: options by name, later (dnsConfig) values winning, order kept."""
    merged: dict[str, str | None] = {}
    for text in base:
        name, sep, value = text.partition(":")
        merged[name] = value if sep else None
    for opt in extra:
        if not isinstance(opt, Mapping) or not opt.get("name"):
            continue
        given = opt.get("value")
        merged[str(opt["name"])] = str(given) if given is not None else None
    return [name if value is None else f"{name}:{value}" for name, value in merged.items()]


def policy_kind(pod: Mapping[str, Any], *, has_cluster_dns: bool) -> str:
    """``cluster``, ``host`` or ``none`` for the pod's dnsPolicy (upstream ``getPodDNSType``)."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "None":
        return "none"
    if policy == "Default":
        return "host"
    cluster = policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not spec.get("hostNetwork"))
    return "cluster" if cluster and has_cluster_dns else "host"


def pod_dns_config(pod: Mapping[str, Any], *, cluster_dns: Iterable[str], cluster_domain: str,
                   host: DNSConfig) -> DNSConfig:
    spec = pod.get("spec") or {}
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    servers_cfg = list(cluster_dns)
    kind = policy_kind(pod, has_cluster_dns=bool(servers_cfg))
    if kind == "cluster":
        domain = cluster_domain.strip(".")
        base = DNSConfig(tuple(servers_cfg),
                         tuple([f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *host.searches]),
                         DEFAULT_OPTIONS)
    elif kind == "host":
        base = host
    else:
        base = DNSConfig()
    extra = spec.get("dnsConfig") or {}
    servers = _unique([*base.servers, *(extra.get("nameservers") or [])])[:MAX_NAMESERVERS]
    searches = _unique([*base.searches, *(extra.get("searches") or [])])[:MAX_SEARCHES]
    options = _merge_options(base.options, extra.get("options") or [])
    return DNSConfig(tuple(servers), tuple(searches), tuple(options))


def render_resolv_conf(cfg: DNSConfig) -> str:
    lines = []
    if cfg.searches:
        lines.append("search " + " ".join(cfg.searches))
    lines += [f"nameserver {s}" for s in cfg.servers]
    if cfg.options:
        lines.append("options " + " ".join(cfg.options))
    return "".join(f"{line}\n" for line in lines)


def pod_hostname(pod: Mapping[str, Any]) -> str:
    """``spec.hostname`` or the pod's name, at most 63 characters (upstream ``GeneratePodHostNameAndDomain``)."""
    spec, md = pod.get("spec") or {}, pod.get("metadata") or {}
    return str(spec.get("hostname") or md.get("name") or "")[:63].rstrip("-.")


def _aliases(pod: Mapping[str, Any]) -> str:
    aliases = [a for a in ((pod.get("spec") or {}).get("hostAliases") or []) if isinstance(a, Mapping)]
    if not aliases:
        return ""
    out = "\n# Entries added by HostAliases.\n"
    for alias in aliases:
        out += f"{alias.get('ip', '')}\t" + "\t".join(str(h) for h in alias.get("hostnames") or []) + "\n"
    return out


def hosts_file(pod: Mapping[str, Any], *, pod_ips: Iterable[str], cluster_domain: str,
               host_hosts: str = "") -> str:
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork"):
        return "# Kubernetes-managed hosts file (host network).\n" + host_hosts + _aliases(pod)
    hostname = pod_hostname(pod)
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    subdomain = spec.get("subdomain") or ""
    out = ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
           "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
    for ip in pod_ips:
        if subdomain:
            out += f"{ip}\t{hostname}.{subdomain}.{namespace}.svc.{cluster_domain.strip('.')}\t{hostname}\n"
        else:
            out += f"{ip}\t{hostname}\n"
    return out + _aliases(pod)
