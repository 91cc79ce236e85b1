"""Helpers of the HA tests: HTTP on loopback, processes found by their command lines, polling with deadlines."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sampan.cli.ha_status import MemberStatus, etcd_member_status

T = TypeVar("T")

#: etcd and HAProxy from Debian (scripts/install-system-deps.sh installs both).
needs_etcd_and_haproxy = pytest.mark.skipif(
    shutil.which("etcd") is None or (shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists()),
    reason="needs etcd and haproxy (scripts/install-system-deps.sh)")


def sampan(*args: str, env: dict[str, str] | None = None, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sampan.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def request(method: str, url: str, body: dict[str, Any] | None = None, *, timeout: float = 10,
            content_type: str = "application/json", context: ssl.SSLContext | None = None) -> Any:
    """One JSON request; ``context`` (the cluster's CA and a client certificate) for ``https`` URLs."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
        return json.loads(resp.read() or b"null")


def ready(url: str, *, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2, context=context) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until(pred: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def pids_matching(*needles: str) -> list[int]:
    """Processes whose command line contains every needle (each as a whole argument or a substring)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0")]
        except OSError:
            continue
        if all(any(n == a or n in a for a in argv) for n in needles):
            found.append(int(entry.name))
    return found


def kill9(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def etcd_statuses(members: Sequence[dict[str, Any]], *,
                  context: ssl.SSLContext | None = None) -> dict[str, MemberStatus]:
    """Each member's ``/v3/maintenance/status`` answer (``context``: etcd's CA and a client certificate for
    TLS members)."""
    return {str(m["name"]): etcd_member_status(str(m["client_url"]), context=context) for m in members}


def etcd_leader(members: Sequence[dict[str, Any]], *,
                context: ssl.SSLContext | None = None) -> tuple[str, int] | None:
    """(name, raft term) of the member that says it leads; None when none does. A leader at a higher term
    than an earlier one was elected after it, even if it is the same member restarted."""
    leaders = [(name, s.term) for name, s in etcd_statuses(members, context=context).items() if s.leader]
    return max(leaders, key=lambda nt: nt[1]) if leaders else None


def metric_sum(url: str, name: str, *, context: ssl.SSLContext | None = None) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5, context=context) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


@contextlib.contextmanager
def processes(argvs: Sequence[Sequence[str]], log_dir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start each argv (output to ``log_dir``); kill them all (process groups) on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i, argv in enumerate(argvs):
            with (log_dir / f"{i}-{Path(argv[0]).name}.log").open("ab") as out:
                procs.append(subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, start_new_session=True))
        yield procs
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        for p in procs:
            p.wait(timeout=10)


def apiserver_argv(*, data_dir: Path, port: int, etcd_servers: str = "", storage: str = "etcd") -> list[str]:
    argv = [sys.executable, "-m", "sampan.cli.main", "apiserver", "--data-dir", str(data_dir), "--port", str(port),
            "--storage", storage]
    return argv + (["--etcd-servers", etcd_servers] if etcd_servers else [])
