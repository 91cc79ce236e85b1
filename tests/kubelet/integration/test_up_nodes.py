"""``sampan up --nodes 2 --runtime simulated --detach``: both kubelets register Ready, and a Deployment's
pods are scheduled onto them and reported Running — every component a separate process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apiserver import free_port

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")]

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
"""


@pytest.fixture
def cluster_dir(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "cluster"
    yield data
    subprocess.run([sys.executable, "-m", "sampan.cli.main", "down", "--data-dir", str(data)],
                   capture_output=True, timeout=60, check=False)


def test_up_two_simulated_nodes_runs_a_deployment(cluster_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "user-config")}
    port = str(free_port())
    up = subprocess.run([sys.executable, "-m", "sampan.cli.main", "up", "--detach", "--nodes", "2",
                         "--runtime", "simulated", "--data-dir", str(cluster_dir), "--port", port,
                         "--no-merge-kubeconfig"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "cluster ready" in up.stdout
    env["KUBECONFIG"] = str(cluster_dir / "kubeconfig")

    def kubectl(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(["kubectl", *args], env=env, input=stdin, capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    assert len(nodes) == 2  # `up` reported ready only once both were Ready
    for node in nodes:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"
    host = nodes[0]["metadata"]["labels"]["kubernetes.io/hostname"].removesuffix("-2")
    assert sorted(n["metadata"]["name"] for n in nodes) == sorted([host, f"{host}-2"])
    assert kubectl("get", "serviceaccount", "default", "-o", "name").strip() == "serviceaccount/default"

    kubectl("apply", "-f", "-", stdin=DEPLOYMENT)
    deadline = time.monotonic() + 60
    pods: list[dict] = []
    while time.monotonic() < deadline:
        pods = json.loads(kubectl("get", "pods", "-l", "app=web", "-o", "json"))["items"]
        if len(pods) == 4 and all(p.get("status", {}).get("phase") == "Running" for p in pods):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"deployment pods not Running: {[(p['metadata']['name'], p.get('status')) for p in pods]}")
    assert {p["spec"]["nodeName"] for p in pods} <= {host, f"{host}-2"}
    assert all(p["status"]["containerStatuses"][0]["ready"] for p in pods)
