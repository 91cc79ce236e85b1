"""``sampan up`` and liveness: the cluster is ready only once the scheduler holds its Lease, and a
component that exits is started again by the supervisor (here the scheduler, which then takes the lease
again and schedules)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.apiserver import free_port

pytestmark = pytest.mark.slow

LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler"


def sampan(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sampan.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def post(url: str, body: dict[str, Any]) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5):
        pass


def component_pid(data_dir: Path, sub_command: str) -> int | None:
    """The pid of this cluster's ``sampan <sub_command>`` process (found by its unique kubeconfig path)."""
    marker = str(data_dir)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = [a.decode(errors="replace") for a in argv]
        if sub_command in text and any(marker in a for a in text) and "sampan.cli.main" in text:
            return int(entry.name)
    return None


def wait_until(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    e = {**os.environ, "KUBECONFIG": str(tmp_path / "user" / "config")}
    yield e
    sampan("down", "--data-dir", str(tmp_path / "cluster"), env=e)


def test_ready_waits_for_the_scheduler_and_an_exited_scheduler_is_restarted(tmp_path: Path,
                                                                             env: dict[str, str]) -> None:
    data = tmp_path / "cluster"
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    up = sampan("up", "--detach", "--insecure", "--data-dir", str(data), "--port", str(port), "--nodes", "1",
                "--runtime",
                "simulated", "--no-merge-kubeconfig", env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    lease = get(server + LEASE)  # ready implies the scheduler holds its lease
    first_holder = lease["spec"]["holderIdentity"]
    assert first_holder

    pid = component_pid(data, "scheduler")
    assert pid is not None
    os.kill(pid, signal.SIGTERM)  # it exits (releasing its lease); the supervisor must start it again
    wait_until(lambda: component_pid(data, "scheduler") not in (None, pid), 30, "a new scheduler process")
    holder = wait_until(lambda: (get(server + LEASE)["spec"].get("holderIdentity") or "") not in ("", first_holder)
                        and get(server + LEASE)["spec"]["holderIdentity"], 30, "the new scheduler's lease")
    assert holder != first_holder

    post(server + "/api/v1/namespaces/default/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "after-restart"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    bound = wait_until(lambda: get(server + "/api/v1/namespaces/default/pods/after-restart")["spec"].get("nodeName"),
                       30, "the pod to be bound")
    assert bound
