"""``sampan up``: a whole cluster on one machine, each component its own supervised process.

Foreground by default (Ctrl-C stops everything); ``--detach`` starts the same supervisor in the background
and returns once the API server is ready. The cluster's files live under ``--data-dir`` (see
:mod:`sampan.cli.layout`); a second ``sampan up`` on the same directory finds its stored state again.
Components that are not built yet are named, not faked.

``--nodes N`` starts N kubelets (nodes ``<hostname>``, ``<hostname>-2``, …, each with its own root dir under
``<data-dir>/kubelet/<node>`` and its own server port, 10250 upward when free) on ``--runtime process``,
``containerd`` or ``simulated``; with ``simulated``, nodes 2..N are hollow nodes in one ``sampan kubelet --nodes N-1``
process (:mod:`sampan.kubelet.hollow`; same names and root dirs). With ``containerd`` each node also gets a private
containerd (``sampan containerd``, files under ``<data-dir>/containerd/<node>``, CNI bridge ``sampanc<i>``) started
before its kubelet; ``--container-runtime-endpoint`` uses an existing CRI runtime instead (one node).
The cluster counts as ready once every node posted Ready=True in this run and the ``default``
ServiceAccount exists (:mod:`sampan.cli.cluster_ready`); the spinner says what it is still waiting for.

This module holds the options and the control plane's process specs; the nodes' (kubelets, containerd,
kube-proxy) are in :mod:`sampan.cli.up_nodes`, the ``--detach`` parent in :mod:`sampan.cli.up_detached`, the
foreground supervisor in :mod:`sampan.cli.up_foreground`. It imports only what the short-lived ``--detach``
parent needs, so that parent starts fast.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sampan._lib.durations import parse_duration
from sampan.cli.layout import ClusterLayout
from sampan.cli.up_nodes import LB_POOL as LB_POOL
from sampan.cli.up_nodes import SERVICE_CIDR as SERVICE_CIDR
from sampan.cli.up_nodes import free_port as free_port
from sampan.cli.up_nodes import kubelet_specs as kubelet_specs
from sampan.cli.up_nodes import node_names as node_names
from sampan.cli.up_nodes import port_is_free as port_is_free
from sampan.cli.up_nodes import proxy_specs, proxy_unavailable

if TYPE_CHECKING:

    from sampan.cli.supervisor import ComponentSpec

CONTEXT_NAME = "sampan"
#: Default of ``--wait``: how long ``sampan up`` waits for the cluster to be ready (per control-plane node
#: beyond the first, half as long again). Generous: a loaded 2-core machine needs well over a minute.
READY_TIMEOUT = 120.0
SCHEDULER_PORT = 10259
CONTROLLER_MANAGER_PORT = 10257


@dataclass(frozen=True)
class UpOptions:
    data_dir: Path
    port: int = 6443
    storage: str = "sqlite"
    etcd_servers: str = ""
    merge_kubeconfig: bool = True
    nodes: int = 1
    runtime: str = "process"
    container_runtime_endpoint: str = ""
    """An existing CRI runtime for ``--runtime containerd`` ("" = a private containerd per node)."""
    # Extra flags passed through unchanged (timings shrunk for tests): see TIMING_FLAGS.
    controller_manager_args: tuple[str, ...] = ()
    kubelet_args: tuple[str, ...] = ()
    scheduler_args: tuple[str, ...] = ()
    control_plane_nodes: int = 1
    """API servers, schedulers and controller-managers (and etcd members) to run: see
    :mod:`sampan.cli.ha_plane` for N > 1."""
    insecure: bool = False
    """Plain HTTP, every request an admin (``--insecure``); default: TLS with the cluster's PKI."""
    trace: bool = False
    """Serve the embedded trace store (and the live view) and have every component export spans to it."""
    apiserver_workers: int = 1
    """``sampan apiserver --workers``: API server processes on the one port (one control-plane node)."""
    wait: float | None = None
    """``--wait``: seconds to wait for readiness; None = :data:`READY_TIMEOUT`, scaled by control-plane nodes."""

    @property
    def server(self) -> str:
        return f"{'http' if self.insecure else 'https'}://127.0.0.1:{self.port}"

    def kubeconfig_for(self, identity: str) -> str:
        """The kubeconfig component ``identity`` connects with: its own (TLS, :mod:`sampan.cli.pki`), or the
        cluster's one plain-HTTP kubeconfig with ``--insecure``."""
        if self.insecure:
            return str(ClusterLayout(self.data_dir).kubeconfig)
        from sampan.cli.pki import ClusterPKI

        return str(ClusterPKI(self.data_dir).kubeconfig(identity))


def apiserver_serving_args(options: UpOptions) -> tuple[str, ...]:
    """The API server's listener, TLS and authentication flags for ``options``."""
    if options.insecure:
        return ("--port", str(options.port))
    from sampan.cli.pki import ClusterPKI
    from sampan.cli.up_security import front_proxy_args

    pki = ClusterPKI(options.data_dir)
    return ("--secure-port", str(options.port),
            "--tls-cert-file", str(pki.cert("apiserver")), "--tls-private-key-file", str(pki.key("apiserver")),
            "--client-ca-file", str(pki.ca_cert),
            "--service-account-signing-key-file", str(pki.sa_key), "--service-account-key-file", str(pki.sa_key),
            "--kubelet-client-certificate", str(pki.cert("apiserver-kubelet-client")),
            "--kubelet-client-key", str(pki.key("apiserver-kubelet-client")),
            "--kubelet-certificate-authority", str(pki.ca_cert), *front_proxy_args(pki))


def controller_manager_signing_args(options: UpOptions) -> tuple[str, ...]:
    """The cluster CA as the controller-manager's CSR signing CA (kubeadm passes the same); none when insecure."""
    if options.insecure:
        return ()
    from sampan.cli.pki import ClusterPKI

    pki = ClusterPKI(options.data_dir)
    return ("--cluster-signing-cert-file", str(pki.ca_cert), "--cluster-signing-key-file", str(pki.ca_key))


# Per-node pod CIDRs from the node IPAM controller (each kubelet waits for its Node's spec.podCIDR:
# 100.64.<i>.0/24); the service range (DNS at its .10) and the LoadBalancer pool are in sampan.cli.up_nodes.
NODE_IPAM_ARGS = ("--allocate-node-cidrs", "--cluster-cidr", "100.64.0.0/16", "--node-cidr-mask-size", "24")

# Components in start order: (sub-command, issue that builds it). A component starts only when its
# sub-command exists in this installation.
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("apiserver", "issue 3"),
    ("scheduler", "issue 6"),
    ("controller-manager", "issue 7"),
    ("kubelet", "issue 8"),
    ("proxy", "issue 16"),
    ("dns", "issue 16"),
    ("metrics-server", "issue 20"),
)


def ready_timeout(options: UpOptions) -> float:
    """How long ``sampan up`` waits for readiness: ``--wait`` when given, else longer with more
    control-plane processes to start."""
    if options.wait is not None:
        return options.wait
    return READY_TIMEOUT * (1 + (options.control_plane_nodes - 1) / 2)


def available_commands() -> set[str]:
    """The sub-commands this installation has (from :data:`sampan.cli.commands.COMMANDS`, whose modules
    are looked up, not imported: the supervisor must not pay for importing every component)."""
    from importlib.util import find_spec

    from sampan.cli.commands import COMMANDS

    return {name for name, module in COMMANDS.items() if find_spec(f"sampan.cli.{module}") is not None}


def component_specs(options: UpOptions, available: set[str]) -> tuple[list[ComponentSpec], list[str]]:
    """The processes to run, and a line per component that this installation cannot start yet."""
    from sampan.cli.supervisor import ComponentSpec
    from sampan.cli.up_dns import dns_argv
    from sampan.cli.up_security import audit_args

    base = (sys.executable, "-m", "sampan.cli.main")
    kubeconfig = options.kubeconfig_for
    # /metrics and /healthz on upstream's 10259/10257 when free; else on another free port, so a second
    # cluster on this machine neither crash-loops on a taken port nor reports the first one's health in
    # `kubectl get componentstatuses` (the API server is told where to probe)
    scheduler_port = SCHEDULER_PORT if port_is_free(SCHEDULER_PORT) else free_port()
    cm_port = CONTROLLER_MANAGER_PORT if port_is_free(CONTROLLER_MANAGER_PORT) else free_port()
    argv: dict[str, tuple[str, ...]] = {
        "apiserver": (
            "apiserver", "--data-dir", str(options.data_dir), *apiserver_serving_args(options),
            "--storage", options.storage,
            *(("--etcd-servers", options.etcd_servers) if options.etcd_servers else ()),
            *(("--workers", str(options.apiserver_workers)) if options.apiserver_workers > 1 else ()),
            "--service-cluster-ip-range", SERVICE_CIDR,
            "--encryption-provider-config", str(encryption_config(options.data_dir)),
            "--enable-admission-plugins", "ServiceAccount",  # the controller-manager creates the accounts
            *audit_args(options.data_dir),
            "--component-status-server", f"scheduler=http://127.0.0.1:{scheduler_port}/healthz",
            "--component-status-server", f"controller-manager=http://127.0.0.1:{cm_port}/healthz",
        ),
        "scheduler": ("scheduler", "--kubeconfig", kubeconfig("scheduler"), "--secure-port", str(scheduler_port),
                      *options.scheduler_args),
        "controller-manager": ("controller-manager", "--kubeconfig", kubeconfig("controller-manager"),
                               "--load-balancer-ip-range", LB_POOL,
                               *NODE_IPAM_ARGS, *controller_manager_signing_args(options),
                               "--secure-port", str(cm_port),
                               *options.controller_manager_args),
        "dns": dns_argv(options, kubeconfig("dns")),
        # a free port, registered with the aggregation layer through its Endpoints
        "metrics-server": ("metrics-server", "--kubeconfig", kubeconfig("metrics-server"), "--secure-port", "0",
                           "--cert-dir", str(options.data_dir / "metrics-server"), *metrics_server_tls_args(options)),
    }
    specs: list[ComponentSpec] = []
    missing: list[str] = []
    for name, issue in COMPONENTS:
        if name not in available:
            missing.append(f"{name} (not built yet, {issue})")
        elif name == "kubelet":
            specs.extend(kubelet_specs(options, base))
        elif name == "proxy":
            reason = proxy_unavailable(options)
            if reason:
                missing.append(f"proxy ({reason}: Services will not carry traffic)")
            else:
                specs.extend(proxy_specs(options, base, kubeconfig("proxy")))
        else:
            specs.append(ComponentSpec(name, (*base, *argv[name])))
    return specs, missing


def encryption_config(data_dir: Path) -> Path:
    """``<data-dir>/encryption-config.yaml``: Secrets encrypted at rest with aesgcm (a random key made on
    the cluster's first start, mode 0600, kept across restarts; identity last so values stored before
    encryption was on stay readable). Every API server of the cluster reads the same file."""
    from sampan.apiserver.encryption.config import generate

    path = data_dir / "encryption-config.yaml"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(generate(["secrets"]))
        tmp.replace(path)
    return path


def metrics_server_tls_args(options: UpOptions) -> tuple[str, ...]:
    """How metrics-server scrapes kubelets that serve TLS: its own client certificate, the cluster CA."""
    if options.insecure:
        return ()
    from sampan.cli.pki import ClusterPKI

    pki = ClusterPKI(options.data_dir)
    return ("--kubelet-scheme", "https", "--kubelet-client-certificate", str(pki.cert("metrics-server")),
            "--kubelet-client-key", str(pki.key("metrics-server")), "--kubelet-certificate-authority",
            str(pki.ca_cert))


def apiserver_ready(server: str, timeout: float = 1.0, *, context: ssl.SSLContext | None = None) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{server}/readyz", timeout=timeout, context=context) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


# Timing flags ``sampan up`` passes through to one component: (flag, component, kind). Unset flags are not
# passed, so the component's own (upstream) default applies.
TIMING_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--node-monitor-grace-period", "controller-manager", "duration"),
    ("--node-monitor-period", "controller-manager", "duration"),
    ("--node-startup-grace-period", "controller-manager", "duration"),
    ("--node-eviction-rate", "controller-manager", "float"),
    ("--node-status-update-frequency", "kubelet", "duration"),
    ("--node-lease-duration-seconds", "kubelet", "int"),
    ("--node-lease-renew-interval", "kubelet", "duration"),
    # leader election of the scheduler and the controller-manager (shrunk in HA tests)
    *((flag, component, "duration") for flag in ("--leader-elect-lease-duration", "--leader-elect-renew-deadline",
                                                 "--leader-elect-retry-period")
      for component in ("scheduler", "controller-manager")),
)


def timing_args(args: argparse.Namespace, component: str) -> tuple[str, ...]:
    """The pass-through flags set for ``component``, checked here so a bad value fails ``sampan up`` in one
    line instead of crash-looping the component."""
    out: list[str] = []
    for flag, target, kind in TIMING_FLAGS:
        value = getattr(args, flag.lstrip("-").replace("-", "_"), None)
        if value is None or target != component:
            continue
        try:
            if kind == "duration":
                parse_duration(value)
            elif kind == "int":
                int(value)
            else:
                float(value)
        except ValueError:
            raise ValueError(f"{flag}: invalid value {value!r}") from None
        out += [flag, value]
    return tuple(out)


def _wait_seconds(value: str | None) -> float | None:
    """``--wait``'s seconds (a Go duration such as ``5m`` or bare seconds); None when not given."""
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise ValueError(f"--wait: invalid value {value!r} (a positive duration such as 90s or 5m)")
    return seconds


def _run(args: argparse.Namespace) -> int:
    if args.storage is None:  # several API servers share one etcd; one keeps the embedded store
        args.storage = "etcd" if args.control_plane_nodes > 1 else "sqlite"
    if args.port == 0:  # the API server's URL goes into the kubeconfig and every component: fix it now
        args.port = free_port()
    options = UpOptions(
        data_dir=Path(args.data_dir), port=args.port, storage=args.storage,
        etcd_servers=args.etcd_servers, merge_kubeconfig=not args.no_merge_kubeconfig,
        nodes=args.nodes, runtime=args.runtime, container_runtime_endpoint=args.container_runtime_endpoint,
        controller_manager_args=timing_args(args, "controller-manager"), kubelet_args=timing_args(args, "kubelet"),
        scheduler_args=timing_args(args, "scheduler"), control_plane_nodes=args.control_plane_nodes,
        insecure=args.insecure,
        trace=args.trace, wait=_wait_seconds(args.wait),
        apiserver_workers=args.apiserver_workers,
    )
    if args.apiserver_workers > 1 and (args.control_plane_nodes > 1 or args.storage == "memory"):
        raise ValueError("--apiserver-workers needs one control-plane node and --storage sqlite or etcd")
    if args.control_plane_nodes < 1:
        raise ValueError(f"--control-plane-nodes must be at least 1, got {args.control_plane_nodes}")
    if args.control_plane_nodes > 1 and args.storage != "etcd":
        raise ValueError(f"--control-plane-nodes {args.control_plane_nodes} needs --storage etcd (the API servers "
                         f"share one store), not {args.storage}")
    if args.nodes < 1:
        raise ValueError(f"--nodes must be at least 1, got {args.nodes}")
    # one control-plane node: etcd runs as a static pod (sampan.cli.control_plane)
    if args.storage == "etcd" and not args.etcd_servers and args.control_plane_nodes == 1:
        import shutil

        if shutil.which("etcd") is None:
            raise ValueError("--storage etcd without --etcd-servers runs etcd as a static pod, but `etcd` is not "
                             "on PATH (Debian: apt-get install etcd-server)")
    from rich.console import Console

    console = Console(stderr=False)
    if args.detach:
        argv = ["up", "--data-dir", args.data_dir, "--port", str(args.port), "--storage", args.storage,
                "--nodes", str(args.nodes), "--runtime", args.runtime,
                "--control-plane-nodes", str(args.control_plane_nodes),
                "--apiserver-workers", str(args.apiserver_workers),
                *(("--container-runtime-endpoint", args.container_runtime_endpoint)
                  if args.container_runtime_endpoint else ())]
        if args.etcd_servers:
            argv += ["--etcd-servers", args.etcd_servers]
        if args.no_merge_kubeconfig:
            argv.append("--no-merge-kubeconfig")
        if args.insecure:
            argv.append("--insecure")
        if args.trace:
            argv.append("--trace")
        if options.wait is not None:
            argv += ["--wait", f"{options.wait}s"]
        argv += [*options.controller_manager_args, *options.kubelet_args, *options.scheduler_args]
        from sampan.cli.up_detached import run_detached

        return run_detached(options, argv, console)
    import asyncio

    from sampan.cli.up_foreground import run_foreground

    return asyncio.run(run_foreground(options, console))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("up", help="start a whole cluster on this machine")
    p.add_argument("--data-dir", default=".sampan", help="where the cluster keeps its state (default .sampan)")
    p.add_argument("--port", type=int, default=6443,
                   help="API server port on 127.0.0.1 (default 6443; 0 picks a free one)")
    p.add_argument("--storage", choices=("sqlite", "etcd", "memory"), default=None,
                   help="storage backend (default sqlite; etcd with --control-plane-nodes > 1)")
    p.add_argument("--control-plane-nodes", type=int, default=1,
                   help="API servers, schedulers, controller-managers and etcd members to run, behind HAProxy on "
                   "--port when more than 1 (default 1)")
    p.add_argument("--apiserver-workers", type=int, default=1,
                   help="API server processes serving the one port over the one store (sampan apiserver --workers; "
                   "uses both cores) (default 1)")
    p.add_argument("--etcd-servers", default="", help="comma-separated etcd client URLs, for --storage etcd "
                   "(default: run etcd as a static pod of the first node, as kubeadm does)")
    p.add_argument("--nodes", type=int, default=1, help="how many kubelets (nodes) to run (default 1)")
    p.add_argument("--runtime", choices=("process", "simulated", "containerd"), default="process",
                   help="the kubelets' container runtime (default process; containerd: real OCI images through "
                   "CRI, a private containerd per node)")
    p.add_argument("--container-runtime-endpoint", default="",
                   help="with --runtime containerd: use this existing CRI runtime (unix:///…) instead of starting "
                   "a private containerd")
    for flag in dict.fromkeys(f for f, _, _ in TIMING_FLAGS):
        targets = " and ".join(c for f, c, _ in TIMING_FLAGS if f == flag)
        kind = next(k for f, _, k in TIMING_FLAGS if f == flag)
        p.add_argument(flag, default=None, help=f"passed to every {targets} ({kind}; default: its own)")
    p.add_argument("--detach", action="store_true", help="run in the background; stop with `sampan down`")
    p.add_argument("--wait", default=None, metavar="DURATION",
                   help=f"how long to wait for the cluster to be ready before giving up and stopping it (e.g. 90s, "
                   f"5m; default {READY_TIMEOUT:.0f}s, half as long again per extra control-plane node)")
    p.add_argument("--insecure", action="store_true",
                   help="plain HTTP without authentication, every request an admin (default: TLS, each component "
                   "with its own certificate)")
    p.add_argument("--trace", action="store_true", help="trace every component into an embedded store "
                   "(`sampan trace pod/NAME` reads it)")
    p.add_argument("--no-merge-kubeconfig", action="store_true",
                   help="don't add a `sampan` context to $KUBECONFIG / ~/.kube/config")
    p.set_defaults(handler=_run)
