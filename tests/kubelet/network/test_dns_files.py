"""The pod's resolv.conf and /etc/hosts, and the service environment, as upstream's kubelet builds them
(pure functions; the process-runtime test checks they are what a container sees)."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.kubelet.network.dns import DNSConfig, hosts_file, parse_resolv_conf, pod_dns_config, render_resolv_conf
from sampan.kubelet.network.service_env import service_env
from sampan.kubelet.volumes.env import container_env
from sampan.kubelet.volumes.objects import StaticObjects

HOST = parse_resolv_conf("# host\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example lab.example\n"
                         "options timeout:2 attempts:3\n")


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web-0", "namespace": "shop", "uid": "u1"}, "spec": {"containers": [], **spec}}


def resolv(p: dict[str, Any], cluster_dns: tuple[str, ...] = ("100.96.0.10",)) -> str:
    return render_resolv_conf(pod_dns_config(p, cluster_dns=cluster_dns, cluster_domain="cluster.local", host=HOST))


def test_parse_resolv_conf() -> None:
    assert DNSConfig(("192.0.2.53", "192.0.2.54"), ("corp.example", "lab.example"),
                             ("timeout:2", "attempts:3")) == HOST


def test_cluster_first_is_the_default() -> None:
    assert resolv(pod()) == ("search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\n"
                             "nameserver 100.96.0.10\noptions ndots:5\n")


def test_host_network_falls_back_unless_with_host_net() -> None:
    host_text = "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n" \
                "options timeout:2 attempts:3\n"
    assert resolv(pod(hostNetwork=True)) == host_text
    assert resolv(pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")).startswith("search shop.svc.")
    assert resolv(pod(dnsPolicy="Default")) == host_text
    assert resolv(pod(), cluster_dns=()) == host_text  # no cluster DNS configured: the node's


def test_none_and_dns_config_merge() -> None:
    cfg = {"nameservers": ["192.0.2.1"], "searches": ["my.example"],
           "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}
    assert resolv(pod(dnsPolicy="None", dnsConfig=cfg)) == ("search my.example\nnameserver 192.0.2.1\n"
                                                            "options ndots:2 edns0\n")
    merged = resolv(pod(dnsConfig={**cfg, "searches": ["svc.cluster.local", "x.example"]}))
    assert merged == ("search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example "
                      "x.example\nnameserver 100.96.0.10\nnameserver 192.0.2.1\noptions ndots:2 edns0\n")


def test_at_most_three_nameservers() -> None:
    cfg = {"nameservers": ["192.0.2.1", "192.0.2.2", "192.0.2.3"]}
    assert resolv(pod(dnsConfig=cfg)).count("nameserver") == 3


def test_hosts_file() -> None:
    text = hosts_file(pod(hostname="db", subdomain="backend",
                          hostAliases=[{"ip": "100.64.9.9", "hostnames": ["foo.local", "bar.local"]}]),
                      pod_ips=["100.64.1.7"], cluster_domain="cluster.local")
    assert text == ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
                    "::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\n"
                    "fe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
                    "100.64.1.7\tdb.backend.shop.svc.cluster.local\tdb\n"
                    "\n# Entries added by HostAliases.\n100.64.9.9\tfoo.local\tbar.local\n")
    plain = hosts_file(pod(), pod_ips=["100.64.1.8"], cluster_domain="cluster.local")
    assert plain.endswith("fe00::2\tip6-allrouters\n100.64.1.8\tweb-0\n")
    host = hosts_file(pod(hostNetwork=True), pod_ips=["127.0.0.1"], cluster_domain="cluster.local",
                      host_hosts="127.0.0.1 localhost\n")
    assert host == "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n"


def svc(name: str, ns: str, ip: str = "100.96.3.4", ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": ports if ports is not None else [{"port": 80, "protocol": "TCP"}]}}


def test_service_variables_as_upstream() -> None:
    services = [
        svc("redis-primary", "shop", "100.96.0.11", [{"name": "redis", "port": 6379, "protocol": "TCP"},
                                                     {"name": "dns-udp", "port": 53, "protocol": "UDP"}]),
        svc("other-ns", "elsewhere"), svc("headless", "shop", "None"),
        svc("kubernetes", "default", "100.96.0.1", [{"name": "https", "port": 443, "protocol": "TCP"}]),
    ]
    env = service_env(pod(), services)
    assert env == {
        "REDIS_PRIMARY_SERVICE_HOST": "100.96.0.11", "REDIS_PRIMARY_SERVICE_PORT": "6379",
        "REDIS_PRIMARY_SERVICE_PORT_REDIS": "6379", "REDIS_PRIMARY_SERVICE_PORT_DNS_UDP": "53",
        "REDIS_PRIMARY_PORT": "tcp://100.96.0.11:6379",
        "REDIS_PRIMARY_PORT_6379_TCP": "tcp://100.96.0.11:6379", "REDIS_PRIMARY_PORT_6379_TCP_PROTO": "tcp",
        "REDIS_PRIMARY_PORT_6379_TCP_PORT": "6379", "REDIS_PRIMARY_PORT_6379_TCP_ADDR": "100.96.0.11",
        "REDIS_PRIMARY_PORT_53_UDP": "udp://100.96.0.11:53", "REDIS_PRIMARY_PORT_53_UDP_PROTO": "udp",
        "REDIS_PRIMARY_PORT_53_UDP_PORT": "53", "REDIS_PRIMARY_PORT_53_UDP_ADDR": "100.96.0.11",
        "KUBERNETES_SERVICE_HOST": "100.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": "tcp://100.96.0.1:443",
        "KUBERNETES_PORT_443_TCP": "tcp://100.96.0.1:443", "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": "100.96.0.1",
    }
    only_master = service_env(pod(enableServiceLinks=False), services)
    assert set(only_master) == {k for k in env if k.startswith("KUBERNETES_")}


@pytest.mark.parametrize("links", [True, False])
def test_own_env_wins_and_may_refer_to_service_variables(links: bool) -> None:
    p = pod(enableServiceLinks=links)
    services = service_env(p, [svc("web", "shop"), svc("kubernetes", "default", "100.96.0.1")])
    container = {"name": "c", "env": [{"name": "WEB_SERVICE_HOST", "value": "mine"},
                                      {"name": "API", "value": "https://$(KUBERNETES_SERVICE_HOST)"}]}
    env = container_env(p, container, objects=StaticObjects(), service_env=services)
    assert env["WEB_SERVICE_HOST"] == "mine"
    assert env["API"] == "https://100.96.0.1"
    assert ("WEB_PORT" in env) is links
