"""Liveness under load (issue 13, docs/liveness.md): every component keeps its lease and heartbeats while
it works as hard as it can, and its event loop never stalls for long.

    .venv/bin/python bench/liveness.py                      # all four phases, upstream's sizes (~5 min)
    .venv/bin/python bench/liveness.py --phases scheduler-qps50,kubelet
    .venv/bin/python bench/liveness.py --nodes 100 --pods 200 --deployment-replicas 200   # quicker

Each phase starts a fresh ``sampan apiserver`` and real component processes with upstream's defaults
(leader election on, renew deadline 10 s, lease 15 s; kubelet lease renewed every 10 s):

- ``scheduler-qps50``: ``sampan scheduler`` (QPS 50 / burst 100) plus a standby candidate, 500 nodes,
  1,000 pods created by 32 clients at once. Figures: pods bound, pods/s, the leader alive and still the
  holder, whether the standby ever led, the longest gap between two renewals (must be <= the renew
  deadline), the scheduler's longest loop stall.
- ``scheduler-qps5000``: the same with ``--kube-api-qps 5000 --kube-api-burst 5000`` (scheduler_perf's
  settings): pods/s from the first create to the last binding (goal >= 300).
- ``kubelet``: ``sampan kubelet --runtime simulated`` (``--kubelet-runtime process``: real processes, host
  network) with 110 pods (exec liveness and readiness probes
  every second) created at once, left running, then deleted at once. Figures: the longest gap between two
  Lease renewTimes (must be <= renew interval + 1 s), whether the node was ever not Ready, the kubelet's
  longest loop stall.
- ``controller-manager``: ``sampan controller-manager`` (QPS 20 / burst 30) scales a Deployment 0 -> 1,000,
  then the Deployment is deleted and the garbage collector removes its ReplicaSet and 1,000 pods.
  Figures: seconds for each, the longest renewal gap, the controller-manager's longest loop stall.

Loop stalls are read from each component's ``sampan_event_loop_stall_seconds_max`` (goal <= 100 ms). The
machine may be shared: timings are noisy, print them with that caveat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from sampan.cli.kubeconfig import render_kubeconfig
from sampan.client import Client, ResourceClient, load_config
from sampan.client.leaderelection.lease_lock import parse_time

PHASES = ("scheduler-qps50", "scheduler-qps5000", "kubelet", "controller-manager")
SAMPAN = [sys.executable, "-m", "sampan.cli.main"]
RENEW_DEADLINE, NODE_RENEW_INTERVAL = 10.0, 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1.0) as r:
            if r.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer; log tail:\n{log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def process(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@contextlib.contextmanager
def apiserver(work: Path, storage: str) -> Iterator[Path]:
    """A fresh ``sampan apiserver``; yields its kubeconfig."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    kubeconfig = work / "kubeconfig"
    kubeconfig.write_text(render_kubeconfig(url))
    log = work / "apiserver.log"
    with process([*SAMPAN, "apiserver", "--port", str(port), "--storage", storage, "--data-dir",
                  str(work / "data")], log) as proc:
        wait_http(url + "/readyz", proc, log)
        yield kubeconfig


CONTROL_LOOP = """
import asyncio, sys, time
async def main():
    longest = 0.0
    while True:
        t = time.monotonic()
        await asyncio.sleep(0.02)
        late = time.monotonic() - t - 0.02
        if late > longest:
            longest = late
            print(f"{longest:.4f}", flush=True)
asyncio.run(main())
"""


@contextlib.contextmanager
def control_loop(work: Path) -> Iterator[Callable[[], float]]:
    """An idle asyncio loop in a process of its own (same nice as the components): its longest stall is
    what the machine alone does to a loop (CPU starvation, scheduling), the floor under every figure."""
    out = work / "control.out"
    with open(out, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-c", CONTROL_LOOP], stdout=f)

    def longest() -> float:
        lines = out.read_text().split()
        return float(lines[-1]) if lines else 0.0

    try:
        yield longest
    finally:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    """CPU seconds of the live direct children of ``pid`` (reaped ones count in its own cutime, not here)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    total += cpu_seconds(int(entry.name))
    return total


def stall(port: int) -> float:
    """The component's longest loop stall so far, from its /metrics."""
    return _metric(port, "sampan_event_loop_stall_seconds_max{")


def stall_cpu(port: int) -> float:
    """The most CPU the component's loop thread used between two wake-ups of its stall monitor: what its
    own code held the loop for; the rest of a longer stall was spent waiting for a core or the GIL."""
    return _metric(port, "sampan_event_loop_stall_cpu_seconds_max{")


def _metric(port: int, prefix: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(prefix):
                return float(line.rsplit(" ", 1)[1])
    return float("nan")


class LeaseWatch:
    """Every version of one Lease, from a watch: (holder, renewTime as epoch seconds)."""

    def __init__(self, leases: ResourceClient, namespace: str, name: str) -> None:
        self.leases, self.namespace, self.name = leases, namespace, name
        self.versions: list[tuple[str, float]] = []

    async def follow(self) -> None:
        rv = (await self.leases.list(namespace=self.namespace))["metadata"]["resourceVersion"]
        while True:
            async for ev in self.leases.watch(namespace=self.namespace, resource_version=rv, timeout_seconds=600):
                obj = ev["object"]
                rv = obj["metadata"]["resourceVersion"]
                if ev["type"] in ("ADDED", "MODIFIED") and obj["metadata"]["name"] == self.name:
                    spec = obj["spec"]
                    self.versions.append((spec.get("holderIdentity") or "", parse_time(spec.get("renewTime")) or 0.0))

    def holders(self) -> set[str]:
        return {h for h, _ in self.versions if h}

    def longest_gap(self, holder: str, *, until: float) -> float:
        """Longest time between two renewals by ``holder`` (and from the last one to ``until``)."""
        times = [t for h, t in self.versions if h == holder]
        if not times:
            return float("inf")
        gaps = [b - a for a, b in zip(times, [*times[1:], until], strict=True)]
        return max(gaps)


@contextlib.asynccontextmanager
async def following(watch: LeaseWatch) -> Any:
    task = asyncio.create_task(watch.follow())
    try:
        yield watch
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def create_all(rc: ResourceClient, objs: list[dict[str, Any]], *, namespace: str | None,
                     clients: int = 32) -> float:
    """Create with ``clients`` requests in flight; returns the time the first was sent."""
    it = iter(objs)
    first = time.perf_counter()

    async def worker() -> None:
        for obj in it:
            await rc.create(obj, namespace=namespace)

    await asyncio.gather(*(worker() for _ in range(clients)))
    return first


async def poll(pred: Callable[[], Awaitable[bool]], timeout: float, what: str, period: float = 0.25) -> float:
    """Wait until ``pred()``; returns the time it first held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await pred():
            return time.perf_counter()
        await asyncio.sleep(period)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def node(name: str) -> dict[str, Any]:
    alloc = {"cpu": "4", "memory": "32Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"capacity": alloc, "allocatable": alloc, "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "c", "image": "registry.k8s.io/pause:3.10",
                 "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}
    container.update(spec.pop("container", {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container], **spec}}


def verdict(ok: bool) -> str:
    return "ok" if ok else "FAILED"


async def scheduler_phase(kubeconfig: Path, work: Path, args: argparse.Namespace, *, qps: int, burst: int) -> None:
    cfg = dataclasses.replace(load_config(str(kubeconfig)), qps=0.0)
    port, standby_port = free_port(), free_port()
    common = ["scheduler", "--kubeconfig", str(kubeconfig), "--kube-api-qps", str(qps), "--kube-api-burst", str(burst)]
    async with Client(cfg) as client:
        nodes, pods = await client.resource("v1", "nodes"), await client.resource("v1", "pods")
        leases = await client.resource("coordination.k8s.io/v1", "leases")
        await create_all(nodes, [node(f"node-{i}") for i in range(args.nodes)], namespace=None)
        with process([*SAMPAN, *common, "--identity", "leader", "--secure-port", str(port)], work / "leader.log") as lp:
            wait_http(f"http://127.0.0.1:{port}/healthz", lp, work / "leader.log")

            async def leader_holds() -> bool:
                with contextlib.suppress(Exception):
                    lease = await leases.get("kube-scheduler", namespace="kube-system")
                    return bool(lease["spec"].get("holderIdentity") == "leader")
                return False

            await poll(leader_holds, 60, "the leader to take the lease")
            with process([*SAMPAN, *common, "--identity", "standby", "--secure-port", str(standby_port)],
                         work / "standby.log") as sp:
                async with following(LeaseWatch(leases, "kube-system", "kube-scheduler")) as watch:
                    await asyncio.sleep(1.0)
                    rv = (await pods.list(namespace="default", limit=1))["metadata"]["resourceVersion"]
                    bound: set[str] = set()
                    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

                    async def count() -> None:
                        async for ev in pods.watch(namespace="default", resource_version=rv, timeout_seconds=1800):
                            obj = ev["object"]
                            if ev["type"] != "BOOKMARK" and obj["spec"].get("nodeName"):
                                bound.add(obj["metadata"]["name"])
                                if len(bound) >= args.pods and not done.done():
                                    done.set_result(time.perf_counter())

                    counter = asyncio.create_task(count())
                    cpu0 = cpu_seconds(lp.pid)
                    first = await create_all(pods, [pod(f"p-{i}") for i in range(args.pods)], namespace="default")
                    try:
                        last = await asyncio.wait_for(asyncio.shield(done), 600)
                        sched_cpu = cpu_seconds(lp.pid) - cpu0
                    finally:
                        counter.cancel()
                        await asyncio.gather(counter, return_exceptions=True)
                    await asyncio.sleep(2.0)  # a renewal or two after the burst
                    end = time.time()
                    alive, standby_alive = lp.poll() is None, sp.poll() is None
                    holder = (await leases.get("kube-scheduler", namespace="kube-system"))["spec"]["holderIdentity"]
                    longest, longest_cpu = stall(port), stall_cpu(port)
                    standby_stall = stall(standby_port) if standby_alive else float("nan")
    gap = watch.longest_gap("leader", until=end)
    rate = args.pods / (last - first)
    print(f"\n[scheduler, QPS {qps} / burst {burst}, leader election on] {args.nodes} nodes, {args.pods} pods by "
          "32 clients")
    print(f"  bound {len(bound)}/{args.pods} in {last - first:.1f}s -> {rate:,.0f} pods/s (first create -> last "
          f"bind){'' if qps < 1000 else '  goal >= 300: ' + verdict(rate >= 300)}")
    print(f"  scheduler CPU {sched_cpu:.1f}s over the burst = {sched_cpu / args.pods * 1000:.1f} ms per pod "
          f"(-> at most {args.pods / sched_cpu:,.0f} pods/s on one free core)")
    print(f"  leader alive: {alive}; holder afterwards: {holder!r}; standby alive: {standby_alive}; "
          f"standby ever leader: {'standby' in watch.holders()}  -> "
          f"{verdict(alive and holder == 'leader' and 'standby' not in watch.holders())}")
    print(f"  renewals seen: {sum(1 for h, _ in watch.versions if h == 'leader')}; longest gap between renewals "
          f"{gap:.2f}s (renew deadline {RENEW_DEADLINE:g}s) -> {verdict(gap <= RENEW_DEADLINE)}")
    print(f"  longest loop stall: scheduler {longest * 1000:.0f} ms (standby {standby_stall * 1000:.0f} ms)"
          f" -> goal <= 100 ms: {verdict(longest <= 0.1)}; loop thread's own CPU in it at most "
          f"{longest_cpu * 1000:.0f} ms")


async def kubelet_phase(kubeconfig: Path, work: Path, args: argparse.Namespace) -> None:
    cfg = dataclasses.replace(load_config(str(kubeconfig)), qps=0.0)
    port = free_port()
    name = "bench-node"
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1, "timeoutSeconds": 1}
    container: dict[str, Any] = {"livenessProbe": probe, "readinessProbe": probe,
                                 "resources": {"requests": {"cpu": "1m", "memory": "1Mi"}}}
    if args.kubelet_runtime == "process":
        container["command"] = ["sleep", "3600"]
    objs = [pod(f"k-{i}", nodeName=name, container=container) for i in range(args.kubelet_pods)]
    async with Client(cfg) as client:
        pods, nodes = await client.resource("v1", "pods"), await client.resource("v1", "nodes")
        leases = await client.resource("coordination.k8s.io/v1", "leases")
        with process([*SAMPAN, "kubelet", "--kubeconfig", str(kubeconfig), "--node-name", name, "--runtime",
                      args.kubelet_runtime, "--pod-network", "host", "--root-dir", str(work / "kubelet"),
                      "--port", str(port),
                      "--max-pods", str(max(110, args.kubelet_pods))], work / "kubelet.log") as kp:
            wait_http(f"http://127.0.0.1:{port}/healthz", kp, work / "kubelet.log")

            async def node_ready() -> bool:
                with contextlib.suppress(Exception):
                    n = await nodes.get(name)
                    return any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
                return False

            await poll(node_ready, 60, "the node to be Ready")
            not_ready: list[str] = []

            async def watch_node() -> None:
                async for ev in nodes.watch(field_selector=f"metadata.name={name}", timeout_seconds=1800):
                    for c in (ev["object"].get("status") or {}).get("conditions") or []:
                        if c["type"] == "Ready" and c["status"] != "True":
                            not_ready.append(c["status"])

            node_watch = asyncio.create_task(watch_node())
            try:
                async with following(LeaseWatch(leases, "kube-node-lease", name)) as watch:
                    t0 = time.perf_counter()
                    await create_all(pods, objs, namespace="default")

                    async def all_ready() -> bool:
                        items = (await pods.list(namespace="default"))["items"]
                        return sum(1 for p in items if any(c["type"] == "Ready" and c["status"] == "True"
                                                           for c in (p.get("status") or {}).get("conditions") or [])
                                   ) == len(objs)

                    ready_at = await poll(all_ready, 600, "every pod Ready")
                    await asyncio.sleep(2.0)  # the last starts settle
                    cpu0, helper0 = cpu_seconds(kp.pid), children_cpu_seconds(kp.pid)
                    await asyncio.sleep(args.kubelet_hold)  # probes keep running for all of them
                    hold_cpu = cpu_seconds(kp.pid) - cpu0
                    helper_cpu = children_cpu_seconds(kp.pid) - helper0
                    t1 = time.perf_counter()
                    await pods.delete_collection(namespace="default")

                    async def all_gone() -> bool:
                        return not (await pods.list(namespace="default"))["items"]

                    gone_at = await poll(all_gone, 600, "every pod gone")
                    await asyncio.sleep(NODE_RENEW_INTERVAL)
                    end = time.time()
                    longest, longest_cpu = stall(port), stall_cpu(port)
                    alive = kp.poll() is None
            finally:
                node_watch.cancel()
                await asyncio.gather(node_watch, return_exceptions=True)
    gap = watch.longest_gap(name, until=end)
    limit = NODE_RENEW_INTERVAL + 1.0
    print(f"\n[kubelet, runtime {args.kubelet_runtime}] {len(objs)} pods with exec liveness+readiness probes every "
          "1s, created at once, held, deleted at once")
    print(f"  all Ready in {ready_at - t0:.1f}s; held {args.kubelet_hold:g}s; all deleted in {gone_at - t1:.1f}s; "
          f"kubelet alive: {alive}")
    probes_run = 2 * len(objs) * args.kubelet_hold
    print(f"  while held: kubelet CPU {hold_cpu:.1f}s = {hold_cpu / probes_run * 1000:.2f} ms per exec probe "
          f"(its live child processes, e.g. a spawn helper, {helper_cpu / probes_run * 1000:.2f} ms more)")
    print(f"  Lease renewals seen: {len(watch.versions)}; longest renewTime gap {gap:.2f}s (renew interval "
          f"{NODE_RENEW_INTERVAL:g}s + 1s = {limit:g}s) -> {verdict(gap <= limit)}")
    print(f"  node NotReady/Unknown seen: {len(not_ready)} -> {verdict(not not_ready)}")
    print(f"  longest loop stall: kubelet {longest * 1000:.0f} ms -> goal <= 100 ms: {verdict(longest <= 0.1)}; "
          f"loop thread's own CPU in it at most {longest_cpu * 1000:.0f} ms")


async def controller_manager_phase(kubeconfig: Path, work: Path, args: argparse.Namespace) -> None:
    cfg = dataclasses.replace(load_config(str(kubeconfig)), qps=0.0)
    port = free_port()
    replicas = args.deployment_replicas
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "big"},
                  "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "big"}},
                           "template": {"metadata": {"labels": {"app": "big"}},
                                        "spec": {"containers": [{"name": "c", "image": "pause"}]}}}}
    async with Client(cfg) as client:
        pods, deployments = await client.resource("v1", "pods"), await client.resource("apps/v1", "deployments")
        leases = await client.resource("coordination.k8s.io/v1", "leases")
        with process([*SAMPAN, "controller-manager", "--kubeconfig", str(kubeconfig), "--secure-port", str(port)],
                     work / "cm.log") as cp:
            wait_http(f"http://127.0.0.1:{port}/healthz", cp, work / "cm.log")

            async def leading() -> bool:
                with contextlib.suppress(Exception):
                    lease = await leases.get("kube-controller-manager", namespace="kube-system")
                    return bool(lease["spec"].get("holderIdentity"))
                return False

            await poll(leading, 60, "the controller-manager to lead")
            holder = (await leases.get("kube-controller-manager", namespace="kube-system"))["spec"]["holderIdentity"]
            async with following(LeaseWatch(leases, "kube-system", "kube-controller-manager")) as watch:
                await deployments.create(deployment, namespace="default")
                await asyncio.sleep(1.0)
                t0 = time.perf_counter()
                await deployments.patch("big", {"spec": {"replicas": replicas}}, namespace="default")

                async def count(want: int) -> Callable[[], Awaitable[bool]]:
                    async def check() -> bool:
                        return len((await pods.list(namespace="default"))["items"]) == want
                    return check

                scaled_at = await poll(await count(replicas), 900, f"{replicas} pods", period=1.0)
                t1 = time.perf_counter()
                await deployments.delete("big", namespace="default", propagation_policy="Background")
                gc_at = await poll(await count(0), 900, "the garbage collector to remove every pod", period=1.0)
                await asyncio.sleep(2.0)
                end = time.time()
                longest, longest_cpu = stall(port), stall_cpu(port)
                alive = cp.poll() is None
                still = (await leases.get("kube-controller-manager", namespace="kube-system"))["spec"]["holderIdentity"]
    gap = watch.longest_gap(holder, until=end)
    print(f"\n[controller-manager, QPS 20 / burst 30, leader election on] Deployment 0 -> {replicas}, then "
          "deleted (garbage collection)")
    print(f"  {replicas} pods created in {scaled_at - t0:.1f}s; all garbage-collected in {gc_at - t1:.1f}s; "
          f"alive: {alive}; still the holder: {still == holder} -> {verdict(alive and still == holder)}")
    print(f"  renewals seen: {len(watch.versions)}; longest gap between renewals {gap:.2f}s (renew deadline "
          f"{RENEW_DEADLINE:g}s) -> {verdict(gap <= RENEW_DEADLINE)}")
    print(f"  longest loop stall: controller-manager {longest * 1000:.0f} ms -> goal <= 100 ms: "
          f"{verdict(longest <= 0.1)}; loop thread's own CPU in it at most {longest_cpu * 1000:.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--kubelet-pods", type=int, default=110)
    ap.add_argument("--kubelet-runtime", choices=("simulated", "process"), default="simulated",
                    help="process: real processes and exec probes (run as root, under flock /tmp/sampan-net.lock)")
    ap.add_argument("--kubelet-hold", type=float, default=30.0, help="seconds the pods run with probes")
    ap.add_argument("--deployment-replicas", type=int, default=1000)
    ap.add_argument("--keep-logs", metavar="DIR", help="copy each phase's component logs to DIR/<phase>/ "
                    "(with SAMPAN_STALL_TRACE_MS=100 in the environment they show what held a loop)")
    ap.add_argument("--storage", choices=("sqlite", "memory"), default="sqlite")
    args = ap.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    for p in phases:
        if p not in PHASES:
            ap.error(f"unknown phase {p!r}")
    print(f"bench/liveness.py: {', '.join(phases)} (storage {args.storage}); a shared machine makes timings noisy")
    for phase in phases:
        with tempfile.TemporaryDirectory(prefix=f"sampan-bench-liveness-{phase}-") as tmp:
            work = Path(tmp)
            with apiserver(work, args.storage) as kubeconfig, control_loop(work) as control:
                try:
                    if phase == "scheduler-qps50":
                        asyncio.run(scheduler_phase(kubeconfig, work, args, qps=50, burst=100))
                    elif phase == "scheduler-qps5000":
                        asyncio.run(scheduler_phase(kubeconfig, work, args, qps=5000, burst=5000))
                    elif phase == "kubelet":
                        asyncio.run(kubelet_phase(kubeconfig, work, args))
                    else:
                        asyncio.run(controller_manager_phase(kubeconfig, work, args))
                except Exception:
                    for log in sorted(work.glob("*.log")):
                        print(f"--- {log.name} (tail)\n{log.read_text(errors='replace')[-1500:]}", file=sys.stderr)
                    raise
                finally:
                    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
                    print(f"  control: an idle asyncio loop in another process stalled up to {control() * 1000:.0f} ms "
                          f"(the machine's own noise; load average {load})")
                    if args.keep_logs:
                        keep = Path(args.keep_logs) / phase
                        keep.mkdir(parents=True, exist_ok=True)
                        for log in work.glob("*.log"):
                            shutil.copy(log, keep / log.name)


if __name__ == "__main__":
    main()
