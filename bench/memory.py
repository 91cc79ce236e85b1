"""Memory of the control plane holding N pods (issue 21: all components together within 16 GiB at 150,000
pods; the API server's bytes per pod).

    .venv/bin/python bench/memory.py --pods 30000                  # a few minutes
    .venv/bin/python bench/memory.py --pods 150000                 # the upstream limit
    .venv/bin/python bench/memory.py --pods 30000,150000           # both, and the cost per extra pod

Creating 150,000 pods through the API takes ~20 minutes here, so the pods are written straight into a
sqlite store (``sampan.storage``) as the density bench leaves them: Running pods of 30 Deployments'
ReplicaSets, ``spec.nodeName`` spread over ``--nodes`` nodes, with the managedFields the controller-manager
and the kubelet record (the pod below is one the real components made, ~3.7 KB of JSON), plus the
Deployments and ReplicaSets themselves. Then, in order:

1. ``sampan apiserver`` on the store (its watch cache fills from it), alone: its RSS against an API server
   on an empty store is the watch cache's cost per pod;
2. the real ``sampan scheduler``, ``sampan controller-manager`` and hollow nodes (``sampan kubelet --runtime
   simulated --nodes N``), as ``bench/density.py`` starts them, but with ``--leader-elect=false``: memory is
   measured here, and a component whose loop is busy with the initial list must not lose its lease and
   exit (a restart would hide its peak);
3. wait until each has synced: its pod informer logged ``informer synced ... items=<all pods>`` (the
   hollow nodes: and every node started), then ``--settle`` seconds more, sampling every second.

Printed per component: VmRSS at the end, VmHWM (peak), bytes per pod (RSS / pods; for the API server also
the growth over an empty store / pods), and the total against 16 GiB. With two or more sizes, the cost of
each extra pod per component (slope of RSS between the sizes). The run stops early (and says so) if the
machine's MemAvailable falls below ``--min-available`` GiB: the machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from sampan.storage.factory import StorageOptions, open_storage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from density import SAMPAN, free_port, proc_status, wait_http

NAMESPACE = "density"
DEPLOYMENTS = 30
GIB = 2**30
MIB = 2**20
BUDGET = 16 * GIB
HASH = "5f8c7d9b4"
BASE_TS = 1796608800  # 2026-12-07T04:00:00Z


def stamp(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(BASE_TS + seconds))


def uid(kind: int, i: int) -> str:
    return f"6b1e4a3c-{kind:04d}-4000-8000-{i:012d}"


def template_spec() -> dict[str, Any]:
    return {"containers": [{"image": "registry.k8s.io/pause:3.9", "imagePullPolicy": "IfNotPresent", "name": "pause",
                            "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}},
                            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
            "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
            "securityContext": {}, "terminationGracePeriodSeconds": 30}


def deployment(d: int, replicas: int) -> dict[str, Any]:
    name, labels = f"density-{d}", {"app": f"density-{d}"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "annotations": {"deployment.kubernetes.io/revision": "1"}, "creationTimestamp": stamp(0), "generation": 1,
        "name": name, "namespace": NAMESPACE, "uid": uid(1, d)},
        "spec": {"progressDeadlineSeconds": 600, "replicas": replicas, "revisionHistoryLimit": 10,
                 "selector": {"matchLabels": labels},
                 "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
                 "template": {"metadata": {"labels": labels}, "spec": template_spec()}},
        "status": {"availableReplicas": replicas, "conditions": [
            {"lastTransitionTime": stamp(1), "lastUpdateTime": stamp(1),
             "message": "Deployment has minimum availability.", "reason": "MinimumReplicasAvailable",
             "status": "True", "type": "Available"},
            {"lastTransitionTime": stamp(1), "lastUpdateTime": stamp(1),
             "message": f'ReplicaSet "{name}-{HASH}" has successfully progressed.', "reason": "NewReplicaSetAvailable",
             "status": "True", "type": "Progressing"}],
            "observedGeneration": 1, "readyReplicas": replicas, "replicas": replicas, "updatedReplicas": replicas}}


def replicaset(d: int, replicas: int) -> dict[str, Any]:
    name, labels = f"density-{d}", {"app": f"density-{d}", "pod-template-hash": HASH}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
        "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                        "deployment.kubernetes.io/max-replicas": str(replicas + (replicas + 3) // 4),
                        "deployment.kubernetes.io/revision": "1"},
        "creationTimestamp": stamp(0), "generation": 1, "labels": labels, "name": f"{name}-{HASH}",
        "namespace": NAMESPACE, "uid": uid(2, d),
        "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": True, "controller": True,
                             "kind": "Deployment", "name": name, "uid": uid(1, d)}]},
        "spec": {"minReadySeconds": 0, "replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": template_spec()}},
        "status": {"availableReplicas": replicas, "fullyLabeledReplicas": replicas, "observedGeneration": 1,
                   "readyReplicas": replicas, "replicas": replicas}}


def _condition_fields() -> dict[str, Any]:
    return {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}


def pod(i: int, *, nodes: int) -> dict[str, Any]:
    """Pod ``i`` as the density bench leaves it (stored form: no resourceVersion): the shape, fields and
    managedFields of a pod the real controller-manager, scheduler and hollow kubelet made. Pods were
    created ~100/s, so timestamps are shared by ~100 pods at a time, as in a real run."""
    d = i % DEPLOYMENTS
    deploy = f"density-{d}"
    created, started = stamp(10 + i // 100), stamp(11 + i // 100)
    owner = uid(2, d)
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "generateName": f"{deploy}-{HASH}-", "namespace": NAMESPACE,
            "labels": {"app": deploy, "pod-template-hash": HASH},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{deploy}-{HASH}",
                                 "uid": owner, "controller": True, "blockOwnerDeletion": True}],
            "name": f"{deploy}-{HASH}-{i:06x}", "uid": uid(3, i), "creationTimestamp": created,
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": created,
                 "fieldsType": "FieldsV1", "fieldsV1": {
                     "f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
                                    "f:ownerReferences": {".": {}, f'k:{{"uid":"{owner}"}}': {}}},
                     "f:spec": {"f:containers": {'k:{"name":"pause"}': {
                         ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                         "f:resources": {".": {}, "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}}},
                         "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}}},
                         "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:preemptionPolicy": {}, "f:priority": {},
                         "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {},
                         "f:serviceAccount": {}, "f:serviceAccountName": {}, "f:terminationGracePeriodSeconds": {},
                         "f:tolerations": {}}}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": started,
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {
                     "f:conditions": {f'k:{{"type":"{t}"}}': _condition_fields()
                                      for t in ("ContainersReady", "Initialized", "Ready")},
                     "f:containerStatuses": {}, "f:hostIP": {}, "f:hostIPs": {}, "f:phase": {}, "f:podIP": {},
                     "f:podIPs": {".": {}, 'k:{"ip":"127.0.0.1"}': {".": {}, "f:ip": {}}}, "f:startTime": {}}},
                 "subresource": "status"}]},
        "spec": {
            "containers": [{"image": "registry.k8s.io/pause:3.9", "name": "pause",
                            "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}},
                            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                            "imagePullPolicy": "IfNotPresent"}],
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
            "securityContext": {}, "schedulerName": "default-scheduler", "priority": 0,
            "preemptionPolicy": "PreemptLowerPriority",
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300},
                            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300}],
            "enableServiceLinks": True, "serviceAccountName": "default", "serviceAccount": "default",
            "nodeName": f"hollow-{i % nodes + 1}"},
        "status": {
            "phase": "Running", "qosClass": "Burstable",
            "conditions": [{"type": t, "status": "True", "lastProbeTime": None,
                            "lastTransitionTime": created if t == "PodScheduled" else started}
                           for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}], "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}], "startTime": started,
            "containerStatuses": [{"name": "pause", "image": "registry.k8s.io/pause:3.9", "imageID": "",
                                   "ready": True, "restartCount": 0, "started": True, "lastState": {},
                                   "state": {"running": {"startedAt": started}},
                                   "containerID": f"simulated://{i:064x}"}]},
    }


async def fill(data_dir: Path, *, pods: int, nodes: int) -> None:
    """A fresh sqlite store holding the namespace, the Deployments, their ReplicaSets and ``pods`` pods."""
    import asyncio

    store = await open_storage(StorageOptions(backend="sqlite", data_dir=data_dir))
    try:
        ns = {"kind": "Namespace", "apiVersion": "v1",
              "metadata": {"name": NAMESPACE, "uid": uid(0, 0), "creationTimestamp": stamp(0),
                           "labels": {"kubernetes.io/metadata.name": NAMESPACE}},
              "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        await store.create(f"/registry/namespaces/{NAMESPACE}", orjson.dumps(ns))
        per = [pods // DEPLOYMENTS + (1 if d < pods % DEPLOYMENTS else 0) for d in range(DEPLOYMENTS)]
        for d in range(DEPLOYMENTS):
            dep = deployment(d, per[d])
            await store.create(f"/registry/deployments/{NAMESPACE}/{dep['metadata']['name']}", orjson.dumps(dep))
            rs = replicaset(d, per[d])
            await store.create(f"/registry/replicasets/{NAMESPACE}/{rs['metadata']['name']}", orjson.dumps(rs))
        batch = 2000
        for first in range(0, pods, batch):
            await asyncio.gather(*(store.create(f"/registry/pods/{NAMESPACE}/{p['metadata']['name']}",
                                                orjson.dumps(p))
                                   for p in (pod(i, nodes=nodes) for i in range(first, min(pods, first + batch)))))
    finally:
        await store.close()


def mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


WORK: list[Path] = []
"""Work directories to remove on SIGTERM."""
LIVE: list[subprocess.Popen[bytes]] = []
"""Every component started, for the SIGTERM handler (a SystemExit raised in a handler can be swallowed)."""


def on_sigterm(*_: Any) -> None:
    """Kill every component's process group (each holds GBs at 150,000 pods) and exit at once."""
    for proc in LIVE:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    for work in WORK:
        shutil.rmtree(work, ignore_errors=True)
    os._exit(143)


class Proc:
    """One component process (not restarted: a restart would hide a memory peak)."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name, self.log = name, log
        with open(log, "ab") as f:
            self.proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        LIVE.append(self.proc)
        self.rss = self.hwm = 0
        self.log_offset = 0
        self.exited: int | None = None
        self.pods_synced = self.nodes_started = False

    def sample(self) -> None:
        """Update RSS and peak; a component that exited keeps its last figures (and is reported as such)."""
        if self.proc.poll() is not None:
            if self.exited is None:
                self.exited = self.proc.returncode
                tail = self.log.read_text(errors="replace").strip().splitlines()[-1:]
                print(f"  {self.name} EXITED with {self.exited}: {tail[0] if tail else ''}", flush=True)
            return
        with contextlib.suppress(OSError, KeyError):
            status = proc_status(self.proc.pid)
            self.rss, self.hwm = status["VmRSS"], max(self.hwm, status["VmHWM"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


SYNCED = re.compile(r"informer synced informer=v1/pods rv=\S* items=(\d+)")


def synced(p: Proc, pods: int) -> bool:
    """The component's pod informer holds every pod (and, for the hollow nodes, every node started)."""
    with open(p.log, "rb") as f:
        f.seek(p.log_offset)
        text = f.read().decode(errors="replace")
    cut = text.rfind("\n") + 1
    p.log_offset += len(text[:cut].encode())
    for line in text[:cut].splitlines():
        if any(int(n) >= pods for n in SYNCED.findall(line)):
            p.pods_synced = True
        if "hollow nodes: all started" in line:
            p.nodes_started = True
    return p.pods_synced and (p.nodes_started or p.name != "hollow-nodes")


def start_apiserver(work: Path, data: Path, name: str) -> tuple[Proc, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    p = Proc(name, [*SAMPAN, "apiserver", "--port", str(port), "--storage", "sqlite", "--data-dir", str(data)],
             work / f"{name}.log")
    wait_http(url + "/readyz", p.proc, p.log, timeout=1200)
    return p, url


def run_size(pods: int, args: argparse.Namespace) -> dict[str, Any]:
    import asyncio

    from sampan.cli.kubeconfig import render_kubeconfig

    work = Path(tempfile.mkdtemp(prefix="sampan-bench-memory-"))
    if not args.keep:
        WORK.append(work)
    procs: list[Proc] = []
    result: dict[str, Any] = {"pods": pods, "nodes": args.nodes, "hollow_nodes": args.hollow_nodes or args.nodes}
    try:
        # an API server on an empty store: the baseline its watch cache grows from
        asyncio.run(fill(work / "empty", pods=0, nodes=args.nodes))
        empty, _ = start_apiserver(work, work / "empty", "apiserver-empty")
        time.sleep(2.0)
        empty.sample()
        empty.stop()
        result["apiserver_empty_rss"] = empty.rss
        start = time.monotonic()
        cached = Path(args.store_cache) / f"pods-{pods}-nodes-{args.nodes}" if args.store_cache else None
        if cached is not None and cached.is_dir():
            shutil.copytree(cached, work / "data")
        else:
            asyncio.run(fill(work / "data", pods=pods, nodes=args.nodes))
            if cached is not None:
                shutil.copytree(work / "data", cached)
        size = sum(f.stat().st_size for f in (work / "data").rglob("*") if f.is_file())
        print(f"[{pods} pods] store written in {time.monotonic() - start:.1f} s ({size / MIB:.0f} MiB on disk)",
              flush=True)
        start = time.monotonic()
        api, url = start_apiserver(work, work / "data", "apiserver")
        procs.append(api)
        api.sample()
        result["apiserver_alone_rss"] = api.rss
        print(f"[{pods} pods] API server ready after {time.monotonic() - start:.1f} s: RSS {api.rss / MIB:.0f} MiB "
              f"(empty store: {empty.rss / MIB:.0f} MiB; {(api.rss - empty.rss) / max(pods, 1):,.0f} bytes/pod)",
              flush=True)
        kubeconfig = work / "kubeconfig"
        kubeconfig.write_text(render_kubeconfig(url))
        k = ["--kubeconfig", str(kubeconfig)]
        qps = ["--kube-api-qps", str(args.component_qps), "--kube-api-burst", str(args.component_qps)]
        wanted = [c.strip() for c in args.components.split(",") if c.strip()]
        solo = ["--leader-elect=false"]
        argv = {"scheduler": [*SAMPAN, "scheduler", *k, *qps, *solo, "--port", "0", "--cache-sync-timeout",
                              f"{args.timeout:.0f}s"],
                "controller-manager": [*SAMPAN, "controller-manager", *k, *qps, *solo, "--port", "0"],
                "hollow-nodes": [*SAMPAN, "kubelet", *k, "--runtime", "simulated", "--nodes",
                                 str(args.hollow_nodes or args.nodes),
                                 "--node-name-prefix", "hollow-", "--root-dir", str(work / "kubelet")]}
        start = time.monotonic()
        for name in wanted:
            procs.append(Proc(name, argv[name], work / f"{name}.log"))
        pending = {p.name for p in procs[1:]}
        deadline = start + args.timeout
        while pending:
            time.sleep(1.0)
            for p in procs:
                p.sample()
            for p in procs[1:]:
                if p.name in pending and p.exited is not None:
                    pending.discard(p.name)
                if p.name in pending and synced(p, pods):
                    pending.discard(p.name)
                    print(f"[{pods} pods] {p.name} synced after {time.monotonic() - start:.1f} s "
                          f"(RSS {p.rss / MIB:.0f} MiB)", flush=True)
            if mem_available() < args.min_available * GIB:
                result["stopped"] = f"MemAvailable below {args.min_available} GiB"
                print(f"[{pods} pods] STOPPED: the machine's MemAvailable fell below {args.min_available} GiB",
                      flush=True)
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"not synced after {args.timeout:.0f} s: {sorted(pending)}")
        if "stopped" not in result:
            for _ in range(int(args.settle)):
                time.sleep(1.0)
                for p in procs:
                    p.sample()
        result["components"] = {p.name: {"VmRSS": p.rss, "VmHWM": p.hwm, "exited": p.exited} for p in procs}
        result["loadavg"] = os.getloadavg()[0]
        report(result)
        return result
    finally:
        for p in reversed(procs):
            p.stop()
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(result: dict[str, Any]) -> None:
    pods = max(result["pods"], 1)
    print(f"\n{result['pods']:,} pods on {result['nodes']:,} nodes, {result['hollow_nodes']:,} hollow nodes running "
          f"(load {result['loadavg']:.1f}):")
    print(f"  {'component':<20}{'VmRSS MiB':>10}{'VmHWM MiB':>10}{'RSS/pod B':>11}")
    total_rss = total_hwm = 0
    for name, c in result["components"].items():
        total_rss += c["VmRSS"]
        total_hwm += c["VmHWM"]
        extra = ""
        if name == "apiserver":
            extra = f"  (growth over an empty store: {(c['VmRSS'] - result['apiserver_empty_rss']) / pods:,.0f} B/pod)"
        if c.get("exited") is not None:
            extra += f"  EXITED with {c['exited']} (figures before it exited)"
        print(f"  {name:<20}{c['VmRSS'] / MIB:>10,.0f}{c['VmHWM'] / MIB:>10,.0f}{c['VmRSS'] / pods:>11,.0f}{extra}")
    verdict = "within" if total_hwm <= BUDGET else "OVER"
    print(f"  {'all':<20}{total_rss / MIB:>10,.0f}{total_hwm / MIB:>10,.0f}{total_rss / pods:>11,.0f}"
          f"  peak sum {total_hwm / GIB:.2f} GiB: {verdict} 16 GiB", flush=True)


def slopes(results: list[dict[str, Any]]) -> None:
    a, b = results[0], results[-1]
    dp = b["pods"] - a["pods"]
    if dp <= 0:
        return
    print(f"\ncost of each extra pod ({a['pods']:,} -> {b['pods']:,}), RSS slope:")
    for name in b["components"]:
        if name in a["components"]:
            print(f"  {name:<20}{(b['components'][name]['VmRSS'] - a['components'][name]['VmRSS']) / dp:>10,.0f} B/pod")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", default="30000", help="comma-separated sizes, run one after the other")
    ap.add_argument("--nodes", type=int, default=5000, help="pods are spread over this many (hollow) nodes")
    ap.add_argument("--hollow-nodes", type=int, default=0,
                    help="how many hollow nodes run (default: --nodes); their pod informer holds every pod either "
                    "way, fewer nodes only means fewer kubelets and pod workers")
    ap.add_argument("--store-cache", default="", metavar="DIR",
                    help="keep each size's filled store here and reuse it (filling 150,000 pods takes minutes)")
    ap.add_argument("--components", default="scheduler,controller-manager,hollow-nodes",
                    help="which to start besides the API server")
    ap.add_argument("--component-qps", type=int, default=500, help="controller-manager and scheduler QPS/burst")
    ap.add_argument("--settle", type=float, default=20.0, help="seconds of sampling after every component synced")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the components to sync")
    ap.add_argument("--min-available", type=float, default=2.0, help="stop if MemAvailable falls below (GiB)")
    ap.add_argument("--json", default="", help="also write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    results = [run_size(int(n), args) for n in args.pods.split(",") if n.strip()]
    if len(results) > 1:
        slopes(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
