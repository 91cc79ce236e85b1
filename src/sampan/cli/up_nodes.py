"""The node side of ``sampan up``: one kubelet per node (nodes 2..N hollow in one process on the simulated
runtime; a private containerd per node on ``containerd``), one kube-proxy per node, the node names, the
service and LoadBalancer ranges they share with the control plane, and the loopback ports they take
(upstream's well-known ports when free, else ones the components pick)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from sampan.cli.layout import ClusterLayout

if TYPE_CHECKING:
    from sampan.cli.supervisor import ComponentSpec
    from sampan.cli.up import UpOptions

KUBELET_PORT = 10250
#: Virtual-IP ranges: the API server's service range (cluster DNS at its .10) and the LoadBalancer pool.
SERVICE_CIDR = "100.96.0.0/16"
CLUSTER_DNS = "100.96.0.10"
LB_POOL = "100.127.0.0/24"
PROXY_HEALTHZ_PORT, PROXY_METRICS_PORT = 10256, 10249


def node_names(count: int, hostname: str | None = None) -> list[str]:
    """``<hostname>``, ``<hostname>-2``, … (lower-cased, as node names must be)."""
    host = (hostname or socket.gethostname()).lower()
    return [host if i == 1 else f"{host}-{i}" for i in range(1, count + 1)]


HOLLOW_SERVE_MAX_NODES = 20
"""Up to this many nodes, hollow nodes run their kubelet servers (one port each) so ``kubectl top`` covers them;
bigger simulated clusters keep upstream kubemark's cheaper shape (no server per hollow node)."""


def kubelet_specs(options: UpOptions, base: tuple[str, ...], kubeconfig: str | None = None) -> list[ComponentSpec]:
    """One kubelet per node, each with its own root dir and server port (10250, 10251, … when free, else one
    the kubelet picks and advertises on its Node); pod CIDRs come from the node IPAM controller (distinct
    /24s, so pod addresses and bridges never collide); ClusterFirst pods resolve through CLUSTER_DNS. Each
    kubelet connects with its node's own kubeconfig (``system:node:<node>``) unless ``kubeconfig`` is given."""
    from sampan.cli.supervisor import ComponentSpec

    specs, hollow = [], []
    names = node_names(options.nodes)
    if options.runtime == "simulated" and options.nodes > 1:  # nodes 2..N: hollow nodes, one process
        # one process, one client, so one identity for N nodes: the cluster admin's (the Node authorizer
        # and NodeRestriction cannot tell hollow nodes apart; upstream's kubemark gives each its own)
        hollow_kubeconfig = kubeconfig or str(ClusterLayout(options.data_dir).kubeconfig)
        # small clusters: every hollow node serves its stats (metrics-server scrapes it), with node 2's
        # serving certificate (every node certificate names this host's addresses)
        serving = (("--serve-hollow-nodes", *kubelet_tls_args(options, names[1]))
                   if options.nodes <= HOLLOW_SERVE_MAX_NODES else ())
        hollow.append(ComponentSpec("hollow-kubelets", (
            *base, "kubelet", "--kubeconfig", hollow_kubeconfig, "--runtime", "simulated", *serving,
            "--nodes", str(options.nodes - 1),
            "--node-name-prefix", f"{names[0]}-", "--node-index-start", "2",
            "--root-dir", str(options.data_dir / "kubelet"), "--cluster-dns", CLUSTER_DNS, *options.kubelet_args)))
        names = names[:1]
    for i, node in enumerate(names):
        port = KUBELET_PORT + i if port_is_free(KUBELET_PORT + i) else 0
        root = options.data_dir / "kubelet" / node
        name = "kubelet" if i == 0 else f"kubelet-{i + 1}"
        cri: tuple[str, ...] = ()
        if options.runtime == "containerd":
            endpoint = options.container_runtime_endpoint
            if not endpoint:
                from sampan.cli.containerd_node import ContainerdLayout

                layout = ContainerdLayout((options.data_dir / "containerd" / node).absolute())
                endpoint = layout.endpoint
                specs.append(ComponentSpec("containerd" if i == 0 else f"containerd-{i + 1}", (
                    *base, "containerd", "--dir", str(layout.directory), "--bridge", f"sampanc{i + 1}")))
            cri = ("--container-runtime-endpoint", endpoint)
        specs.append(ComponentSpec(name, (
            *base, "kubelet", "--kubeconfig", kubeconfig or options.kubeconfig_for(f"kubelet-{node}"),
            "--node-name", node, *kubelet_tls_args(options, node),
            "--runtime", options.runtime, "--root-dir", str(root), "--port", str(port), "--cluster-dns", CLUSTER_DNS,
            *cri,
            *options.kubelet_args)))
    return specs + hollow


def kubelet_tls_args(options: UpOptions, node: str) -> tuple[str, ...]:
    """The kubelet's serving certificate and the CA its clients (the API server) must present."""
    if options.insecure:
        return ()
    from sampan.cli.pki import ClusterPKI

    pki = ClusterPKI(options.data_dir)
    from sampan.cli.up_security import KUBELET_AUTH_ARGS

    return ("--tls-cert-file", str(pki.cert(f"kubelet-{node}")), "--tls-private-key-file",
            str(pki.key(f"kubelet-{node}")), "--client-ca-file", str(pki.ca_cert), *KUBELET_AUTH_ARGS)


def proxy_unavailable(options: UpOptions) -> str:
    """Why this cluster runs no kube-proxy ("" when it does): it needs root and real pod networks."""
    if options.runtime == "simulated":
        return "simulated nodes have no pod network"
    from sampan.proxy.routes import can_program_kernel

    return can_program_kernel()


def proxy_specs(options: UpOptions, base: tuple[str, ...], kubeconfig: str) -> list[ComponentSpec]:
    """One kube-proxy per node, each owning its node's nft table and matching traffic from its node's pods
    by source address (``--detect-local-mode NodeCIDR``: the pod CIDR the node IPAM controller gave the
    Node, whatever order the nodes registered in); the first also handles host traffic and
    serves /healthz and /metrics on upstream's ports when free (the others on free ports)."""
    from sampan.cli.supervisor import ComponentSpec

    specs = []
    for i, node in enumerate(node_names(options.nodes)):
        first = i == 0
        healthz = PROXY_HEALTHZ_PORT if first and port_is_free(PROXY_HEALTHZ_PORT) else 0
        metrics = PROXY_METRICS_PORT if first and port_is_free(PROXY_METRICS_PORT) else 0
        specs.append(ComponentSpec("proxy" if first else f"proxy-{i + 1}", (
            *base, "proxy", "--kubeconfig", kubeconfig, "--hostname-override", node,
            "--detect-local-mode", "NodeCIDR", f"--handle-host-traffic={str(first).lower()}",
            "--service-cluster-ip-range", SERVICE_CIDR, "--load-balancer-ip-range", LB_POOL,
            "--healthz-bind-address", f"127.0.0.1:{healthz}", "--metrics-bind-address", f"127.0.0.1:{metrics}")))
    return specs


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
