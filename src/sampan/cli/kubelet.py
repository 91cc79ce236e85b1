"""``sampan kubelet``: run the node agent in the foreground until SIGINT/SIGTERM.

Flags keep the kubelet's names where upstream has them: ``--kubeconfig``, ``--hostname-override`` (alias
``--node-name``), ``--root-dir``, ``--node-status-update-frequency``, ``--node-lease-duration-seconds``,
``--port``, ``--max-pods``, ``--node-labels``; sampan adds ``--runtime process|simulated``,
``--cpu``/``--memory`` (capacity overrides), ``--address`` (the node's InternalIP, loopback only),
``--pod-network auto|bridge|host`` and ``--pod-cidr`` (per-pod network namespaces, see docs/kubelet.md; without
``--pod-cidr`` the Node's ``spec.podCIDR`` is awaited), ``--cluster-dns``, ``--cluster-domain``, ``--resolv-conf``.
Static pods: ``--pod-manifest-path`` and ``--file-check-frequency`` (upstream's), ``--static-pod-runtime``
(sampan's: run static pods on the process runtime under a simulated node).
Hollow nodes: ``--runtime simulated --nodes N --node-name-prefix hollow-`` runs N kubelets in this one
process (nodes ``hollow-1`` … ``hollow-N``, see :mod:`sampan.kubelet.hollow`); ``--sync-frequency`` and
``--node-status-report-frequency`` are upstream's (defaults there 1m and 5m; sampan's lone kubelet uses 1s
and 0 = every update, hollow nodes upstream's).
CRI (``--runtime containerd``): ``--container-runtime-endpoint``, ``--image-service-endpoint``,
``--pod-infra-container-image`` (upstream's).
Bad flags give one line on stderr and exit code 2. Stopping the kubelet leaves its containers running;
the next kubelet on the same ``--root-dir`` re-adopts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sampan._lib.durations import parse_duration
from sampan.cli.kubelet_images import add_image_flags, image_options
from sampan.kubelet.network.ipam import DEFAULT_POD_CIDR
from sampan.kubelet.network.pod_network import MODES as POD_NETWORK_MODES

if TYPE_CHECKING:
    from sampan.kubelet.kubelet import KubeletOptions
    from sampan.kubelet.server_auth import KubeletAuthOptions

#: ``--runtime`` choices: :data:`sampan.kubelet.kubelet.RUNTIMES` (not imported here, it pulls in the whole
#: kubelet; tests/cli checks the two agree).
RUNTIMES = ("process", "simulated", "containerd")

log = logging.getLogger(__name__)


def _labels(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ValueError(f"--node-labels: {part!r} is not key=value")
        out[key] = value
    return out


def options_from_args(args: argparse.Namespace) -> KubeletOptions:
    """The kubelet options the flags describe; ValueError (one line) for bad values."""
    from sampan.api.quantity import parse_or_none
    from sampan.kubelet.kubelet import KubeletOptions
    from sampan.kubelet.network.pod_network import unavailable_reason
    from sampan.kubelet.node_status import default_hostname

    for flag, value in (("--cpu", args.cpu), ("--memory", args.memory)):
        if value is not None and parse_or_none(value) is None:
            raise ValueError(f"{flag}: {value!r} is not a quantity")
    frequency = parse_duration(args.node_status_update_frequency)
    renew = parse_duration(args.node_lease_renew_interval) if args.node_lease_renew_interval else None
    lease_duration = float(args.node_lease_duration_seconds)
    node_name = (args.node_name or default_hostname()).lower()
    hollow = _hollow(args)
    if hollow:
        if args.runtime != "simulated":
            raise ValueError("--nodes above 1 (hollow nodes) needs --runtime simulated")
        if args.pod_manifest_path:
            raise ValueError("--pod-manifest-path is for one kubelet, not hollow nodes")
        _timer_slack(args.hollow_timer_slack)  # a bad value is a one-line error before anything starts
        node_name = args.node_name_prefix.lower() or "hollow-"
    if args.pod_network == "bridge" and args.runtime == "process" and unavailable_reason():
        raise ValueError(f"--pod-network bridge: {unavailable_reason()}")
    return KubeletOptions(
        node_name=node_name, root_dir=Path(args.root_dir or f"/var/lib/sampan/kubelet/{node_name}"),
        runtime=args.runtime, node_status_update_frequency=frequency, node_lease_duration=lease_duration,
        lease_renew_interval=renew if renew is not None else lease_duration / 4, address=args.address,
        port=args.port, cpu=args.cpu, memory=args.memory, max_pods=args.max_pods,
        labels=_labels(args.node_labels), pod_network=args.pod_network, pod_cidr=args.pod_cidr,
        pod_manifest_path=Path(args.pod_manifest_path).absolute() if args.pod_manifest_path else None,
        file_check_frequency=parse_duration(args.file_check_frequency),
        static_pod_runtime=args.static_pod_runtime,
        cluster_dns=_cluster_dns(args.cluster_dns), cluster_domain=args.cluster_domain, resolv_conf=args.resolv_conf,
        streaming_connection_idle_timeout=parse_duration(args.streaming_connection_idle_timeout),
        tls_cert_file=Path(args.tls_cert_file) if args.tls_cert_file else None,
        tls_private_key_file=Path(args.tls_private_key_file) if args.tls_private_key_file else None,
        client_ca_file=Path(args.client_ca_file) if args.client_ca_file else None,
        server_auth=server_auth_options(args),
        container_runtime_endpoint=args.container_runtime_endpoint, image_service_endpoint=args.image_service_endpoint,
        pod_infra_container_image=args.pod_infra_container_image,
        sync_period=parse_duration(args.sync_frequency) if args.sync_frequency else (60.0 if hollow else 1.0),
        node_status_report_frequency=(parse_duration(args.node_status_report_frequency)
                                      if args.node_status_report_frequency else (300.0 if hollow else 0.0)),
        **image_options(args),
    )


def _flag(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes", "t"):
        return True
    if low in ("false", "0", "no", "f"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def _hollow(args: argparse.Namespace) -> bool:
    if args.nodes < 1:
        raise ValueError(f"--nodes must be at least 1, got {args.nodes}")
    return bool(args.nodes > 1 or args.node_name_prefix)


def _timer_slack(text: str) -> float | None:
    """``--hollow-timer-slack``: seconds, or None for ``auto`` (:meth:`HollowOptions.grid_tick` picks)."""
    if text == "auto":
        return None
    seconds = parse_duration(text)
    if seconds < 0:
        raise ValueError("--hollow-timer-slack must not be negative")
    return seconds


def _cluster_dns(text: str) -> tuple[str, ...]:
    import ipaddress

    servers = tuple(s.strip() for s in text.split(",") if s.strip())
    for server in servers:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise ValueError(f"--cluster-dns: {server!r} is not an IP address") from None
    return servers


async def _serve(args: argparse.Namespace, options: KubeletOptions) -> int:
    from sampan.client import Client, load_config

    scale = args.nodes if _hollow(args) else 1  # N kubelets' rate limits, one client
    if args.bootstrap_kubeconfig:
        from sampan.kubelet.tlsbootstrap import bootstrap_kubeconfig

        await bootstrap_kubeconfig(kubeconfig=Path(args.kubeconfig), bootstrap=Path(args.bootstrap_kubeconfig),
                                   cert_dir=_cert_dir(args, options), node_name=options.node_name)
    rest = dataclasses.replace(load_config(args.kubeconfig), user_agent=f"kubelet/sampan ({options.node_name})",
                               qps=float(args.kube_api_qps) * scale, burst=int(args.kube_api_burst) * scale)
    async with Client(rest) as client:
        if _hollow(args):
            from sampan.kubelet.hollow import HollowNodes, HollowOptions, node_tokens

            hollow = HollowOptions(count=args.nodes, prefix=options.node_name, template=options,
                                   first_index=args.node_index_start, serve=args.serve_hollow_nodes,
                                   timer_slack=_timer_slack(args.hollow_timer_slack),
                                   tokens=node_tokens(args.hollow_node_tokens) if args.hollow_node_tokens else {})
            task = asyncio.create_task(HollowNodes(client, hollow).run(), name="hollow-nodes")
        else:
            task = asyncio.create_task(_kubelet_with_rotation(client, options, args), name="kubelet")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        if _hollow(args):
            await _stop_within(task, HOLLOW_STOP_GRACE)
        with contextlib.suppress(asyncio.CancelledError):
            await task
    log.info("kubelet stopped node=%s", options.node_name)
    return 0


def _cert_dir(args: argparse.Namespace, options: KubeletOptions) -> Path:
    return Path(args.cert_dir) if args.cert_dir else options.root_dir / "pki"


async def _kubelet_with_rotation(client: Any, options: KubeletOptions, args: argparse.Namespace) -> None:
    """The kubelet, plus its client-certificate rotator with ``--rotate-certificates`` (both stop together)."""
    from sampan.kubelet.kubelet import Kubelet

    serving_rotation = args.rotate_server_certificates and not args.tls_cert_file
    if not args.rotate_certificates and not serving_rotation:
        await Kubelet(client, options).run()
        return
    from sampan.kubelet.tlsbootstrap import CertificateRotator, is_placeholder, serving_kind

    cert_dir = _cert_dir(args, options)
    async with asyncio.TaskGroup() as group:
        group.create_task(Kubelet(client, options).run(), name="kubelet-main")
        if args.rotate_certificates:
            rotator = CertificateRotator(client, cert_dir=cert_dir, node_name=options.node_name)
            group.create_task(rotator.run(), name="kubelet-client-cert-rotation")
        if serving_rotation:
            kind = serving_kind(options.node_name, [options.address])
            serving = CertificateRotator(client, cert_dir=cert_dir, node_name=options.node_name, kind=kind,
                                         replace_first=is_placeholder(cert_dir, kind))
            group.create_task(serving.run(), name="kubelet-serving-cert-rotation")


#: Seconds thousands of hollow nodes get to stop once asked; they own nothing outside the process (the
#: simulated runtime runs nothing), so past it the process exits without waiting further.
HOLLOW_STOP_GRACE = 15.0


async def _stop_within(task: asyncio.Task[None], grace: float) -> None:
    """Wait for ``task``; once it was cancelled (a signal), give it ``grace`` seconds, then exit the process."""
    while not task.done():
        await asyncio.wait({task}, timeout=0.5)
        if task.cancelling() and not task.done():
            await asyncio.wait({task}, timeout=grace)
            if not task.done():
                log.warning("hollow nodes did not stop within %.0fs; exiting", grace)
                logging.shutdown()
                os._exit(0)


def _run(args: argparse.Namespace) -> int:
    if args.bootstrap_kubeconfig and not args.kubeconfig:
        raise ValueError("--bootstrap-kubeconfig needs --kubeconfig: the file the bootstrapped credentials go to")
    if args.bootstrap_kubeconfig and _hollow(args):
        raise ValueError("--bootstrap-kubeconfig: hollow nodes share one identity; bootstrap a single kubelet")
    options = options_from_args(args)
    if args.rotate_server_certificates and not args.tls_cert_file:
        from sampan.kubelet.tlsbootstrap import ensure_serving_placeholder, serving_kind

        serving = ensure_serving_placeholder(_cert_dir(args, options), serving_kind(options.node_name,
                                                                                    [options.address]))
        options = dataclasses.replace(options, tls_cert_file=serving, tls_private_key_file=serving)
    if _hollow(args) and not args.root_dir:
        options = dataclasses.replace(options, root_dir=Path("/var/lib/sampan/kubelet/hollow"))
    options.root_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_serve(args, options))


def server_auth_options(args: argparse.Namespace) -> KubeletAuthOptions:
    """The kubelet API's authentication/authorization options (:mod:`sampan.kubelet.server_auth`)."""
    from sampan.kubelet.server_auth import KubeletAuthOptions

    return KubeletAuthOptions(anonymous_auth=args.anonymous_auth == "true",
                              token_webhook=args.authentication_token_webhook,
                              authorization_mode=args.authorization_mode,
                              token_cache_ttl=parse_duration(args.authentication_token_webhook_cache_ttl),
                              authorized_ttl=parse_duration(args.authorization_webhook_cache_authorized_ttl),
                              unauthorized_ttl=parse_duration(args.authorization_webhook_cache_unauthorized_ttl))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("kubelet", help="run the node agent (kubelet)")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, "
                   "then in-cluster)")
    p.add_argument("--node-name", "--hostname-override", dest="node_name", default="",
                   help="the Node's name (default: this host's name)")
    p.add_argument("--runtime", choices=RUNTIMES, default="process",
                   help="process: containers are host processes; containerd: OCI containers through CRI at "
                   "--container-runtime-endpoint; simulated: nothing runs (default process)")
    p.add_argument("--root-dir", default="", help="kubelet state: runtime files, pod volumes, logs "
                   "(default /var/lib/sampan/kubelet/<node>)")
    p.add_argument("--node-status-update-frequency", default="10s", help="how often node status is posted "
                   "(default 10s)")
    p.add_argument("--node-lease-duration-seconds", type=int, default=40, help="the Lease's duration (default 40)")
    p.add_argument("--node-lease-renew-interval", default="", help="how often the Lease is renewed "
                   "(default: a quarter of its duration, 10s)")
    p.add_argument("--address", default="127.0.0.1", help="node InternalIP and kubelet server address "
                   "(default 127.0.0.1)")
    p.add_argument("--port", type=int, default=10250, help="kubelet server port (default 10250; "
                   "0 picks a free one)")
    p.add_argument("--bootstrap-kubeconfig", default="",
                   help="kubeconfig with a bootstrap token: when --kubeconfig is missing, request a client "
                   "certificate through a CertificateSigningRequest and write --kubeconfig (TLS bootstrap)")
    p.add_argument("--cert-dir", default="", help="where bootstrapped and rotated certificates live "
                   "(default <root-dir>/pki)")
    p.add_argument("--rotate-certificates", type=_flag, nargs="?", const=True, default=False,
                   help="renew the client certificate through a CSR at 70-90%% of its lifetime (default false)")
    p.add_argument("--rotate-server-certificates", type=_flag, nargs="?", const=True, default=False,
                   help="without --tls-cert-file: serve with a certificate from a kubernetes.io/kubelet-serving "
                   "CSR (approved by an admin), renewed at 70-90%% of its lifetime (default false)")
    p.add_argument("--tls-cert-file", default="", help="serve HTTPS with this certificate (default: plain HTTP)")
    p.add_argument("--tls-private-key-file", default="", help="the serving certificate's key")
    p.add_argument("--client-ca-file", default="",
                   help="with TLS, require client certificates signed by these CAs (the API server's)")
    p.add_argument("--anonymous-auth", choices=("true", "false"), default="true",
                   help="requests to the kubelet API without credentials are system:anonymous (default true)")
    p.add_argument("--authentication-token-webhook", action="store_true",
                   help="check bearer tokens with TokenReview against the API server")
    p.add_argument("--authentication-token-webhook-cache-ttl", default="2m", help="token answers kept (2m)")
    p.add_argument("--authorization-mode", choices=("AlwaysAllow", "Webhook"), default="AlwaysAllow",
                   help="Webhook: SubjectAccessReview on nodes/<subresource> for every request (default AlwaysAllow)")
    p.add_argument("--authorization-webhook-cache-authorized-ttl", default="5m", help="allowed answers kept (5m)")
    p.add_argument("--authorization-webhook-cache-unauthorized-ttl", default="30s", help="denied answers kept (30s)")
    p.add_argument("--cpu", default=None, help="CPU capacity (default: the host's CPU count)")
    p.add_argument("--memory", default=None, help="memory capacity, e.g. 8Gi (default: the host's MemTotal)")
    p.add_argument("--max-pods", type=int, default=110, help="pod capacity (default 110)")
    p.add_argument("--kube-api-qps", type=float, default=50.0, help="client QPS to the API server (default 50; "
                   "hollow nodes: per node, the process's limit is N times it)")
    p.add_argument("--kube-api-burst", type=int, default=100, help="client burst (default 100)")
    p.add_argument("--node-labels", default="", help="extra node labels, key=value,key2=value2")
    p.add_argument("--pod-network", choices=POD_NETWORK_MODES, default="auto",
                   help="process runtime: auto = a network namespace and address per pod when root with "
                   "iproute2, else the host network; bridge = require it; host = never (default auto)")
    p.add_argument("--pod-manifest-path", default="",
                   help="directory of static pod manifests (YAML/JSON, one pod per file) run without the API "
                   "server and mirrored into it (default: none)")
    p.add_argument("--file-check-frequency", default="20s", help="how often the manifest directory is read "
                   "(default 20s)")
    p.add_argument("--static-pod-runtime", choices=("", *RUNTIMES), default="",
                   help="runtime for static pods when it differs from --runtime (default: the same)")
    p.add_argument("--pod-cidr", default="", help="pod addresses, inside 100.64.0.0/10, overriding the Node's "
                   "spec.podCIDR (default: wait for the podCIDR the controller-manager's node IPAM sets, e.g. "
                   f"{DEFAULT_POD_CIDR})")
    p.add_argument("--cluster-dns", default="", help="comma-separated nameservers of ClusterFirst pods (sampan up: "
                   "100.96.0.10; default none: pods use the node's resolv.conf)")
    p.add_argument("--cluster-domain", default="cluster.local", help="the cluster's DNS domain (default "
                   "cluster.local)")
    p.add_argument("--resolv-conf", default="/etc/resolv.conf", help="the node's resolv.conf, for dnsPolicy "
                   "Default and host search paths (default /etc/resolv.conf)")
    p.add_argument("--streaming-connection-idle-timeout", default="4h", help="close exec/attach/port-forward "
                   "connections idle this long (default 4h)")
    p.add_argument("--container-runtime-endpoint", default="",
                   help="the CRI runtime's socket for --runtime containerd, e.g. unix:///run/containerd/containerd.sock")
    p.add_argument("--image-service-endpoint", default="",
                   help="the CRI image service's socket (default: --container-runtime-endpoint)")
    p.add_argument("--pod-infra-container-image", default="",
                   help="the sandbox image, pulled at start when absent (the runtime's config names the one it runs)")
    p.add_argument("--nodes", type=int, default=1, help="run this many kubelets in this process (hollow nodes, "
                   "--runtime simulated only; default 1)")
    p.add_argument("--node-name-prefix", default="", help="hollow nodes are named <prefix>1 … <prefix>N "
                   "(default hollow-)")
    p.add_argument("--node-index-start", type=int, default=1, help="number of the first hollow node (default 1)")
    p.add_argument("--serve-hollow-nodes", action="store_true", help="each hollow node runs its kubelet server on a "
                   "free port (logs, exec, /metrics/resource with the simulated runtime's synthetic usage)")
    p.add_argument("--hollow-node-tokens", default="", metavar="FILE",
                   help="hollow nodes: each node sends its own identity, the bearer token of user system:node:<name> "
                   "from this CSV (the API server's --token-auth-file format: token,user,uid,groups); the kubeconfig's "
                   "identity is kept for the process's shared watches (default: every node uses the kubeconfig's)")
    p.add_argument("--hollow-timer-slack", default="auto", metavar="DURATION",
                   help="hollow nodes: their Lease and status sleeps end on a grid of this step, so the process wakes "
                   "once per step for every node due in it and their requests leave together (0 = a timer each; "
                   "default auto: the longest step up to 100ms that sends at most 10 nodes' renewals together, "
                   "100ms for 1,000 nodes, 20ms for 5,000)")
    p.add_argument("--sync-frequency", default="", help="how often each pod is synced again (default 1s; "
                   "hollow nodes 1m, upstream's)")
    p.add_argument("--node-status-report-frequency", default="", help="post an unchanged node status this often "
                   "(default: every update; hollow nodes 5m, upstream's)")
    add_image_flags(p)
    p.set_defaults(handler=_run)
