"""``sampan apiserver``: run the API server in the foreground until SIGINT/SIGTERM.

Flags keep kube-apiserver's names where it has the same knob. Plain HTTP only, so a non-loopback
``--bind-address`` is refused (one line on stderr, exit code 2).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sampan._lib.durations import parse_duration

if TYPE_CHECKING:
    from sampan.apiserver.config import APIServerConfig

log = logging.getLogger(__name__)

BACKENDS = ("sqlite", "etcd", "memory")


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def config_from_args(args: argparse.Namespace) -> APIServerConfig:
    """The server options the flags describe; ValueError (one line) for bad values."""
    from sampan.apiserver.config import APIServerConfig, StorageOptions

    servers = tuple(s.strip() for s in (args.etcd_servers or "").split(",") if s.strip())
    if args.storage == "etcd" and not servers:
        raise ValueError("--storage etcd needs --etcd-servers")
    compaction = parse_duration(args.etcd_compaction_interval)
    bookmark = parse_duration(args.watch_bookmark_interval)
    if args.encryption_provider_config:
        from sampan.apiserver.encryption.config import load

        load(args.encryption_provider_config)  # a bad file is a one-line error now, not at the first write
    return APIServerConfig(
        bind_address=args.bind_address,
        port=args.port,
        storage=StorageOptions(backend=args.storage, data_dir=Path(args.data_dir), etcd_servers=servers),
        default_watch_cache_size=args.default_watch_cache_size,
        compaction_interval=compaction,
        bookmark_interval=bookmark,
        min_request_timeout=float(args.min_request_timeout),
        service_cluster_ip_range=args.service_cluster_ip_range,
        service_node_port_range=args.service_node_port_range,
        advertise_address=args.advertise_address,
        encryption_provider_config=args.encryption_provider_config,
        enable_priority_and_fairness=args.enable_priority_and_fairness,
        max_requests_inflight=args.max_requests_inflight,
        max_mutating_requests_inflight=args.max_mutating_requests_inflight,
    )


async def _serve(config: APIServerConfig) -> None:
    from sampan.apiserver.app import APIServer
    from sampan.cli.signals import run_until_signalled

    await run_until_signalled(APIServer(config).run(), name="apiserver")
    log.info("apiserver stopped")


def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    asyncio.run(_serve(config))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("apiserver", help="run the Kubernetes API server")
    p.add_argument("--data-dir", default=".sampan", help="where the sqlite store lives (default .sampan)")
    p.add_argument("--bind-address", default="127.0.0.1", help="listen address; loopback only (default 127.0.0.1)")
    p.add_argument("--port", "--secure-port", type=int, default=6443, help="listen port, 0 for any (default 6443)")
    p.add_argument("--storage", choices=BACKENDS, default="sqlite", help="storage backend (default sqlite)")
    p.add_argument("--encryption-provider-config", default="", metavar="FILE",
                   help="EncryptionConfiguration: encrypt these resources at rest (aesgcm, aescbc, secretbox)")
    p.add_argument("--etcd-servers", default="", help="comma-separated etcd client URLs, for --storage etcd")
    p.add_argument("--default-watch-cache-size", type=int, default=1000,
                   help="recent events kept per resource for watch resumption (default 1000)")
    p.add_argument("--etcd-compaction-interval", default="5m",
                   help="how often to compact the store, e.g. 5m; 0 disables (default 5m)")
    p.add_argument("--watch-bookmark-interval", default="1m",
                   help="how often watchers that allow bookmarks get one (default 1m)")
    p.add_argument("--min-request-timeout", type=int, default=1800,
                   help="seconds; watches without timeoutSeconds end after a random time in [this, 2x] "
                   "(default 1800)")
    p.add_argument("--service-cluster-ip-range", default="100.96.0.0/16",
                   help="CIDR of Service cluster IPs; .1 is the kubernetes Service, .10 kept for DNS "
                   "(default 100.96.0.0/16)")
    p.add_argument("--service-node-port-range", default="30000-32767",
                   help="node ports of NodePort/LoadBalancer Services (default 30000-32767)")
    p.add_argument("--advertise-address", default="",
                   help="address the kubernetes Service's endpoints list for this server (default: bind address)")
    p.add_argument("--enable-priority-and-fairness", type=_bool, nargs="?", const=True, default=True,
                   help="API Priority and Fairness; false: the plain max-in-flight limiter (default true)")
    p.add_argument("--max-requests-inflight", type=int, default=400,
                   help="read-only requests in flight (without APF) / part of APF's seats (default 400)")
    p.add_argument("--max-mutating-requests-inflight", type=int, default=200,
                   help="mutating requests in flight (without APF) / the rest of APF's seats (default 200)")
    p.set_defaults(handler=_run)
