"""``sampan controller-manager``: run the reconciliation loops until SIGINT/SIGTERM.

Flags keep kube-controller-manager's names and defaults; ``--bind-address``/``--secure-port`` (default
10257, plain HTTP here; 0 disables) serve ``/metrics`` (the loop-stall metrics) and ``/healthz`` — a port
already taken is logged and skipped, not fatal. Exit codes: 0 on a signal, 1 when leadership is
lost (upstream exits too, so a supervisor restarts it as a candidate), 2 for bad flags.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
from typing import TYPE_CHECKING, Any

from sampan._lib.durations import parse_duration
from sampan.controllers.options import (
    CONCURRENCY_FLAGS,
    DEFAULT_CONCURRENCY,
    ControllerManagerOptions,
    parse_controllers,
)

if TYPE_CHECKING:
    from sampan.client import Client

log = logging.getLogger(__name__)

_DURATIONS = {
    "node_monitor_period": "5s", "node_monitor_grace_period": "40s", "node_startup_grace_period": "1m",
    "leader_elect_lease_duration": "15s", "leader_elect_renew_deadline": "10s", "leader_elect_retry_period": "2s",
    "namespace_sync_period": "5m", "min_resync_period": "0s", "resource_quota_sync_period": "5m",
    "horizontal_pod_autoscaler_sync_period": "15s", "horizontal_pod_autoscaler_downscale_stabilization": "5m",
    "cluster_signing_duration": "8760h",
}


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes", "t"):
        return True
    if low in ("false", "0", "no", "f"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def _lb_range(text: str) -> str:
    from sampan.controllers.servicelb.pool import parse_pool

    net = parse_pool(text)
    return str(net) if net is not None else ""


def options_from_args(args: argparse.Namespace) -> ControllerManagerOptions:
    """The options the flags describe; ValueError (one line) for bad values."""
    durations: dict[str, Any] = {}
    for name in _DURATIONS:
        text = getattr(args, name)
        try:
            durations[name] = parse_duration(text)
        except ValueError:
            raise ValueError(f"--{name.replace('_', '-')}: invalid duration {text!r}") from None
    if args.root_ca_file and not os.access(args.root_ca_file, os.R_OK):
        raise ValueError(f"--root-ca-file: cannot read {args.root_ca_file!r}")
    for flag in ("cluster_signing_cert_file", "cluster_signing_key_file"):
        path = getattr(args, flag)
        if path and not os.access(path, os.R_OK):
            raise ValueError(f"--{flag.replace('_', '-')}: cannot read {path!r}")
    if bool(args.cluster_signing_cert_file) != bool(args.cluster_signing_key_file):
        raise ValueError("--cluster-signing-cert-file and --cluster-signing-key-file go together")
    concurrency = dict(DEFAULT_CONCURRENCY)
    for cname, flag in CONCURRENCY_FLAGS.items():
        value = getattr(args, flag.replace("-", "_"))
        if value is not None:
            concurrency[cname] = value
    return ControllerManagerOptions(
        controllers=parse_controllers(args.controllers),
        concurrency=concurrency,
        leader_elect=args.leader_elect,
        leader_elect_resource_namespace=args.leader_elect_resource_namespace,
        leader_elect_resource_name=args.leader_elect_resource_name,
        kube_api_qps=args.kube_api_qps,
        kube_api_burst=args.kube_api_burst,
        node_eviction_rate=args.node_eviction_rate,
        secondary_node_eviction_rate=args.secondary_node_eviction_rate,
        large_cluster_size_threshold=args.large_cluster_size_threshold,
        unhealthy_zone_threshold=args.unhealthy_zone_threshold,
        root_ca_file=args.root_ca_file or None,
        cluster_signing_cert_file=args.cluster_signing_cert_file,
        cluster_signing_key_file=args.cluster_signing_key_file,
        load_balancer_ip_range=_lb_range(args.load_balancer_ip_range),
        allocate_node_cidrs=args.allocate_node_cidrs,
        cluster_cidr=args.cluster_cidr,
        node_cidr_mask_size=args.node_cidr_mask_size,
        identity=args.identity,
        horizontal_pod_autoscaler_tolerance=args.horizontal_pod_autoscaler_tolerance,
        **durations,
    )


async def _serve(args: argparse.Namespace, options: ControllerManagerOptions) -> int:
    from sampan.cli.signals import run_until_signalled
    from sampan.client import Client, load_config
    from sampan.controllers.manager import ControllerManager, LeadershipLost

    config = dataclasses.replace(load_config(args.kubeconfig), qps=options.kube_api_qps,
                                 burst=options.kube_api_burst, user_agent="kube-controller-manager/sampan")
    from sampan._lib.metrics_server import RegistryServer

    async with Client(config) as client:
        await wait_for_apiserver(client, timeout=args.apiserver_wait_timeout)
        manager = ControllerManager(client, options)
        server: RegistryServer | None = None
        if args.secure_port:
            server = RegistryServer(manager.registry, name="controller-manager", bind_address=args.bind_address,
                                    port=args.secure_port)
            try:
                await server.start()
            except OSError as e:
                log.warning("cannot serve metrics port=%d error=%s", args.secure_port, e.strerror or e)
                server = None
        try:
            await run_until_signalled(manager.run(), name="controller-manager")
        except LeadershipLost as e:
            log.error("%s", e)
            return 1
        finally:
            if server is not None:
                await server.stop()
    log.info("controller-manager stopped")
    return 0


async def wait_for_apiserver(client: Client, *, timeout: float) -> None:
    """Wait until the API server answers ``/version`` (upstream waits for it too); ValueError (one line)
    after ``timeout`` seconds."""
    from sampan.api import errors

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.2
    while True:
        try:
            await client.version()
            return
        except errors.APIError as e:
            if loop.time() + delay > deadline:
                raise ValueError(f"API server not reachable after {timeout:g}s: {e}") from None
            log.info("waiting for the API server error=%s", e)
            await asyncio.sleep(delay)
            delay = min(2 * delay, 5.0)


def _run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    return asyncio.run(_serve(args, options))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("controller-manager", help="run the controllers (kube-controller-manager)")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig of the API server (default: $KUBECONFIG, "
                   "~/.kube/config, or in-cluster)")
    p.add_argument("--controllers", default="*",
                   help="comma-separated: '*' all, 'name' enable, '-name' disable (default '*')")
    p.add_argument("--leader-elect", type=_bool, nargs="?", const=True, default=True,
                   help="take a Lease before running controllers (default true)")
    p.add_argument("--leader-elect-resource-namespace", default="kube-system")
    p.add_argument("--leader-elect-resource-name", default="kube-controller-manager")
    p.add_argument("--identity", default="", help="lease holder identity (default <hostname>_<uuid>)")
    for name, default in _DURATIONS.items():
        p.add_argument(f"--{name.replace('_', '-')}", default=default, help=f"duration (default {default})")
    for cname, flag in CONCURRENCY_FLAGS.items():
        p.add_argument(f"--{flag}", type=int, default=None,
                       help=f"workers of the {cname} controller (default {DEFAULT_CONCURRENCY[cname]})")
    p.add_argument("--bind-address", default="127.0.0.1", help="address of /metrics and /healthz")
    p.add_argument("--secure-port", "--port", type=int, default=10257,
                   help="port of /metrics and /healthz, plain HTTP; 0 disables (default 10257)")
    p.add_argument("--apiserver-wait-timeout", type=float, default=60.0,
                   help="seconds to wait for the API server at start (default 60)")
    p.add_argument("--kube-api-qps", type=float, default=20.0, help="client QPS (default 20)")
    p.add_argument("--kube-api-burst", type=int, default=30, help="client burst (default 30)")
    p.add_argument("--node-eviction-rate", type=float, default=0.1)
    p.add_argument("--secondary-node-eviction-rate", type=float, default=0.01)
    p.add_argument("--large-cluster-size-threshold", type=int, default=50)
    p.add_argument("--unhealthy-zone-threshold", type=float, default=0.55)
    p.add_argument("--horizontal-pod-autoscaler-tolerance", type=float, default=0.1,
                   help="ratio of current to target metric within which the HPA does not scale (0.1)")
    p.add_argument("--root-ca-file", default="",
                   help="PEM CA bundle published as ConfigMap kube-root-ca.crt in every namespace (default: the "
                   "kubeconfig's CA; none with a plain-HTTP API server, then ca.crt is empty)")
    p.add_argument("--cluster-signing-cert-file", default="",
                   help="CA certificate the kubernetes.io/* CSR signers issue with (csrsigning; unset: not run)")
    p.add_argument("--cluster-signing-key-file", default="", help="that CA's private key (PEM)")
    p.add_argument("--load-balancer-ip-range", default="", help="addresses for LoadBalancer Services, inside "
                   "100.64.0.0/10 (e.g. 100.127.0.0/24; default none: they stay pending)")
    p.add_argument("--allocate-node-cidrs", type=_bool, nargs="?", const=True, default=False,
                   help="give each Node a pod CIDR from --cluster-cidr (nodeipam controller; default false)")
    p.add_argument("--cluster-cidr", default="100.64.0.0/16", help="pods' CIDR (default 100.64.0.0/16)")
    p.add_argument("--node-cidr-mask-size", type=int, default=24, help="prefix of each node's CIDR (default 24)")
    p.set_defaults(handler=_run)
