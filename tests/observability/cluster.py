"""A small real cluster for the observability tests: ``sampan scheduler``, ``controller-manager`` and a
``kubelet --runtime simulated`` as subprocesses next to the ``apiserver`` fixture, each with its metrics
port, optionally exporting spans to a trace store (``--trace-store``). Also a trace store served from a
thread of the test process, so subprocesses can POST to it whatever the test's event loop is doing."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sampan.tracestore.server import TraceStoreServer
from tests.support.apiserver import APIServerHandle, free_port

NODE = "obs-node"


@dataclass
class MiniCluster:
    kubeconfig: str
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def metrics(self, component: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[component]}/metrics", timeout=5) as r:
            return str(r.read().decode())


def _start(tmp_path: Path, name: str, argv: list[str], trace_store: str) -> subprocess.Popen[bytes]:
    pre = ["--trace-store", trace_store] if trace_store else []
    with open(tmp_path / f"{name}.log", "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "sampan.cli.main", *pre, *argv], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


@contextlib.contextmanager
def mini_cluster(apiserver: APIServerHandle, tmp_path: Path, *, trace_store: str = "",
                 controllers: str = "replicaset,deployment", cm_args: tuple[str, ...] = (),
                 kubelet_args: tuple[str, ...] = ()) -> Iterator[MiniCluster]:
    kubeconfig = str(apiserver.kubeconfig)
    cluster = MiniCluster(kubeconfig, ports={n: free_port() for n in ("scheduler", "controller-manager", "kubelet")})
    argvs = {
        "scheduler": ["scheduler", "--kubeconfig", kubeconfig, "--secure-port", str(cluster.ports["scheduler"]),
                      "--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s",
                      "--leader-elect-retry-period", "500ms"],
        "controller-manager": ["controller-manager", "--kubeconfig", kubeconfig, "--controllers", controllers,
                               "--secure-port", str(cluster.ports["controller-manager"]),
                               "--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s",
                               "--leader-elect-retry-period", "500ms", *cm_args],
        "kubelet": ["kubelet", "--kubeconfig", kubeconfig, "--node-name", NODE, "--runtime", "simulated",
                    "--root-dir", str(tmp_path / "kubelet"), "--port", str(cluster.ports["kubelet"]), *kubelet_args],
    }
    try:
        for name, argv in argvs.items():
            cluster.procs[name] = _start(tmp_path, name, argv, trace_store)
        yield cluster
    finally:
        for proc in cluster.procs.values():
            proc.terminate()
        for proc in cluster.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def threaded_trace_store() -> Iterator[TraceStoreServer]:
    """A :class:`TraceStoreServer` running on its own thread and loop; stopped on exit."""
    loop = asyncio.new_event_loop()
    server = TraceStoreServer()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())
        loop.close()

    thread = threading.Thread(target=run, name="trace-store", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("trace store did not start")
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def sample(text: str, metric: str, /, **labels: str) -> float:
    """The value of one sample in a Prometheus text page (0.0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


async def wait_for(fetch: Any, timeout: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        got = await fetch()
        if got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
