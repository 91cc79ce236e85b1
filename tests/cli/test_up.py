"""``sampan up --detach`` / ``status`` / ``down`` as a user runs them, with the real kubectl."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.apiserver import free_port

pytestmark = pytest.mark.slow


def sampan(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sampan.cli.main", *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    e = {**os.environ, "KUBECONFIG": str(tmp_path / "user" / "config")}
    yield e
    sampan("down", "--data-dir", str(tmp_path / "cluster"), env=e)


def kubectl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert shutil.which("kubectl"), "kubectl must be on PATH"
    return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_up_status_down_and_up_again_keeps_state(tmp_path: Path, env: dict[str, str]) -> None:
    data = str(tmp_path / "cluster")
    port = str(free_port())
    up = sampan("up", "--detach", "--data-dir", data, "--port", port, env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "cluster ready" in up.stdout

    # The user's kubeconfig gained a current `sampan` context, so plain kubectl works.
    user_config = yaml.safe_load(Path(env["KUBECONFIG"]).read_text())
    assert user_config["current-context"] == "sampan"
    got = kubectl("get", "namespaces", "-o", "name", env=env)
    assert got.returncode == 0, got.stderr
    assert "namespace/kube-system" in got.stdout.split()
    created = kubectl("create", "-f", "-", "--validate=false", env=env)  # no stdin: fails cleanly
    assert created.returncode != 0

    configmap = tmp_path / "cm.yaml"
    configmap.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kept}\ndata: {a: b}\n")
    assert kubectl("create", "-f", str(configmap), env=env).returncode == 0

    status = sampan("status", "--data-dir", data, env=env)
    assert status.returncode == 0
    assert "apiserver" in status.stdout
    assert "ready" in status.stdout

    again = sampan("up", "--detach", "--data-dir", data, "--port", port, env=env)
    assert again.returncode == 2
    assert "already running" in again.stderr
    assert "Traceback" not in again.stderr

    down = sampan("down", "--data-dir", data, env=env)
    assert down.returncode == 0, down.stderr
    assert sampan("status", "--data-dir", data, env=env).returncode == 1
    user_config = yaml.safe_load(Path(env["KUBECONFIG"]).read_text())
    assert all(c["name"] != "sampan" for c in user_config["contexts"])

    # A second `up` on the same data dir finds the stored objects again.
    up = sampan("up", "--detach", "--data-dir", data, "--port", port, env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    got = kubectl("get", "configmap", "kept", "-o", "jsonpath={.data.a}", env=env)
    assert got.stdout == "b", got.stderr


def test_up_refuses_a_busy_port_in_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = str(s.getsockname()[1])
        result = sampan("up", "--detach", "--data-dir", str(tmp_path / "cluster"), "--port", port, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "in use" in result.stderr
