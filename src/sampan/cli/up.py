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

The foreground supervisor lives in :mod:`sampan.cli.up_foreground`; this module imports only what the
short-lived ``--detach`` parent needs, so that parent starts fast.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sampan._lib.durations import parse_duration
from sampan.cli.layout import ClusterLayout

if TYPE_CHECKING:
    from rich.console import Console

    from sampan.cli.supervisor import ComponentSpec

CONTEXT_NAME = "sampan"
READY_TIMEOUT = 60.0
KUBELET_PORT = 10250
SCHEDULER_PORT = 10259
CONTROLLER_MANAGER_PORT = 10257
#: How often ``--detach`` re-reads ``up.json`` for ``ready`` (a small local file; polling is cheap).
DETACHED_POLL = 0.05


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
    apiserver_workers: int = 1
    """``sampan apiserver --workers``: API server processes on the one port (one control-plane node)."""
    """Serve the embedded trace store (and the live view) and have every component export spans to it."""

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


# Service networking: the service range (DNS at its .10), and per-node pod CIDRs from the node IPAM
# controller (each kubelet waits for its Node's spec.podCIDR: 100.64.<i>.0/24).
SERVICE_CIDR = "100.96.0.0/16"
CLUSTER_DNS = "100.96.0.10"
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

#: Virtual-IP ranges: the API server's default service range and the LoadBalancer pool.
SERVICE_CIDR = "100.96.0.0/16"
LB_POOL = "100.127.0.0/24"
PROXY_HEALTHZ_PORT, PROXY_METRICS_PORT = 10256, 10249


def ready_timeout(options: UpOptions) -> float:
    """How long ``sampan up`` waits for readiness: longer with more control-plane processes to start."""
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
        ),
        # /metrics and /healthz on upstream's 10259 when free; else none, so a second cluster on this
        # machine does not crash-loop its scheduler on a taken port.
        "scheduler": ("scheduler", "--kubeconfig", kubeconfig("scheduler"),
                      "--secure-port", str(SCHEDULER_PORT if port_is_free(SCHEDULER_PORT) else 0),
                      *options.scheduler_args),
        "controller-manager": ("controller-manager", "--kubeconfig", kubeconfig("controller-manager"),
                               "--load-balancer-ip-range", LB_POOL,
                               *NODE_IPAM_ARGS, *controller_manager_signing_args(options),
                               "--secure-port",
                               str(CONTROLLER_MANAGER_PORT if port_is_free(CONTROLLER_MANAGER_PORT) else 0),
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


def metrics_server_tls_args(options: UpOptions) -> tuple[str, ...]:
    """How metrics-server scrapes kubelets that serve TLS: its own client certificate, the cluster CA."""
    if options.insecure:
        return ()
    from sampan.cli.pki import ClusterPKI

    pki = ClusterPKI(options.data_dir)
    return ("--kubelet-scheme", "https", "--kubelet-client-certificate", str(pki.cert("metrics-server")),
            "--kubelet-client-key", str(pki.key("metrics-server")), "--kubelet-certificate-authority",
            str(pki.ca_cert))


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


def apiserver_ready(server: str, timeout: float = 1.0, *, context: ssl.SSLContext | None = None) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{server}/readyz", timeout=timeout, context=context) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _check_can_start(layout: ClusterLayout, options: UpOptions) -> None:
    pid = layout.running_pid()
    if pid is not None:
        raise ValueError(
            f"a cluster is already running for {layout.data_dir} (pid {pid}); "
            f"`sampan down --data-dir {layout.data_dir}` stops it"
        )
    if options.port and not port_is_free(options.port):
        raise ValueError(f"port {options.port} on 127.0.0.1 is in use; pick another with --port")


def _print_summary(
    console: Console, options: UpOptions, layout: ClusterLayout, started: list[str], missing: list[str]
) -> None:
    console.print(f"[green]cluster ready[/green] at {options.server} (data in {options.data_dir})")
    console.print(f"  running: {', '.join(started)}")
    nodes = layout.read_state().get("nodes") or []
    if nodes:
        console.print(f"  nodes:   {', '.join(nodes)} (Ready, runtime {options.runtime})")
    for line in missing:
        console.print(f"  [yellow]missing[/yellow]: {line}")
    console.print(f"  kubectl: export KUBECONFIG={layout.kubeconfig.resolve()}")
    console.print(f"  logs:    {layout.log_dir.resolve()}/")
    state = layout.read_state()
    if state.get("dashboard"):
        console.print(f"  live:    {state['dashboard']} (sampan dashboard)")
    if state.get("trace_store"):
        console.print("  trace:   sampan trace pod/NAME [-n NS]")


def run_detached(options: UpOptions, argv: list[str], console: Console) -> int:
    """Start ``sampan up`` (foreground mode) as a background session and wait until it is ready."""
    layout = ClusterLayout(options.data_dir)
    _check_can_start(layout, options)
    layout.log_dir.mkdir(parents=True, exist_ok=True)
    up_log = layout.log_dir / "up.log"
    with up_log.open("ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "sampan.cli.main", *argv],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    deadline = time.monotonic() + ready_timeout(options)
    with console.status("starting the cluster in the background …"):
        while time.monotonic() < deadline:
            if child.poll() is not None:
                console.print(f"[red]sampan up exited[/red] (code {child.returncode}):\n{_log_tail(up_log)}")
                return 1
            state = layout.read_state()
            if state.get("ready") and (not options.merge_kubeconfig or "merged_kubeconfig" in state):
                _print_summary(console, options, layout, state.get("components", []), state.get("missing", []))
                console.print(f"  stop:    sampan down --data-dir {options.data_dir}")
                return 0
            time.sleep(DETACHED_POLL)
    child.terminate()
    console.print(f"[red]the cluster did not become ready in {ready_timeout(options):.0f}s[/red]:\n{_log_tail(up_log)}")
    return 1


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        trace=args.trace,
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
        argv += [*options.controller_manager_args, *options.kubelet_args, *options.scheduler_args]
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
    p.add_argument("--insecure", action="store_true",
                   help="plain HTTP without authentication, every request an admin (default: TLS, each component "
                   "with its own certificate)")
    p.add_argument("--trace", action="store_true", help="trace every component into an embedded store "
                   "(`sampan trace pod/NAME` reads it)")
    p.add_argument("--no-merge-kubeconfig", action="store_true",
                   help="don't add a `sampan` context to $KUBECONFIG / ~/.kube/config")
    p.set_defaults(handler=_run)
