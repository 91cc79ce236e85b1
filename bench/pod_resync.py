"""CPU per pod start and per pod resync of the kubelet's pod workers on the simulated runtime (issue 21).

    nice -n 10 .venv/bin/python bench/pod_resync.py --pods 300 --rounds 10

A hollow node's pods resync every ``--sync-frequency`` (1 m): at 150,000 pods that is 2,500 syncs a second
in the one hollow-node process, each listing the pod's containers, checking its volumes and containers and
computing its status (written only when it changed). This runs ``PodWorkers`` with the simulated runtime,
a memory status sink and a fake clock (sync period 1 s; all pods on one runtime, so the runtime's scan of
its containers is longer than a real node's ~30), starts ``--pods`` pods (a pause-like container
requesting 10m CPU and 10Mi, as ``bench/density.py``'s), then advances the clock ``--rounds`` seconds and
prints the process's CPU time per pod start and per pod sync. Nothing but this process is measured; to
compare with another revision run that tree's copy with its ``src`` first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sampan._lib.clock import FakeClock
from sampan.kubelet.pod_workers import PodWorkerOptions, PodWorkers
from sampan.kubelet.runtime.simulated import SimulatedRuntime
from sampan.kubelet.status_manager import MemoryStatusSink
from sampan.kubelet.volumes.manager import VolumeManager
from sampan.kubelet.volumes.objects import StaticObjects


def pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"p{i}", "namespace": "ns", "uid": str(uuid.uuid4())},
            "spec": {"nodeName": "n1", "containers": [{
                "name": "c", "image": "registry.k8s.io/pause:3.9",
                "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}}}]}}


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


async def run(pods: int, rounds: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory(prefix="sampan-bench-resync-") as tmp:
        clock = FakeClock()
        sink = MemoryStatusSink()
        workers = PodWorkers(SimulatedRuntime(clock=clock), sink=sink,
                             volumes=VolumeManager(Path(tmp) / "pods", objects=StaticObjects(),
                                                   node_allocatable={"cpu": "2"}),
                             clock=clock, options=PodWorkerOptions(sync_period=1.0))
        all_pods = [pod(i) for i in range(pods)]

        def running() -> int:
            return sum(sink.statuses.get(f"ns/{p['metadata']['name']}", {}).get("phase") == "Running"
                       for p in all_pods)

        started = time.process_time()
        for p in all_pods:
            workers.update_pod(p)
        for _ in range(100):
            await settle()
            await clock.advance(0.1)
            await settle()
            if running() == pods:
                break
        synced = time.process_time()
        for _ in range(rounds):
            await settle()
            await clock.advance(1.0)
            await settle()
        done = time.process_time()
        count = running()
        await workers.aclose()
    return (synced - started) / pods, (done - synced) / (rounds * pods), count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    start, sync, count = asyncio.run(run(args.pods, args.rounds))
    print(f"pods {args.pods} (Running {count}): start {1e6 * start:.0f} us/pod, resync {1e6 * sync:.0f} us/pod-sync")


if __name__ == "__main__":
    main()
