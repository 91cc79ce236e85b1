"""API server CPU per request on the density write path: what one pod costs the server, verb by verb.

    .venv/bin/python bench/write_path.py                      # 3,000 pods, 16 clients, ~1 minute
    .venv/bin/python bench/write_path.py --pods 5000 --profile out.svg   # also a py-spy flame graph
    .venv/bin/python bench/write_path.py --profile out.json --profile-phase "POST events"   # one phase only
    .venv/bin/python bench/write_path.py --pods 2000 --baseline 53fbf94   # A/B: that commit's server beside ours
    .venv/bin/python bench/write_path.py --phases "PUT leases" --clients 1 --pods 6000 --baseline main

A real ``sampan apiserver`` process (sqlite by default) and this driver. Each phase sends the requests one
pod's life makes in a density run, in the shapes the components send them:

- ``POST pods``: the controller's create (labels, owner reference, one container with requests);
- ``POST pods/binding``: the scheduler's bind;
- ``POST events``: ``--events`` Events per pod in the recorder's shape (the scheduler's ``Scheduled``, the
  kubelet's ``Created`` and ``Started``: a pod's events in a density run, see ``bench/density.py
  --count-events``);
- ``PATCH pods/status``: the kubelet's merge patch (``metadata.uid`` precondition, phase, conditions,
  container statuses, pod IP), the Running status;
- ``PATCH pods/status (terminal)``: the kubelet's last write of a deleted pod (containers terminated);
- ``PUT leases``: a node Lease renewal (``--leases`` Leases renewed round-robin, one renewal per pod);
- ``GET pods``: a single-object read.

For each phase: requests/s, client-seen p50/p99 and the server's CPU milliseconds per request (utime + stime
of the server process from /proc over the phase / requests); then **one pod's life**: the sum of the server
CPU of the requests one pod makes (create, binding, its events, both status writes; a density run's counts
per pod are printed by ``bench/density.py``). The server runs without a competing load
generator of its own kind, so CPU per request is the figure to compare between branches; latency depends
on the machine's load.

``--baseline REV`` checks ``REV`` out into a temporary git worktree and runs its server (its ``src`` on
``PYTHONPATH``, this checkout's virtualenv) beside this tree's; every phase then runs in blocks of ``--block``
requests that alternate between the two servers (the order flipping each block), so a shared machine's
changing load falls on both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from server_process import baseline_tree, cpu_seconds, free_port, process, py_spy, wait_http

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
MERGE = {"Content-Type": "application/merge-patch+json", "Accept": "application/json"}
NS = "density"
REPO = Path(__file__).resolve().parent.parent


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


def terminal_patch(uid: str, i: int) -> dict[str, Any]:
    """The kubelet's status write once a deleted pod's container stopped (phase stays, container terminated,
    Ready conditions False)."""
    body = status_patch(uid, i)
    now, later = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"
    for cond in body["status"]["conditions"]:
        if cond["type"] in ("Ready", "ContainersReady", "PodReadyToStartContainers"):
            cond.update(status="False", lastTransitionTime=later)
    cs = body["status"]["containerStatuses"][0]
    cs.update(ready=False, started=False,
              state={"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": later,
                                    "containerID": cs["containerID"]}})
    return body


EVENTS = (("default-scheduler", "Scheduled", "", "Successfully assigned density/p{i} to node-{n}"),
          ("kubelet", "Created", "spec.containers{pause}", "Created container pause"),
          ("kubelet", "Started", "spec.containers{pause}", "Started container pause"),
          ("kubelet", "Pulled", "spec.containers{pause}",
           'Container image "registry.k8s.io/pause:3.9" already present on machine'))


def event_body(i: int, k: int, uid: str, nodes: int) -> dict[str, Any]:
    """The ``k``-th Event of pod ``p<i>``, as ``sampan.client.record`` writes it."""
    component, reason, path, message = EVENTS[k % len(EVENTS)]
    ref = {"kind": "Pod", "apiVersion": "v1", "name": f"p{i}", "namespace": NS, "uid": uid,
           **({"fieldPath": path} if path else {})}
    stamp = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"p{i}.{0x1800000000000000 + i * 8 + k:x}", "namespace": NS},
            "involvedObject": ref, "reason": reason, "message": message.format(i=i, n=i % max(nodes, 1)),
            "type": "Normal", "source": {"component": component,
                                         **({"host": f"node-{i % max(nodes, 1)}"} if component == "kubelet" else {})},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": component, "reportingInstance": f"node-{i % max(nodes, 1)}"}


async def run(concurrency: int, total: int, op: Callable[[int], Awaitable[None]], *,
              first: int = 0) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(first, first + total))

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


class Spy:
    """py-spy on the server process while started (nothing without an output path)."""

    def __init__(self, pid: int, output: str, rate: int = 50) -> None:
        self.pid, self.output, self.rate = pid, output, rate
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if not self.output or self.proc is not None:
            return
        fmt = {".json": "speedscope", ".txt": "raw"}.get(Path(self.output).suffix, "flamegraph")
        self.proc = subprocess.Popen([py_spy(), "record", "--pid", str(self.pid), "--rate", str(self.rate),
                                      "--format", fmt, "--output", self.output, "--nonblocking"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(2)
            self.proc.wait(60)
            self.proc = None


class Server:
    """One API server under test and this driver's state for it: the pods' uids and the Leases."""

    def __init__(self, label: str, url: str, pid: int, http: aiohttp.ClientSession, args: argparse.Namespace) -> None:
        self.label, self.url, self.pid, self.http, self.args = label, url, pid, http, args
        self.uids: dict[int, str] = {}
        self.leases: dict[int, dict[str, Any]] = {}
        self.pods = f"{url}/api/v1/namespaces/{NS}/pods"
        self.lease_base = f"{url}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
        self.cpu: dict[str, float] = {}
        self.latencies: dict[str, list[float]] = {}
        self.elapsed: dict[str, float] = {}

    async def setup(self) -> None:
        async with self.http.post(f"{self.url}/api/v1/namespaces", headers=JSON,
                                  data=orjson.dumps({"metadata": {"name": NS}})) as r:
            await r.read()
        for n in range(self.args.leases):
            body = {"metadata": {"name": f"node-{n}"},
                    "spec": {"holderIdentity": f"node-{n}", "leaseDurationSeconds": 40,
                             "renewTime": "2026-01-01T00:00:00.000000Z"}}
            async with self.http.post(self.lease_base, headers=JSON, data=orjson.dumps(body)) as r:
                self.leases[n] = await expect(r, 201, "lease create")

    async def create(self, i: int) -> None:
        async with self.http.post(self.pods, headers=JSON, data=orjson.dumps(pod_body(i))) as r:
            self.uids[i] = (await expect(r, 201, "create"))["metadata"]["uid"]

    async def bind(self, i: int) -> None:
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": f"p{i}"},
                "target": {"apiVersion": "v1", "kind": "Node", "name": f"node-{i % max(self.args.leases, 1)}"}}
        async with self.http.post(f"{self.pods}/p{i}/binding", headers=JSON, data=orjson.dumps(body)) as r:
            await expect(r, 201, "bind")

    async def status(self, i: int) -> None:
        async with self.http.patch(f"{self.pods}/p{i}/status", headers=MERGE,
                                   data=orjson.dumps(status_patch(self.uids[i], i))) as r:
            await expect(r, 200, "status")

    async def terminal(self, i: int) -> None:
        async with self.http.patch(f"{self.pods}/p{i}/status", headers=MERGE,
                                   data=orjson.dumps(terminal_patch(self.uids[i], i))) as r:
            await expect(r, 200, "terminal status")

    async def event(self, j: int) -> None:
        i, k = divmod(j, self.args.events)
        async with self.http.post(f"{self.url}/api/v1/namespaces/{NS}/events", headers=JSON,
                                  data=orjson.dumps(event_body(i, k, self.uids[i], self.args.leases))) as r:
            await expect(r, 201, "event")

    async def renew(self, i: int) -> None:
        n = i % self.args.leases
        lease = self.leases[n]
        lease["spec"]["renewTime"] = f"2026-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}.000000Z"
        async with self.http.put(f"{self.lease_base}/node-{n}", headers=JSON, data=orjson.dumps(lease)) as r:
            self.leases[n] = await expect(r, 200, "lease renew")

    async def get(self, i: int) -> None:
        async with self.http.get(f"{self.pods}/p{i}", headers=JSON) as r:
            await expect(r, 200, "get")

    def phases(self) -> tuple[tuple[str, Callable[[int], Awaitable[None]], int], ...]:
        """(name, request, requests per pod) in the order of a pod's life."""
        return (("POST pods", self.create, 1), ("POST pods/binding", self.bind, 1),
                ("POST events", self.event, self.args.events), ("PATCH pods/status", self.status, 1),
                ("PUT leases", self.renew, 1), ("GET pods", self.get, 1),
                ("PATCH pods/status (terminal)", self.terminal, 1))

    async def block(self, name: str, op: Callable[[int], Awaitable[None]], first: int, count: int) -> None:
        """Requests ``first`` .. ``first + count - 1`` of phase ``name``; adds their server CPU and latencies."""
        cpu0 = cpu_seconds(self.pid)
        elapsed, lat = await run(self.args.clients, count, op, first=first)
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu_seconds(self.pid) - cpu0
        self.elapsed[name] = self.elapsed.get(name, 0.0) + elapsed
        self.latencies.setdefault(name, []).extend(lat)


LIFE = {"POST pods": 1, "POST pods/binding": 1, "POST events": 0, "PATCH pods/status": 1,
        "PATCH pods/status (terminal)": 1}
"""Requests of one pod's life in this bench (events: ``--events``)."""


async def drive(targets: list[tuple[str, str, int]], args: argparse.Namespace, spy: Spy) -> list[tuple[str, str]]:
    """Every phase on every server, in blocks of ``--block`` requests that alternate between the servers
    (the order flips each block), so a change of the machine's load falls on all of them alike."""
    rows: list[tuple[str, str]] = []
    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for label, url, pid in targets:
            http = await stack.enter_async_context(
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.clients)))
            server = Server(label, url, pid, http, args)
            await server.setup()
            servers.append(server)
        for index, (name, _, per_pod) in enumerate(servers[0].phases()):
            if args.phases and name not in args.phases:
                continue
            total = args.pods * per_pod
            if name == args.profile_phase:
                spy.start()
            for n, first in enumerate(range(0, total, args.block)):
                order = servers if n % 2 == 0 else servers[::-1]
                for server in order:
                    await server.block(name, server.phases()[index][1], first, min(args.block, total - first))
            if name == args.profile_phase:
                spy.stop()
            for server in servers:
                if total:
                    rows.append(_row(server, name, total))
        life = {**LIFE, "POST events": args.events}
        for server in servers if not args.phases else ():
            total_ms = sum(server.cpu.get(name, 0.0) / (args.pods * n) * 1000 * n for name, n in life.items() if n)
            row = (f"{total_ms:5.2f} ms server CPU (1 create, 1 binding, {args.events} events, 2 status writes; "
                   f"at 100 pods/s: {total_ms / 10:.2f} cores)")
            rows.append((f"{server.label}: one pod's life", row))
            print(f"  {server.label + ': one pod' + chr(39) + 's life':<44} {row}", flush=True)
    return rows


def _row(server: Server, name: str, total: int) -> tuple[str, str]:
    lat = server.latencies[name]
    row = (f"{total / server.elapsed[name]:7.0f}/s  p50 {pct(lat, 50) * 1000:6.1f} ms  p99 {pct(lat, 99) * 1000:6.1f} "
           f"ms  server CPU {server.cpu[name] / total * 1000:5.3f} ms/request")
    print(f"  {server.label + ': ' + name:<44} {row}", flush=True)
    return (f"{server.label}: {name}", row)



def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--leases", type=int, default=500)
    ap.add_argument("--events", type=int, default=3, help="Events per pod (default 3: Scheduled, Created, Started)")
    ap.add_argument("--storage", choices=("sqlite", "memory"), default="sqlite")
    ap.add_argument("--baseline", default="", help="git revision whose server runs beside this tree's, interleaved")
    ap.add_argument("--block", type=int, default=250, help="requests per block (servers alternate per block)")
    ap.add_argument("--profile", default="",
                    help="write a py-spy flame graph (svg), speedscope (.json) or collapsed stacks (.txt) here")
    ap.add_argument("--profile-rate", type=int, default=50, help="py-spy samples per second (default 50)")
    ap.add_argument("--profile-phase", default="",
                    help="profile only this phase ('PATCH pods/status', 'POST events'...)")
    ap.add_argument("--phases", type=lambda v: [p.strip() for p in v.split(",") if p.strip()], default=[],
                    help="run only these phases, comma-separated ('PUT leases' needs no pods: "
                         "--phases 'PUT leases' --clients 1 is one renewal at a time)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sampan-write-path-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        base_src = stack.enter_context(baseline_tree(args.baseline, work))
        builds = ([(f"baseline {args.baseline}", base_src)] if base_src else []) + [("this tree", REPO / "src")]
        targets = []
        for n, (label, src) in enumerate(builds):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            log = work / f"apiserver-{n}.log"
            proc = stack.enter_context(process(
                [sys.executable, "-m", "sampan.cli.main", "apiserver", "--port", str(port), "--storage",
                 args.storage, "--data-dir", str(work / f"data-{n}")], log,
                env={"PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH", "")]))}))
            wait_http(url + "/readyz", proc, log)
            targets.append((label, url, proc.pid))
        spy = Spy(targets[-1][2], args.profile, args.profile_rate)  # this tree's server
        try:
            if not args.profile_phase:
                spy.start()
            print(f"write path: {args.pods} pods, {args.clients} clients, {args.leases} leases, {args.storage}, "
                  f"blocks of {args.block} alternating over {len(targets)} server(s); load average "
                  f"{os.getloadavg()[0]:.1f}")
            asyncio.run(drive(targets, args, spy))
            print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        finally:
            spy.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
