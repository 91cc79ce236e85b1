"""kube-scheduler end to end, through the API: upstream scheduler_perf's SchedulingBasic shape.

    .venv/bin/python bench/scheduler.py                       # scaled down: ~1-2 minutes on 2 cores
    .venv/bin/python bench/scheduler.py --nodes 5000 --init-pods 1000 --pods 10000   # upstream's size
    .venv/bin/python bench/scheduler.py --workload spread|affinity

Three processes, as in a cluster: ``sampan apiserver`` (storage sqlite by default), ``sampan scheduler``
(``--leader-elect=false``, or on with ``--leader-elect``; client QPS 5000 as scheduler_perf sets it) and this
driver. The driver creates the nodes (4 cpu, 32Gi, 110 pods, three zones) and the initial pods through the API
and waits until those are bound; then it opens a watch on pods, creates the measured pods (100m cpu, 500Mi)
with 16 requests in flight, and counts each pod when the watch shows it bound. Throughput = measured pods /
(time the last one was seen bound - time the first create was sent), so it includes create, watch delivery to
the scheduler, scheduling, the binding POST and the watch delivery back here.

It also prints CPU seconds spent by each process during the measured phase (from /proc), which is the
coarse profile of where the time goes on a 2-core machine, and the scheduler's own metrics (attempts,
mean e2e latency).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from sampan.cli.kubeconfig import render_kubeconfig
from sampan.client import Client, ResourceClient, load_config
from server_process import cpu_seconds, free_port, process, wait_http

ZONES = ("zone-a", "zone-b", "zone-c")


def make_node(i: int) -> dict[str, Any]:
    alloc = {"cpu": "4", "memory": "32Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": f"node-{i}", "labels": {"kubernetes.io/hostname": f"node-{i}",
                                                         "topology.kubernetes.io/zone": ZONES[i % len(ZONES)]}},
            "spec": {}, "status": {"capacity": alloc, "allocatable": alloc,
                                   "conditions": [{"type": "Ready", "status": "True"}]}}


def make_pod(name: str, workload: str, i: int) -> dict[str, Any]:
    labels = {"app": "bench"}
    spec: dict[str, Any] = {"containers": [{
        "name": "pause", "image": "registry.k8s.io/pause:3.10", "ports": [{"containerPort": 80}],
        "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}, "limits": {"cpu": "100m", "memory": "500Mi"}},
    }]}
    if workload == "spread":
        spec["topologySpreadConstraints"] = [{
            "maxSkew": 5, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": labels}}]
    elif workload == "affinity":
        group = f"g{i % 500}"
        labels = {"app": "bench", "group": group}
        spec["affinity"] = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                             "labelSelector": {"matchLabels": {"group": group}}}}]}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec}


async def create_all(rc: ResourceClient, objs: list[dict[str, Any]], *, namespace: str | None,
                     concurrency: int = 16) -> float:
    """Create every object with ``concurrency`` requests in flight; returns when the first was sent."""
    it = iter(objs)
    first = time.perf_counter()

    async def worker() -> None:
        for obj in it:
            await rc.create(obj, namespace=namespace)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return first


async def count_bound(pods: ResourceClient, prefix: str, want: int, rv: str, done: asyncio.Future[float]) -> None:
    """Watch pods from ``rv``; resolve ``done`` with the time the ``want``-th pod named ``prefix*`` was
    seen bound."""
    seen: set[str] = set()
    while True:
        async for ev in pods.watch(namespace="default", resource_version=rv, timeout_seconds=600):
            obj = ev["object"]
            if ev["type"] == "BOOKMARK":
                rv = obj["metadata"]["resourceVersion"]
                continue
            rv = obj["metadata"]["resourceVersion"]
            name = obj["metadata"]["name"]
            if ev["type"] in ("ADDED", "MODIFIED") and name.startswith(prefix) and obj["spec"].get("nodeName"):
                seen.add(name)
                if len(seen) >= want:
                    done.set_result(time.perf_counter())
                    return


async def phase(pods: ResourceClient, prefix: str, objs: list[dict[str, Any]]) -> tuple[float, float]:
    """Create ``objs`` and wait until all are bound; (seconds create->all bound, seconds creating)."""
    rv = (await pods.list(namespace="default", limit=1))["metadata"]["resourceVersion"]
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    watcher = asyncio.create_task(count_bound(pods, prefix, len(objs), rv, done))
    first = await create_all(pods, objs, namespace="default")
    created = time.perf_counter() - first
    try:
        last = await asyncio.wait_for(asyncio.shield(done), 1800)
    finally:
        watcher.cancel()
    return last - first, created


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r'^(scheduler_schedule_attempts_total|scheduler_e2e_scheduling_duration_seconds_(?:sum|count))'
                     r'\{[^}]*result="(\w+)"[^}]*\} ([0-9.e+]+)$', line)
        if m:
            out[f"{m.group(1)}[{m.group(2)}]"] = out.get(f"{m.group(1)}[{m.group(2)}]", 0.0) + float(m.group(3))
        m = re.match(r'^sampan_event_loop_stall_seconds_max(?:\{[^}]*\})? ([0-9.e+-]+)$', line)
        if m:
            out["stall_max"] = max(out.get("stall_max", 0.0), float(m.group(1)))
    return out


async def drive(args: argparse.Namespace, kubeconfig: Path, pids: dict[str, int], metrics_url: str) -> None:
    cfg = dataclasses.replace(load_config(str(kubeconfig)), qps=0.0)
    async with Client(cfg) as client:
        nodes = await client.resource("v1", "nodes")
        pods = await client.resource("v1", "pods")
        t0 = time.perf_counter()
        await create_all(nodes, [make_node(i) for i in range(args.nodes)], namespace=None)
        print(f"created {args.nodes} nodes in {time.perf_counter() - t0:.1f}s", flush=True)
        init = [make_pod(f"init-{i}", args.workload, i) for i in range(args.init_pods)]
        e2e, _ = await phase(pods, "init-", init)
        print(f"initial {args.init_pods} pods bound in {e2e:.1f}s", flush=True)

        measured = [make_pod(f"m-{i}", args.workload, args.init_pods + i) for i in range(args.pods)]
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        e2e, created = await phase(pods, "m-", measured)
        cpu1 = {k: cpu_seconds(p) for k, p in pids.items()}
        print(f"workload={args.workload} storage={args.storage} nodes={args.nodes} init_pods={args.init_pods} "
              f"measured_pods={args.pods}")
        name = {"basic": "SchedulingBasic", "spread": "TopologySpreading", "affinity": "PreferredPodAffinity"}
        print(f"{name[args.workload]} end to end: {args.pods} pods created+bound in {e2e:.2f}s -> "
              f"{args.pods / e2e:,.0f} pods/s (creates alone: {args.pods / created:,.0f} pods/s)")
        print(f"CPU seconds during the measured phase (2 cores; wall {e2e:.1f}s):")
        for k in pids:
            print(f"  {k:<10} {cpu1[k] - cpu0[k]:6.1f}s  ({100 * (cpu1[k] - cpu0[k]) / e2e:4.0f}% of one core)")
        m = scrape(metrics_url)
        cnt = m.get("scheduler_e2e_scheduling_duration_seconds_count[scheduled]", 0.0)
        mean = m.get("scheduler_e2e_scheduling_duration_seconds_sum[scheduled]", 0.0) / cnt if cnt else float("nan")
        print(f"scheduler metrics: attempts scheduled={m.get('scheduler_schedule_attempts_total[scheduled]', 0):.0f} "
              f"unschedulable={m.get('scheduler_schedule_attempts_total[unschedulable]', 0):.0f} "
              f"error={m.get('scheduler_schedule_attempts_total[error]', 0):.0f}; "
              f"mean e2e (first attempt -> bound) {mean * 1000:.0f} ms; "
              f"longest event-loop stall {m.get('stall_max', float('nan')) * 1000:.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--init-pods", type=int, default=1000)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--workload", choices=("basic", "spread", "affinity"), default="basic")
    ap.add_argument("--storage", choices=("sqlite", "memory"), default="sqlite")
    ap.add_argument("--leader-elect", action="store_true",
                    help="run the scheduler with leader election on (upstream's default)")
    ap.add_argument("--profile", action="store_true",
                    help="run the scheduler under cProfile and print its top functions afterwards")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sampan-bench-sched-") as tmp:
        work = Path(tmp)
        api_port, metrics_port = free_port(), free_port()
        url = f"http://127.0.0.1:{api_port}"
        kubeconfig = work / "kubeconfig"
        kubeconfig.write_text(render_kubeconfig(url))
        sampan = [sys.executable, "-m", "sampan.cli.main"]
        with process([*sampan, "apiserver", "--port", str(api_port), "--storage", args.storage, "--data-dir",
                      str(work / "data")], work / "apiserver.log") as api:
            wait_http(url + "/readyz", api, work / "apiserver.log")
            prof = work / "scheduler.prof"
            runner = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "sampan.cli.main"] if args.profile \
                else sampan
            with process([*runner, "scheduler", "--kubeconfig", str(kubeconfig),
                          f"--leader-elect={str(args.leader_elect).lower()}",
                          "--secure-port", str(metrics_port), "--kube-api-qps", "5000", "--kube-api-burst", "5000"],
                         work / "scheduler.log") as sched:
                wait_http(f"http://127.0.0.1:{metrics_port}/healthz", sched, work / "scheduler.log")
                pids = {"apiserver": api.pid, "scheduler": sched.pid, "driver": os.getpid()}
                try:
                    asyncio.run(drive(args, kubeconfig, pids, f"http://127.0.0.1:{metrics_port}/metrics"))
                except BaseException:
                    print("scheduler log tail:\n" + (work / "scheduler.log").read_text()[-3000:], file=sys.stderr)
                    raise
        if args.profile:
            print_profile(prof)


def print_profile(path: Path) -> None:
    """The scheduler process's top functions by cumulative and by own time (whole run, setup included)."""
    import io
    import pstats

    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(str(path), stream=out).sort_stats(key).print_stats(25)
        lines = out.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if "ncalls" in line)
        print(f"scheduler profile, by {key}:")
        for line in lines[start:start + 26]:
            print("  " + line.replace(str(Path(__file__).resolve().parents[1] / "src" / "sampan") + "/", ""))


if __name__ == "__main__":
    main()
