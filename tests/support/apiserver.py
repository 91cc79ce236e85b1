"""Real API servers for tests, over HTTP on loopback. Stable API (other test packages depend on it):

* ``run_apiserver_process(workdir, *, storage="memory", extra_args=())`` — a context manager that starts
  ``sampan apiserver`` as a subprocess on a free port, waits for ``/readyz`` and yields an
  :class:`APIServerHandle` (``url``, ``kubeconfig``, ``data_dir``, ``log_path``, ``process``); the process
  is killed on exit. storage: ``memory`` or ``sqlite`` (``etcd`` with ``--etcd-servers`` in extra_args).
* ``run_apiserver_inprocess(workdir, *, storage="memory", **config)`` — an async context manager that
  runs the server in the current event loop (storage ``memory``, ``sqlite`` or ``etcd``: a private
  one-member etcd is started and stopped with it) (still HTTP on loopback) and yields an
  :class:`InProcessAPIServer` (``url``, ``kubeconfig``, ``server``: the APIServer, ``context``).
  ``config`` overrides :class:`~sampan.apiserver.config.APIServerConfig` fields (e.g.
  ``default_watch_cache_size=5``, ``bookmark_interval=0.2``).
* ``write_kubeconfig(path, url)`` and ``free_port()``.
* ``request_count(url, verb, resource, subresource="")`` — the server's ``apiserver_request_total`` for
  one verb and resource (every code summed), read from its ``/metrics``: how tests count requests.

The pytest fixtures over these live in ``tests/conftest.py``: ``apiserver`` (subprocess) and
``inproc_apiserver`` (in-process); see there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sampan.apiserver.app import APIServer
from sampan.apiserver.config import APIServerConfig, StorageOptions
from sampan.apiserver.context import ServerContext
from sampan.cli.kubeconfig import render_kubeconfig

STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_kubeconfig(path: Path, url: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_kubeconfig(url))
    return path


@dataclass
class APIServerHandle:
    """A running ``sampan apiserver`` subprocess."""

    url: str
    kubeconfig: Path
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    port: int

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def request_count(url: str, verb: str, resource: str, subresource: str = "") -> float:
    """``apiserver_request_total{verb,resource,subresource}`` summed over codes and groups (``verb`` as the
    metric spells it: GET, LIST, PUT, PATCH, POST, ...)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "apiserver_request_total" and sample.labels.get("verb") == verb
               and sample.labels.get("resource") == resource
               and (sample.labels.get("subresource") or "") == subresource)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=1.0) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def run_apiserver_process(
    workdir: Path,
    *,
    storage: str = "memory",
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Iterator[APIServerHandle]:
    """Start ``sampan apiserver`` (see module docstring); raises RuntimeError with its log if it never
    becomes ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    log_path = workdir / "apiserver.log"
    last_error = ""
    for _attempt in range(3):  # a port picked free can be taken before the child binds it
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "sampan.cli.main", "apiserver", "--port", str(port), "--storage", storage,
                "--data-dir", str(data_dir), *extra_args]
        log_file = open(log_path, "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                start_new_session=True)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None and not _ready(url):
            time.sleep(0.05)
        if proc.poll() is None and _ready(url):
            handle = APIServerHandle(url, write_kubeconfig(workdir / "kubeconfig", url), data_dir, log_path, proc,
                                     port)
            try:
                yield handle
            finally:
                _stop(proc)
                log_file.close()
            return
        _stop(proc)
        log_file.close()
        last_error = log_path.read_text(errors="replace")[-3000:]
        if "address already in use" not in last_error.lower():
            break
    raise RuntimeError(f"sampan apiserver did not become ready; log:\n{last_error}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=10)


@dataclass
class InProcessAPIServer:
    """An API server running in the test's event loop."""

    url: str
    kubeconfig: Path
    server: APIServer

    @property
    def context(self) -> ServerContext:
        return self.server.context


@contextlib.asynccontextmanager
async def run_apiserver_inprocess(
    workdir: Path, *, storage: str = "memory", **config: Any
) -> AsyncIterator[InProcessAPIServer]:
    """Run an API server in this event loop on a free port (see module docstring)."""
    os.makedirs(workdir, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        etcd_servers: tuple[str, ...] = ()
        if storage == "etcd":
            from sampan.testing.etcd import EtcdCluster

            cluster = await EtcdCluster.start(workdir / "etcd", size=1)
            stack.push_async_exit(cluster)
            etcd_servers = tuple(cluster.client_urls)
        options = StorageOptions(backend=storage, data_dir=workdir / "data", etcd_servers=etcd_servers)
        # the master lease is renewed every endpoint_reconciler_interval: keep the store still during tests
        # that compare store snapshots, unless a test asks for renewals
        config.setdefault("endpoint_reconciler_interval", 3600.0)
        config.setdefault("master_lease_ttl", 7200.0)
        cfg = APIServerConfig(port=0, storage=options, **config)
        server = APIServer(cfg)
        await server.start()
        try:
            yield InProcessAPIServer(server.url, write_kubeconfig(workdir / "kubeconfig", server.url), server)
        finally:
            await server.stop()
