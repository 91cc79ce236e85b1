"""``sampan dns``: run cluster DNS in the foreground until SIGINT/SIGTERM.

``--listen HOST:PORT`` (repeatable; default 127.0.0.1:53) serves UDP and TCP; ``--cluster-domain``
(cluster.local), ``--ttl`` (5), ``--pods insecure|verified|disabled`` as CoreDNS's kubernetes plugin;
other names go to ``--upstream HOST[:PORT]`` (repeatable) or the ``nameserver`` lines of
``--resolv-conf`` (/etc/resolv.conf), ``--forward-timeout`` (5s) before SERVFAIL. ``--health`` and
``--metrics`` (CoreDNS's 8080 and 9153 on 127.0.0.1; ``""`` turns one off). ``--setup-interface NAME``
puts the first listen address on a sampan-owned device first (root); ``--publish-service ns/name``
keeps that Service (``--cluster-ip``) and an EndpointSlice naming the first listen address. Bad flags
give one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from sampan._lib.durations import parse_duration

if TYPE_CHECKING:
    from sampan.dns.options import DNSOptions

log = logging.getLogger(__name__)

POD_MODES = ("insecure", "verified", "disabled")


def parse_address(text: str, *, flag: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"{flag}: {text!r} is not HOST:PORT")
    try:
        ipaddress.IPv4Address(host)
        number = int(port)
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not IPv4-ADDRESS:PORT") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"{flag}: port {number} out of range")
    return host, number


def _identity(text: str) -> str:
    raw = (text or socket.gethostname()).lower()
    cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in raw).strip("-")
    return cleaned[:60] or "dns"


def options_from_args(args: argparse.Namespace) -> DNSOptions:
    """The component options the flags describe; ValueError (one line) for bad values."""
    import dataclasses

    from sampan.client import load_config
    from sampan.dns.forward import parse_hostport
    from sampan.dns.options import DNSOptions
    from sampan.dns.publish import PublishOptions

    listen = tuple(parse_address(a, flag="--listen") for a in (args.listen or ["127.0.0.1:53"]))
    domain = args.cluster_domain.strip().strip(".")
    if not domain or any(not part for part in domain.split(".")):
        raise ValueError(f"--cluster-domain: invalid domain {args.cluster_domain!r}")
    if not 0 <= args.ttl <= 3600:
        raise ValueError(f"--ttl must be in [0, 3600], got {args.ttl}")
    timeout = parse_duration(args.forward_timeout)
    if timeout <= 0:
        raise ValueError("--forward-timeout must be positive")
    health = parse_address(args.health, flag="--health") if args.health else None
    metrics = parse_address(args.metrics, flag="--metrics") if args.metrics else None
    publish = None
    if args.publish_service:
        namespace, sep, name = args.publish_service.partition("/")
        if not sep or not namespace or not name:
            raise ValueError(f"--publish-service: {args.publish_service!r} is not NAMESPACE/NAME")
        ipaddress.IPv4Address(args.cluster_ip)
        host, port = listen[0]
        endpoint = None if ipaddress.IPv4Address(host).is_loopback or host == "0.0.0.0" else host
        publish = PublishOptions(
            namespace=namespace, name=name, cluster_ip=args.cluster_ip, address=endpoint,
            identity=_identity(args.identity),
            dns_port=port, metrics_port=metrics[1] if metrics and metrics[0] == host else None,
            interval=parse_duration(args.publish_interval))
    rest = dataclasses.replace(load_config(args.kubeconfig), user_agent="sampan-dns/0.1")
    return DNSOptions(
        rest=rest, listen=listen, cluster_domain=domain, ttl=args.ttl, pods=args.pods,
        upstreams=tuple(parse_hostport(u) for u in args.upstream or ()), resolv_conf=Path(args.resolv_conf),
        forward_timeout=timeout, health_address=health, metrics_address=metrics, cache_size=args.cache_size,
        setup_interface=args.setup_interface or None, publish=publish)


async def _serve(options: DNSOptions) -> int:
    from sampan.cli.signals import run_until_signalled
    from sampan.dns.app import DNSServer

    await run_until_signalled(DNSServer(options).run(), name="dns")
    log.info("dns stopped")
    return 0


def _run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    if options.setup_interface:
        from sampan.dns.interface import check_address

        check_address(options.listen[0][0])
    return asyncio.run(_serve(options))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dns", help="run cluster DNS (CoreDNS's kubernetes plugin behaviour)")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, "
                   "then in-cluster)")
    p.add_argument("--listen", action="append", metavar="HOST:PORT",
                   help="UDP+TCP address to serve on, repeatable (default 127.0.0.1:53; port 0 picks one)")
    p.add_argument("--cluster-domain", default="cluster.local", help="default cluster.local")
    p.add_argument("--ttl", type=int, default=5, help="TTL of answers in seconds (default 5)")
    p.add_argument("--pods", choices=POD_MODES, default="insecure",
                   help="a-b-c-d.<ns>.pod.<domain> records (default insecure, as kubeadm's Corefile)")
    p.add_argument("--upstream", action="append", metavar="HOST[:PORT]",
                   help="resolver for names outside the cluster domain, repeatable (default: --resolv-conf)")
    p.add_argument("--resolv-conf", default="/etc/resolv.conf", help="default /etc/resolv.conf")
    p.add_argument("--forward-timeout", default="5s", help="time for a forwarded query before SERVFAIL (5s)")
    p.add_argument("--health", default="127.0.0.1:8080", help="/health address (default 127.0.0.1:8080; "
                   "'' disables)")
    p.add_argument("--metrics", default="127.0.0.1:9153", help="/metrics address (default 127.0.0.1:9153; "
                   "'' disables)")
    p.add_argument("--cache-size", type=int, default=10_000, help="authoritative answers cached (default 10000)")
    p.add_argument("--setup-interface", default="", metavar="DEVICE",
                   help="put the first --listen address on this sampan-owned device (root), removed on exit")
    p.add_argument("--publish-service", default="", metavar="NAMESPACE/NAME",
                   help="keep this Service and an EndpointSlice naming the first --listen address")
    p.add_argument("--cluster-ip", default="100.96.0.10", help="cluster IP of the published Service")
    p.add_argument("--identity", default="", help="EndpointSlice suffix (default: host name)")
    p.add_argument("--publish-interval", default="10s", help="how often the published objects are checked")
    p.set_defaults(handler=_run)
