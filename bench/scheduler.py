"""kube-scheduler end to end, through the API: upstream scheduler_perf's SchedulingBasic shape, and issue 21's
figure — pods/s through the API at 5,000 nodes with leader election on.

    .venv/bin/python bench/scheduler.py                       # the figure: 5,000 nodes, leader election on
    .venv/bin/python bench/scheduler.py --nodes 500 --init-pods 100 --pods 2000 --backlog-pods 2000  # ~1 min
    .venv/bin/python bench/scheduler.py --workload spread|affinity --backlog-pods 0
    .venv/bin/python bench/scheduler.py --workload deployment --no-zones   # Deployment pods on hollow-like nodes
    .venv/bin/python bench/scheduler.py --creators 2          # the measured pods created by 2 processes

Processes, as in a cluster: ``sampan apiserver`` (sqlite by default), ``sampan scheduler`` (leader election on
as upstream's default, ``--no-leader-elect`` to drop it; client QPS 5000 as scheduler_perf sets it) and this
driver (plus ``--creators`` processes). The driver makes the nodes (4 cpu, 32Gi, 110 pods, three zones) and
the initial pods, waits until those are bound, then runs two measured phases. ``--no-zones`` leaves the zone
label off the nodes (as hollow nodes have none). ``--workload deployment`` gives every pod a controlling
ReplicaSet (created first; nothing reconciles it) and its labels: the pods then carry a default selector, so
PodTopologySpread scores them with the system default constraints (hostname and zone, ScheduleAnyway), as
it does every Deployment's pods in a cluster:

1. **sustained** (the issue's figure): ``--pods`` pods are created with ``--in-flight`` requests in flight
   while the scheduler runs; pods/s = pods / (last one seen bound - first create sent), so it includes the
   create, the watch delivery to the scheduler, scheduling, the binding POST and the watch delivery back.
   The create rate alone is printed beside it: when the two are equal, the creates were the bound.
2. **backlog** (scheduler_perf's own measure of the scheduler, apart from the creates): the scheduler is
   stopped (it releases its Lease), ``--backlog-pods`` pods are created, and a fresh scheduler starts (leader
   election again); pods/s from its first binding seen to its last, and from its start (LISTs included).

Every phase prints the CPU milliseconds each process spent per pod (from /proc: load-independent, the
figure to compare on a shared machine) and the load average. A pod is "seen bound" through a watch with
``fieldSelector=spec.nodeName!=`` (only bound pods reach the driver). At the end: how many ``Scheduled``
events the scheduler wrote (its recorder drops events while its queue of 1,000 is full, as upstream's).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sampan.cli.kubeconfig import render_kubeconfig
from sampan.client import Client, ResourceClient, load_config
from server_process import cpu_seconds, free_port, process, wait_http

ZONES = ("zone-a", "zone-b", "zone-c")
BOUND = "spec.nodeName!="


RS_NAME = "bench-5d4f8b"
RS_LABELS = {"app": "bench", "pod-template-hash": "5d4f8b"}


def make_node(i: int, zones: bool = True) -> dict[str, Any]:
    alloc = {"cpu": "4", "memory": "32Gi", "pods": "110"}
    labels = {"kubernetes.io/hostname": f"node-{i}"}
    if zones:
        labels["topology.kubernetes.io/zone"] = ZONES[i % len(ZONES)]
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{i}", "labels": labels},
            "spec": {}, "status": {"capacity": alloc, "allocatable": alloc,
                                   "conditions": [{"type": "Ready", "status": "True"}]}}


def make_replicaset() -> dict[str, Any]:
    """The ReplicaSet owning ``--workload deployment``'s pods (its selector is their default selector)."""
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": RS_NAME, "labels": RS_LABELS},
            "spec": {"replicas": 0, "selector": {"matchLabels": RS_LABELS},
                     "template": {"metadata": {"labels": RS_LABELS},
                                  "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}]}}}}


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
    elif workload == "deployment":
        labels = dict(RS_LABELS)
        meta: dict[str, Any] = {"name": name, "labels": labels, "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": RS_NAME,
            "uid": "00000000-0000-0000-0000-00000000b5e1", "controller": True, "blockOwnerDeletion": True}]}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    elif workload == "affinity":
        group = f"g{i % 500}"
        labels = {"app": "bench", "group": group}
        spec["affinity"] = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                             "labelSelector": {"matchLabels": {"group": group}}}}]}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec}


async def create_all(rc: ResourceClient, objs: list[dict[str, Any]], *, namespace: str | None,
                     in_flight: int = 16) -> None:
    """Create every object with ``in_flight`` requests in flight."""
    it = iter(objs)

    async def worker() -> None:
        for obj in it:
            await rc.create(obj, namespace=namespace)

    await asyncio.gather(*(worker() for _ in range(in_flight)))


@dataclasses.dataclass
class Bound:
    """Times (perf_counter) the first and last pod of a phase were seen bound, and a hook run at the first."""

    want: int
    at_first: Callable[[], None] = lambda: None
    first: float = 0.0
    last: float = 0.0
    done: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


async def count_bound(pods: ResourceClient, prefix: str, rv: str, bound: Bound) -> None:
    """Watch bound pods from ``rv`` until ``bound.want`` pods named ``prefix*`` were seen. A watch that ends in
    an error (a driver too slow for the server's window on a loaded machine: 410) is replaced by a LIST of the
    bound pods and a new watch from its revision, so no binding is missed."""
    seen: set[str] = set()

    def saw(name: str) -> bool:
        if name.startswith(prefix) and name not in seen:
            seen.add(name)
            if len(seen) == 1:
                bound.first = time.perf_counter()
                bound.at_first()
            if len(seen) >= bound.want:
                bound.last = time.perf_counter()
                bound.done.set()
                return True
        return False

    while True:
        try:
            async for ev in pods.watch(namespace="default", resource_version=rv, timeout_seconds=600,
                                       field_selector=BOUND):
                obj = ev["object"]
                if ev["type"] == "ERROR":
                    raise RuntimeError(obj.get("message"))
                rv = obj["metadata"]["resourceVersion"]
                if ev["type"] in ("ADDED", "MODIFIED") and saw(obj["metadata"]["name"]):
                    return
        except Exception as e:  # re-list, then watch again from the list's revision
            print(f"  (watch of bound pods ended: {e}; re-listing)", flush=True)
            listed = await pods.list(namespace="default", field_selector=BOUND)
            for item in listed["items"]:
                if saw(item["metadata"]["name"]):
                    return
            rv = listed["metadata"]["resourceVersion"]


async def watching(pods: ResourceClient, prefix: str, bound: Bound) -> asyncio.Task[None]:
    rv = (await pods.list(namespace="default", limit=1))["metadata"]["resourceVersion"]
    return asyncio.create_task(count_bound(pods, prefix, rv, bound))


async def wait_bound(task: asyncio.Task[None], bound: Bound) -> None:
    """Wait until ``bound`` is complete; a watcher that died raises here instead of waiting for nothing."""
    waiter = asyncio.create_task(bound.done.wait())
    try:
        await asyncio.wait({task, waiter}, timeout=1800, return_when=asyncio.FIRST_COMPLETED)
        if not bound.done.is_set():
            raise RuntimeError("pods not all bound") from (task.exception() if task.done() else None)
    finally:
        task.cancel()
        waiter.cancel()


class Creators:
    """``n`` creator processes (this script with ``--creator``), each creating its share of the pods once told
    to go; their CPU seconds are reported back when they finish."""

    def __init__(self, n: int, *, kubeconfig: Path, prefix: str, count: int, workload: str, offset: int,
                 in_flight: int) -> None:
        share = [count // n + (1 if i < count % n else 0) for i in range(n)]
        starts = [sum(share[:i]) for i in range(n)]
        self.procs = [subprocess.Popen(
            [sys.executable, __file__, "--creator", str(kubeconfig), prefix, str(starts[i]), str(share[i]),
             workload, str(offset), str(in_flight)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for i in range(n)]
        for p in self.procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"

    def go(self) -> None:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()

    async def wait(self) -> float:
        """Wait until all finished; their CPU seconds in total."""
        total = 0.0
        for p in self.procs:
            out, _ = await asyncio.to_thread(p.communicate)
            if p.returncode:
                raise RuntimeError(f"creator failed: {out}")
            total += float(out.split()[-1])
        return total


def creator_main(argv: list[str]) -> None:
    kubeconfig, prefix, start, count, workload, offset, in_flight = argv
    objs = [make_pod(f"{prefix}{int(start) + i}", workload, int(offset) + int(start) + i) for i in range(int(count))]

    async def run() -> None:
        cfg = dataclasses.replace(load_config(kubeconfig), qps=0.0)
        async with Client(cfg) as client:
            pods = await client.resource("v1", "pods")
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            started.append(time.process_time())  # start-up (imports, connecting) is not the creates' cost
            await create_all(pods, objs, namespace="default", in_flight=int(in_flight))

    started: list[float] = []
    asyncio.run(run())
    print(f"done {time.process_time() - started[0]:.3f}", flush=True)


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


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def cpu_lines(cpu: dict[str, float], pods: int, wall: float) -> str:
    return "\n".join(f"  {k:<10} {1000 * v / pods:6.2f} ms/pod  ({v:6.1f} s, {100 * v / wall:4.0f}% of one core)"
                     for k, v in cpu.items())


@dataclasses.dataclass
class Run:
    args: argparse.Namespace
    work: Path
    kubeconfig: Path
    api_pid: int
    sched: subprocess.Popen[bytes] | None = None
    sched_log: Any = None
    metrics_port: int = 0
    starts: int = 0

    def start_scheduler(self) -> None:
        self.starts += 1
        self.metrics_port = free_port()
        log = self.work / f"scheduler-{self.starts}.log"
        self.sched_log = open(log, "wb")  # noqa: SIM115 - closed by stop_scheduler
        self.sched = subprocess.Popen(
            [sys.executable, "-m", "sampan.cli.main", "scheduler", "--kubeconfig", str(self.kubeconfig),
             f"--leader-elect={str(self.args.leader_elect).lower()}", "--secure-port", str(self.metrics_port),
             "--kube-api-qps", "5000", "--kube-api-burst", "5000"],
            stdout=self.sched_log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_http(f"http://127.0.0.1:{self.metrics_port}/healthz", self.sched, log)

    def stop_scheduler(self) -> None:
        if self.sched is not None and self.sched.poll() is None:
            self.sched.send_signal(signal.SIGTERM)
            try:
                self.sched.wait(30)
            except subprocess.TimeoutExpired:
                self.sched.kill()
                self.sched.wait()
        if self.sched_log is not None:
            self.sched_log.close()
            self.sched_log = None

    def cpu(self) -> dict[str, float]:
        assert self.sched is not None
        return {"apiserver": cpu_seconds(self.api_pid), "scheduler": cpu_seconds(self.sched.pid),
                "driver": time.process_time()}

    def report_scheduler(self) -> None:
        m = scrape(f"http://127.0.0.1:{self.metrics_port}/metrics")
        cnt = m.get("scheduler_e2e_scheduling_duration_seconds_count[scheduled]", 0.0)
        mean = m.get("scheduler_e2e_scheduling_duration_seconds_sum[scheduled]", 0.0) / cnt if cnt else float("nan")
        print(f"  scheduler: attempts scheduled={m.get('scheduler_schedule_attempts_total[scheduled]', 0):.0f} "
              f"unschedulable={m.get('scheduler_schedule_attempts_total[unschedulable]', 0):.0f} "
              f"error={m.get('scheduler_schedule_attempts_total[error]', 0):.0f}; mean e2e (first attempt -> "
              f"bound) {mean * 1000:.0f} ms; longest event-loop stall {m.get('stall_max', float('nan')) * 1000:.0f} ms",
              flush=True)


async def sustained(run: Run, pods: ResourceClient) -> None:
    a = run.args
    objs = [make_pod(f"m-{i}", a.workload, a.init_pods + i) for i in range(a.pods)]
    bound = Bound(a.pods)
    task = await watching(pods, "m-", bound)
    creators = (Creators(a.creators, kubeconfig=run.kubeconfig, prefix="m-", count=a.pods, workload=a.workload,
                         offset=a.init_pods, in_flight=a.in_flight) if a.creators > 1 else None)
    print(f"sustained phase: {a.pods} pods created while the scheduler runs; {load()}", flush=True)
    cpu0 = run.cpu()
    first = time.perf_counter()
    if creators is not None:
        creators.go()
        creators_cpu = await creators.wait()
    else:
        await create_all(pods, objs, namespace="default", in_flight=a.in_flight)
        creators_cpu = 0.0
    created = time.perf_counter() - first
    await wait_bound(task, bound)
    cpu1 = run.cpu()
    wall = bound.last - first
    cpu = {k: cpu1[k] - cpu0[k] for k in cpu0}
    if creators is not None:
        cpu["creators"] = creators_cpu
    name = {"basic": "SchedulingBasic", "spread": "TopologySpreading", "affinity": "PreferredPodAffinity",
            "deployment": "SchedulingBasic with a ReplicaSet owner (default spreading)"}[a.workload]
    if not a.zones:
        name += ", nodes without zones"
    le = "on" if a.leader_elect else "off"
    print(f"FIGURE {name}, {a.nodes} nodes, leader election {le}: {a.pods / wall:,.0f} pods/s through the API "
          f"({a.pods} pods created and bound in {wall:.2f} s; creates alone {a.pods / created:,.0f}/s with "
          f"{a.in_flight} in flight x {max(a.creators, 1)} process(es)); {load()}")
    print(f"  CPU per pod (create + schedule + bind, {wall:.1f} s wall on {os.cpu_count()} cores):\n"
          + cpu_lines(cpu, a.pods, wall))
    run.report_scheduler()


async def backlog(run: Run, pods: ResourceClient) -> None:
    a = run.args
    n, offset = a.backlog_pods, a.init_pods + a.pods
    run.stop_scheduler()
    print(f"backlog phase: scheduler stopped; creating {n} pods; {load()}", flush=True)
    api0, t0 = cpu_seconds(run.api_pid), time.perf_counter()
    await create_all(pods, [make_pod(f"b-{i}", a.workload, offset + i) for i in range(n)], namespace="default",
                     in_flight=a.in_flight)
    created, api_create = time.perf_counter() - t0, cpu_seconds(run.api_pid) - api0
    print(f"  creates alone: {n / created:,.0f} pods/s; API server {1000 * api_create / n:.2f} ms/pod", flush=True)
    at_first: dict[str, float] = {}
    bound = Bound(n)
    task = await watching(pods, "b-", bound)
    api0, drv0, started = cpu_seconds(run.api_pid), time.process_time(), time.perf_counter()
    run.start_scheduler()
    bound.at_first = lambda: at_first.update(run.cpu())
    await wait_bound(task, bound)
    end = run.cpu()
    span = bound.last - bound.first
    print(f"FIGURE scheduler alone on a backlog of {n} pods, {a.nodes} nodes, leader election "
          f"{'on' if a.leader_elect else 'off'}: {(n - 1) / span:,.0f} pods/s from its first binding to its last "
          f"({span:.2f} s; {n / (bound.last - started):,.0f} pods/s from its start, {bound.first - started:.1f} s to "
          f"the first binding: LISTs and election); {load()}")
    cpu = {k: end[k] - at_first[k] for k in end}
    print(f"  CPU per pod (schedule + bind: the scheduler's own requests, {span:.1f} s wall):\n"
          + cpu_lines(cpu, n - 1, span))
    print(f"  from the scheduler's start: scheduler {end['scheduler']:.1f} s, API server {end['apiserver'] - api0:.1f} "
          f"s, driver {end['driver'] - drv0:.1f} s")
    run.report_scheduler()


async def count_events(client: Client) -> tuple[int, int]:
    """(Scheduled events, FailedScheduling events) in namespace default, by a paged LIST."""
    events = await client.resource("v1", "events")
    counts = {"Scheduled": 0, "FailedScheduling": 0}
    token = None
    while True:
        page = await events.list(namespace="default", limit=2000, continue_=token)
        for e in page["items"]:
            if e.get("reason") in counts:
                counts[e["reason"]] += int(e.get("count") or 1)
        token = page["metadata"].get("continue")
        if not token:
            return counts["Scheduled"], counts["FailedScheduling"]


async def drive(run: Run) -> None:
    a = run.args
    cfg = dataclasses.replace(load_config(str(run.kubeconfig)), qps=0.0)
    async with Client(cfg) as client:
        nodes = await client.resource("v1", "nodes")
        pods = await client.resource("v1", "pods")
        t0 = time.perf_counter()
        if a.workload == "deployment":
            rs = await client.resource("apps/v1", "replicasets")
            await rs.create(make_replicaset(), namespace="default")
        await create_all(nodes, [make_node(i, a.zones) for i in range(a.nodes)], namespace=None)
        print(f"created {a.nodes} nodes in {time.perf_counter() - t0:.1f}s", flush=True)
        bound = Bound(a.init_pods)
        task = await watching(pods, "init-", bound)
        t0 = time.perf_counter()
        await create_all(pods, [make_pod(f"init-{i}", a.workload, i) for i in range(a.init_pods)],
                         namespace="default")
        await wait_bound(task, bound)
        print(f"initial {a.init_pods} pods bound in {time.perf_counter() - t0:.1f}s", flush=True)
        if a.pods:
            await sustained(run, pods)
        if a.backlog_pods:
            await backlog(run, pods)
        written, failed = await count_events(client)
        total = a.init_pods + a.pods + a.backlog_pods
        print(f"Scheduled events written: {written} for {total} pods bound (the rest dropped by the recorder's full "
              f"queue); FailedScheduling: {failed}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--creator":
        creator_main(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--init-pods", type=int, default=1000)
    ap.add_argument("--pods", type=int, default=10000, help="pods of the sustained phase (0: skip it)")
    ap.add_argument("--backlog-pods", type=int, default=10000, help="pods of the backlog phase (0: skip it)")
    ap.add_argument("--workload", choices=("basic", "spread", "affinity", "deployment"), default="basic")
    ap.add_argument("--zones", action=argparse.BooleanOptionalAction, default=True,
                    help="label the nodes with three zones (--no-zones: none, like hollow nodes)")
    ap.add_argument("--storage", choices=("sqlite", "memory"), default="sqlite")
    ap.add_argument("--leader-elect", action=argparse.BooleanOptionalAction, default=True,
                    help="the scheduler's leader election (upstream's default: on)")
    ap.add_argument("--in-flight", type=int, default=32, help="create requests in flight per creating process")
    ap.add_argument("--creators", type=int, default=1,
                    help="processes creating the sustained phase's pods (1: this driver itself)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sampan-bench-sched-") as tmp:
        work = Path(tmp)
        api_port = free_port()
        url = f"http://127.0.0.1:{api_port}"
        kubeconfig = work / "kubeconfig"
        kubeconfig.write_text(render_kubeconfig(url))
        with process([sys.executable, "-m", "sampan.cli.main", "apiserver", "--port", str(api_port), "--storage",
                      args.storage, "--data-dir", str(work / "data")], work / "apiserver.log") as api:
            wait_http(url + "/readyz", api, work / "apiserver.log")
            run = Run(args, work, kubeconfig, api.pid)
            try:
                run.start_scheduler()
                asyncio.run(drive(run))
            except BaseException:
                logs = sorted(work.glob("scheduler-*.log"))
                if logs:
                    print("scheduler log tail:\n" + logs[-1].read_text()[-3000:], file=sys.stderr)
                raise
            finally:
                run.stop_scheduler()


if __name__ == "__main__":
    main()
