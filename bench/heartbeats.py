"""Heartbeats of N hollow nodes (issue 21): what 5,000 kubelets' Lease renewals and node status posts cost.

    nice -n 10 .venv/bin/python bench/heartbeats.py --nodes 5000 --hold 120            # this tree
    nice -n 10 .venv/bin/python bench/heartbeats.py --nodes 5000 --hold 120 --baseline main --rounds 2

The cluster of ``bench/density.py`` without pods: ``sampan apiserver`` over TLS with every component its own
identity (``bench/density_cluster.py``; each hollow node the token of ``system:node:<name>``, so the Node
authorizer, NodeRestriction and API Priority and Fairness see N kubelets), ``--max-inflight`` seats (default
40,20 as the density bench), the controller-manager (its node lifecycle controller marks a node whose Lease
is late ``Unknown``) and the scheduler (leader election), and ``sampan kubelet --runtime simulated --nodes N``.
``--insecure``: the shape of ``bench/density.py --insecure`` instead (plain HTTP, every component the insecure
port's admin: no TLS, no per-node identity, APF-exempt), so the cost of a heartbeat is seen without TLS too.

Phases: start everything and wait until all N nodes are Ready; then hold for ``--hold`` seconds, nothing but
heartbeats running (every node renews its Lease every 10 s: N/10 PUTs/s; node status every 5 min unless it
changed). Printed for the hold window (counters read at its start and end):

- Lease PUTs/s and node status writes/s the API server answered (its request-duration histogram);
- **API server CPU per Lease PUT**: the server's CPU seconds in the window / heartbeat writes (Lease PUTs
  + node status writes; nothing else runs, so this is the whole cost of a heartbeat on the server,
  leader-election renewals and watch fan-out to the controller-manager's Lease informer included);
- **API server cores used by heartbeats**: its CPU seconds / window seconds;
- **hollow-node CPU per heartbeat**: the hollow-node process's CPU seconds / heartbeat writes;
- PUT leases p50/p99 (from the window's histogram buckets), APF's node-high queue-wait p99 and rejections;
- **API requests per node per minute** (each verb and resource, watches left out) and **API server and
  hollow-node CPU per node per minute** (CPU seconds in the window / nodes / minutes): the fixed cost of a
  node, whatever it is spent on;
- **every node Ready throughout**: no node went not-Ready after its first Ready (a node informer in this
  driver), from registration to the end of the window.

``--baseline REV`` runs revision REV from a temporary ``git worktree`` (its ``src`` on ``PYTHONPATH``, this
virtualenv) interleaved with this tree, ``--rounds`` times each (baseline first), and prints medians of
both. CPU per request is load-independent enough to compare on a shared machine; latencies are not.
``--profile SECONDS``: py-spy (``pip install py-spy``) records the API server for that many seconds of the
window and writes a flame graph SVG and a top table next to the printed figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sampan.client import Client, load_config
from sampan.client.cache.handlers import EventHandlerFuncs
from sampan.client.informers import SharedInformerFactory

sys.path.insert(0, str(Path(__file__).resolve().parent))
import density
import density_cluster
from server_process import baseline_tree, py_spy

REPO = Path(__file__).resolve().parent.parent
HEARTBEAT_KEYS = ("PUT leases", "PUT nodes/status", "PATCH nodes/status")


def histograms(metrics_text: str) -> dict[str, dict[float, float]]:
    """{'VERB resource[/sub]': {le: cumulative count}} of apiserver_request_duration_seconds, and the
    node-high level's queue wait as ``apf-wait node-high``."""
    out: dict[str, dict[float, float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            labels = sample.labels
            if family.name == "apiserver_request_duration_seconds" and sample.name.endswith("_bucket"):
                if not labels.get("resource"):
                    continue
                sub = labels.get("subresource") or ""
                key = f"{labels['verb']} {labels['resource']}{'/' + sub if sub else ''}"
            elif (sample.name == "apiserver_flowcontrol_request_wait_duration_seconds_bucket"
                  and labels.get("priority_level") == "node-high"):
                key = "apf-wait node-high"
            else:
                continue
            by_le = out.setdefault(key, {})
            le = float(labels["le"])
            by_le[le] = by_le.get(le, 0.0) + sample.value
    return out


def counter(metrics_text: str, name: str, **match: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in match.items()):
                total += sample.value
    return total


def window(before: dict[float, float], after: dict[float, float]) -> dict[str, float]:
    buckets = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    count = buckets[-1][1] if buckets else 0.0
    return {"count": count, "p50": density.quantile(buckets, 0.5), "p99": density.quantile(buckets, 0.99)}


def scrape(url: str, tls: Any) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=60, context=tls) as r:
        return str(r.read().decode())


async def hold(args: argparse.Namespace, kubeconfig: Path, url: str, tls: Any,
               components: dict[str, density.Component]) -> dict[str, Any]:
    supervisor = asyncio.create_task(density.supervise(components))
    nodes = density.NodeWatch()
    rest = dataclasses.replace(load_config(str(kubeconfig)), qps=0.0)
    try:
        async with Client(rest) as client:
            factory = SharedInformerFactory(client)
            informer = factory.informer("v1", "nodes")
            informer.add_event_handler(EventHandlerFuncs(on_add_func=nodes.observe,
                                                         on_update_func=lambda _o, n: nodes.observe(n)))
            factory.start()
            await factory.wait_for_cache_sync()
            start = time.monotonic()
            await density.wait_loop(lambda: len(nodes.ready) >= args.nodes,
                                    lambda: print(f"  {len(nodes.ready)} nodes Ready", flush=True),
                                    args.timeout, "all nodes Ready")
            ready_s = time.monotonic() - start
            print(f"  all {args.nodes} nodes Ready after {ready_s:.1f} s; settling {args.settle:.0f} s", flush=True)
            await asyncio.sleep(args.settle)  # first status posts and lease creations out of the window
            loop = asyncio.get_running_loop()
            before = await loop.run_in_executor(None, scrape, url, tls)
            cpu0 = {n: c.sample()["cpu"] + c.cpu for n, c in components.items()}
            t0 = time.monotonic()
            profiler = start_profiler(args, components["apiserver"].proc.pid)
            lapses_before = len(nodes.lapses)
            while time.monotonic() - t0 < args.hold:
                await asyncio.sleep(min(10.0, args.hold - (time.monotonic() - t0)))
                print(f"  hold {time.monotonic() - t0:.0f} s: {len(nodes.ready)} Ready, "
                      f"{len(nodes.lapses)} lapses", flush=True)
            seconds = time.monotonic() - t0
            cpu1 = {n: c.sample()["cpu"] + c.cpu for n, c in components.items()}
            after = await loop.run_in_executor(None, scrape, url, tls)
            if profiler is not None:
                profiler.wait()
            await factory.shutdown()
    finally:
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
    hb, ha = histograms(before), histograms(after)
    api = {key: window(hb.get(key, {}), ha[key]) for key in ha}
    cpu = {n: (cpu1[n] - cpu0[n]) / density.CLK_TCK for n in cpu1}
    leases = api.get("PUT leases", {"count": 0.0})["count"]
    beats = sum(api.get(k, {"count": 0.0})["count"] for k in HEARTBEAT_KEYS)
    rejected = (counter(after, "apiserver_flowcontrol_rejected_requests_total", priority_level="node-high")
                - counter(before, "apiserver_flowcontrol_rejected_requests_total", priority_level="node-high"))
    return {"nodes": args.nodes, "ready_s": ready_s, "hold_s": seconds, "cpu_s": cpu, "api": api,
            "lease_puts": leases, "heartbeats": beats, "node_high_rejected": rejected,
            "lapses_total": len(nodes.lapses), "lapses_in_window": len(nodes.lapses) - lapses_before,
            "restarts": {n: c.restarts for n, c in components.items() if c.restarts},
            "loadavg": os.getloadavg()[0]}


def start_profiler(args: argparse.Namespace, pid: int) -> subprocess.Popen[bytes] | None:
    if not args.profile:
        return None
    spy = py_spy()
    out = Path(args.profile_out)
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(args.profile)), "--rate", "50",
                             "--format", "raw", "--output", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def run_once(args: argparse.Namespace, *, src: Path) -> dict[str, Any]:
    """One cluster from ``src`` (a tree's ``src`` directory): start, wait Ready, hold, stop."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    work = Path(tempfile.mkdtemp(prefix="sampan-bench-heartbeats-"))
    port = density.free_port()
    url = f"{'http' if args.insecure else 'https'}://127.0.0.1:{port}"
    ids = density_cluster.insecure(work, port) if args.insecure else density_cluster.secure(work, port,
                                                                                              nodes=args.nodes)
    inflight: list[str] = []
    if args.max_inflight:
        read, _, mutating = args.max_inflight.partition(",")
        inflight = ["--max-requests-inflight", read, "--max-mutating-requests-inflight", mutating or read]
    qps = ["--kube-api-qps", str(args.component_qps), "--kube-api-burst", str(args.component_qps)]

    def component(name: str, argv: list[str]) -> density.Component:
        with patched_environ(env):
            return density.Component(name, [*density.SAMPAN, *argv], work / f"{name}.log")

    def k(name: str) -> list[str]:
        return ["--kubeconfig", str(ids.kubeconfigs[name])]

    components: dict[str, density.Component] = {}
    try:
        components["apiserver"] = component("apiserver", [
            "apiserver", *ids.apiserver_args, *inflight, "--storage", args.storage, "--data-dir", str(work / "data")])
        tls = ids.ssl_context()
        density.wait_http(url + "/readyz", components["apiserver"].proc, work / "apiserver.log", timeout=300.0,
                          context=tls)
        if not args.no_control_plane:
            components["controller-manager"] = component("controller-manager", [
                "controller-manager", *k("controller-manager"), *qps, "--port", "0"])
            components["scheduler"] = component("scheduler", ["scheduler", *k("scheduler"), *qps, "--port", "0"])
        components["hollow-nodes"] = component("hollow-nodes", [
            "kubelet", *k("hollow-nodes"), *ids.hollow_args, "--runtime", "simulated", "--nodes", str(args.nodes),
            "--node-name-prefix", "hollow-", "--root-dir", str(work / "kubelet")])
        return asyncio.run(hold(args, ids.kubeconfigs["admin"], url, tls, components))
    finally:
        density.stop_all(list(components.values()))
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def patched_environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)



def requests_per_node_minute(r: dict[str, Any]) -> dict[str, float]:
    """{'VERB resource[/sub]': requests per node per minute} in the window (watches and APF waits left out)."""
    per = r["nodes"] * r["hold_s"] / 60.0
    return {key: w["count"] / per for key, w in sorted(r["api"].items())
            if w["count"] and not key.startswith(("WATCH ", "apf-wait "))}


def figures(r: dict[str, Any]) -> dict[str, float]:
    beats = max(r["heartbeats"], 1.0)
    node_minutes = r["nodes"] * r["hold_s"] / 60.0
    lease = r["api"].get("PUT leases", {"p50": float("nan"), "p99": float("nan")})
    wait = r["api"].get("apf-wait node-high", {"p99": float("nan")})
    return {"lease_puts_per_s": r["lease_puts"] / r["hold_s"],
            "status_writes_per_s": (r["heartbeats"] - r["lease_puts"]) / r["hold_s"],
            "server_ms_per_beat": 1000 * r["cpu_s"]["apiserver"] / beats,
            "server_cores": r["cpu_s"]["apiserver"] / r["hold_s"],
            "hollow_ms_per_beat": 1000 * r["cpu_s"]["hollow-nodes"] / beats,
            "hollow_cores": r["cpu_s"]["hollow-nodes"] / r["hold_s"],
            "lease_p50": lease["p50"], "lease_p99": lease["p99"], "node_high_wait_p99": wait["p99"],
            "requests_per_node_min": sum(requests_per_node_minute(r).values()),
            "node_gets_per_s": r["api"].get("GET nodes", {"count": 0.0})["count"] / r["hold_s"],
            "server_ms_per_node_min": 1000 * r["cpu_s"]["apiserver"] / node_minutes,
            "hollow_ms_per_node_min": 1000 * r["cpu_s"]["hollow-nodes"] / node_minutes}


def report(label: str, r: dict[str, Any]) -> None:
    f = figures(r)
    ready = "yes" if r["lapses_total"] == 0 else \
        f"NO ({r['lapses_total']} lapses, {r['lapses_in_window']} in the window)"
    if r["lapses_total"] == 0 and r["restarts"].get("controller-manager"):
        ready = "not judged (the controller-manager, whose node lifecycle controller marks late nodes, restarted)"
    print(f"\n== {label}: {r['nodes']} hollow nodes, hold {r['hold_s']:.0f} s (load {r['loadavg']:.1f}); "
          f"all Ready after {r['ready_s']:.0f} s", flush=True)
    print(f"  Lease PUTs/s {f['lease_puts_per_s']:.1f}  node status writes/s {f['status_writes_per_s']:.2f}")
    print(f"  API server CPU per heartbeat write: {f['server_ms_per_beat']:.3f} ms   "
          f"API server cores used by heartbeats: {f['server_cores']:.3f}")
    print(f"  hollow-node CPU per heartbeat: {f['hollow_ms_per_beat']:.3f} ms ({f['hollow_cores']:.3f} cores)")
    print(f"  PUT leases p50 {f['lease_p50']:.3f} s p99 {f['lease_p99']:.3f} s; node-high queue wait p99 "
          f"{f['node_high_wait_p99']:.3f} s, rejected {r['node_high_rejected']:.0f}")
    print(f"  API requests per node per minute: {f['requests_per_node_min']:.2f} ("
          + ", ".join(f"{k} {v:.2f}" for k, v in requests_per_node_minute(r).items()) + f"); GET nodes/s "
          f"{f['node_gets_per_s']:.1f}")
    print(f"  CPU per node per minute: API server {f['server_ms_per_node_min']:.1f} ms, hollow nodes "
          f"{f['hollow_ms_per_node_min']:.1f} ms")
    print(f"  every node Ready throughout: {ready}; restarts: {r['restarts'] or 'none'}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--hold", type=float, default=120.0, help="seconds of heartbeats measured")
    ap.add_argument("--settle", type=float, default=15.0, help="seconds between all nodes Ready and the window")
    ap.add_argument("--storage", choices=("sqlite", "memory", "etcd"), default="sqlite")
    ap.add_argument("--max-inflight", default="40,20", metavar="READ,MUTATING")
    ap.add_argument("--component-qps", type=int, default=500)
    ap.add_argument("--insecure", action="store_true",
                    help="plain HTTP, every component the insecure port's admin (density.py --insecure's shape: "
                         "no TLS, one identity, APF-exempt)")
    ap.add_argument("--no-control-plane", action="store_true",
                    help="no controller-manager or scheduler (nothing marks a late node Unknown then)")
    ap.add_argument("--timeout", type=float, default=1200.0, help="for all nodes to turn Ready")
    ap.add_argument("--baseline", default="", help="git revision to interleave with this tree")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--profile", type=float, default=0.0, help="py-spy the API server this many seconds")
    ap.add_argument("--profile-out", default="apiserver-heartbeats.pyspy.txt")
    ap.add_argument("--json", default="")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="sampan-bench-hb-") as tmp, baseline_tree(args.baseline, Path(tmp)) as base:
        builds = ([(f"baseline {args.baseline}", base)] if base else []) + [("this tree", REPO / "src")]
        for _ in range(args.rounds):
            for label, src in builds:
                r = run_once(args, src=src)
                report(label, r)
                results.setdefault(label, []).append(r)
    if args.rounds > 1 or len(results) > 1:
        print("\n== medians")
        for label, runs in results.items():
            fs = [figures(r) for r in runs]
            med = {k: statistics.median(f[k] for f in fs) for k in fs[0]}
            lapses = [r["lapses_total"] for r in runs]
            print(f"  {label}: server {med['server_ms_per_beat']:.3f} ms/beat, {med['server_cores']:.3f} cores; "
                  f"hollow {med['hollow_ms_per_beat']:.3f} ms/beat; PUT leases p50 {med['lease_p50']:.3f} "
                  f"p99 {med['lease_p99']:.3f} s; lapses per run {lapses}")
            print(f"    per node per minute: {med['requests_per_node_min']:.2f} requests, API server "
                  f"{med['server_ms_per_node_min']:.1f} ms CPU, hollow nodes {med['hollow_ms_per_node_min']:.1f} ms "
                  f"CPU; GET nodes/s {med['node_gets_per_s']:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
