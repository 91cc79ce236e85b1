"""Hollow nodes (sampan.kubelet.hollow): N real kubelets in one process against a real API server (a
subprocess, so its watch count is its own), sharing one pod watch demultiplexed by spec.nodeName."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from sampan.client import Client, load_config
from sampan.kubelet.hollow import HollowNodes, HollowOptions
from sampan.kubelet.kubelet import KubeletOptions
from tests.support.apiserver import APIServerHandle, request_count

NODES = 6


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def pod(name: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "pause"}]}}


def watchers(url: str, kind: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("apiserver_registered_watchers{") and f'kind="{kind}"' in line:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def pod_watches(url: str) -> float:
    return watchers(url, "Pod")


@contextlib.asynccontextmanager
async def hollow(apiserver: APIServerHandle, tmp_path: Path) -> AsyncIterator[tuple[Client, HollowNodes]]:
    rest = dataclasses.replace(load_config(str(apiserver.kubeconfig)), qps=0.0)
    template = KubeletOptions(node_name="", root_dir=tmp_path / "kubelet", runtime="simulated", port=0,
                              node_status_update_frequency=1.0, lease_renew_interval=0.5, sync_period=60.0,
                              node_status_report_frequency=300.0)
    async with Client(rest) as client:
        nodes = HollowNodes(client, HollowOptions(count=NODES, prefix="hollow-", template=template))
        task = asyncio.create_task(nodes.run())
        try:
            yield client, nodes
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_hollow_nodes_register_renew_and_run_their_own_pods(apiserver: APIServerHandle,
                                                                  tmp_path: Path) -> None:
    async with hollow(apiserver, tmp_path) as (client, nodes):
        node_api = await client.resource("v1", "nodes")
        leases = await client.resource("coordination.k8s.io/v1", "leases")
        pods = await client.resource("v1", "pods")
        names = [f"hollow-{i}" for i in range(1, NODES + 1)]

        async def all_ready() -> bool:
            items = (await node_api.list())["items"]
            ready = {n["metadata"]["name"] for n in items
                     if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}
            return ready == set(names) and nodes.ready_count == NODES

        await eventually(all_ready, "every hollow node Ready")
        first: dict[str, str] = {}

        async def all_leases() -> bool:  # first renewals are jittered over the interval
            first.update({lease["metadata"]["name"]: lease["spec"]["renewTime"]
                          for lease in (await leases.list(namespace="kube-node-lease"))["items"]})
            return set(first) == set(names)

        await eventually(all_leases, "a Lease per node")

        async def all_renewed() -> bool:
            now = {lease["metadata"]["name"]: lease["spec"]["renewTime"]
                   for lease in (await leases.list(namespace="kube-node-lease"))["items"]}
            return all(now[n] != first[n] for n in names)

        await eventually(all_renewed, "every Lease renewed again")

        for i, node in enumerate(names):
            await pods.create(pod(f"p{i}", node), namespace="default")

        async def all_running() -> bool:
            items = (await pods.list(namespace="default"))["items"]
            return len(items) == NODES and all(p.get("status", {}).get("phase") == "Running" for p in items)

        await eventually(all_running, "every pod Running")
        for i, node in enumerate(names):  # each kubelet saw exactly its own pod
            kubelet = nodes.kubelets[node]
            assert [p["metadata"]["name"] for p in kubelet.sources.pods.indexer.list()] == [f"p{i}"]
            assert kubelet.sources.pods.indexer.get_by_key(f"default/p{(i + 1) % NODES}") is None
            assert kubelet.workers is not None
            assert len(kubelet.workers.workers) == 1
        assert pod_watches(apiserver.url) == 1  # one pod watch for the whole process
        # every node's events over one pool of their own, never queued with the status writes
        events = [k.events_client for k in nodes.kubelets.values()]
        assert all(e is not None and e.rest.shares_connections_with(events[0].rest) for e in events)
        assert events[0] is not None
        assert not events[0].rest.shares_connections_with(client.rest)
        assert all(k.recorder is not None and k.recorder.written["created"] >= 1 for k in nodes.kubelets.values())

        await pods.delete("p0", namespace="default")

        async def p0_gone() -> bool:
            return [p["metadata"]["name"] for p in (await pods.list(namespace="default"))["items"]].count("p0") == 0

        await eventually(p0_gone, "the deleted pod removed")
        kubelet = nodes.kubelets["hollow-1"]

        async def worker_gone() -> bool:
            return kubelet.workers is not None and not kubelet.workers.workers

        await eventually(worker_gone, "hollow-1's pod worker gone")
        assert len(nodes.kubelets["hollow-2"].workers.workers) == 1  # type: ignore[union-attr]


async def test_unchanged_node_status_is_not_posted_again_within_the_report_frequency(
        apiserver: APIServerHandle, tmp_path: Path) -> None:
    async with hollow(apiserver, tmp_path) as (client, nodes):
        async def ready() -> bool:
            return nodes.ready_count == NODES

        await eventually(ready, "every hollow node ready")
        assert watchers(apiserver.url, "Node") == 1  # one node informer for the whole process
        gets = await asyncio.to_thread(request_count, apiserver.url, "GET", "nodes")
        kubelet = nodes.kubelets["hollow-1"]
        lease = kubelet.lease
        assert lease is not None
        posts = kubelet.status_posts
        renewals = lease.renewals

        async def renewed_thrice() -> bool:
            return lease.renewals >= renewals + 3

        await eventually(renewed_thrice, "three more renewals")  # 1.5 s: the status loop ticked too
        assert kubelet.status_posts == posts

        # Another writer (the node lifecycle controller, after a late Lease) marks the node Unknown: the
        # kubelet compares with the server's copy (the process's node informer), not its own last post, and
        # reports Ready again on its next tick. This test reads nodes with LISTs, so GETs are the kubelets'.
        node_api = await client.resource("v1", "nodes")

        async def hollow_1() -> dict[str, Any]:
            node: dict[str, Any] = (await node_api.list(field_selector="metadata.name=hollow-1"))["items"][0]
            return node

        node = await hollow_1()
        for c in node["status"]["conditions"]:
            if c["type"] == "Ready":
                c.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.")
        await node_api.update(node, subresource="status")

        async def ready_again() -> bool:
            got = await hollow_1()
            return any(c["type"] == "Ready" and c["status"] == "True" for c in got["status"]["conditions"])

        await eventually(ready_again, "hollow-1 Ready again well within the report frequency (300 s)", timeout=10.0)
        assert kubelet.status_posts > posts
        assert await asyncio.to_thread(request_count, apiserver.url, "GET", "nodes") == gets, \
            "a hollow node read its Node with a GET"


@pytest.mark.parametrize("argv", [["--nodes", "3"], ["--nodes", "0", "--runtime", "simulated"],
                                  ["--nodes", "2", "--runtime", "simulated", "--pod-manifest-path", "/x"]])
def test_bad_hollow_flags_are_one_line_errors(argv: list[str]) -> None:
    import argparse

    from sampan.cli import kubelet as cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["kubelet", *argv])
    with pytest.raises(ValueError, match=r"--nodes|--pod-manifest-path"):
        cli.options_from_args(args)


def test_sampan_up_runs_simulated_nodes_after_the_first_as_one_hollow_process(tmp_path: Path) -> None:
    from sampan.cli.up import UpOptions, kubelet_specs

    specs = kubelet_specs(UpOptions(data_dir=tmp_path, nodes=4, runtime="simulated"), ("sampan",), "kc")
    assert [s.name for s in specs] == ["kubelet", "hollow-kubelets"]
    argv = list(specs[1].argv)
    assert argv[argv.index("--nodes") + 1] == "3"
    assert argv[argv.index("--node-index-start") + 1] == "2"
    assert "--serve-hollow-nodes" in argv  # small clusters: kubectl top covers hollow nodes too
    big = kubelet_specs(UpOptions(data_dir=tmp_path, nodes=50, runtime="simulated"), ("sampan",), "kc")
    assert "--serve-hollow-nodes" not in big[1].argv
    process = kubelet_specs(UpOptions(data_dir=tmp_path, nodes=2, runtime="process"), ("sampan",), "kc")
    assert [s.name for s in process] == ["kubelet", "kubelet-2"]


@pytest.mark.slow
def test_sampan_up_with_simulated_nodes_brings_every_hollow_node_ready(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    from tests.support.apiserver import free_port

    env = {**os.environ, "KUBECONFIG": str(tmp_path / "user" / "config")}
    data, port = tmp_path / "cluster", free_port()

    def sampan(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sampan.cli.main", *args], env=env, capture_output=True,
                              text=True, timeout=180, check=False)

    try:
        up = sampan("up", "--detach", "--insecure", "--data-dir", str(data), "--port", str(port), "--nodes", "4",
                    "--runtime",
                    "simulated", "--no-merge-kubeconfig")
        assert up.returncode == 0, up.stdout + up.stderr  # ready = every node posted Ready
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/nodes", timeout=30) as r:
            nodes = json.loads(r.read())["items"]
        assert len(nodes) == 4
        assert all(any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
                   for n in nodes)
        # every node, hollow ones included, serves its kubelet API (metrics-server scrapes them)
        assert all(n["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] > 0 for n in nodes)
        assert (data / "logs" / "hollow-kubelets.log").exists()
    finally:
        sampan("down", "--data-dir", str(data))
