"""The issue's DaemonSet acceptance end to end: ``sampan up --nodes 3 --runtime simulated`` (API server,
controller-manager, scheduler and three kubelets as processes), a fourth kubelet started later, and the
real kubectl. Pods are bound by the default scheduler through their ``metadata.name`` node affinity."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.apiserver import free_port

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")]

DAEMONSET = """apiVersion: apps/v1
kind: DaemonSet
metadata: {name: %(name)s}
spec:
  selector: {matchLabels: {app: %(name)s}}
  template:
    metadata: {labels: {app: %(name)s}}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations: %(tolerations)s
      containers: [{name: agent, image: "agent:1"}]
"""


class Kubectl:
    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECTL_COMMAND_HEADERS": "false"}

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        done = subprocess.run(["kubectl", *args], env=self.env, input=stdin, capture_output=True, text=True,
                              timeout=timeout, check=False)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self("get", *args, "-o", "json"))


def wait_until(predicate: Callable[[], Any], message: str, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out: {message}")


def ready_by_node(kubectl: Kubectl, app: str) -> dict[str, list[str]]:
    """Images of the Ready, not terminating, bound pods of ``app`` per node."""
    out: dict[str, list[str]] = {}
    for pod in kubectl.json("pods", "-l", f"app={app}")["items"]:
        conds = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions") or []}
        if conds.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp") and \
                pod["spec"].get("nodeName"):
            out.setdefault(pod["spec"]["nodeName"], []).append(pod["spec"]["containers"][0]["image"])
    return out


def one_each(kubectl: Kubectl, app: str, nodes: list[str]) -> bool:
    got = ready_by_node(kubectl, app)
    total = len(kubectl.json("pods", "-l", f"app={app}")["items"])
    return sorted(got) == sorted(nodes) and all(len(v) == 1 for v in got.values()) and total == len(nodes)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Kubectl, Path]]:
    data = tmp_path / "cluster"
    up = subprocess.run([sys.executable, "-m", "sampan.cli.main", "up", "--detach", "--nodes", "3",
                         "--runtime", "simulated", "--data-dir", str(data), "--port", str(free_port()),
                         "--no-merge-kubeconfig"], env={**os.environ, "KUBECONFIG": str(tmp_path / "user")},
                        capture_output=True, text=True, timeout=120, check=False)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield Kubectl(data / "kubeconfig"), data
    finally:
        subprocess.run([sys.executable, "-m", "sampan.cli.main", "down", "--data-dir", str(data)],
                       capture_output=True, timeout=60, check=False)


def test_daemonset_acceptance(cluster: tuple[Kubectl, Path], tmp_path: Path) -> None:
    kubectl, _data = cluster
    nodes = sorted(n["metadata"]["name"] for n in kubectl.json("nodes")["items"])
    assert len(nodes) == 3
    kubectl("taint", "nodes", nodes[2], "dedicated=infra:NoSchedule")
    tolerate = '[{key: dedicated, operator: Exists}]'
    kubectl("apply", "-f", "-", stdin=DAEMONSET % {"name": "agent", "tolerations": tolerate})
    kubectl("apply", "-f", "-", stdin=DAEMONSET % {"name": "plain", "tolerations": "[]"})
    wait_until(lambda: one_each(kubectl, "agent", nodes), "agent: exactly one Ready pod per node")
    wait_until(lambda: one_each(kubectl, "plain", nodes[:2]), "plain: none on the tainted node")
    assert "successfully rolled out" in kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")

    # a kubelet joining gets a pod
    extra = subprocess.Popen([sys.executable, "-m", "sampan.cli.main", "kubelet", "--kubeconfig",
                              str(kubectl.kubeconfig), "--node-name", "joiner", "--runtime", "simulated",
                              "--root-dir", str(tmp_path / "joiner"), "--port", "0",
                              "--pod-cidr", "100.64.9.0/24"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        everyone = [*nodes, "joiner"]
        wait_until(lambda: one_each(kubectl, "agent", everyone), "agent pod on the joining node")
        wait_until(lambda: one_each(kubectl, "plain", [nodes[0], nodes[1], "joiner"]), "plain pod on the joining node")

        # an image change rolls node by node: never more than one node without an available pod
        kubectl("set", "image", "daemonset/agent", "agent=agent:2")
        worst = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            got = ready_by_node(kubectl, "agent")
            worst = max(worst, sum(1 for n in everyone if not got.get(n)))
            if sorted(got) == sorted(everyone) and all(v == ["agent:2"] for v in got.values()):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"rollout did not finish: {ready_by_node(kubectl, 'agent')}")
        assert worst <= 1, worst
        assert "successfully rolled out" in kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")
        status = kubectl.json("daemonset", "agent")["status"]
        assert status["desiredNumberScheduled"] == 4
        assert status["updatedNumberScheduled"] == 4
        assert status["numberAvailable"] == 4
    finally:
        extra.terminate()
        extra.wait(timeout=30)
