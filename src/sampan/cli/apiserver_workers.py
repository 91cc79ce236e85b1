"""``sampan apiserver --workers N``: N API server processes on one port, over one store.

The parent builds the configuration once (so a self-signed certificate is made once), fixes the ports
(a port 0 becomes a free port, held by a bound, non-listening ``SO_REUSEPORT`` socket so nobody else
takes it), then forks N workers. Each worker is a complete API server: its own event loop, watch cache,
APF dispatcher, in-server controllers and ``/metrics``; each listens with ``SO_REUSEPORT``, so the
kernel spreads connections (a watch stays on the worker its connection reached). They share the store:

- ``sqlite``: ``state.db`` opened as one shared store (:mod:`sampan.storage.sqlite.shared`): global
  revisions, one write at a time across workers, every worker's watch cache fed every event in order.
- ``etcd``: each worker is one more etcd client, exactly like the servers of ``--control-plane-nodes``.

APF: the in-flight limits given are the whole server's; each worker gets ``ceil(limit / N)`` seats,
so N workers together admit about what one process would. The parent restarts a worker that dies
(after a second) and, on SIGINT/SIGTERM, stops every worker and waits for them; a worker whose parent
dies (even by SIGKILL) gets SIGTERM from the kernel (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from sampan.apiserver.config import APIServerConfig

log = logging.getLogger(__name__)

#: Seconds a stopping worker gets before it is killed.
STOP_GRACE = 20.0
#: Seconds between a worker's death and its restart.
RESTART_DELAY = 1.0
#: A worker that dies within this many seconds of its start this many times in a row stops the server
#: (it cannot start: a store it cannot open, a bad flag), rather than restarting forever.
EARLY_DEATH_SECONDS = 15.0
EARLY_DEATHS = 5


def worker_config(config: APIServerConfig, *, workers: int) -> APIServerConfig:
    """One worker's share of ``config`` (ports must already be fixed)."""
    storage = config.storage
    if storage.backend == "memory":
        raise ValueError("--workers needs a store the workers can share: --storage sqlite or etcd")
    return dataclasses.replace(
        config,
        reuse_port=True,
        storage=dataclasses.replace(storage, shared=storage.backend == "sqlite"),
        max_requests_inflight=math.ceil(config.max_requests_inflight / workers),
        max_mutating_requests_inflight=math.ceil(config.max_mutating_requests_inflight / workers),
    )


def reserve_port(host: str, port: int) -> tuple[int, socket.socket]:
    """``port`` (a free one for 0) and a bound, non-listening SO_REUSEPORT socket holding it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host or "0.0.0.0", port))
    except OSError:
        sock.close()
        raise
    return int(sock.getsockname()[1]), sock


def _die_with_parent() -> None:
    """Linux: SIGTERM this worker when the parent dies (even by SIGKILL), so no worker is orphaned."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _worker_main(config: APIServerConfig, index: int, parent: int) -> None:
    import asyncio

    from sampan.cli.apiserver import _serve

    for sig in (signal.SIGTERM, signal.SIGINT):  # not the parent's flag-setting handlers
        signal.signal(sig, signal.SIG_DFL)
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above took effect
        return
    log.info("apiserver worker %d starting pid=%d", index, multiprocessing.current_process().pid)
    try:
        asyncio.run(_serve(config))
    except Exception as exc:  # one line per failed start (the parent counts them), not a traceback
        log.error("apiserver worker %d failed: %s: %s", index, type(exc).__name__, exc)
        raise SystemExit(1) from None


def run(config: APIServerConfig, *, workers: int) -> int:
    """Serve with ``workers`` processes until SIGINT/SIGTERM; the exit code."""
    held: list[socket.socket] = []
    port, sock = reserve_port(config.bind_address, config.port)
    held.append(sock)
    insecure = config.insecure_port
    if config.tls is not None and insecure is not None:
        insecure, sock = reserve_port("127.0.0.1", insecure)
        held.append(sock)
    shared = worker_config(dataclasses.replace(config, port=port, insecure_port=insecure), workers=workers)
    ctx = multiprocessing.get_context("fork")
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    procs: dict[int, BaseProcess] = {}
    started: dict[int, float] = {}
    early_deaths: dict[int, int] = {}

    def start(index: int) -> None:
        proc = ctx.Process(target=_worker_main, args=(shared, index, os.getpid()), name=f"apiserver-worker-{index}")
        proc.start()
        procs[index] = proc
        started[index] = time.monotonic()

    log.info("apiserver starting workers=%d port=%d insecure_port=%s storage=%s", workers, port, insecure,
             config.storage.backend)
    code = 0
    for i in range(workers):
        start(i)
    try:
        while not stopping:
            multiprocessing.connection.wait([p.sentinel for p in procs.values()], timeout=0.5)
            for index, proc in list(procs.items()):
                if proc.exitcode is None or stopping:
                    continue
                early = time.monotonic() - started[index] < EARLY_DEATH_SECONDS
                early_deaths[index] = early_deaths.get(index, 0) + 1 if early else 0
                if early_deaths[index] >= EARLY_DEATHS:
                    log.error("apiserver worker %d exited code=%s %d times right after starting; stopping",
                              index, proc.exitcode, EARLY_DEATHS)
                    stopping, code = True, 1
                    break
                log.error("apiserver worker %d exited code=%s; restarting", index, proc.exitcode)
                time.sleep(RESTART_DELAY)
                if not stopping:
                    start(index)
    finally:
        for proc in procs.values():
            if proc.exitcode is None:
                proc.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for proc in procs.values():
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.exitcode is None:
                proc.kill()
                proc.join()
        for sock in held:
            sock.close()
    log.info("apiserver workers stopped")
    return code
