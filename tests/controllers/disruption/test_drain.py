"""The issue's acceptance, end to end: ``sampan up --nodes 2 --runtime simulated`` (API server,
controller-manager, scheduler and two kubelets as separate processes) and the real kubectl.

A Deployment of 3 with a PodDisruptionBudget ``minAvailable: 2``, two of its pods on the first node:
a direct eviction that would violate a stricter budget is 429; ``kubectl drain`` of the first node
evicts one pod, is refused (429, kubectl retries) until the replacement is Ready on the other node,
then evicts the second; every pod ends on the other node, Ready."""

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

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: web, image: nginx}]
"""

PDB = """apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: %d
  selector: {matchLabels: {app: web}}
"""


class Kubectl:
    def __init__(self, kubeconfig: Path) -> None:
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECTL_COMMAND_HEADERS": "false"}

    def run(self, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", *args], env=self.env, input=stdin, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        done = self.run(*args, stdin=stdin, timeout=timeout)
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
        time.sleep(0.3)
    raise AssertionError(f"timed out: {message}")


def ready_pods(kubectl: Kubectl) -> list[dict[str, Any]]:
    """The Deployment's pods that are Ready and not being deleted."""
    out = []
    for pod in kubectl.json("pods", "-l", "app=web")["items"]:
        conds = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions") or []}
        if conds.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp"):
            out.append(pod)
    return out


def on_nodes(kubectl: Kubectl, expected: dict[str, int]) -> bool:
    pods = ready_pods(kubectl)
    counts: dict[str, int] = {}
    for pod in pods:
        counts[pod["spec"]["nodeName"]] = counts.get(pod["spec"]["nodeName"], 0) + 1
    return counts == expected and len(kubectl.json("pods", "-l", "app=web")["items"]) == sum(expected.values())


@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[Kubectl]:
    data = tmp_path / "cluster"
    up = subprocess.run([sys.executable, "-m", "sampan.cli.main", "up", "--detach", "--nodes", "2",
                         "--runtime", "simulated", "--data-dir", str(data), "--port", str(free_port()),
                         "--no-merge-kubeconfig"], env={**os.environ, "KUBECONFIG": str(tmp_path / "user")},
                        capture_output=True, text=True, timeout=120, check=False)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield Kubectl(data / "kubeconfig")
    finally:
        subprocess.run([sys.executable, "-m", "sampan.cli.main", "down", "--data-dir", str(data)],
                       capture_output=True, timeout=60, check=False)


def test_drain_respects_the_budget(kubectl: Kubectl) -> None:
    first, second = sorted(n["metadata"]["name"] for n in kubectl.json("nodes")["items"])
    # two pods on the first node, then a third on the second
    kubectl("cordon", second)
    kubectl("apply", "-f", "-", stdin=DEPLOYMENT % 2)
    wait_until(lambda: on_nodes(kubectl, {first: 2}), "two pods Ready on the first node")
    kubectl("cordon", first)
    kubectl("uncordon", second)
    kubectl("scale", "deployment/web", "--replicas=3")
    wait_until(lambda: on_nodes(kubectl, {first: 2, second: 1}), "a third pod Ready on the second node")
    kubectl("uncordon", first)

    # a stricter budget first: a direct eviction is refused with upstream's 429
    kubectl("apply", "-f", "-", stdin=PDB % 3)
    wait_until(lambda: kubectl.json("pdb", "web").get("status", {}).get("currentHealthy") == 3, "budget observed")
    victim = next(p["metadata"]["name"] for p in ready_pods(kubectl) if p["spec"]["nodeName"] == first)
    eviction = json.dumps({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": victim}})
    refused = kubectl.run("create", "--raw", f"/api/v1/namespaces/default/pods/{victim}/eviction", "-f", "-",
                          stdin=eviction)
    assert refused.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget." in refused.stderr
    assert "(429)" in refused.stderr or "TooManyRequests" in refused.stderr or "Too Many" in refused.stderr, \
        refused.stderr

    kubectl("apply", "-f", "-", stdin=PDB % 2)
    wait_until(lambda: (lambda s: s.get("observedGeneration") == 2 and s.get("disruptionsAllowed") == 1)(
        kubectl.json("pdb", "web").get("status", {})), "budget allows one disruption")
    drained = kubectl.run("drain", first, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=150s",
                          timeout=180)
    assert drained.returncode == 0, drained.stdout + drained.stderr
    text = drained.stdout + drained.stderr
    assert text.count("evicting pod default/") >= 2, text
    assert "Cannot evict pod as it would violate the pod's disruption budget." in text, text
    assert f"node/{first} drained" in text, text
    wait_until(lambda: on_nodes(kubectl, {second: 3}), "every pod Ready on the second node")
    node = kubectl.json("node", first)
    assert node["spec"].get("unschedulable") is True
