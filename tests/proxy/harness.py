"""A ``sampan proxy`` subprocess and a tiny synchronous API client for the integration tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.proxy import lab
from tests.support.apiserver import free_port


class Api:
    """JSON over plain HTTP to a test API server."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def create(self, obj: dict[str, Any]) -> Any:
        ns = obj["metadata"].get("namespace", "default")
        kind = obj["kind"]
        path = (f"/api/v1/namespaces/{ns}/services" if kind == "Service"
                else f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices")
        return self._call("POST", path, obj)

    def path(self, obj: dict[str, Any]) -> str:
        ns, name = obj["metadata"].get("namespace", "default"), obj["metadata"]["name"]
        if obj["kind"] == "Service":
            return f"/api/v1/namespaces/{ns}/services/{name}"
        return f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{name}"

    def replace(self, obj: dict[str, Any]) -> Any:
        current = self._call("GET", self.path(obj))
        body = {**obj, "metadata": {**obj["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
        return self._call("PUT", self.path(obj), body)

    def set_status(self, obj: dict[str, Any], status: dict[str, Any]) -> Any:
        current = self._call("GET", self.path(obj))
        current["status"] = status
        return self._call("PUT", self.path(obj) + "/status", current)

    def get(self, obj: dict[str, Any]) -> Any:
        return self._call("GET", self.path(obj))

    def delete(self, obj: dict[str, Any]) -> None:
        try:
            self._call("DELETE", self.path(obj))
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise


class ProxyProcess:
    def __init__(self, workdir: Path, kubeconfig: Path, *, mode: str = "nftables", sync_period: str = "2s",
                 extra: tuple[str, ...] = ()) -> None:
        self.workdir, self.kubeconfig, self.mode, self.sync_period = workdir, kubeconfig, mode, sync_period
        self.extra = extra
        self.healthz_port = free_port()
        self.metrics_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> ProxyProcess:
        self.starts += 1
        log = open(self.workdir / f"proxy-{self.mode}-{self.starts}.log", "wb")  # noqa: SIM115 - child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sampan.cli.main", "proxy", "--kubeconfig", str(self.kubeconfig),
             "--hostname-override", lab.NODE, "--proxy-mode", self.mode, "--sync-period", self.sync_period,
             "--min-sync-period", "0s", "--healthz-bind-address", f"127.0.0.1:{self.healthz_port}",
             "--metrics-bind-address", f"127.0.0.1:{self.metrics_port}",
             "--service-cluster-ip-range", lab.SERVICE_CIDR, "--load-balancer-ip-range", lab.LB_RANGE,
             "--pod-bridge-interface", lab.BRIDGE, "--vip-interface", lab.VIP_DEVICE, *self.extra],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while not self.healthy():
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, "proxy did not become healthy\n" + self.log()
            time.sleep(0.05)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.healthz_port}/healthz", timeout=1) as r:
                body = json.loads(r.read())
                return bool(r.status == 200 and body.get("lastUpdated"))
        except (OSError, ValueError):
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=3) as r:
            return str(r.read().decode())

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log(self) -> str:
        path = self.workdir / f"proxy-{self.mode}-{self.starts}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def cleanup_cli() -> subprocess.CompletedProcess[str]:
    """``sampan proxy --cleanup`` for the test node only (a real cluster's tables stay)."""
    return subprocess.run([sys.executable, "-m", "sampan.cli.main", "proxy", "--cleanup", "--hostname-override",
                           lab.NODE, "--vip-interface", lab.VIP_DEVICE], capture_output=True, text=True, timeout=60)


def wait_for(predicate: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")
