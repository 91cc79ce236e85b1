"""``sampan metrics-server``: the resource metrics API (``kubectl top``, the HPA) in the foreground.

Scrapes every node's kubelet ``/metrics/resource`` each ``--metric-resolution`` (15s) and serves
``metrics.k8s.io/v1beta1`` over HTTPS on ``--bind-address``:``--secure-port`` (127.0.0.1:4443; 0 picks a
port) with a self-signed certificate under ``--cert-dir``. Unless ``--no-register``, it registers itself
with the API server's aggregation layer (Service + Endpoints ``kube-system/metrics-server``, APIService
``v1beta1.metrics.k8s.io``). Bad flags give one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sampan._lib.durations import parse_duration

if TYPE_CHECKING:
    from sampan.metricsserver.server import MetricsServerOptions

log = logging.getLogger(__name__)


def options_from_args(args: argparse.Namespace) -> MetricsServerOptions:
    from sampan.metricsserver.server import MetricsServerOptions

    ipaddress.IPv4Address(args.bind_address)
    if not 0 <= args.secure_port <= 65535:
        raise ValueError(f"--secure-port {args.secure_port} out of range")
    resolution = parse_duration(args.metric_resolution)
    if resolution <= 0:
        raise ValueError("--metric-resolution must be positive")
    if args.kubelet_scheme not in ("http", "https"):
        raise ValueError("--kubelet-scheme must be http or https")
    return MetricsServerOptions(bind_address=args.bind_address, secure_port=args.secure_port,
                                metric_resolution=resolution, kubelet_scheme=args.kubelet_scheme,
                                kubelet_client_certificate=Path(args.kubelet_client_certificate)
                                if args.kubelet_client_certificate else None,
                                kubelet_client_key=Path(args.kubelet_client_key) if args.kubelet_client_key else None,
                                kubelet_certificate_authority=Path(args.kubelet_certificate_authority)
                                if args.kubelet_certificate_authority else None,
                                cert_dir=Path(args.cert_dir), register=not args.no_register)


async def _serve(args: argparse.Namespace, options: MetricsServerOptions) -> int:
    import dataclasses

    from sampan.cli.signals import run_until_signalled
    from sampan.client import Client, load_config
    from sampan.metricsserver.server import MetricsServer

    rest = dataclasses.replace(load_config(args.kubeconfig), user_agent="sampan-metrics-server/0.1")
    async with Client(rest) as client:
        await run_until_signalled(MetricsServer(client, options).run(), name="metrics-server")
    return 0


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args, options_from_args(args)))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("metrics-server", help="serve the resource metrics API (kubectl top, HPA)")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, "
                   "then in-cluster)")
    p.add_argument("--bind-address", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    p.add_argument("--secure-port", type=int, default=4443, help="HTTPS port (default 4443; 0 picks one)")
    p.add_argument("--metric-resolution", default="15s", help="interval between kubelet scrapes (default 15s)")
    p.add_argument("--kubelet-scheme", default="http", help="how kubelets serve /metrics/resource (http)")
    p.add_argument("--kubelet-client-certificate", default="", help="client certificate towards TLS kubelets")
    p.add_argument("--kubelet-client-key", default="", help="its key")
    p.add_argument("--kubelet-certificate-authority", default="", help="CA of kubelets' serving certificates")
    p.add_argument("--cert-dir", default=".sampan/metrics-server", help="where the self-signed certificate goes")
    p.add_argument("--no-register", action="store_true",
                   help="do not create the Service, Endpoints and APIService")
    p.set_defaults(handler=_run)
