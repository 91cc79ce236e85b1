"""``sampan up --storage etcd`` without ``--etcd-servers``: etcd runs as the static pod ``etcd-<node>``
(kubeadm's stacked etcd) beside the rest of the control plane, its data survives ``down``/``up``, and
``sampan down`` stops it. Simulated nodes: the control plane still runs for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import wait_for
from tests.support.apiserver import free_port

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("kubectl") is None or shutil.which("etcd") is None,
                                 reason="needs kubectl and etcd")]


def sampan(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sampan.cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def kubectl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    data = tmp_path / "cluster"
    env = {**os.environ, "KUBECONFIG": str(data / "kubeconfig")}
    yield data, env
    sampan("down", "--data-dir", str(data), env=env)


def etcd_running(env: dict[str, str]) -> dict[str, object] | None:
    got = kubectl("get", "pods", "-n", "kube-system", "-l", "component=etcd", "-o", "json", env=env)
    items = json.loads(got.stdout or "{}").get("items") or []
    if items and items[0].get("status", {}).get("phase") == "Running":
        return dict(items[0])
    return None


def test_stacked_etcd_is_a_static_pod_and_keeps_the_data(cluster: tuple[Path, dict[str, str]]) -> None:
    data, env = cluster
    port = str(free_port())
    args = ("up", "--detach", "--storage", "etcd", "--runtime", "simulated", "--data-dir", str(data), "--port", port,
            "--no-merge-kubeconfig")
    up = sampan(*args, env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    pod = wait_for(lambda: etcd_running(env), what="etcd-<node> Running", timeout=60)
    node = pod["spec"]["nodeName"]  # type: ignore[index]
    assert pod["metadata"]["name"] == f"etcd-{node}"  # type: ignore[index]
    command = pod["spec"]["containers"][0]["command"]  # type: ignore[index]
    assert f"--data-dir={data / 'etcd'}" in command
    logs = kubectl("logs", "-n", "kube-system", f"etcd-{node}", env=env)
    assert "etcd" in logs.stdout.lower(), logs.stderr
    assert (data / "etcd" / "member").is_dir()
    assert kubectl("create", "configmap", "kept", "--from-literal=a=b", env=env).returncode == 0

    assert sampan("down", "--data-dir", str(data), env=env).returncode == 0
    marker = str(data / "etcd")
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p).count(marker)]
    assert left == []

    again = sampan(*args, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    got = kubectl("get", "configmap", "kept", "-o", "jsonpath={.data.a}", env=env)
    assert got.stdout == "b", got.stderr


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
