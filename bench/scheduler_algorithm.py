"""The scheduling algorithm alone, in process (no API server): a SchedulingBasic-like workload.

Upstream's scheduler_perf SchedulingBasic/5000Nodes: 5,000 nodes (4 cpu, 32Gi, 110 pods), 1,000 pods
placed first, then 10,000 measured pods (100m cpu, 500Mi, one container). Each measured pod goes
through the real queue and a full scheduling cycle (snapshot, PreFilter, Filter with adaptive sampling,
PreScore, Score, select host, assume, Reserve, Permit); "binding" is the cache's confirmation, as the
informer would deliver it. Prints pods/s and a profile summary of where the time goes.

    .venv/bin/python bench/scheduler_algorithm.py [--nodes 5000] [--pods 10000] [--init-pods 1000]
        [--workload basic|spread|affinity|deployment] [--no-zones] [--no-profile]

``--workload deployment``: every pod is owned by one ReplicaSet the scheduler knows, so PodTopologySpread
scores it with the system default constraints (hostname + zone, ScheduleAnyway), as a Deployment's pods;
``--no-zones``: nodes without the zone label (hollow nodes have none).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import time
from typing import Any

from sampan._lib.clock import FakeClock
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.scheduler import Scheduler

ZONES = ("zone-a", "zone-b", "zone-c")


RS_LABELS = {"app": "bench", "pod-template-hash": "5d4f8b"}
REPLICASET = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": "bench-5d4f8b", "namespace": "default", "labels": RS_LABELS},
              "spec": {"replicas": 0, "selector": {"matchLabels": RS_LABELS}}}


def make_node(i: int, zones: bool = True) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": f"node-{i}"}
    if zones:
        labels["topology.kubernetes.io/zone"] = ZONES[i % len(ZONES)]
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": f"node-{i}", "uid": f"node-uid-{i}", "labels": labels},
        "spec": {},
        "status": {
            "capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def make_pod(i: int, workload: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schedulerName": "default-scheduler",
        "containers": [{
            "name": "pause", "image": "registry.k8s.io/pause:3.10", "ports": [{"containerPort": 80}],
            "resources": {"requests": {"cpu": "100m", "memory": "500Mi"},
                          "limits": {"cpu": "100m", "memory": "500Mi"}},
        }],
    }
    labels = {"app": "bench"}
    meta: dict[str, Any] = {}
    if workload == "deployment":
        labels = dict(RS_LABELS)
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "bench-5d4f8b",
                                    "uid": "rs-uid", "controller": True}]
    elif workload == "spread":
        spec["topologySpreadConstraints"] = [{
            "maxSkew": 5, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": labels}}]
    elif workload == "affinity":
        group = f"g{i % 500}"
        labels = {"app": "bench", "group": group}
        spec["affinity"] = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                             "labelSelector": {"matchLabels": {"group": group}}}}]}}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"pod-{i}", "namespace": "default", "uid": f"pod-uid-{i}", "labels": labels, **meta},
            "spec": spec, "status": {"phase": "Pending"}}


def run_pods(sched: Scheduler, pods: list[dict[str, Any]]) -> int:
    """Queue the pods, then pop and schedule them all; returns how many got a node."""
    for p in pods:
        sched.handlers.add_pod(p)
    bound = 0
    while True:
        q = sched.queue.pop_nowait()
        if q is None:
            return bound
        b = sched.schedule_cycle(q)
        if b is None:
            continue
        sched.cache.finish_binding(b.assumed.uid)
        sched.queue.done(b.assumed.uid)
        sched.cache.add_pod(b.assumed)  # the informer's confirmation
        bound += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--init-pods", type=int, default=1000)
    ap.add_argument("--workload", choices=("basic", "spread", "affinity", "deployment"), default="basic")
    ap.add_argument("--zones", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args()

    sched = Scheduler(clock=FakeClock(), rng=random.Random(42))
    t0 = time.perf_counter()
    sched.workloads.set("ReplicaSet", REPLICASET)
    for i in range(args.nodes):
        sched.handlers.add_node(make_node(i, args.zones))
    init = [make_pod(i, args.workload) for i in range(args.init_pods)]
    run_pods(sched, init)
    measured = [make_pod(args.init_pods + i, args.workload) for i in range(args.pods)]
    setup = time.perf_counter() - t0

    parse_t0 = time.perf_counter()
    for p in measured[:1000]:
        PodInfo.parse(p)
    parse_each = (time.perf_counter() - parse_t0) / min(1000, len(measured))
    t1 = time.perf_counter()
    bound = run_pods(sched, measured)
    elapsed = time.perf_counter() - t1
    print(f"workload={args.workload} zones={args.zones} nodes={args.nodes} init_pods={args.init_pods} "
          f"measured_pods={args.pods}")
    print(f"setup {setup:.2f}s; scheduled {bound}/{args.pods} in {elapsed:.2f}s -> {bound / elapsed:,.0f} pods/s"
          f" (pod parse {parse_each * 1e6:.0f} us/pod included)")
    print(f"stats: scheduled={bound} unschedulable={sched.stats.unschedulable} error={sched.stats.error}")

    if not args.no_profile:
        extra = [make_pod(10_000_000 + i, args.workload) for i in range(min(2000, args.pods))]
        prof = cProfile.Profile()
        prof.enable()
        run_pods(sched, extra)
        prof.disable()
        print_profile(prof, len(extra))


PHASES = (
    ("parse pod into PodInfo (informer side)", "pod_info.py", "parse"),
    ("queue add + pop", "scheduling_queue.py", "add"),
    ("queue add + pop", "scheduling_queue.py", "pop_nowait"),
    ("snapshot update", "cache.py", "update_snapshot"),
    ("PreFilter + Filter (sampled)", "algorithm.py", "find_nodes_that_fit"),
    ("PreScore + Score + normalize", "algorithm.py", "prioritize"),
    ("select host", "algorithm.py", "select_host"),
    ("assume (cache)", "cache.py", "assume_pod"),
    ("Reserve + Permit", "runtime.py", "run_reserve_plugins_reserve"),
    ("Reserve + Permit", "runtime.py", "run_permit_plugins"),
    ("confirm (informer echo)", "cache.py", "add_pod"),
)


def print_profile(prof: cProfile.Profile, n: int) -> None:
    """Cumulative time per phase (shares of the profiled run), then the top functions by own time."""
    stats = pstats.Stats(prof)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in raw.values())
    phases: dict[str, float] = {}
    for label, file_suffix, func in PHASES:
        for (file, _, name), (_, _, _, ct, _) in raw.items():
            if name == func and file.endswith(file_suffix):
                phases[label] = phases.get(label, 0.0) + ct
    print(f"profile of {n} more pods (cProfile overhead inflates absolute times; read the shares):")
    for label, ct in phases.items():
        print(f"  {label:<42} {100 * ct / total:5.1f}%  {1e6 * ct / n:7.0f} us/pod (profiled)")
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(10)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    print("  top functions by own time:")
    for line in lines[start:start + 11]:
        print("  " + line.replace("/work/main/src/sampan/scheduler/", ""))

if __name__ == "__main__":
    main()
