"""``sampan proxy``: run kube-proxy in the foreground until SIGINT/SIGTERM, or ``--cleanup``.

Flags keep kube-proxy's names: ``--kubeconfig``, ``--hostname-override``, ``--proxy-mode
nftables|iptables``, ``--sync-period``, ``--min-sync-period``, ``--healthz-bind-address``,
``--metrics-bind-address``, ``--detect-local-mode NodeCIDR|BridgeInterface`` with
``--pod-bridge-interface`` (local traffic detection), ``--cleanup``. sampan adds ``--service-cluster-ip-range`` and
``--load-balancer-ip-range`` (the virtual-IP ranges it routes and guards) and
``--handle-host-traffic`` (which one of several proxies on one machine programs host traffic).
Without root it says that Services will not carry traffic and exits with code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING

from sampan._lib.durations import parse_duration

if TYPE_CHECKING:
    from sampan.proxy.options import ProxyOptions

log = logging.getLogger(__name__)
MODES = ("nftables", "iptables")
LOCAL_MODES = ("NodeCIDR", "BridgeInterface")


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "t"):
        return True
    if value in ("false", "0", "no", "f"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r} (want true or false)")


def options_from_args(args: argparse.Namespace) -> ProxyOptions:
    from sampan.proxy.options import ProxyOptions, parse_bind_address
    from sampan.proxy.routes import check_cidrs

    node = (args.hostname_override or "").strip().lower()
    if not node:
        import socket

        node = socket.gethostname().lower()
    sync = parse_duration(args.sync_period)
    min_sync = parse_duration(args.min_sync_period)
    if sync <= 0 or min_sync < 0:
        raise ValueError("--sync-period must be positive and --min-sync-period not negative")
    parse_bind_address(args.healthz_bind_address, 10256)
    parse_bind_address(args.metrics_bind_address, 10249)
    cidrs = check_cidrs([c for c in (args.service_cluster_ip_range, args.load_balancer_ip_range) if c])
    return ProxyOptions(
        node_name=node, mode=args.proxy_mode, sync_period=sync, min_sync_period=min_sync,
        healthz_bind_address=args.healthz_bind_address, metrics_bind_address=args.metrics_bind_address,
        service_cluster_ip_range=cidrs[0], load_balancer_ip_range=cidrs[1] if len(cidrs) > 1 else "",
        detect_local_mode=args.detect_local_mode,
        pod_bridge_interface=args.pod_bridge_interface, handle_host_traffic=args.handle_host_traffic,
        vip_interface=args.vip_interface,
    )


async def _serve(args: argparse.Namespace, options: ProxyOptions) -> int:
    from sampan.cli.signals import run_until_signalled
    from sampan.client import Client, load_config
    from sampan.proxy.server import ProxyServer

    rest = dataclasses.replace(load_config(args.kubeconfig), user_agent=f"kube-proxy/sampan ({options.node_name})",
                               qps=float(args.kube_api_qps), burst=int(args.kube_api_burst))
    async with Client(rest) as client:
        await run_until_signalled(ProxyServer(client, options).run(), name="proxy")
    log.info("proxy stopped node=%s (rules left in place)", options.node_name)
    return 0


def _run(args: argparse.Namespace) -> int:
    from sampan.proxy.routes import can_program_kernel

    reason = can_program_kernel()
    if args.cleanup:
        if reason:
            raise ValueError(f"--cleanup: {reason}")
        from sampan.proxy.server import cleanup

        removed = asyncio.run(cleanup(node_name=args.hostname_override.strip().lower(),
                                      vip_interface=args.vip_interface))
        for line in removed:
            print(f"removed {line}")
        return 0
    options = options_from_args(args)
    if reason:
        print(f"sampan proxy: {reason}: Services will not carry traffic on this machine")
        return 1
    return asyncio.run(_serve(args, options))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("proxy", help="run kube-proxy (Service virtual IPs in nftables or iptables)")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, "
                   "then in-cluster)")
    p.add_argument("--hostname-override", default="", help="this proxy's node name (default: the host name)")
    p.add_argument("--proxy-mode", choices=MODES, default="nftables", help="default nftables")
    p.add_argument("--sync-period", default="30s", help="full resync period (default 30s)")
    p.add_argument("--min-sync-period", default="1s", help="least time between syncs (default 1s)")
    p.add_argument("--healthz-bind-address", default="127.0.0.1:10256",
                   help="host:port of /healthz and /livez; port 0 picks one, '' disables (default 127.0.0.1:10256)")
    p.add_argument("--metrics-bind-address", default="127.0.0.1:10249",
                   help="host:port of /metrics; port 0 picks one, '' disables (default 127.0.0.1:10249)")
    p.add_argument("--service-cluster-ip-range", default="100.96.0.0/16",
                   help="service virtual IPs: routed here, unallocated ones rejected (default 100.96.0.0/16)")
    p.add_argument("--load-balancer-ip-range", default="", help="the load-balancer pool, routed and guarded the "
                   "same way (e.g. 100.127.0.0/24)")
    p.add_argument("--detect-local-mode", choices=LOCAL_MODES, default="",
                   help="how this node's pod traffic is told apart: NodeCIDR (from the Node's spec.podCIDR, waiting "
                   "for it) or BridgeInterface (--pod-bridge-interface); default BridgeInterface when that is given, "
                   "else none")
    p.add_argument("--pod-bridge-interface", default="", help="this node's pod bridge: traffic from it is local "
                   "pod traffic (upstream's --detect-local-mode=BridgeInterface)")
    p.add_argument("--handle-host-traffic", type=_bool, nargs="?", const=True, default=True, metavar="BOOL",
                   help="also handle traffic from host processes and from interfaces no node claims; one proxy "
                   "per machine should (default true)")
    p.add_argument("--vip-interface", default="sampan-vip", help="port-less bridge the virtual-IP ranges are routed "
                   "to (default sampan-vip)")
    p.add_argument("--kube-api-qps", type=float, default=50.0, help="client QPS (default 50)")
    p.add_argument("--kube-api-burst", type=int, default=100, help="client burst (default 100)")
    p.add_argument("--cleanup", action="store_true", help="remove what proxies created (every sampan-proxy nft "
                   "table and iptables chain, or only --hostname-override's when given) and the --vip-interface "
                   "device with its routes, then exit")
    p.set_defaults(handler=_run)
