"""Start-up benchmark (issue 8): how long ``sampan up`` takes to a Ready cluster, and pod start-up latency.

    .venv/bin/python bench/startup.py                       # 5 cluster starts, then 100 pods at 10/s
    .venv/bin/python bench/startup.py --runs 3 --pods 50    # quicker

* ``sampan up``: wall time of ``sampan up --detach --runtime process --nodes N`` (it returns once every node
  posted Ready and the ``default`` ServiceAccount exists — the same bar kind/k3d/minikube use for "cluster
  ready"), each run on a fresh data dir, then ``sampan down``. Median, min and max over ``--runs``.
* pod start-up: one node, ``--pods`` pods (``sleep 3600``) POSTed at ``--rate``/s; latency = POST sent →
  the pod seen ``Running`` through a watch (sampan.client), upstream's pod start-up SLI. p50 / p99 / max.

Other workloads on the machine move these figures; compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.support / tests.e2e

from tests.e2e.cluster import kill_leftover_containers  # noqa: E402
from tests.support.apiserver import free_port  # noqa: E402

from sampan.client import Client, load_config  # noqa: E402

# What the other local-cluster tools report for their own start-up (issue 8), for context only: other
# machines, other workloads, real container images.
OTHERS = {"kind": 14.0, "k3d": 13.0, "minikube": 21.0}


def sampan(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sampan.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, env={**os.environ, "KUBECONFIG": os.devnull})


def up(data_dir: Path, nodes: int) -> float:
    """Seconds for ``sampan up --detach`` to return with a Ready cluster."""
    start = time.perf_counter()
    done = sampan("up", "--detach", "--nodes", str(nodes), "--runtime", "process", "--data-dir", str(data_dir),
                  "--port", str(free_port()), "--no-merge-kubeconfig")
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        down(data_dir)
        raise SystemExit(f"sampan up failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def down(data_dir: Path) -> None:
    sampan("down", "--data-dir", str(data_dir))
    kill_leftover_containers(data_dir)


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "startup"}},
            "spec": {"terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "3600"]}]}}


@dataclass
class StartupRun:
    """One pod start-up run: each pod's seconds from its POST to its first Running seen by a watch, and the
    create rate the driver really achieved (creates answered over the seconds from the first POST sent to
    the last one answered), so a run that could not drive the requested rate says so."""

    latencies: list[float]
    achieved_rate: float


async def pod_latencies(kubeconfig: Path, count: int, rate: float,
                        on_running: Callable[[], None] | None = None) -> StartupRun:
    """Create ``count`` pods at ``rate``/s; seconds from each POST to its first Running seen by a watch.
    ``on_running`` is called once all are Running, before they are deleted.

    The client is not rate-limited (its default is client-go's QPS 5, which had capped the creates at 5/s),
    and each POST is sent on its own schedule (``start + i / rate``) without waiting for earlier answers, so
    a slow answer does not delay later creates."""
    sent: dict[str, float] = {}
    running: dict[str, float] = {}
    config = dataclasses.replace(load_config(str(kubeconfig)), qps=0.0)
    async with Client(config) as client:
        pods = await client.resource("v1", "pods")
        listed = await pods.list(namespace="default", label_selector="bench=startup")
        all_running = asyncio.Event()

        async def watch() -> None:
            rv = listed["metadata"]["resourceVersion"]
            while not all_running.is_set():
                async for event in pods.watch(namespace="default", label_selector="bench=startup",
                                              resource_version=rv, timeout_seconds=300):
                    obj = event["object"]
                    rv = obj["metadata"].get("resourceVersion", rv)
                    name = obj["metadata"].get("name", "")
                    if (event["type"] in ("ADDED", "MODIFIED") and name not in running
                            and (obj.get("status") or {}).get("phase") == "Running"):
                        running[name] = time.perf_counter()
                        if len(running) == count:
                            all_running.set()
                            return

        async def create(name: str) -> None:
            sent[name] = time.perf_counter()
            await pods.create(pod(name), namespace="default")

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0.2)  # the watch is open before the first create
        start = time.perf_counter()
        creates: list[asyncio.Task[None]] = []
        try:
            for i in range(count):
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
                creates.append(asyncio.create_task(create(f"startup-{i:04d}")))
            await asyncio.gather(*creates)
            achieved = count / max(time.perf_counter() - start, 1e-9)
            await asyncio.wait_for(all_running.wait(), timeout=180)
        finally:
            for task in (*creates, watcher):
                task.cancel()
        if on_running is not None:
            on_running()
        await pods.delete_collection(namespace="default", label_selector="bench=startup")
        deadline = time.monotonic() + 60  # let the kubelet stop them and release their sandboxes
        while (await pods.list(namespace="default", label_selector="bench=startup"))["items"]:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    return StartupRun([running[n] - sent[n] for n in sent], achieved)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def report_up(times: list[float], nodes: int) -> None:
    median = statistics.median(times)
    print(f"sampan up (--nodes {nodes}, process runtime) to a Ready cluster: median {median:.2f} s "
          f"(min {min(times):.2f}, max {max(times):.2f}, {len(times)} runs; goal < 3 s)")
    print("  for context, their own figures: " + ", ".join(
        f"{name} {secs:.0f} s ({secs / median:.1f}x)" for name, secs in OTHERS.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="cluster starts to time (default 5; 0 skips)")
    parser.add_argument("--nodes", type=int, default=1, help="nodes per timed cluster (default 1)")
    parser.add_argument("--pods", type=int, default=100, help="pods for the latency run (default 100)")
    parser.add_argument("--rate", type=float, default=10.0, help="pod creations per second (default 10)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sampan-bench-") as tmp:
        times = []
        for run in range(args.runs):
            data_dir = Path(tmp) / f"up-{run}"
            times.append(up(data_dir, args.nodes))
            down(data_dir)
            print(f"  run {run + 1}: sampan up -> Ready in {times[-1]:.2f} s", flush=True)
        if times:
            report_up(times, args.nodes)

        data_dir = Path(tmp) / "pods"
        up(data_dir, 1)
        try:
            result = asyncio.run(pod_latencies(data_dir / "kubeconfig", args.pods, args.rate))
        finally:
            down(data_dir)
    latencies = result.latencies
    ms = {q: percentile(latencies, q) * 1000 for q in (0.5, 0.9, 0.99)}
    print(f"pod start-up, {args.pods} pods at {args.rate:g}/s (achieved {result.achieved_rate:.1f}/s) on one node, "
          f"create -> Running (watch): "
          f"p50 {ms[0.5]:.0f} ms, p90 {ms[0.9]:.0f} ms, p99 {ms[0.99]:.0f} ms, max {max(latencies) * 1000:.0f} ms "
          "(goal p99 < 1 s; upstream SLO 5 s)")
    print("  by creation order (every 10th pod): " + ", ".join(f"{v:.2f}" for v in latencies[::10]) + " s")


if __name__ == "__main__":
    main()
