"""The scheduler keeps its lease under load (docs/liveness.md): ``sampan scheduler`` with leader election
and a client rate limit far below the binding rate it is asked for, a second candidate standing by, many
pods created at once. Every pod is bound, the leader stays alive and the holder, the standby never leads,
and no renewal comes later than the renew deadline. Losing the lease makes the scheduler exit 1.

Loads and timings are shrunk from the issue's (500 nodes, 1,000 pods, QPS 50, 10 s deadline; see
``bench/liveness.py``) but keep its shape: the binding backlog at the QPS limit (~10 s) is five times the
renew deadline, which is what lost the lease when renewals shared the work client's rate limiter.
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

RENEW_DEADLINE = 2.0
ELECTION = ["--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s",
            "--leader-elect-retry-period", "500ms"]
NODES, PODS, CLIENTS = 50, 200, 16


@contextlib.contextmanager
def scheduler(apiserver: APIServerHandle, tmp_path: Path, identity: str, *extra: str
              ) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    log = open(tmp_path / f"scheduler-{identity}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "sampan.cli.main", "scheduler", "--kubeconfig",
                             str(apiserver.kubeconfig), "--identity", identity, "--secure-port", str(port), *ELECTION,
                             *extra], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def node(i: int) -> dict[str, Any]:
    alloc = {"cpu": "4", "memory": "32Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{i}"},
            "status": {"capacity": alloc, "allocatable": alloc, "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p-{i}"},
            "spec": {"containers": [{"name": "c", "image": "pause",
                                     "resources": {"requests": {"cpu": "10m", "memory": "50Mi"}}}]}}


async def create_all(rc: Any, objs: list[dict[str, Any]], *, namespace: str | None, clients: int) -> None:
    it = iter(objs)

    async def worker() -> None:
        for obj in it:
            await rc.create(obj, namespace=namespace)

    await asyncio.gather(*(worker() for _ in range(clients)))


async def wait_for(fetch: Any, timeout: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        got = await fetch()
        if got:
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class LeaseLog:
    """Every version of the scheduler's Lease, from a watch: (holder, renewTime epoch)."""

    def __init__(self) -> None:
        self.versions: list[tuple[str, float]] = []

    async def follow(self, leases: Any) -> None:
        rv = (await leases.list(namespace="kube-system"))["metadata"]["resourceVersion"]
        async for ev in leases.watch(namespace="kube-system", resource_version=rv, timeout_seconds=300):
            obj = ev["object"]
            if ev["type"] in ("ADDED", "MODIFIED") and obj["metadata"]["name"] == "kube-scheduler":
                spec = obj["spec"]
                self.versions.append((spec.get("holderIdentity") or "", parse_time(spec.get("renewTime")) or 0.0))

    def longest_gap(self, holder: str) -> float:
        times = [t for h, t in self.versions if h == holder]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def stall_metric(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("sampan_event_loop_stall_seconds_max{"):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no loop-stall metric")


async def test_leader_keeps_its_lease_while_binding_at_the_qps_limit(apiserver: APIServerHandle,
                                                                    tmp_path: Path) -> None:
    async with Client(dataclasses.replace(load_config(str(apiserver.kubeconfig)), qps=0.0)) as client:
        leases = await client.resource("coordination.k8s.io/v1", "leases")
        nodes = await client.resource("v1", "nodes")
        pods = await client.resource("v1", "pods")
        await create_all(nodes, [node(i) for i in range(NODES)], namespace=None, clients=CLIENTS)
        lease_log = LeaseLog()
        follower = asyncio.create_task(lease_log.follow(leases))
        try:
            with scheduler(apiserver, tmp_path, "first", "--kube-api-qps", "20", "--kube-api-burst", "40") as (
                    leader, port):
                await wait_for(lambda: _holder(leases, "first"), 30, "the first scheduler to lead")
                with scheduler(apiserver, tmp_path, "second") as (standby, _):
                    await asyncio.sleep(1.0)  # the standby is contending
                    await create_all(pods, [pod(i) for i in range(PODS)], namespace="default", clients=CLIENTS)

                    async def all_bound() -> bool:
                        items = (await pods.list(namespace="default"))["items"]
                        return sum(1 for p in items if p["spec"].get("nodeName")) == PODS

                    await wait_for(all_bound, 120, "every pod to be bound")
                    assert leader.poll() is None, (tmp_path / "scheduler-first.log").read_text()[-2000:]
                    assert standby.poll() is None
                    assert await _holder(leases, "first")
                    assert stall_metric(port) >= 0.0
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
    holders = {h for h, _ in lease_log.versions}
    assert "second" not in holders
    assert len(lease_log.versions) > 5
    assert lease_log.longest_gap("first") <= RENEW_DEADLINE, lease_log.versions


async def test_a_scheduler_that_loses_its_lease_exits_1(apiserver: APIServerHandle, tmp_path: Path) -> None:
    async with Client(load_config(str(apiserver.kubeconfig))) as client:
        leases = await client.resource("coordination.k8s.io/v1", "leases")
        with scheduler(apiserver, tmp_path, "first") as (proc, _):
            await wait_for(lambda: _holder(leases, "first"), 30, "the scheduler to lead")
            while True:  # another holder takes the lease over (as after a partition)
                lease = await leases.get("kube-scheduler", namespace="kube-system")
                lease["spec"].update(holderIdentity="thief", leaseDurationSeconds=3600)
                try:
                    await leases.update(lease, namespace="kube-system")
                    break
                except errors.Conflict:  # a renewal raced us: read again
                    continue
            code = await asyncio.to_thread(proc.wait, 30)
            assert code == 1
    log = (tmp_path / "scheduler-first.log").read_text()
    assert "leader election lost" in log
    assert "Traceback" not in log


async def _holder(leases: Any, identity: str) -> bool:
    try:
        lease = await leases.get("kube-scheduler", namespace="kube-system")
    except errors.NotFound:  # not created yet
        return False
    return bool(lease["spec"].get("holderIdentity") == identity)
