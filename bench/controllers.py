"""Controller benchmark (issue 7): a Deployment of N replicas created, then rolled to a new template, with
M nodes present and pods marked Ready by a fake kubelet.

    .venv/bin/python bench/controllers.py                              # 1,000 replicas, 5,000 nodes
    .venv/bin/python bench/controllers.py --replicas 200 --nodes 500   # quicker

Three processes on loopback: ``sampan apiserver`` (memory storage), the fake kubelet
(``tests/controllers/support.py``, its own process so it does not share the controllers' core), and this
process running the controller manager (replicaset + deployment controllers, no leader election, no
client-side QPS limit — upstream's default ``--kube-api-qps 20`` would cap pod creation at 20/s; pass
``--qps 20`` to see that). Figures:

* ``pods created``: Deployment POSTed -> the ReplicaSet controller's cache holds N pods;
* ``all ready``: -> the Deployment reports N available replicas;
* ``rollout``: template changed -> what ``kubectl rollout status`` waits for (N updated, N available, no
  old pods).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.support / tests.controllers.support

from tests.controllers.support import FakeKubelet, create_nodes  # noqa: E402
from tests.support.apiserver import run_apiserver_process  # noqa: E402

from sampan.client import Client, load_config  # noqa: E402
from sampan.controllers.manager import ControllerManager  # noqa: E402
from sampan.controllers.options import ControllerManagerOptions  # noqa: E402
from sampan.controllers.replicaset.controller import ReplicaSetController  # noqa: E402


def deployment(replicas: int, image: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "bench"}},
                     "template": {"metadata": {"labels": {"app": "bench"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


async def _kubelet(kubeconfig: str) -> None:
    config = dataclasses.replace(load_config(kubeconfig), qps=0)
    async with Client(config) as client:
        await FakeKubelet(client, workers=32).run()


async def _wait(predicate: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _bench(kubeconfig: str, *, replicas: int, nodes: int, qps: float) -> dict[str, float]:
    config = dataclasses.replace(load_config(kubeconfig), qps=qps, burst=max(10, int(qps * 1.5)))
    async with Client(dataclasses.replace(config, qps=0)) as admin, Client(config) as client:
        t0 = time.monotonic()
        for start in range(0, nodes, 500):
            await asyncio.gather(*(create_nodes(admin, 1, prefix=f"node-{i}-") for i in range(start,
                                                                                        min(nodes, start + 500))))
        print(f"{nodes} nodes created in {time.monotonic() - t0:.1f}s", flush=True)
        options = ControllerManagerOptions(controllers=("replicaset", "deployment"), leader_elect=False,
                                           kube_api_qps=max(qps, 1.0))
        manager = ControllerManager(client, options)
        task = asyncio.create_task(manager.run())
        await manager.started.wait()
        rs_controller = manager.runners["replicaset"].controller
        assert isinstance(rs_controller, ReplicaSetController)
        pod_lister = rs_controller.pod_lister
        deps = await admin.resource("apps/v1", "deployments")

        async def status() -> dict[str, Any]:
            d = await deps.get("bench", namespace="default")
            return {**(d.get("status") or {}), "_gen": d["metadata"]["generation"]}

        async def rolled() -> bool:
            s = await status()
            return bool(s.get("observedGeneration", 0) >= s["_gen"] and s.get("updatedReplicas") == replicas
                        and s.get("replicas") == replicas and s.get("availableReplicas") == replicas)

        async def available() -> bool:
            return (await status()).get("availableReplicas") == replicas

        await deps.create(deployment(replicas, "app:1"))
        t_created = await _wait(lambda: len(pod_lister.list()) >= replicas, 600, "pods created")
        t_ready = t_created + await _wait(available, 600, "pods ready")
        print(f"create: {replicas} pods created {t_created:.1f}s, all available {t_ready:.1f}s", flush=True)
        d = await deps.get("bench", namespace="default")
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
        await deps.update(d)
        rs_lister = rs_controller.rs_lister
        extremes = {"max_wanted": 0, "min_available": replicas}

        async def observe() -> None:  # sizes on every cache state the controllers acted on (sampled)
            while True:
                rss = rs_lister.namespaced("default").list()
                extremes["max_wanted"] = max(extremes["max_wanted"], sum(rs["spec"]["replicas"] for rs in rss))
                extremes["min_available"] = min(extremes["min_available"], sum(
                    (rs.get("status") or {}).get("availableReplicas") or 0 for rs in rss))
                await asyncio.sleep(0.01)

        observer = asyncio.create_task(observe())
        t_roll = await _wait(rolled, 900, "rollout")
        observer.cancel()
        print(f"rollout: complete in {t_roll:.1f}s; most pods wanted {extremes['max_wanted']} (limit "
              f"{replicas + -(-replicas // 4)}), fewest available {extremes['min_available']} (limit "
              f"{replicas - replicas // 4})", flush=True)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return {"pods_created_s": t_created, "all_available_s": t_ready, "rollout_s": t_roll}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--qps", type=float, default=0.0, help="controller-manager client QPS (0: unlimited)")
    parser.add_argument("--kubelet", help=argparse.SUPPRESS)  # internal: run the fake kubelet
    args = parser.parse_args()
    if args.kubelet:
        asyncio.run(_kubelet(args.kubelet))
        return
    with tempfile.TemporaryDirectory() as tmp, \
            run_apiserver_process(Path(tmp), extra_args=("--default-watch-cache-size", "20000")) as server:
        kubelet = subprocess.Popen([sys.executable, __file__, "--kubelet", str(server.kubeconfig)],
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            figures = asyncio.run(_bench(str(server.kubeconfig), replicas=args.replicas, nodes=args.nodes,
                                         qps=args.qps))
        finally:
            kubelet.terminate()
            kubelet.wait(timeout=10)
    print(" ".join(f"{k}={v:.1f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
