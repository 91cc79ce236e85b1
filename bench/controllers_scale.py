"""Controllers at scale (issue 21): N Deployments x M replicas created, all available, then every one rolled
to a new template and waited for as ``kubectl rollout status`` waits; upstream's size is 30 x 5,000
(300,000 pod creations: 150,000 created, then 150,000 replaced by the roll).

    .venv/bin/python bench/controllers_scale.py --deployments 30 --replicas 500     # 15,000 pods, minutes
    .venv/bin/python bench/controllers_scale.py                                     # 30 x 5,000, the full size

Processes on loopback, each measured from /proc (CPU seconds, peak RSS = VmHWM):

* ``sampan apiserver`` (memory storage, a watch cache deep enough for the churn);
* ``sampan controller-manager --controllers replicaset,deployment,garbagecollector --leader-elect=false
  --kube-api-qps 100 --kube-api-burst 100``: upstream's scalability jobs raise kube-controller-manager's
  client limit from the default 20/30 to exactly 100/100 (kubernetes/test-infra,
  ``config/jobs/kubernetes/sig-scalability/sig-scalability-presets.yaml``, preset
  ``preset-e2e-scalability-common``: ``CONTROLLER_MANAGER_TEST_ARGS=--profiling --kube-api-qps=100
  --kube-api-burst=100``, and the same for ``SCHEDULER_TEST_ARGS``; the kubemark preset sets
  ``KUBEMARK_CONTROLLER_MANAGER_TEST_ARGS`` to the same values); ``--qps``/``--burst`` change them;
* the fake kubelet of ``tests/controllers/support.py`` (one process, one pod informer, 32 status writers,
  no client limit): every pod is marked Running and Ready as soon as it is seen, whatever its node. It
  stands for the kubelets; no scheduler runs, so the figures are the controllers' and the API server's.
  (Hollow nodes would add a scheduler and N kubelets' heartbeats to the same two cores and measure those
  instead; ``bench/density.py`` does that.)

The rollout uses the Deployment defaults (RollingUpdate, maxSurge 25%, maxUnavailable 25%). At 100 QPS the
controller-manager's creates and deletes bound the rate: each replaced pod costs a create and a delete, and
the ReplicaSets' status and scale writes share the same budget, so the full size needs at least
300,000 creates + 150,000 deletes / 100 per second = 75 minutes on any machine.

Printed per phase: wall time, pods/s, CPU seconds of each process and CPU per pod (ms), then peak RSS.
``--profile DIR`` records the controller-manager with py-spy (``pip install py-spy`` into the venv) into
``DIR/controller-manager.txt`` (collapsed stacks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.support / tests.controllers.support

from tests.controllers.support import FakeKubelet  # noqa: E402
from tests.support.apiserver import run_apiserver_process  # noqa: E402

from sampan.client import Client, load_config  # noqa: E402
from server_process import py_spy  # noqa: E402

SAMPAN = [sys.executable, "-m", "sampan.cli.main"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
UPSTREAM_SCALE_QPS = 100.0
UPSTREAM_SCALE_BURST = 100
NAMESPACE = "default"


def proc_figures(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) and peak RSS in bytes of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return {"cpu": (int(fields[11]) + int(fields[12])) / CLK_TCK, "hwm": float(hwm)}


def deployment(name: str, replicas: int, image: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def rollout_done(d: dict[str, Any]) -> bool:
    """``kubectl rollout status``'s test for a Deployment (its DeploymentStatusViewer)."""
    status = d.get("status") or {}
    want = int((d.get("spec") or {}).get("replicas") or 0)
    if int(d["metadata"].get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return False
    updated = int(status.get("updatedReplicas") or 0)
    return (updated >= want and int(status.get("replicas") or 0) <= updated
            and int(status.get("availableReplicas") or 0) >= updated)


async def _kubelet(kubeconfig: str) -> None:
    config = dataclasses.replace(load_config(kubeconfig), qps=0)
    async with Client(config) as client:
        await FakeKubelet(client, workers=32).run()


class Meter:
    """CPU and peak RSS of the measured processes, read at phase boundaries."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.last = self.read()

    def read(self) -> dict[str, dict[str, float]]:
        return {name: proc_figures(pid) for name, pid in self.pids.items()}

    def phase(self, title: str, *, seconds: float, pods: int) -> dict[str, Any]:
        now = self.read()
        cpu = {name: now[name]["cpu"] - self.last[name]["cpu"] for name in self.pids}
        self.last = now
        print(f"[{title}] {pods:,} pods in {seconds:.1f} s = {pods / seconds:.0f} pods/s; CPU s "
              + ", ".join(f"{n} {c:.1f} ({c / pods * 1000:.2f} ms/pod)" for n, c in cpu.items()), flush=True)
        return {"seconds": seconds, "pods": pods, "cpu": cpu}


async def _wait_all(deps: Any, names: list[str], done: Any, what: str, timeout: float) -> float:
    start = time.monotonic()
    last_print = start
    while True:
        items = {d["metadata"]["name"]: d for d in (await deps.list(namespace=NAMESPACE))["items"]}
        ready = sum(1 for n in names if n in items and done(items[n]))
        if ready == len(names):
            return time.monotonic() - start
        now = time.monotonic()
        if now - start > timeout:
            raise SystemExit(f"timed out waiting for {what}: {ready}/{len(names)}")
        if now - last_print > 30:
            avail = sum(int((d.get("status") or {}).get("availableReplicas") or 0) for d in items.values())
            upd = sum(int((d.get("status") or {}).get("updatedReplicas") or 0) for d in items.values())
            print(f"  ... {what}: {ready}/{len(names)} done, {avail:,} available, {upd:,} updated after "
                  f"{now - start:.0f} s", flush=True)
            last_print = now
        await asyncio.sleep(1.0)


async def _bench(kubeconfig: str, *, deployments: int, replicas: int, meter: Meter,
                 timeout: float) -> dict[str, Any]:
    names = [f"scale-{i}" for i in range(deployments)]
    total = deployments * replicas
    config = dataclasses.replace(load_config(kubeconfig), qps=0)
    async with Client(config) as admin:
        deps = await admin.resource("apps/v1", "deployments")
        t0 = time.monotonic()
        for name in names:
            await deps.create(deployment(name, replicas, "app:1"))

        def available(d: dict[str, Any]) -> bool:
            return int((d.get("status") or {}).get("availableReplicas") or 0) >= replicas

        created = time.monotonic() - t0 + await _wait_all(deps, names, available, "all available", timeout)
        create = meter.phase("create", seconds=created, pods=total)
        t0 = time.monotonic()
        for name in names:
            for _ in range(5):
                d = await deps.get(name, namespace=NAMESPACE)
                d["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
                try:
                    await deps.update(d)
                    break
                except Exception as e:  # a Conflict with the controller's write: read again
                    if "conflict" not in str(e).lower():
                        raise
        rolled = time.monotonic() - t0 + await _wait_all(deps, names, rollout_done, "rollout", timeout)
        roll = meter.phase("rollout", seconds=rolled, pods=total)
    return {"create": create, "rollout": roll}


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as f:
        return subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                    p for p in (os.environ.get("PYTHONPATH"), str(ROOT)) if p)})


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=30)
    parser.add_argument("--replicas", type=int, default=5000)
    parser.add_argument("--qps", type=float, default=UPSTREAM_SCALE_QPS,
                        help="controller-manager --kube-api-qps (upstream's scale tests: 100)")
    parser.add_argument("--burst", type=int, default=UPSTREAM_SCALE_BURST,
                        help="controller-manager --kube-api-burst (upstream's scale tests: 100)")
    parser.add_argument("--controllers", default="replicaset,deployment,garbagecollector")
    parser.add_argument("--timeout", type=float, default=4 * 3600.0, help="seconds per phase")
    parser.add_argument("--profile", help="directory for a py-spy record of the controller-manager")
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--kubelet", help=argparse.SUPPRESS)  # internal: run the fake kubelet
    args = parser.parse_args()
    if args.kubelet:
        asyncio.run(_kubelet(args.kubelet))
        return
    total = args.deployments * args.replicas
    print(f"{args.deployments} Deployments x {args.replicas:,} replicas; controller-manager QPS {args.qps:g} "
          f"burst {args.burst}; controllers {args.controllers}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sampan-bench-ctrlscale-") as tmp, \
            run_apiserver_process(Path(tmp), extra_args=(
                "--default-watch-cache-size", str(max(20000, 4 * total)))) as server:
        work = Path(tmp)
        kubeconfig = str(server.kubeconfig)
        kubelet = _start([sys.executable, __file__, "--kubelet", kubeconfig], work / "kubelet.log")
        cm = _start([*SAMPAN, "controller-manager", "--kubeconfig", kubeconfig, "--controllers", args.controllers,
                     "--leader-elect=false", "--kube-api-qps", str(args.qps), "--kube-api-burst", str(args.burst),
                     "--secure-port", "0"], work / "controller-manager.log")
        spy: subprocess.Popen[bytes] | None = None
        finished = False
        try:
            time.sleep(2.0)
            if args.profile:
                Path(args.profile).mkdir(parents=True, exist_ok=True)
                spy = subprocess.Popen([py_spy(), "record", "--pid", str(cm.pid), "--format", "raw", "--rate", "50",
                                        "--output", str(Path(args.profile) / "controller-manager.txt")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            meter = Meter({"apiserver": server.process.pid, "controller-manager": cm.pid, "kubelet": kubelet.pid})
            figures = asyncio.run(_bench(kubeconfig, deployments=args.deployments, replicas=args.replicas,
                                         meter=meter, timeout=args.timeout))
            peaks = meter.read()
            for name in meter.pids:
                figures.setdefault("peak_rss_mib", {})[name] = peaks[name]["hwm"] / 2**20
            print("peak RSS MiB: " + ", ".join(f"{n} {v:.0f}" for n, v in figures["peak_rss_mib"].items()))
            secs = figures["create"]["seconds"] + figures["rollout"]["seconds"]
            cm_cpu = figures["create"]["cpu"]["controller-manager"] + figures["rollout"]["cpu"]["controller-manager"]
            api_cpu = figures["create"]["cpu"]["apiserver"] + figures["rollout"]["cpu"]["apiserver"]
            print(f"total: {2 * total:,} pod creations in {secs:.1f} s ({2 * total / secs:.0f} pods/s); "
                  f"controller-manager {cm_cpu / (2 * total) * 1000:.2f} ms CPU per pod, API server "
                  f"{api_cpu / (2 * total) * 1000:.2f} ms CPU per pod")
            if args.json:
                Path(args.json).write_text(json.dumps(figures, indent=1))
            finished = True
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
            _stop(cm)
            _stop(kubelet)
            if not finished:
                print((work / "controller-manager.log").read_text(errors="replace")[-3000:])


if __name__ == "__main__":
    main()
