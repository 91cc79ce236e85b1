"""``sampan scheduler`` as a process against a ``sampan apiserver`` process: flags, /healthz, /metrics,
leader election, binding; bad input gives one line and exit code 2."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.scheduler.integration.cluster import node, open_cluster, pod
from tests.support.apiserver import APIServerHandle, free_port


def _sampan(*args: str) -> list[str]:
    return [sys.executable, "-m", "sampan.cli.main", *args]


@pytest.mark.parametrize(("args", "message"), [
    (["--leader-elect=maybe"], "invalid boolean"),
    (["--config", "/nonexistent/sched.yaml"], "cannot read --config"),
    (["--leader-elect-lease-duration", "5s", "--leader-elect-renew-deadline", "10s"], "lease_duration must be"),
    (["--cache-sync-timeout", "0s"], "--cache-sync-timeout must be positive, got 0s"),
    (["--cache-sync-timeout", "soon"], "invalid duration 'soon'"),
])
def test_bad_flags_give_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "
                          "'http://127.0.0.1:1'}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: "
                          "{cluster: c, user: u}}]\ncurrent-context: x\n")
    proc = subprocess.run(_sampan("scheduler", "--kubeconfig", str(kubeconfig), *args), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("document", "message"), [
    ("profiles: [{schedulerName: a, plugins: {score: {enabled: [{name: NoSuchPlugin}]}}}]", "NoSuchPlugin"),
    ("profiles: [{schedulerName: a, pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: "
     "{type: Bogus}}}]}]", "Unsupported value: 'Bogus'"),
    ("profiles: [", "invalid YAML"),
])
def test_bad_config_file(tmp_path: Path, document: str, message: str) -> None:
    cfg = tmp_path / "sched.yaml"
    cfg.write_text(document + "\n")
    proc = subprocess.run(_sampan("scheduler", "--config", str(cfg)), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr


def test_scheduler_process_binds_and_serves_metrics(apiserver: APIServerHandle, tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "scheduler.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            _sampan("scheduler", "--kubeconfig", str(apiserver.kubeconfig), "--secure-port", str(port),
                    "--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s",
                    "--leader-elect-retry-period", "500ms"),
            stdout=log_file, stderr=subprocess.STDOUT)
        try:
            asyncio.run(_bind_one(apiserver.kubeconfig))
            text = _get(f"http://127.0.0.1:{port}/metrics")
            assert 'scheduler_schedule_attempts_total{profile="default-scheduler",result="scheduled"} 1.0' in text
            assert 'scheduler_e2e_scheduling_duration_seconds_count{profile="default-scheduler",result="scheduled"}' \
                   in text
            assert _get(f"http://127.0.0.1:{port}/healthz") == "ok"
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
    assert code == 0, log_path.read_text()


async def _bind_one(kubeconfig: Path) -> None:
    async with open_cluster(kubeconfig) as cluster:
        await cluster.add_nodes(node("n1"))
        await cluster.add_pods(pod("p", cpu="100m"))
        assert await cluster.wait_bound("p") == "n1"
        leases = await cluster.client.resource("coordination.k8s.io/v1", "leases")
        lease = await leases.get("kube-scheduler", namespace="kube-system")
        assert lease["spec"]["holderIdentity"]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return str(r.read().decode())
