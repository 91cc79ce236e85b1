"""API server CPU per request on the density write path: what one pod costs the server, verb by verb.

    .venv/bin/python bench/write_path.py                      # 3,000 pods, 16 clients, ~1 minute
    .venv/bin/python bench/write_path.py --pods 5000 --profile out.svg   # also a py-spy flame graph

A real ``sampan apiserver`` process (sqlite by default) and this driver. Each phase sends the requests one
pod's life makes in a density run, in the shapes the components send them:

- ``POST pods``: the controller's create (labels, owner reference, one container with requests);
- ``POST pods/binding``: the scheduler's bind;
- ``PATCH pods/status``: the kubelet's merge patch (``metadata.uid`` precondition, phase, conditions,
  container statuses, pod IP);
- ``PUT leases``: a node Lease renewal (``--leases`` Leases renewed round-robin, one renewal per pod);
- ``GET pods``: a single-object read.

For each phase: requests/s, client-seen p50/p99 and the server's CPU milliseconds per request (utime + stime
of the server process from /proc over the phase / requests). The server runs without a competing load
generator of its own kind, so CPU per request is the figure to compare between branches; latency depends
on the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from server_process import cpu_seconds, free_port, process, wait_http

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
MERGE = {"Content-Type": "application/merge-patch+json", "Accept": "application/json"}
NS = "density"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def pod_body(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"p{i}", "namespace": NS, "labels": {"app": "density", "pod-template-hash": "5f8c"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "density-5f8c",
                                              "uid": "6b1e4a3c-0000-4000-8000-000000000001",
                                              "controller": True, "blockOwnerDeletion": True}]},
            "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9",
                                     "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}}}],
                     "terminationGracePeriodSeconds": 1}}


def status_patch(uid: str, i: int) -> dict[str, Any]:
    now = "2026-01-01T00:00:00Z"
    cond = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
            for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    ip = f"100.96.{i // 250}.{i % 250}"
    return {"metadata": {"uid": uid},
            "status": {"phase": "Running", "conditions": cond, "hostIP": "100.64.0.1", "podIP": ip,
                       "podIPs": [{"ip": ip}], "startTime": now,
                       "containerStatuses": [{"name": "pause", "ready": True, "restartCount": 0, "started": True,
                                              "image": "registry.k8s.io/pause:3.9", "imageID": "sha256:e6f1",
                                              "containerID": f"simulated://{i:064x}",
                                              "state": {"running": {"startedAt": now}}, "lastState": {}}]}}


async def run(concurrency: int, total: int, op: Callable[[int], Awaitable[None]]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


async def expect(resp: aiohttp.ClientResponse, status: int, what: str) -> dict[str, Any]:
    body = await resp.read()
    if resp.status != status:
        raise RuntimeError(f"{what}: {resp.status} {body[:300]!r}")
    result: dict[str, Any] = orjson.loads(body)
    return result


async def drive(url: str, pid: int, args: argparse.Namespace) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    uids: dict[int, str] = {}
    leases: dict[int, dict[str, Any]] = {}
    conn = aiohttp.TCPConnector(limit=args.clients)
    async with aiohttp.ClientSession(connector=conn) as http:
        base = f"{url}/api/v1/namespaces/{NS}/pods"
        async with http.post(f"{url}/api/v1/namespaces", headers=JSON,
                             data=orjson.dumps({"metadata": {"name": NS}})) as r:
            await r.read()
        lease_base = f"{url}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
        for n in range(args.leases):
            body = {"metadata": {"name": f"node-{n}"},
                    "spec": {"holderIdentity": f"node-{n}", "leaseDurationSeconds": 40,
                             "renewTime": "2026-01-01T00:00:00.000000Z"}}
            async with http.post(lease_base, headers=JSON, data=orjson.dumps(body)) as r:
                leases[n] = await expect(r, 201, "lease create")

        async def create(i: int) -> None:
            async with http.post(base, headers=JSON, data=orjson.dumps(pod_body(i))) as r:
                uids[i] = (await expect(r, 201, "create"))["metadata"]["uid"]

        async def bind(i: int) -> None:
            body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": f"p{i}"},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": f"node-{i % max(args.leases, 1)}"}}
            async with http.post(f"{base}/p{i}/binding", headers=JSON, data=orjson.dumps(body)) as r:
                await expect(r, 201, "bind")

        async def status(i: int) -> None:
            async with http.patch(f"{base}/p{i}/status", headers=MERGE,
                                  data=orjson.dumps(status_patch(uids[i], i))) as r:
                await expect(r, 200, "status")

        async def renew(i: int) -> None:
            n = i % args.leases
            lease = leases[n]
            lease["spec"]["renewTime"] = f"2026-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}.000000Z"
            async with http.put(f"{lease_base}/node-{n}", headers=JSON, data=orjson.dumps(lease)) as r:
                leases[n] = await expect(r, 200, "lease renew")

        async def get(i: int) -> None:
            async with http.get(f"{base}/p{i}", headers=JSON) as r:
                await expect(r, 200, "get")

        for name, op in (("POST pods", create), ("POST pods/binding", bind), ("PATCH pods/status", status),
                         ("PUT leases", renew), ("GET pods", get)):
            cpu0 = cpu_seconds(pid)
            elapsed, lat = await run(args.clients, args.pods, op)
            cpu = cpu_seconds(pid) - cpu0
            row = (f"{args.pods / elapsed:7.0f}/s  p50 {pct(lat, 50) * 1000:6.1f} ms  p99 {pct(lat, 99) * 1000:6.1f} ms"
                   f"  server CPU {cpu / args.pods * 1000:5.2f} ms/request")
            rows.append((name, row))
            print(f"  {name:<20} {row}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--leases", type=int, default=500)
    ap.add_argument("--storage", choices=("sqlite", "memory"), default="sqlite")
    ap.add_argument("--profile", default="", help="write a py-spy flame graph (svg) or speedscope (.json) here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sampan-write-path-") as tmp:
        work = Path(tmp)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with process([sys.executable, "-m", "sampan.cli.main", "apiserver", "--port", str(port),
                      "--storage", args.storage, "--data-dir", str(work / "data")], work / "apiserver.log") as proc:
            wait_http(url + "/readyz", proc, work / "apiserver.log")
            spy: subprocess.Popen[bytes] | None = None
            try:
                if args.profile:
                    fmt = "speedscope" if args.profile.endswith(".json") else "flamegraph"
                    spy = subprocess.Popen(["py-spy", "record", "--pid", str(proc.pid), "--rate", "50",
                                            "--format", fmt, "--output", args.profile, "--nonblocking"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(1)
                print(f"write path: {args.pods} pods, {args.clients} clients, {args.leases} leases, {args.storage}")
                asyncio.run(drive(url, proc.pid, args))
            finally:
                if spy is not None:
                    spy.send_signal(2)
                    spy.wait(60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
