"""The kubelet keeps its heartbeats while it starts, probes and stops 110 pods at once (docs/liveness.md).

``sampan kubelet --runtime simulated`` (heartbeats shrunk to 1 s, lease 4 s; client QPS 20, so the pods'
status writes queue for many seconds on the work client) and a node controller
(``sampan controller-manager --controllers nodelifecycle``, grace 3 s) against a ``sampan apiserver``:
110 pods with exec liveness and readiness probes every second are created at once, run, and are deleted
at once. The Lease's renewTime never jumps by more than the renew interval + 1 s, the node controller
never sees the node NotReady or Unknown, and ``/metrics`` on the kubelet port exports the loop-stall metric.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sampan.api import errors
from sampan.client import Client, load_config
from sampan.client.leaderelection.lease_lock import parse_time
from tests.support.apiserver import APIServerHandle, free_port

pytestmark = pytest.mark.slow

NODE, PODS, RENEW_INTERVAL = "busy-node", 110, 1.0
PROBE = {"exec": {"command": ["true"]}, "periodSeconds": 1, "timeoutSeconds": 1}


@contextlib.contextmanager
def component(tmp_path: Path, name: str, *argv: str) -> Iterator[subprocess.Popen[bytes]]:
    with open(tmp_path / f"{name}.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "sampan.cli.main", *argv], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"busy-{i}"},
            "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "pause", "livenessProbe": PROBE,
                                                       "readinessProbe": PROBE}]}}


async def wait_for(fetch: Any, timeout: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        got = await fetch()
        if got:
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def ready(obj: dict[str, Any]) -> str:
    return next((c["status"] for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), "")


async def test_heartbeats_keep_their_period_with_110_pods_starting_at_once(apiserver: APIServerHandle,
                                                                          tmp_path: Path) -> None:
    port = free_port()
    kubeconfig = str(apiserver.kubeconfig)
    lease_times: list[float] = []
    node_ready: list[str] = []
    with component(tmp_path, "kubelet", "kubelet", "--kubeconfig", kubeconfig, "--node-name", NODE, "--runtime",
                   "simulated", "--root-dir", str(tmp_path / "kubelet"), "--port", str(port),
                   "--node-lease-duration-seconds", "4", "--node-lease-renew-interval", "1s",
                   "--node-status-update-frequency", "1s", "--kube-api-qps", "20",
                   "--kube-api-burst", "20") as kubelet, \
            component(tmp_path, "cm", "controller-manager", "--kubeconfig", kubeconfig, "--controllers",
                      "nodelifecycle", "--secure-port", "0", "--node-monitor-period", "500ms",
                      "--node-monitor-grace-period", "3s", "--leader-elect=false"):
        async with Client(dataclasses.replace(load_config(kubeconfig), qps=0.0)) as client:
            nodes, pods = await client.resource("v1", "nodes"), await client.resource("v1", "pods")
            leases = await client.resource("coordination.k8s.io/v1", "leases")

            async def node_is_ready() -> bool:
                try:
                    return ready(await nodes.get(NODE)) == "True"
                except errors.NotFound:  # not registered yet
                    return False

            await wait_for(node_is_ready, 30, "the node to be Ready")

            async def follow_lease() -> None:
                async for ev in leases.watch(namespace="kube-node-lease", timeout_seconds=300):
                    if ev["object"]["metadata"]["name"] == NODE:
                        lease_times.append(parse_time(ev["object"]["spec"].get("renewTime")) or 0.0)

            async def follow_node() -> None:
                async for ev in nodes.watch(field_selector=f"metadata.name={NODE}", timeout_seconds=300):
                    node_ready.append(ready(ev["object"]))

            followers = [asyncio.create_task(follow_lease()), asyncio.create_task(follow_node())]
            try:
                await asyncio.gather(*(pods.create(pod(i), namespace="default") for i in range(PODS)))

                async def all_ready() -> bool:
                    items = (await pods.list(namespace="default"))["items"]
                    return sum(1 for p in items if ready(p) == "True") == PODS

                await wait_for(all_ready, 120, "every pod to be Ready")
                await asyncio.sleep(3.0)  # probes keep running for all of them
                await pods.delete_collection(namespace="default")

                async def all_gone() -> bool:
                    return not (await pods.list(namespace="default"))["items"]

                await wait_for(all_gone, 120, "every pod to be gone")
                await asyncio.sleep(2 * RENEW_INTERVAL)
                assert kubelet.poll() is None
                assert ready(await nodes.get(NODE)) == "True"
            finally:
                for f in followers:
                    f.cancel()
                await asyncio.gather(*followers, return_exceptions=True)
        text = await asyncio.to_thread(metrics_text, port)
        assert 'sampan_event_loop_stall_seconds_max{component="kubelet"}' in text
    assert len(lease_times) > 5
    gaps = [b - a for a, b in itertools.pairwise(lease_times)]
    assert max(gaps) <= RENEW_INTERVAL + 1.0, gaps
    assert set(node_ready) == {"True"}, node_ready
