"""The issue's acceptance for ``sampan trace``: with every component exporting spans to a trace store,
``kubectl create deployment web --image=pause --replicas=1`` and then ``sampan trace pod/<pod> -o json``
show, in order, the ReplicaSet controller's create request, the store write, the scheduler's receipt,
filter, the bind request, the kubelet's receipt, sandbox and container start and the Running status write;
the timeline's parts add up to its total, and its create → Running matches what a watch saw."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sampan.client import Client, load_config
from tests.observability.cluster import NODE, mini_cluster, threaded_trace_store, wait_for
from tests.support.apiserver import run_apiserver_process

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")]


def first(hops: list[dict[str, Any]], pred: Any, what: str, after: int = -1) -> int:
    for i, h in enumerate(hops):
        if i > after and pred(h):
            return i
    raise AssertionError(f"no hop for {what} after #{after}:\n" + "\n".join(
        f"{i} {h['component']} {h['label']}" for i, h in enumerate(hops)))


async def test_trace_of_a_deployments_pod(tmp_path: Path) -> None:
    with threaded_trace_store() as store, \
            run_apiserver_process(tmp_path / "apiserver", env={"SAMPAN_TRACE_STORE": store.url}) as apiserver, \
            mini_cluster(apiserver, tmp_path, trace_store=store.url) as cluster:
        async with Client(dataclasses.replace(load_config(cluster.kubeconfig), qps=0.0)) as client:
            nodes, pods = await client.resource("v1", "nodes"), await client.resource("v1", "pods")

            async def node_registered() -> bool:
                return any(n["metadata"]["name"] == NODE for n in (await nodes.list())["items"])

            await wait_for(node_registered, 60, "the node to register")
            seen: dict[str, int] = {}
            rv = (await pods.list(namespace="default"))["metadata"]["resourceVersion"]

            async def watch() -> None:
                async for ev in pods.watch(namespace="default", resource_version=rv, timeout_seconds=120):
                    now = time.time_ns()
                    seen.setdefault("added", now)
                    if (ev["object"].get("status") or {}).get("phase") == "Running":
                        seen["running"] = now
                        seen["name"] = ev["object"]["metadata"]["name"]  # type: ignore[assignment]
                        return

            watcher = asyncio.create_task(watch())
            await asyncio.sleep(0.2)  # the watch is open
            proc = await asyncio.create_subprocess_exec(
                "kubectl", "--kubeconfig", cluster.kubeconfig, "create", "deployment", "web", "--image=pause",
                "--replicas=1", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out, _ = await proc.communicate()
            assert proc.returncode == 0, out
            await asyncio.wait_for(watcher, 60)
            name = str(seen["name"])

            def trace() -> dict[str, Any]:
                run = subprocess.run([sys.executable, "-m", "sampan.cli.main", "trace", f"pod/{name}", "-o", "json",
                                      "--store", store.url, "--kubeconfig", cluster.kubeconfig],
                                     capture_output=True, text=True, timeout=60)
                assert run.returncode == 0, run.stderr
                return dict(json.loads(run.stdout))

            async def complete() -> dict[str, Any] | None:  # spans are exported in batches: wait for the last
                doc = await asyncio.to_thread(trace)
                return doc if doc["running_ms"] is not None else None

            doc = await wait_for(complete, 30, "the Running status write in the trace")

    hops = doc["hops"]
    uid = doc["object"]["uid"]
    i = first(hops, lambda h: h["component"] == "kube-controller-manager" and h["name"] == "HTTP POST"
              and h["attributes"].get("k8s.uid") == uid, "the ReplicaSet controller's create request")
    i = first(hops, lambda h: h["name"] == "storage.create" and h["attributes"].get("k8s.uid") == uid,
              "the store write", i)
    i = first(hops, lambda h: h["component"] == "kube-scheduler" and h["name"] == "informer.deliver",
              "the scheduler's receipt", i)
    i = first(hops, lambda h: h["name"] == "scheduler.filter", "filter", i)
    i = first(hops, lambda h: h["component"] == "kube-scheduler" and h["name"] == "HTTP POST"
              and h["attributes"].get("http.target", "").endswith("/binding"), "the bind request", i)
    i = first(hops, lambda h: h["component"] == "kubelet" and h["name"] == "informer.deliver",
              "the kubelet's receipt", i)
    i = first(hops, lambda h: h["name"] == "kubelet.sandbox", "the sandbox", i)
    i = first(hops, lambda h: h["name"] == "kubelet.container_start", "the container start", i)
    first(hops, lambda h: h["name"] == "kubelet.status_write" and h["attributes"].get("phase") == "Running",
          "the Running status write", i)
    steps = doc["steps"]
    assert [st["label"] for st in steps][:9] == [
        "create request", "store write", "scheduler receipt", "scheduling cycle", "bind request", "kubelet receipt",
        "sandbox", "container start", "status write (Running)"]
    # the path adds up: time inside its steps (their union) plus the named gaps between them is the whole
    # create → Running
    reach, inside = steps[0]["start_ms"], 0.0
    for st in steps[:9]:
        end = st["start_ms"] + st["duration_ms"]
        inside += max(0.0, end - max(reach, st["start_ms"]))
        reach = max(reach, end)
    assert abs(inside + sum(st["gap_ms"] for st in steps[:9]) - (doc["running_ms"] - steps[0]["start_ms"])) < 0.05
    receipts = [h for h in hops if h["name"] == "informer.deliver" and h["lag_ms"] is not None]
    assert receipts
    assert all(h["lag_ms"] >= 0 for h in receipts)
    assert abs(doc["covered_ms"] + doc["gap_ms"] - doc["total_ms"]) < 0.01 + 1e-3 * len(hops)
    # create → Running: from the end of the store write to the end of the Running status write, against the
    # watch's ADDED → Running (both sides include one watch delivery)
    write_end = next(h["start_ms"] + h["duration_ms"] for h in hops if h["name"] == "storage.create"
                     and h["attributes"].get("k8s.uid") == uid)
    traced = doc["running_ms"] - write_end
    watched = (seen["running"] - seen["added"]) / 1e6
    # the watch adds its own delivery delays at both ends, which a loaded machine makes uneven
    assert abs(traced - watched) <= max(0.5 * watched, 250.0), (traced, watched)
