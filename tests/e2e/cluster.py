"""A real ``sampan up --detach --nodes 2 --runtime process`` cluster driven by the real kubectl.

``E2ECluster`` starts the cluster with every node-health period shrunk (flags ``sampan up`` passes through
to the controller-manager and the kubelets), runs kubectl against its kubeconfig, polls with deadlines (no
timing asserts: a deadline only bounds how long a test waits for a state), and on ``stop`` runs
``sampan down`` and then kills the container processes the process runtime leaves behind (their shims
carry the cluster's data dir on their command line, so only this cluster's processes are touched).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.support.apiserver import free_port

T = TypeVar("T")

# Shrunk node-health timings: a silent kubelet is noticed after NODE_GRACE seconds.
TIMING_FLAGS = (
    "--node-monitor-grace-period", "6s", "--node-monitor-period", "1s",
    "--node-status-update-frequency", "2s", "--node-lease-duration-seconds", "6",
    "--node-lease-renew-interval", "1s",
)


class E2ECluster:
    """One cluster under ``data_dir``; ``env`` points kubectl at it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {**os.environ, "KUBECONFIG": str(data_dir / "kubeconfig")}
        self.nodes: list[str] = []

    def start(self) -> None:
        up = subprocess.run(
            [sys.executable, "-m", "sampan.cli.main", "up", "--detach", "--nodes", "2", "--runtime", "process",
             "--data-dir", str(self.data_dir), "--port", str(self.port), "--no-merge-kubeconfig", *TIMING_FLAGS],
            env={**os.environ, "KUBECONFIG": str(self.data_dir.parent / "user-kubeconfig")},
            capture_output=True, text=True, timeout=120, check=False)
        if up.returncode != 0:
            self.stop()
            raise AssertionError(f"sampan up failed:\n{up.stdout}\n{up.stderr}")
        self.nodes = sorted(n["metadata"]["name"] for n in self.get("nodes")["items"])

    def stop(self) -> None:
        subprocess.run([sys.executable, "-m", "sampan.cli.main", "down", "--data-dir", str(self.data_dir)],
                       capture_output=True, timeout=90, check=False)
        kill_leftover_containers(self.data_dir)

    # --- kubectl -------------------------------------------------------------------------------------

    def run(self, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        assert shutil.which("kubectl"), "kubectl must be on PATH"
        return subprocess.run(["kubectl", *args], env=self.env, input=stdin, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        done = self.run(*args, stdin=stdin, timeout=timeout)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout

    def apply(self, manifest: str) -> None:
        self.kubectl("apply", "-f", "-", stdin=manifest)

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def pods(self, selector: str) -> list[dict[str, Any]]:
        """Pods matching ``selector`` that are not being deleted."""
        items = self.get("pods", "-l", selector)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def running(self, selector: str, count: int) -> list[dict[str, Any]] | None:
        """Exactly ``count`` live pods, all Running with every container ready; else None."""
        pods = self.pods(selector)
        if len(pods) == count and all(phase(p) == "Running" and all_ready(p) for p in pods):
            return pods
        return None

    def pod(self, name: str) -> dict[str, Any]:
        return dict(self.get("pod", name))


def phase(pod: dict[str, Any]) -> str:
    return str(pod.get("status", {}).get("phase", ""))


def all_ready(pod: dict[str, Any]) -> bool:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return bool(statuses) and all(s.get("ready") for s in statuses)


def container_status(pod: dict[str, Any], index: int = 0) -> dict[str, Any]:
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    return dict(statuses[index])


def wait_for(check: Callable[[], T | None], *, what: str, timeout: float = 60, interval: float = 0.5,
             describe: Callable[[], object] | None = None) -> T:
    """Poll ``check`` until it returns something truthy; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            detail = describe() if describe is not None else ""
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}\n{detail}")
        time.sleep(interval)


def kill_leftover_containers(data_dir: Path) -> None:
    """SIGKILL the process-runtime shims started for ``data_dir`` and their containers' process groups
    (``sampan down`` removes them itself; this is the safety net for a run that failed half-way), then delete the
    network namespaces of the sandboxes left under ``data_dir``, so their pod addresses are reclaimed."""
    _kill_shims(data_dir)
    for record in data_dir.glob("kubelet/*/runtime/sandboxes/*/sandbox.json"):
        try:
            netns = str(json.loads(record.read_text()).get("netns") or "")
        except (OSError, ValueError):
            continue
        if netns and Path(netns).exists() and shutil.which("ip"):
            subprocess.run(["ip", "netns", "delete", Path(netns).name], capture_output=True, timeout=30,
                           check=False)


def _kill_shims(data_dir: Path) -> None:
    marker = str(data_dir.resolve())
    shims: list[int] = []
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
        if "runtime/shim.py" in cmdline and marker in cmdline:
            shims.append(int(entry.name))
    for shim in shims:
        for child in children.get(shim, []):
            try:
                os.killpg(child, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.kill(shim, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kubelet_pid(data_dir: Path, node: str) -> int:
    """The pid of the kubelet serving ``node`` for the cluster in ``data_dir`` (from the process list:
    its command line names both the node and its root dir under the data dir)."""
    root = str(data_dir / "kubelet" / node)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if ("kubelet" in words and "--node-name" in words and "--root-dir" in words
                and words[words.index("--node-name") + 1] == node and words[words.index("--root-dir") + 1] == root):
            return int(entry.name)
    raise AssertionError(f"no kubelet process for node {node} under {data_dir}")
