"""The control plane in kube-system, as with kubeadm and kind: on ``sampan up --nodes 2`` the first node's
kubelet runs kube-apiserver, kube-controller-manager and kube-scheduler as static pods, and the real kubectl
sees them as mirror pods — Running, with restart counts and logs. A ``kill -9`` of the scheduler is a
container crash: the kubelet restarts it and the count goes up; ``sampan down`` stops all of it.

Its own cluster (killing the scheduler stalls scheduling until the dead leader's Lease expires, which the
shared cluster of test_cluster.py should not wait for).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import E2ECluster, all_ready, container_status, phase, wait_for

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")]

COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
#: A line each component logs at start-up (what `kubectl logs` must show).
LOG_LINES = {"kube-apiserver": "apiserver serving", "kube-controller-manager": "controller configured",
             "kube-scheduler": "scheduler starting"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ECluster]:
    c = E2ECluster(tmp_path_factory.mktemp("e2e-cp") / "cluster")
    c.start()
    try:
        yield c
    finally:
        c.stop()


def control_plane(cluster: E2ECluster) -> dict[str, dict[str, Any]]:
    """The kube-system pods, by component label."""
    items = cluster.get("pods", "-n", "kube-system")["items"]
    return {p["metadata"].get("labels", {}).get("component", p["metadata"]["name"]): p for p in items}


def all_running(cluster: E2ECluster) -> dict[str, dict[str, Any]] | None:
    pods = control_plane(cluster)
    if all(name in pods and phase(pods[name]) == "Running" and all_ready(pods[name]) for name in COMPONENTS):
        return pods
    return None


def container_pid(cluster: E2ECluster, pod: dict[str, Any]) -> int:
    """The host pid of the pod's running container, from the process runtime's record of it."""
    cid = container_status(pod)["containerID"].split("://", 1)[1]
    started = cluster.data_dir / "kubelet" / pod["spec"]["nodeName"] / "runtime" / "containers" / cid / "started.json"
    return int(json.loads(started.read_text())["pid"])


def test_control_plane_pods_are_running_in_kube_system(cluster: E2ECluster) -> None:
    first = cluster.nodes[0]
    pods = wait_for(lambda: all_running(cluster), what="the control plane Running and ready in kube-system",
                    timeout=60, describe=lambda: cluster.kubectl("get", "pods", "-n", "kube-system"))
    node = cluster.get("node", first)
    for name in COMPONENTS:
        pod = pods[name]
        md = pod["metadata"]
        assert md["name"] == f"{name}-{first}"
        assert pod["spec"]["nodeName"] == first
        assert pod["spec"]["hostNetwork"] is True
        assert md["labels"] == {"component": name, "tier": "control-plane"}
        assert md["annotations"]["kubernetes.io/config.source"] == "file"
        assert md["annotations"]["kubernetes.io/config.mirror"] == md["annotations"]["kubernetes.io/config.hash"]
        assert md["ownerReferences"] == [{"apiVersion": "v1", "kind": "Node", "name": first,
                                          "uid": node["metadata"]["uid"], "controller": True}]
        assert pod["spec"]["priority"] == 2000001000  # system-node-critical
    table = cluster.kubectl("get", "pods", "-n", "kube-system")
    for name in COMPONENTS:
        row = next(line for line in table.splitlines() if line.startswith(f"{name}-{first} "))
        assert row.split()[1:3] == ["1/1", "Running"], table


def test_kubectl_logs_of_each_component(cluster: E2ECluster) -> None:
    first = cluster.nodes[0]
    for name in COMPONENTS:
        wait_for(lambda: LOG_LINES[name] in cluster.run("logs", "-n", "kube-system", f"{name}-{first}").stdout,  # noqa: B023
                 what=f"{LOG_LINES[name]!r} in kubectl logs of {name}", timeout=30)


def test_kill_9_of_the_scheduler_is_restarted_and_counted(cluster: E2ECluster) -> None:
    first = cluster.nodes[0]
    pods = wait_for(lambda: all_running(cluster), what="the control plane Running", timeout=60)
    before = container_status(pods["kube-scheduler"])
    os.kill(container_pid(cluster, pods["kube-scheduler"]), signal.SIGKILL)

    def restarted() -> dict[str, Any] | None:
        pod = control_plane(cluster)["kube-scheduler"]
        st = container_status(pod)
        if st.get("restartCount", 0) >= before.get("restartCount", 0) + 1 and "running" in st.get("state", {}):
            return st
        return None

    st = wait_for(restarted, what="the scheduler restarted with a higher restart count", timeout=60,
                  describe=lambda: cluster.kubectl("get", "pods", "-n", "kube-system"))
    assert st["lastState"]["terminated"]["exitCode"] == 137  # 128 + SIGKILL
    assert st["containerID"] != before["containerID"]
    table = cluster.kubectl("get", "pods", "-n", "kube-system", f"kube-scheduler-{first}")
    assert table.splitlines()[1].split()[3] == str(st["restartCount"])
    previous = cluster.run("logs", "-n", "kube-system", f"kube-scheduler-{first}", "--previous")
    assert LOG_LINES["kube-scheduler"] in previous.stdout, previous.stderr
    # The new scheduler works: once it holds the Lease, a new pod is bound.
    sleep = f"[{sys.executable!r}, -c, 'import time; time.sleep(600)']"
    cluster.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: after-restart}\nspec:\n  containers:\n"
                  f"  - {{name: c, image: python, command: {sleep}}}\n")
    wait_for(lambda: cluster.pod("after-restart")["spec"].get("nodeName"), what="the pod scheduled", timeout=60)


def test_a_mirror_pod_deleted_with_kubectl_comes_back(cluster: E2ECluster) -> None:
    first = cluster.nodes[0]
    name = f"kube-controller-manager-{first}"
    before = control_plane(cluster)["kube-controller-manager"]
    cluster.kubectl("delete", "pod", "-n", "kube-system", name, "--wait=false")

    def recreated() -> dict[str, Any] | None:
        pod = control_plane(cluster).get("kube-controller-manager")
        if pod and pod["metadata"]["uid"] != before["metadata"]["uid"] and not pod["metadata"].get(
                "deletionTimestamp") and phase(pod) == "Running":
            return pod
        return None

    after = wait_for(recreated, what="the mirror pod recreated", timeout=60)
    # deleting the mirror pod did not touch the component itself
    assert container_status(after)["containerID"] == container_status(before)["containerID"]


def _processes_mentioning(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                found.append(f"{entry.name} {cmdline}")
    return found


def test_sampan_down_stops_the_control_plane(cluster: E2ECluster) -> None:
    """Runs last: stops the cluster. Nothing started for the control plane is left running."""
    subprocess.run([sys.executable, "-m", "sampan.cli.main", "down", "--data-dir", str(cluster.data_dir)],
                   capture_output=True, timeout=90, check=True)
    marker = str(cluster.data_dir)
    leftovers = [p for p in _processes_mentioning(marker)
                 if any(f"sampan.cli.main {c}" in p for c in ("apiserver", "scheduler", "controller-manager"))]
    assert leftovers == []
    static = [d for d in cluster.data_dir.glob(f"kubelet/{cluster.nodes[0]}/runtime/sandboxes/*/sandbox.json")
              if "kube-system" in d.read_text()]
    assert static == []
