"""The PKI of a ``sampan up`` cluster, laid out as kubeadm lays out ``/etc/kubernetes/pki``.

``<data-dir>/pki/``: ``ca.crt``/``ca.key`` (the cluster CA, CN ``kubernetes``), ``apiserver.crt`` (serving:
``localhost``, ``127.0.0.1``, this host's names and addresses, the ``kubernetes`` Service IP and DNS names),
``apiserver-kubelet-client.crt`` (the API server towards kubelets, bound to ``system:kubelet-api-admin``),
``front-proxy-ca.crt``/``.key`` and ``front-proxy-client.crt`` (the aggregation layer towards extension API
servers, a CA of its own as kubeadm's),
``sa.key``/``sa.pub`` (service-account token signing), one client certificate per component identity
and one serving certificate per kubelet (``kubelet-<node>.crt``). Each certificate is issued once and kept
(:func:`sampan._lib.pki.issue_once`), so restarting a cluster keeps every identity.

``<data-dir>/pki/etcd/`` (only for a replicated control plane, :mod:`sampan.cli.ha_plane`): etcd's own CA, as
kubeadm keeps it (``ca.crt``, CN ``etcd-ca``), the members' serving and peer certificate (``server.crt``,
``peer.crt``: ``localhost``, ``127.0.0.1``, this host), ``healthcheck-client.crt`` (``sampan status``, backups)
and ``pki/apiserver-etcd-client.crt`` (the API servers towards etcd).

``<data-dir>/kubeconfigs/``: one kubeconfig per identity (``admin.conf``, ``scheduler.conf``,
``controller-manager.conf``, ``kubelet-<node>.conf``, ``proxy.conf``, ``dns.conf``) with the CA and the
client certificate and key embedded (``*-data``), as kubeadm writes them.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sampan._lib.pki import CertificateAuthority, CertSpec, issue_once, write_atomic

ADMIN_GROUP = "kubeadm:cluster-admins"
"""kubeadm's admin group (bound to cluster-admin by the bootstrap policy)."""
NODES_GROUP = "system:nodes"
CLUSTER_DOMAIN = "cluster.local"

#: identity name -> (common name, organizations) of the components' client certificates
COMPONENT_IDENTITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("kubernetes-admin", (ADMIN_GROUP,)),
    "scheduler": ("system:kube-scheduler", ()),
    "controller-manager": ("system:kube-controller-manager", ()),
    "proxy": ("system:kube-proxy", ()),
    "dns": ("system:sampan:dns", ()),  # the user the bootstrap RBAC policy binds (authz/bootstrap.py)
    "metrics-server": ("system:metrics-server", ()),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", ()),  # bound to system:kubelet-api-admin
}
FRONT_PROXY_CLIENT = "front-proxy-client"
"""The aggregation layer's identity towards extension API servers (kubeadm's name; a CA of its own)."""


def service_ip(service_cidr: str) -> str:
    """The ``kubernetes`` Service's IP: the first address of the service range."""
    return str(ipaddress.ip_network(service_cidr, strict=False)[1])


def host_names_and_addresses() -> tuple[list[str], list[str]]:
    """This machine's host names and the addresses they resolve to (best effort, never raising)."""
    names = {"localhost"}
    addresses = {"127.0.0.1"}
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names.add(name.lower())
            try:
                for info in socket.getaddrinfo(name, None, family=socket.AF_INET):
                    addresses.add(str(info[4][0]))
            except OSError:
                pass
    return sorted(names), sorted(addresses)


def apiserver_serving_spec(*, service_cidr: str, extra_names: Iterable[str] = (), extra_ips: Iterable[str] = ()
                           ) -> CertSpec:
    """kubeadm's API server certificate names: the host, loopback, the Service IP and DNS names."""
    names, addresses = host_names_and_addresses()
    dns = [*names, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
           f"kubernetes.default.svc.{CLUSTER_DOMAIN}", *extra_names]
    ips = [*addresses, service_ip(service_cidr), *extra_ips]
    return CertSpec("kube-apiserver", dns_names=tuple(dict.fromkeys(dns)), ip_addresses=tuple(dict.fromkeys(ips)),
                    server=True, client=False)


@dataclass(frozen=True)
class ClusterPKI:
    data_dir: Path

    @property
    def dir(self) -> Path:
        return self.data_dir / "pki"

    @property
    def kubeconfig_dir(self) -> Path:
        return self.data_dir / "kubeconfigs"

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def front_proxy_ca_cert(self) -> Path:
        return self.dir / "front-proxy-ca.crt"

    @property
    def front_proxy_ca_key(self) -> Path:
        return self.dir / "front-proxy-ca.key"

    def cert(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.dir / f"{name}.key"

    def kubeconfig(self, identity: str) -> Path:
        return self.kubeconfig_dir / f"{identity}.conf"

    def ensure(self, *, nodes: Sequence[str], service_cidr: str) -> CertificateAuthority:
        """Create whatever is missing: CA, serving and client certificates, the service-account key."""
        ca = CertificateAuthority.load_or_create(self.ca_cert, self.ca_key)
        issue_once(ca, apiserver_serving_spec(service_cidr=service_cidr), cert_path=self.cert("apiserver"),
                   key_path=self.key("apiserver"))
        for name, (cn, orgs) in COMPONENT_IDENTITIES.items():
            issue_once(ca, CertSpec(cn, organizations=orgs), cert_path=self.cert(name), key_path=self.key(name))
        names, addresses = host_names_and_addresses()
        for node in nodes:
            issue_once(ca, CertSpec(f"system:node:{node}", organizations=(NODES_GROUP,)),
                       cert_path=self.cert(f"kubelet-{node}-client"), key_path=self.key(f"kubelet-{node}-client"))
            issue_once(ca, CertSpec(f"system:node:{node}", organizations=(NODES_GROUP,),
                                    dns_names=tuple(dict.fromkeys([node, *names])), ip_addresses=tuple(addresses),
                                    server=True, client=False),
                       cert_path=self.cert(f"kubelet-{node}"), key_path=self.key(f"kubelet-{node}"))
        front_proxy = CertificateAuthority.load_or_create(self.front_proxy_ca_cert, self.front_proxy_ca_key,
                                                          common_name="front-proxy-ca")
        issue_once(front_proxy, CertSpec(FRONT_PROXY_CLIENT), cert_path=self.cert(FRONT_PROXY_CLIENT),
                   key_path=self.key(FRONT_PROXY_CLIENT))
        if not self.sa_key.exists():
            from sampan._lib.pki import key_pem, new_key

            write_atomic(self.sa_key, key_pem(new_key()), private=True)
        return ca

    @property
    def etcd_dir(self) -> Path:
        return self.dir / "etcd"

    def etcd_client(self, name: str) -> tuple[Path, Path, Path]:
        """(etcd CA, certificate, key) of etcd client ``name`` (``apiserver-etcd-client``,
        ``healthcheck-client``)."""
        base = self.dir if name == "apiserver-etcd-client" else self.etcd_dir
        return self.etcd_dir / "ca.crt", base / f"{name}.crt", base / f"{name}.key"

    def ensure_etcd(self) -> None:
        """Create whatever is missing of etcd's PKI (see the module docstring); each issued once."""
        ca = CertificateAuthority.load_or_create(self.etcd_dir / "ca.crt", self.etcd_dir / "ca.key",
                                                 common_name="etcd-ca")
        names, addresses = host_names_and_addresses()
        for leaf in ("server", "peer"):
            issue_once(ca, CertSpec(socket.gethostname() or "etcd", dns_names=tuple(names),
                                    ip_addresses=tuple(addresses), server=True, client=True),
                       cert_path=self.etcd_dir / f"{leaf}.crt", key_path=self.etcd_dir / f"{leaf}.key")
        for client, cn in (("healthcheck-client", "kube-etcd-healthcheck-client"),
                           ("apiserver-etcd-client", "kube-apiserver-etcd-client")):
            _, cert, key = self.etcd_client(client)
            issue_once(ca, CertSpec(cn), cert_path=cert, key_path=key)

    def write_kubeconfig(self, identity: str, *, server: str, cert_name: str | None = None) -> Path:
        """``kubeconfigs/<identity>.conf`` for ``server`` with the CA and ``cert_name``'s certificate."""
        doc = client_kubeconfig(server, ca_pem=self.ca_cert.read_bytes(),
                                cert_pem=self.cert(cert_name or identity).read_bytes(),
                                key_pem=self.key(cert_name or identity).read_bytes())
        path = self.kubeconfig(identity)
        write_atomic(path, yaml.safe_dump(doc, sort_keys=False).encode(), private=True)
        return path


def write_cluster_kubeconfigs(pki: ClusterPKI, *, server: str, nodes: Sequence[str]) -> dict[str, Any]:
    """Every component's kubeconfig under ``kubeconfigs/``; returns the admin's document (for
    ``<data-dir>/kubeconfig`` and the user's merged kubeconfig)."""
    for identity in ("scheduler", "controller-manager", "proxy", "dns", "metrics-server"):
        pki.write_kubeconfig(identity, server=server)
    for node in nodes:
        pki.write_kubeconfig(f"kubelet-{node}", server=server, cert_name=f"kubelet-{node}-client")
    pki.write_kubeconfig("admin", server=server)
    return client_kubeconfig(server, ca_pem=pki.ca_cert.read_bytes(), cert_pem=pki.cert("admin").read_bytes(),
                             key_pem=pki.key("admin").read_bytes())


def admin_ssl_context(data_dir: Path) -> ssl.SSLContext | None:
    """A client TLS context trusting the cluster CA with the admin certificate; None without a PKI."""
    pki = ClusterPKI(data_dir)
    if not pki.ca_cert.exists() or not pki.cert("admin").exists():
        return None
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.load_cert_chain(str(pki.cert("admin")), str(pki.key("admin")))
    return ctx


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def client_kubeconfig(server: str, *, ca_pem: bytes, cert_pem: bytes, key_pem: bytes, name: str = "sampan",
                      user: str = "sampan", namespace: str = "default") -> dict[str, Any]:
    """A kubeconfig with one cluster (``server``, trusting ``ca_pem``) and one client-certificate user."""
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": user, "user": {"client-certificate-data": _b64(cert_pem),
                                          "client-key-data": _b64(key_pem)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user, "namespace": namespace}}],
        "current-context": name,
    }
