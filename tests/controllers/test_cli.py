"""``sampan controller-manager`` as a process against a real ``sampan apiserver`` process, driven with the
real kubectl: leader election takes the Lease, a Deployment rolls out and ``kubectl rollout status``
finishes; bad flags give one line and exit code 2."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sampan.client import Client
from tests.controllers.support import running_kubelet, unthrottled_client, wait_for
from tests.support.apiserver import APIServerHandle, free_port, write_kubeconfig

pytestmark = pytest.mark.slow


@pytest.fixture
def controller_manager(apiserver: APIServerHandle, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = open(tmp_path / "cm.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "sampan.cli.main", "controller-manager", "--kubeconfig", str(apiserver.kubeconfig),
         "--controllers=replicaset,deployment", "--leader-elect-lease-duration", "3s",
         "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms", "--kube-api-qps", "100"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def kubectl(server: APIServerHandle, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run kubectl without blocking the event loop (the fake kubelet runs in it)."""
    proc = await asyncio.create_subprocess_exec(
        "kubectl", *args, env={**os.environ, "KUBECONFIG": str(server.kubeconfig)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return subprocess.CompletedProcess(args, proc.returncode or 0, out.decode(), err.decode())


async def test_rollout_status_finishes(apiserver: APIServerHandle,
                                       controller_manager: subprocess.Popen[bytes]) -> None:
    async with unthrottled_client(apiserver.kubeconfig) as client, running_kubelet(client):
        leases = await client.resource("coordination.k8s.io/v1", "leases")

        async def leader() -> str:
            try:
                lease = await leases.get("kube-controller-manager", namespace="kube-system")
            except Exception:
                return ""
            return str(lease["spec"].get("holderIdentity") or "")

        await wait_for(leader, timeout=30, message="the controller manager to take the lease")
        deps = await client.resource("apps/v1", "deployments")
        await deps.create(_deployment("web", 3, "nginx:1"))
        done = await kubectl(apiserver, "rollout", "status", "deployment/web", "--timeout=60s")
        assert done.returncode == 0, done.stderr
        assert "successfully rolled out" in done.stdout
        await _set_image(client, "web", "nginx:2")
        done = await kubectl(apiserver, "rollout", "status", "deployment/web", "--timeout=60s")
        assert done.returncode == 0, done.stderr
        history = await kubectl(apiserver, "get", "rs", "-o", "name")
        assert history.returncode == 0, history.stderr
        assert len(history.stdout.split()) == 2
        scaled = await kubectl(apiserver, "scale", "deployment/web", "--replicas=5")
        assert scaled.returncode == 0, scaled.stderr
        done = await kubectl(apiserver, "rollout", "status", "deployment/web", "--timeout=60s")
        assert done.returncode == 0, done.stderr
        d = await deps.get("web", namespace="default")
        assert d["status"]["availableReplicas"] == 5
        # managedFields name the controller-manager as upstream's does (SSA conflicts quote it)
        managers = {(f["manager"], f.get("subresource", "")) for f in d["metadata"]["managedFields"]}
        assert ("kube-controller-manager", "status") in managers, managers
    assert controller_manager.poll() is None


async def test_kubectl_rollout_undo(apiserver: APIServerHandle, controller_manager: subprocess.Popen[bytes]) -> None:
    async with unthrottled_client(apiserver.kubeconfig) as client, running_kubelet(client):
        deps = await client.resource("apps/v1", "deployments")
        await deps.create(_deployment("undo", 2, "nginx:1"))
        assert (await kubectl(apiserver, "rollout", "status", "deployment/undo", "--timeout=60s")).returncode == 0
        await _set_image(client, "undo", "nginx:2")
        assert (await kubectl(apiserver, "rollout", "status", "deployment/undo", "--timeout=60s")).returncode == 0
        undo = await kubectl(apiserver, "rollout", "undo", "deployment/undo")
        assert undo.returncode == 0, undo.stderr
        assert (await kubectl(apiserver, "rollout", "status", "deployment/undo", "--timeout=60s")).returncode == 0
        d = await deps.get("undo", namespace="default")
        assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1"
        assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
        history = await kubectl(apiserver, "rollout", "history", "deployment/undo")
        assert history.returncode == 0, history.stderr
        assert [line.split()[0] for line in history.stdout.splitlines()[2:] if line.strip()] == ["2", "3"]


def test_bad_flags_one_line_exit_2(tmp_path: Path) -> None:
    nowhere = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{free_port()}")
    for args in (["--controllers=bogus"], ["--node-monitor-period", "soon"],
                 ["--root-ca-file", str(tmp_path / "missing-ca.crt")],
                 ["--kubeconfig", str(nowhere), "--apiserver-wait-timeout", "0.5"]):
        out = subprocess.run([sys.executable, "-m", "sampan.cli.main", "controller-manager", *args],
                             capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 2
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "Traceback" not in out.stderr


def _deployment(name: str, replicas: int, image: str) -> dict[str, object]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


async def _set_image(client: Client, name: str, image: str) -> None:
    from tests.controllers.deployment.test_deployment import set_image

    await set_image(client, name, image)
