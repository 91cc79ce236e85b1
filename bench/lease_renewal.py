"""The cost of one node Lease renewal, server and client, without registering thousands of nodes first.

    nice -n 10 .venv/bin/python bench/lease_renewal.py --nodes 5000 --rate 500 --seconds 60
    nice -n 10 .venv/bin/python bench/lease_renewal.py --baseline main --rounds 2     # A/B, interleaved

``bench/heartbeats.py`` measures the real thing (5,000 hollow kubelets, minutes to register on this
machine); this bench isolates the renewal so a change can be compared in a minute or two. One
``sampan apiserver`` over TLS with a ``system:node:<name>`` token per node (``bench/density_cluster.py``:
the Node authorizer, NodeRestriction and API Priority and Fairness's node-high level judge each renewal,
``--max-inflight`` seats as the density bench), and a driver process that renews the Leases with the
kubelet's own code: :class:`~sampan.kubelet.node_lease.NodeLease` on one heartbeat client shared by every
node, each node's requests with its own token (as the hollow-node process does). The driver creates the
N Leases, then renews them round-robin at ``--rate`` per second for ``--seconds``.

Printed per run: renewals/s achieved, **API server CPU per renewal** (its CPU seconds in the window from
/proc / renewals; the server does nothing else), **driver CPU per renewal** (the kubelet side: client,
TLS, JSON), renewal latency p50/p99 as the client saw it, failures. With ``--baseline REV`` the server
and the driver both run from REV's tree (a temporary ``git worktree`` on ``PYTHONPATH``), interleaved
with this tree, and medians are printed; ``--event-loops asyncio,uvloop`` interleaves this tree under each
``SAMPAN_EVENT_LOOP`` instead (server and driver alike; ``default``: the variable unset, so each runs its
command's default loop, the driver as ``sampan kubelet``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import density
import density_cluster
from heartbeats import REPO, baseline_tree
from server_process import py_spy

HERE = Path(__file__).resolve()


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    """The child: renew the Leases as hollow nodes do; returns the figures."""
    from sampan._lib.clock import RealClock
    from sampan.client import Client, load_config
    from sampan.client.config import heartbeat_config
    from sampan.kubelet.heartbeat import LEASES
    from sampan.kubelet.hollow import node_tokens
    from sampan.kubelet.node_lease import LeaseOptions, NodeLease

    tokens = node_tokens(args.tokens)
    base = load_config(args.kubeconfig)
    pool = args.max_connections or max(base.max_connections, args.nodes // 4)  # default: as hollow.py sizes it
    rest = heartbeat_config(dataclasses.replace(base, max_connections=pool),
                            purpose="heartbeat", timeout=10.0)
    clock = RealClock()
    async with Client(rest) as client:
        leases = []
        for i in range(1, args.nodes + 1):
            name = f"hollow-{i}"
            config = dataclasses.replace(client.config, bearer_token=tokens[name], bearer_token_file=None,
                                         username=None, password=None)
            leases.append(NodeLease(client.sharing(config).resource_for(LEASES), node_name=name, clock=clock,
                                    options=LeaseOptions()))
        gate = asyncio.Semaphore(64)

        async def create(lease: NodeLease) -> None:
            async with gate:
                await lease.renew()

        async with asyncio.TaskGroup() as tg:
            for lease in leases:
                tg.create_task(create(lease))
        latencies: list[float] = []
        failures = 0
        busy: set[int] = set()

        async def renew(i: int) -> None:
            nonlocal failures
            busy.add(i)
            start = time.monotonic()
            try:
                await leases[i].renew()
                latencies.append(time.monotonic() - start)
            except Exception:
                failures += 1
            finally:
                busy.discard(i)

        spy = start_profiler(args)
        cpu0, server0, t0 = time.process_time(), density.proc_status(args.server_pid)["cpu"], time.monotonic()
        launched = skipped = 0
        async with asyncio.TaskGroup() as tg:
            while (elapsed := time.monotonic() - t0) < args.seconds:
                due = int(elapsed * args.rate)
                while launched < due:
                    i = launched % args.nodes
                    launched += 1
                    if i in busy:  # a node never has two renewals in flight
                        skipped += 1
                        continue
                    tg.create_task(renew(i))
                await asyncio.sleep(0.01)
        seconds = time.monotonic() - t0
        cpu = time.process_time() - cpu0
        server = (density.proc_status(args.server_pid)["cpu"] - server0) / density.CLK_TCK
        if spy is not None:
            await asyncio.to_thread(spy.wait)
    done = len(latencies)
    return {"renewals": done, "seconds": seconds, "failures": failures, "skipped": skipped,
            "server_ms": 1000 * server / max(done, 1), "server_cores": server / seconds,
            "driver_ms": 1000 * cpu / max(done, 1), "p50": density.percentiles(latencies)["p50"],
            "p99": density.percentiles(latencies)["p99"], "loadavg": os.getloadavg()[0]}


def start_profiler(args: argparse.Namespace) -> subprocess.Popen[bytes] | None:
    """py-spy (``pip install py-spy``) on the server for the window: collapsed stacks to ``--profile``."""
    if not args.profile:
        return None
    return subprocess.Popen([py_spy(), "record", "--pid", str(args.server_pid),
                             "--duration", str(int(args.seconds)), "--rate", "100", "--format", "raw",
                             "--output", args.profile], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_once(args: argparse.Namespace, *, src: Path, loop: str = "") -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    if loop and loop != "default":  # both the server and the driver (the kubelet side) run this event loop
        env["SAMPAN_EVENT_LOOP"] = loop
    elif loop:  # each its command's default (sampan._lib.eventloop): the server asyncio, the kubelet side uvloop
        env.pop("SAMPAN_EVENT_LOOP", None)
    work = Path(tempfile.mkdtemp(prefix="sampan-bench-lease-renewal-"))
    port = density.free_port()
    ids = density_cluster.secure(work, port, nodes=args.nodes)
    read, _, mutating = args.max_inflight.partition(",")
    log = work / "apiserver.log"
    with open(log, "ab") as f:
        server = subprocess.Popen([*density.SAMPAN, "apiserver", *ids.apiserver_args, "--max-requests-inflight", read,
                                   "--max-mutating-requests-inflight", mutating or read, "--storage", args.storage,
                                   "--data-dir", str(work / "data")], stdout=f, stderr=subprocess.STDOUT, env=env)
    try:
        density.wait_http(f"https://127.0.0.1:{port}/readyz", server, log, timeout=300.0, context=ids.ssl_context())
        child = subprocess.run([sys.executable, str(HERE), "--child", "--server-pid", str(server.pid),
                                "--kubeconfig", str(ids.kubeconfigs["hollow-nodes"]), "--tokens", ids.hollow_args[1],
                                "--nodes", str(args.nodes), "--rate", str(args.rate), "--seconds", str(args.seconds),
                                "--profile", args.profile, "--max-connections", str(args.max_connections)],
                               env=env, capture_output=True, text=True, check=False)
        if child.returncode != 0:
            raise RuntimeError(f"driver failed:\n{child.stderr[-3000:]}")
        return dict(json.loads(child.stdout.strip().splitlines()[-1]))
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)


def show(label: str, r: dict[str, Any]) -> None:
    print(f"{label}: {r['renewals'] / r['seconds']:.0f} renewals/s (load {r['loadavg']:.1f}); API server "
          f"{r['server_ms']:.3f} ms/renewal ({r['server_cores']:.2f} cores); driver {r['driver_ms']:.3f} ms/renewal; "
          f"p50 {r['p50'] * 1000:.0f} ms p99 {r['p99'] * 1000:.0f} ms; failures {r['failures']}, "
          f"skipped {r['skipped']}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--rate", type=float, default=500.0, help="renewals per second (5,000 nodes: 500)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--storage", choices=("sqlite", "memory", "etcd"), default="sqlite")
    ap.add_argument("--max-inflight", default="40,20", metavar="READ,MUTATING")
    ap.add_argument("--baseline", default="", help="git revision to interleave with this tree")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--event-loops", default="", metavar="A,B",
                    help="interleave this tree under each SAMPAN_EVENT_LOOP (e.g. asyncio,uvloop), not a baseline")
    ap.add_argument("--profile", default="", metavar="FILE",
                    help="py-spy the API server during the window; collapsed stacks to FILE (py-spy from PyPI)")
    ap.add_argument("--max-connections", type=int, default=0,
                    help="the driver's heartbeat pool (default 0: as the hollow-node process sizes its own)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--server-pid", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--kubeconfig", default="", help=argparse.SUPPRESS)
    ap.add_argument("--tokens", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up: stop the server, drop the worktree
    if args.child:
        try:  # the loop `sampan kubelet` would run (trees that have the switch)
            from sampan._lib import eventloop
        except ImportError:
            pass
        else:
            eventloop.install("kubelet")
        print(json.dumps(asyncio.run(drive(args))))
        return 0
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="sampan-bench-lr-") as tmp, baseline_tree(args.baseline, Path(tmp)) as base:
        builds = ([(f"baseline {args.baseline}", base, "")] if base else []) + [("this tree", REPO / "src", "")]
        if args.event_loops:
            builds = [(f"this tree {loop}", REPO / "src", loop) for loop in args.event_loops.split(",")]
        for _ in range(args.rounds):
            for label, src, loop in builds:
                r = run_once(args, src=src, loop=loop)
                show(label, r)
                runs.setdefault(label, []).append(r)
    if args.rounds > 1 or len(runs) > 1:
        print("medians:")
        for label, rs in runs.items():
            med = {k: statistics.median(r[k] for r in rs) for k in ("server_ms", "driver_ms", "p50", "p99")}
            rate = statistics.median(r["renewals"] / r["seconds"] for r in rs)
            print(f"  {label}: {rate:.0f}/s, API server {med['server_ms']:.3f} ms/renewal, driver "
                  f"{med['driver_ms']:.3f} ms/renewal, p50 {med['p50'] * 1000:.0f} ms, p99 {med['p99'] * 1000:.0f} ms")
    return 0 if all(not math.isnan(r["p50"]) for rs in runs.values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
