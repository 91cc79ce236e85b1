"""The controller-manager keeps its lease while it works (docs/liveness.md): ``sampan controller-manager``
with leader election and a client rate limit far below what a Deployment scale-up asks for, then the
garbage collector deleting everything. The lease is renewed within the renew deadline all along, the
process stays the holder, and its ``/metrics`` exports the loop-stall metric.

Shrunk from the issue's 0 -> 1,000 at QPS 20 with a 10 s deadline (``bench/liveness.py`` runs that): here
0 -> 60 at QPS 10 with a 2 s deadline — the same ratio of queued work to deadline that lost the lease
when renewals shared the work client's rate limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
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
from sampan.controllers.manager import CONTROLLER_MODULES, CONTROLLERS
from tests.support.apiserver import APIServerHandle, free_port

RENEW_DEADLINE = 2.0
REPLICAS = 60


def test_every_factory_has_its_module_preloaded() -> None:
    assert set(CONTROLLER_MODULES) == set(CONTROLLERS)
    for name, factory in CONTROLLERS.items():  # the module preloaded is the one the factory imports
        assert f"from {CONTROLLER_MODULES[name]} import" in inspect.getsource(factory), name


async def wait_for(fetch: Any, timeout: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        got = await fetch()
        if got:
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def controller_manager(apiserver: APIServerHandle, log_path: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "sampan.cli.main", "controller-manager", "--kubeconfig", str(apiserver.kubeconfig),
            "--controllers", "replicaset,deployment,garbagecollector", "--secure-port", str(port),
            "--kube-api-qps", "10", "--kube-api-burst", "10", "--leader-elect-lease-duration", "3s",
            "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(20)


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return str(r.read().decode())


@pytest.mark.slow
async def test_lease_renewed_while_scaling_up_and_collecting_garbage(apiserver: APIServerHandle,
                                                                    tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "cm.log"
    renewals: list[tuple[str, float]] = []
    with controller_manager(apiserver, log_path, port) as proc:
        async with Client(dataclasses.replace(load_config(str(apiserver.kubeconfig)), qps=0.0)) as client:
            leases = await client.resource("coordination.k8s.io/v1", "leases")
            pods = await client.resource("v1", "pods")
            deployments = await client.resource("apps/v1", "deployments")

            async def holder() -> str:
                try:
                    lease = await leases.get("kube-controller-manager", namespace="kube-system")
                except errors.NotFound:  # not created yet
                    return ""
                return str(lease["spec"].get("holderIdentity") or "")

            leader = await wait_for(holder, 30, "the controller-manager to lead")

            async def follow() -> None:
                rv = (await leases.list(namespace="kube-system"))["metadata"]["resourceVersion"]
                async for ev in leases.watch(namespace="kube-system", resource_version=rv, timeout_seconds=300):
                    obj = ev["object"]
                    if obj["metadata"]["name"] == "kube-controller-manager" and ev["type"] == "MODIFIED":
                        renewals.append((obj["spec"].get("holderIdentity") or "",
                                         parse_time(obj["spec"].get("renewTime")) or 0.0))

            follower = asyncio.create_task(follow())
            try:
                await deployments.create({
                    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "big"},
                    "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "big"}},
                             "template": {"metadata": {"labels": {"app": "big"}},
                                          "spec": {"containers": [{"name": "c", "image": "pause"}]}}}},
                    namespace="default")

                async def count(want: int) -> Any:
                    async def check() -> bool:
                        return len((await pods.list(namespace="default"))["items"]) == want
                    return check

                await wait_for(await count(REPLICAS), 120, f"{REPLICAS} pods")
                await deployments.delete("big", namespace="default", propagation_policy="Background")
                await wait_for(await count(0), 120, "the garbage collector to delete every pod")
                assert proc.poll() is None, log_path.read_text()[-2000:]
                assert await holder() == leader
            finally:
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
        text = await asyncio.to_thread(metrics_text, port)
        assert 'sampan_event_loop_stall_seconds_max{component="kube-controller-manager"}' in text
    times = [t for h, t in renewals if h == leader]
    assert len(times) > 5
    assert {h for h, _ in renewals} == {leader}
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= RENEW_DEADLINE, gaps
