"""An informer of every pod in a user's process (``sampan.client``), synced from a real API server holding
N pods (issue 21: 150,000 pods synced in <= 30 s and kept in step).

    .venv/bin/python bench/informer_sync.py --pods 150000      # store filled in ~1 min, then the sync
    .venv/bin/python bench/informer_sync.py --pods 20000 --runs 3

The pods are written straight into a sqlite store (``sampan.storage``, as the API server would store them:
Running pods of 50 Deployments on 5,000 nodes, ~2.4 KB each) before ``sampan apiserver`` starts on it;
creating 150,000 pods through the API would take longer than the measurement. The API server fills its
watch cache from the store at start; this process then runs, in order, per run:

1. ``raw LIST``: the reflector's paged LISTs (``resourceVersion=0``, ``limit=500``, continue tokens) read
   as bytes and thrown away: what the server and the connection cost;
2. ``informer``: a fresh :class:`~sampan.client.informers.SharedInformerFactory` informer of pods, from
   ``start()`` until ``wait_for_cache_sync()``: LIST, decode, DeltaFIFO, indexer, handler;

then checks the last informer stays in step: ``--modify`` pods get a label through the API and every
change must reach the informer's cache. Printed: seconds, pods/s, microseconds per pod, the client's CPU
seconds, the API server's CPU seconds per phase. The machine may be shared: the load is printed.

``--paged-lists`` instead walks every page (``limit=500``) of each LIST form a client may send — consistent
(resourceVersion ""), resourceVersion "0", not-older-than N, and consistent again while pods and configmaps
are written between pages (the revision moves, so each continuation is a snapshot the cache rebuilds
from its window) — and prints per form: pages, seconds, p50/p99 page latency, server CPU, and the store
LISTs the server made meanwhile (``etcd_request_duration_seconds_count{operation="list",type="pods"}``
from its /metrics: 0 = served from the watch cache).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from sampan.client import Client, load_config
from sampan.client.informers import SharedInformerFactory
from sampan.client.rest import decode_json
from sampan.storage.factory import StorageOptions, open_storage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from density import free_port, proc_status, wait_http

NAMESPACE = "density"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def pod(i: int) -> dict[str, Any]:
    """A Running pod of a Deployment, as the density bench leaves it (stored form: no resourceVersion)."""
    deploy = f"density-{i % 50}"
    name = f"{deploy}-5f8c7d9b4-{i:06d}"
    ts = "2026-12-06T20:00:00Z"
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": name, "generateName": f"{deploy}-5f8c7d9b4-", "namespace": NAMESPACE,
            "uid": f"6b1e4a3c-0000-4000-8000-{i:012d}", "creationTimestamp": ts,
            "labels": {"app": deploy, "pod-template-hash": "5f8c7d9b4"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{deploy}-5f8c7d9b4",
                                 "uid": f"6b1e4a3c-1111-4000-8000-{i % 50:012d}", "controller": True,
                                 "blockOwnerDeletion": True}]},
        "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9",
                                 "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}},
                                 "terminationMessagePath": "/dev/termination-log",
                                 "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}],
                 "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                 "serviceAccountName": "default", "nodeName": f"hollow-{i % 5000 + 1}",
                 "schedulerName": "default-scheduler", "priority": 0, "enableServiceLinks": True,
                 "preemptionPolicy": "PreemptLowerPriority", "securityContext": {}, "serviceAccount": "default",
                 "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                  "effect": "NoExecute", "tolerationSeconds": 300},
                                 {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                  "effect": "NoExecute", "tolerationSeconds": 300}]},
        "status": {"phase": "Running", "hostIP": "127.0.0.1", "podIP": f"100.{64 + i // 65536 % 64}.{i // 256 % 256}."
                   f"{i % 256}", "startTime": ts, "qosClass": "Burstable",
                   "conditions": [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": ts}
                                  for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
                   "containerStatuses": [{"name": "pause", "ready": True, "restartCount": 0, "started": True,
                                          "image": "registry.k8s.io/pause:3.9",
                                          "imageID": "simulated://registry.k8s.io/pause:3.9",
                                          "containerID": f"simulated://{i:016x}",
                                          "state": {"running": {"startedAt": ts}}}]},
    }


async def fill(data_dir: Path, pods: int) -> float:
    """Write the namespace and ``pods`` pods into a fresh sqlite store; seconds taken."""
    start = time.monotonic()
    store = await open_storage(StorageOptions(backend="sqlite", data_dir=data_dir))
    try:
        ns = {"kind": "Namespace", "apiVersion": "v1",
              "metadata": {"name": NAMESPACE, "uid": "6b1e4a3c-2222-4000-8000-000000000000",
                           "creationTimestamp": "2026-12-06T20:00:00Z"},
              "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        await store.create(f"/registry/namespaces/{NAMESPACE}", orjson.dumps(ns))
        batch = 2000
        for first in range(0, pods, batch):
            await asyncio.gather(*(store.create(f"/registry/pods/{NAMESPACE}/{p['metadata']['name']}",
                                                orjson.dumps(p))
                                   for p in map(pod, range(first, min(pods, first + batch)))))
    finally:
        await store.close()
    return time.monotonic() - start


def cpu_of(pid: int) -> float:
    return proc_status(pid)["cpu"] / CLK_TCK


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def raw_list(url: str, page: int) -> tuple[float, int, int]:
    """The reflector's paged LIST as bytes only: (seconds, items, bytes)."""
    start, items, size, token = time.monotonic(), 0, 0, ""
    async with aiohttp.ClientSession() as http:
        while True:
            params = {"limit": str(page)}
            if token:
                params["continue"] = token
            else:
                params["resourceVersion"] = "0"
            async with http.get(f"{url}/api/v1/pods", params=params) as r:
                body = await r.read()
            size += len(body)
            doc = decode_json(body)
            items += len(doc["items"])
            token = doc["metadata"].get("continue") or ""
            if not token:
                return time.monotonic() - start, items, size


STORE_LISTS = 'etcd_request_duration_seconds_count{operation="list",type="pods"}'


async def store_lists(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(f"{url}/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith(STORE_LISTS):
            return int(float(line.split()[-1]))
    return 0


async def churn(http: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> int:
    """Writes between pages (~40/s): a pod label patched, a configmap created, in turn. Returns the count."""
    n = 0
    while not stop.is_set():
        if n % 2:
            name = pod(n % 1000)["metadata"]["name"]
            async with http.patch(f"{url}/api/v1/namespaces/{NAMESPACE}/pods/{name}",
                                  data=orjson.dumps({"metadata": {"labels": {"churn": str(n)}}}),
                                  headers={"Content-Type": "application/merge-patch+json"}) as r:
                assert r.status == 200, await r.text()
        else:
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"churn-{n}"}, "data": {"n": str(n)}}
            async with http.post(f"{url}/api/v1/namespaces/{NAMESPACE}/configmaps", data=orjson.dumps(body),
                                 headers={"Content-Type": "application/json"}) as r:
                assert r.status == 201, await r.text()
        n += 1
        await asyncio.sleep(0.025)
    return n


async def paged_lists(url: str, server_pid: int, page: int) -> None:
    """Every page of each paged LIST form, with latency, server CPU and the store LISTs it caused."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/api/v1/pods", params={"limit": "1"}) as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        forms = [("consistent (rv \"\")", {}, False),
                 ("rv=0 (limit ignored, as upstream)", {"resourceVersion": "0"}, False),
                 ("rv=N NotOlderThan", {"resourceVersion": rv, "resourceVersionMatch": "NotOlderThan"}, False),
                 ("consistent, writes between pages", {}, True)]
        for label, first_params, with_churn in forms:
            stop = asyncio.Event()
            writer = asyncio.create_task(churn(http, url, stop)) if with_churn else None
            lists0, scpu0 = await store_lists(http, url), cpu_of(server_pid)
            token, pages, items, lat = "", 0, 0, []
            revisions: set[str] = set()
            start = time.monotonic()
            while True:
                params = {"limit": str(page), **({"continue": token} if token else first_params)}
                t0 = time.monotonic()
                async with http.get(f"{url}/api/v1/pods", params=params) as r:
                    body = await r.read()
                    assert r.status == 200, body[:300]
                lat.append(time.monotonic() - t0)
                doc = decode_json(body)
                pages += 1
                items += len(doc["items"])
                revisions.add(doc["metadata"]["resourceVersion"])
                token = doc["metadata"].get("continue") or ""
                if not token:
                    break
            took = time.monotonic() - start
            scpu = cpu_of(server_pid) - scpu0
            stop.set()
            writes = await writer if writer is not None else 0
            lists = await store_lists(http, url) - lists0
            lat.sort()
            p50 = lat[len(lat) // 2]
            print(f"{label:36s}: {items} pods in {pages} pages, {took:.2f} s, page p50 {p50 * 1e3:.0f} ms "
                  f"p99 {lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3:.0f} ms, server CPU {scpu:.2f} s "
                  f"({scpu / max(pages, 1) * 1e3:.1f} ms/page), store LISTs of pods {lists}, "
                  f"{len(revisions)} list revision(s){f', {writes} writes meanwhile' if with_churn else ''}; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)


async def informer_sync(kubeconfig: Path) -> tuple[float, SharedInformerFactory, Any, Client]:
    client = Client(dataclasses.replace(load_config(str(kubeconfig)), qps=0.0))
    factory = SharedInformerFactory(client)
    informer = factory.informer("v1", "pods")
    start = time.monotonic()
    factory.start()
    await factory.wait_for_cache_sync()
    return time.monotonic() - start, factory, informer, client


async def in_step(client: Client, informer: Any, count: int, timeout: float) -> float:
    """Label ``count`` pods through the API; seconds until the informer's cache holds every change."""
    pods = await client.resource("v1", "pods")
    names = sorted(informer.indexer.list_keys())[:count]
    start = time.monotonic()
    for key in names:
        await pods.patch(key.split("/", 1)[1], {"metadata": {"labels": {"density-step": "1"}}},
                         namespace=NAMESPACE)

    def done() -> bool:
        return all(((informer.indexer.get_by_key(k) or {}).get("metadata", {}).get("labels") or {})
                   .get("density-step") == "1" for k in names)

    while not done():
        if time.monotonic() - start > timeout:
            raise TimeoutError("the informer did not see every change")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def drive(url: str, kubeconfig: Path, server_pid: int, args: argparse.Namespace) -> None:
    for run in range(1, args.runs + 1):
        cpu0, scpu0 = own_cpu(), cpu_of(server_pid)
        took, items, size = await raw_list(url, args.page)
        cpu1, scpu1 = own_cpu(), cpu_of(server_pid)
        print(f"run {run} raw LIST:  {items} pods, {size / 2**20:.0f} MiB in {took:.2f} s "
              f"({items / took:,.0f} pods/s); server CPU {scpu1 - scpu0:.2f} s, client CPU {cpu1 - cpu0:.2f} s",
              flush=True)
        took, factory, informer, client = await informer_sync(kubeconfig)
        cpu2, scpu2 = own_cpu(), cpu_of(server_pid)
        count = len(informer.indexer)
        print(f"run {run} informer: {count} pods synced in {took:.2f} s ({count / took:,.0f} pods/s, "
              f"{took / max(count, 1) * 1e6:.1f} us/pod); client CPU {cpu2 - cpu1:.2f} s "
              f"({(cpu2 - cpu1) / max(count, 1) * 1e6:.1f} us/pod), server CPU {scpu2 - scpu1:.2f} s; "
              f"client RSS {proc_status(os.getpid())['VmRSS'] / 2**20:.0f} MiB; load {os.getloadavg()[0]:.1f}",
              flush=True)
        if run == args.runs and args.modify:
            lag = await in_step(client, informer, args.modify, 120.0)
            print(f"in step: {args.modify} pods labelled through the API, all seen by the informer after "
                  f"{lag:.2f} s; cache holds {len(informer.indexer)} pods", flush=True)
        await factory.shutdown()
        await client.close()
        del factory, informer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=150000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--page", type=int, default=500, help="the raw LIST's page size (the reflector's is 500)")
    ap.add_argument("--modify", type=int, default=200, help="pods changed after the last sync (in-step check)")
    ap.add_argument("--paged-lists", action="store_true", help="measure each paged LIST form instead (see above)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sampan-bench-informer-sync-"))
    proc = None
    try:
        took = asyncio.run(fill(work / "data", args.pods))
        print(f"store: {args.pods} pods written in {took:.1f} s", flush=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = work / "apiserver.log"
        with open(log, "wb") as f:
            proc = subprocess.Popen([sys.executable, "-m", "sampan.cli.main", "apiserver", "--port", str(port),
                                     "--storage", "sqlite", "--data-dir", str(work / "data")],
                                    stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        start = time.monotonic()
        wait_http(url + "/readyz", proc, log, timeout=600)
        print(f"API server ready after {time.monotonic() - start:.1f} s (watch cache filled from the store)",
              flush=True)
        from sampan.cli.kubeconfig import render_kubeconfig

        kubeconfig = work / "kubeconfig"
        kubeconfig.write_text(render_kubeconfig(url))
        if args.paged_lists:
            asyncio.run(paged_lists(url, proc.pid, args.page))
        else:
            asyncio.run(drive(url, kubeconfig, proc.pid, args))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
