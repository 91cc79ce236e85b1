"""kube-proxy benchmark (root, nft): endpoint-change-to-rule latency and full sync time.

    .venv/bin/python bench/proxy.py                    # both parts
    .venv/bin/python bench/proxy.py --updates 100      # quicker

The script re-runs itself inside a private network namespace (``sampan-proxybench``, removed at the end),
so the tables it programs never touch the host.

1. **Endpoint change → rule in the kernel**: a real API server (in process, memory storage) and a real
   ``ProxyServer`` (informers, change tracker, nftables backend) with 100 Services x 10 endpoints; then
   EndpointSlice updates (one endpoint replaced per update, a random Service each time, 20 updates/s).
   Latency = from the API server's acknowledgement of the update (the write is committed and watchers
   are notified) until the ``nft -f`` transaction that contains the change returned. The write's own
   round trip is printed beside it (on this machine it is ~200 ms, an API-server/client matter — the
   watch event reaches the proxy as the acknowledgement does). Run with ``--min-sync-period`` 0s and 1s
   (upstream's default, which batches changes: latency is then bounded by the period, by design).
2. **Full sync of 1,000 Services / 10,000 endpoints**: ruleset generation alone (pure Python), and the
   whole ``sync_full`` (generation, listing the table, ``nft -f``), first into an empty table and then as
   a resync of the same state; plus one partial sync (one Service changed) on that table. The iptables
   backend's full sync of the same state for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

NETNS = "sampan-proxybench"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def slice_for(svc: int, gen: int, n: int) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"svc-{svc}-x", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": f"svc-{svc}"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [f"100.{64 + (svc // 250)}.{svc % 250}.{(gen + i) % 250 + 1}"],
                           "nodeName": "bench", "conditions": {"ready": True}} for i in range(n)]}


def service_for(svc: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{svc}", "namespace": "default"},
            "spec": {"clusterIP": f"100.96.{svc // 250}.{svc % 250 + 1}",
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


async def latency(services: int, per: int, updates: int, rate: float,
                  min_sync: float) -> tuple[list[float], list[float]]:
    from tests.support.apiserver import run_apiserver_inprocess

    from sampan.client import Client, load_config
    from sampan.proxy.nftables.backend import NftablesBackend
    from sampan.proxy.options import ProxyOptions
    from sampan.proxy.server import ProxyServer
    from sampan.proxy.snapshot import ServiceState

    applied: list[tuple[float, set[str]]] = []

    class Timed(NftablesBackend):
        async def sync_partial(self, changed: Mapping[Any, ServiceState | None]) -> None:
            await super().sync_partial(changed)
            applied.append((time.perf_counter(), {k.name for k in changed}))

        async def sync_full(self, states: Mapping[Any, ServiceState]) -> None:
            await super().sync_full(states)
            applied.append((time.perf_counter(), {k.name for k in states}))

    with tempfile.TemporaryDirectory() as tmp:
        async with run_apiserver_inprocess(Path(tmp) / "api") as api, Client(load_config(str(api.kubeconfig))) as c:
            svcs = await c.resource("v1", "services")
            slices = await c.resource("discovery.k8s.io/v1", "endpointslices")
            for i in range(services):
                await svcs.create(service_for(i), namespace="default")
                await slices.create(slice_for(i, 0, per), namespace="default")
            opts = ProxyOptions(node_name="bench", sync_period=3600, min_sync_period=min_sync, manage_routes=False,
                                healthz_bind_address="", metrics_bind_address="")
            server = ProxyServer(c, opts)
            server.proxier.backend = Timed(server.proxier.backend.config)  # type: ignore[attr-defined]
            task = asyncio.create_task(server.run())
            await server.proxier.synced_once.wait()
            rng = random.Random(1)
            lat: list[float] = []
            rtt: list[float] = []
            pending: list[tuple[float, str]] = []
            for u in range(updates):
                svc = rng.randrange(services)
                current = await slices.get(f"svc-{svc}-x", namespace="default")
                body = slice_for(svc, u + 1, per)
                body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                sent = time.perf_counter()
                await slices.update(body, namespace="default")
                t0 = time.perf_counter()
                rtt.append(t0 - sent)
                pending.append((t0, f"svc-{svc}"))
                await asyncio.sleep(1 / rate)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                done = [(t0, name) for t0, name in pending
                        if any(t >= t0 and name in keys for t, keys in applied)]
                if len(done) == len(pending):
                    break
                await asyncio.sleep(0.05)
            for t0, name in pending:
                t = min((t for t, keys in applied if t >= t0 and name in keys), default=None)
                if t is not None:
                    lat.append(t - t0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            from sampan.proxy.nftables.backend import delete_table

            await delete_table(opts.table)
            return lat, rtt


async def full_sync(services: int, per: int) -> dict[str, float]:
    from sampan.proxy.model import Endpoint, ServiceKey, service_ports
    from sampan.proxy.nftables.backend import NftablesBackend, delete_table
    from sampan.proxy.nftables.fragments import Scope
    from sampan.proxy.nftables.ruleset import TableConfig, full_transaction
    from sampan.proxy.snapshot import ServiceState

    states = {}
    for i in range(services):
        ports = service_ports(service_for(i))
        eps = {pn: tuple(Endpoint(f"100.{64 + i // 250}.{i % 250}.{j + 1}", 8080, node_name="bench")
                         for j in range(per)) for pn in ports}
        states[ServiceKey("default", f"svc-{i}")] = ServiceState(ports, eps)
    scope = Scope(node_name="bench", local_interface="sampanb0")
    cfg = TableConfig(table="sampan-proxy-bench", scope=scope)
    backend = NftablesBackend(cfg)
    out: dict[str, float] = {}
    t = time.perf_counter()
    text = full_transaction(cfg, [backend.fragment(states[k]) for k in sorted(states)])
    out["generate"] = time.perf_counter() - t
    out["lines"] = text.count("\n")
    t = time.perf_counter()
    await backend.sync_full(states)
    out["first_full"] = time.perf_counter() - t
    t = time.perf_counter()
    await backend.sync_full(states)
    out["resync_full"] = time.perf_counter() - t
    key = ServiceKey("default", "svc-7")
    changed = ServiceState(states[key].ports, {pn: (*eps[:-1], Endpoint("100.99.0.1", 8080))
                                               for pn, eps in states[key].endpoints.items()})
    t = time.perf_counter()
    await backend.sync_partial({key: changed})
    out["partial"] = time.perf_counter() - t
    await delete_table(cfg.table)

    from sampan.proxy.iptables.backend import IptablesBackend, remove_all_chains

    ipt = IptablesBackend("bench", scope=scope, reject_cidrs=("100.96.0.0/16",))
    t = time.perf_counter()
    await ipt.sync_full(states)
    out["iptables_full"] = time.perf_counter() - t
    await remove_all_chains()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--endpoints", type=int, default=10, help="per Service")
    ap.add_argument("--updates", type=int, default=300)
    ap.add_argument("--rate", type=float, default=20.0, help="updates per second")
    ap.add_argument("--big-services", type=int, default=1000)
    ap.add_argument("--big-endpoints", type=int, default=10)
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.inside:
        if os.geteuid() != 0:
            sys.exit("bench/proxy.py needs root (it programs nftables in a private network namespace)")
        subprocess.run(["ip", "netns", "add", NETNS], check=True)
        try:
            subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
            sys.exit(subprocess.run(["ip", "netns", "exec", NETNS, sys.executable, __file__, "--inside",
                                     *sys.argv[1:]], env=env).returncode)
        finally:
            subprocess.run(["ip", "netns", "del", NETNS], check=False)
    import gc
    import logging

    gc.set_threshold(50_000, 20, 100)
    logging.basicConfig(level=logging.WARNING)
    print(f"endpoint change -> rule in the kernel ({args.services} services x {args.endpoints} endpoints, "
          f"{args.updates} updates at {args.rate:g}/s):")
    for min_sync in (0.0, 1.0):
        lat, rtt = asyncio.run(latency(args.services, args.endpoints, args.updates, args.rate, min_sync))
        print(f"  --min-sync-period {min_sync:g}s: n={len(lat)} p50={pct(lat, 50) * 1000:.1f} ms "
              f"p99={pct(lat, 99) * 1000:.1f} ms max={max(lat) * 1000:.1f} ms mean={statistics.mean(lat) * 1000:.1f} ms"
              f" (API write round trip p50 {pct(rtt, 50) * 1000:.0f} ms, not included)")
    r = asyncio.run(full_sync(args.big_services, args.big_endpoints))
    print(f"full sync, {args.big_services} services / {args.big_services * args.big_endpoints} endpoints "
          f"({int(r['lines'])} nft lines):")
    print(f"  generate text {r['generate'] * 1000:.0f} ms; first full sync {r['first_full'] * 1000:.0f} ms; "
          f"resync {r['resync_full'] * 1000:.0f} ms; partial (1 service) {r['partial'] * 1000:.1f} ms")
    print(f"  iptables backend full sync {r['iptables_full'] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
