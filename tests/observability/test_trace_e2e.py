"""The issue's acceptance for ``sampan trace``: with every component exporting spans to a trace store,
``kubectl create deployment web --image=pause --replicas=1`` and then ``sampan trace pod/<pod> -o json``
show, in order, the ReplicaSet controller's create request, the store write, the scheduler's receipt,
filter, the bind request, the kubelet's receipt, sandbox and container start and the Running status write,
then (a Service selects the pod) the EndpointSlice controller's write naming the pod, kube-proxy's receipt
of that slice and its rule sync naming the pod; the timeline's parts add up to its total, and its create →
Running matches what a watch saw. ``sampan trace service/web`` links the Service to the same slice write
and rule sync; the live view's informer panel shows the scheduler's write → handler lag from the traces.

kube-proxy runs in the test process (the real server, informers and sync loop) over a backend that records
syncs instead of programming the kernel: what is under test is the spans' linkage, and the kernel side has
its own tests (tests/proxy)."""

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

from sampan._lib import tracing
from sampan.client import Client, load_config
from sampan.dashboard.snapshot import ComponentTarget, SnapshotSource
from sampan.proxy.options import ProxyOptions
from sampan.proxy.server import ProxyServer
from tests.observability.cluster import NODE, mini_cluster, threaded_trace_store, wait_for
from tests.support.apiserver import run_apiserver_process

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")]


class RecordingBackend:
    """A kube-proxy backend that programs nothing and records which Services each sync covered."""

    name = "nftables"

    def __init__(self) -> None:
        self.synced: set[str] = set()

    async def sync_full(self, services: Any) -> None:
        self.synced |= {k.name for k in services}

    async def sync_partial(self, changed: Any) -> None:
        self.synced |= {k.name for k in changed}

    async def cleanup(self) -> None:
        pass


def run_trace(kind_name: str, store: str, kubeconfig: str) -> dict[str, Any]:
    run = subprocess.run([sys.executable, "-m", "sampan.cli.main", "trace", kind_name, "-o", "json",
                          "--store", store, "--kubeconfig", kubeconfig], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return dict(json.loads(run.stdout))


def first(hops: list[dict[str, Any]], pred: Any, what: str, after: int = -1) -> int:
    for i, h in enumerate(hops):
        if i > after and pred(h):
            return i
    raise AssertionError(f"no hop for {what} after #{after}:\n" + "\n".join(
        f"{i} {h['component']} {h['label']}" for i, h in enumerate(hops)))


async def test_trace_of_a_deployments_pod(tmp_path: Path) -> None:
    with threaded_trace_store() as store, \
            run_apiserver_process(tmp_path / "apiserver", env={"SAMPAN_TRACE_STORE": store.url}) as apiserver, \
            mini_cluster(apiserver, tmp_path, trace_store=store.url,
                         controllers="replicaset,deployment,endpointslice") as cluster:
        async with Client(dataclasses.replace(load_config(cluster.kubeconfig), qps=0.0)) as client:
            nodes, pods = await client.resource("v1", "nodes"), await client.resource("v1", "pods")
            backend = RecordingBackend()
            proxy = ProxyServer(client, ProxyOptions(node_name=NODE, min_sync_period=0.05, manage_routes=False,
                                                     healthz_bind_address="", metrics_bind_address=""))
            proxy.proxier.backend = backend
            tracing.configure("kube-proxy", tracing.TracingConfig(store=store.url))
            proxy_task = asyncio.create_task(proxy.run())
            try:
                doc, service_doc = await _deploy_and_trace(cluster.kubeconfig, store.url, nodes, pods, backend)
                # the live view's informer panel: the scheduler's pod informer, its lag from the metrics and
                # (a trace store is on) the write → handler lag from the traces
                source = SnapshotSource(client, [ComponentTarget(
                    "kube-scheduler", metrics=f"http://127.0.0.1:{cluster.ports['scheduler']}/metrics")],
                    f"{apiserver.url}/metrics", trace_store=store.url)
                informers = (await source.snapshot())["informers"]
            finally:
                proxy_task.cancel()
                await asyncio.gather(proxy_task, return_exceptions=True)
                tracing.shutdown()

    _check_pod_trace(doc)
    pods_row = next(r for r in informers if r["component"] == "kube-scheduler" and r["informer"] == "v1/pods")
    assert pods_row["deliveries"] > 0
    assert pods_row["trace"] is not None
    assert pods_row["trace"]["max_ms"] >= pods_row["trace"]["mean_ms"] >= 0
    _check_service_trace(service_doc, pod_uid=doc["object"]["uid"])


seen: dict[str, Any] = {}


async def _deploy_and_trace(kubeconfig: str, store: str, nodes: Any, pods: Any, backend: RecordingBackend
                            ) -> tuple[dict[str, Any], dict[str, Any]]:
    async def node_registered() -> bool:
        return any(n["metadata"]["name"] == NODE for n in (await nodes.list())["items"])

    await wait_for(node_registered, 60, "the node to register")
    seen.clear()
    rv = (await pods.list(namespace="default"))["metadata"]["resourceVersion"]

    async def watch() -> None:
        async for ev in pods.watch(namespace="default", resource_version=rv, timeout_seconds=120):
            now = time.time_ns()
            seen.setdefault("added", now)
            if (ev["object"].get("status") or {}).get("phase") == "Running":
                seen["running"] = now
                seen["name"] = ev["object"]["metadata"]["name"]
                seen["ip"] = ev["object"]["status"].get("podIP")
                return

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.2)  # the watch is open
    for argv in (("create", "service", "clusterip", "web", "--tcp=80:80"),  # selects app=web
                 ("create", "deployment", "web", "--image=pause", "--replicas=1")):
        proc = await asyncio.create_subprocess_exec("kubectl", "--kubeconfig", kubeconfig, *argv,
                                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out
    await asyncio.wait_for(watcher, 60)
    name = str(seen["name"])

    async def complete() -> dict[str, Any] | None:  # spans are exported in batches: wait for the last
        tracing.force_flush()  # kube-proxy's, from this process
        doc = await asyncio.to_thread(run_trace, f"pod/{name}", store, kubeconfig)
        labels = [st["label"] for st in doc["steps"]]
        return doc if doc["running_ms"] is not None and "kube-proxy sync" in labels else None

    doc = await wait_for(complete, 30, "the Running status write and the kube-proxy sync in the trace")
    assert "web" in backend.synced

    async def service_traced() -> dict[str, Any] | None:
        d = await asyncio.to_thread(run_trace, "service/web", store, kubeconfig)
        return d if any(h["name"] == "kube-proxy.sync" for h in d["hops"]) else None

    return doc, await wait_for(service_traced, 30, "the kube-proxy sync in the Service's trace")


def _check_pod_trace(doc: dict[str, Any]) -> None:
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
    assert [st["label"] for st in steps] == [
        "create request", "store write", "scheduler receipt", "scheduling cycle", "bind request", "kubelet receipt",
        "sandbox", "container start", "status write (Running)", "endpoints write", "kube-proxy receipt",
        "kube-proxy sync"]
    # the Services part: the EndpointSlice controller's write names the pod, kube-proxy received that slice
    # and its rule sync names the pod and programs its IP
    write, receipt, sync = (hops[st["hop"]] for st in steps[9:12])
    assert write["component"] == "kube-controller-manager"
    assert "endpointslices" in write["attributes"]["http.target"]
    assert uid in write["attributes"]["k8s.related_uids"]
    assert receipt["attributes"]["k8s.resource"] == "EndpointSlice"
    assert uid in receipt["attributes"]["k8s.related_uids"]
    assert sync["component"] == "kube-proxy"
    assert uid in sync["attributes"]["k8s.related_uids"]
    assert seen["ip"]
    assert seen["ip"] in sync["attributes"]["net.endpoint_ips"]
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


def _check_service_trace(doc: dict[str, Any], *, pod_uid: str) -> None:
    """The Service's own trace: its store write, the EndpointSlice controller's write of a slice it owns
    (naming the Service and the pod), kube-proxy's receipt and the rule sync naming the Service."""
    hops, uid = doc["hops"], doc["object"]["uid"]
    i = first(hops, lambda h: h["name"] == "storage.create" and h["attributes"].get("k8s.uid") == uid,
              "the Service's store write")
    i = first(hops, lambda h: h["component"] == "kube-controller-manager" and h["name"].startswith("HTTP ")
              and uid in h["attributes"].get("k8s.related_uids", []) and pod_uid in h["attributes"].get(
                  "k8s.related_uids", []), "the EndpointSlice write naming the Service and the pod", i)
    i = first(hops, lambda h: h["component"] == "kube-proxy" and h["name"] == "informer.deliver",
              "kube-proxy's receipt", i)
    first(hops, lambda h: h["name"] == "kube-proxy.sync" and uid in h["attributes"].get("k8s.related_uids", []),
          "the rule sync naming the Service", i)
