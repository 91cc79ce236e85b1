"""Real etcd processes for tests and benchmarks: one member or an N-member cluster on loopback.

Usage::

    async with await EtcdCluster.start(tmp_path, size=3) as cluster:
        urls = cluster.client_urls          # ["http://127.0.0.1:PORT", ...]
        leader = await cluster.leader()
        leader.kill()                       # kill -9
        await cluster.leader()              # waits for a new one among the living

Every member gets two free loopback ports (client, peer) and its own data directory
``<base_dir>/<name>.etcd``; its output goes to ``<base_dir>/<name>.log`` and is quoted in the error
when a member fails to start. Processes are started through ``setpriv --pdeathsig KILL`` (when
util-linux is there) so they die with the thread that started them, even if that process is killed:
start clusters from the event-loop thread, not from a worker thread that may exit.

Health and leadership come from etcd's HTTP endpoints (``/health`` and the v3 JSON gateway's
``/v3/maintenance/status``), so this module needs no gRPC client.

Member states: created -> running -> (stopped | killed) -> running (``start`` again reuses the data
dir, so a restarted member rejoins its cluster).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

_START_ATTEMPTS = 3
_POLL = 0.05


class EtcdError(RuntimeError):
    """etcd is missing, failed to start, or did not become ready in time."""


@dataclass(frozen=True)
class EtcdOptions:
    binary: str = os.environ.get("SAMPAN_ETCD", "etcd")
    """The etcd executable (``$SAMPAN_ETCD`` or ``etcd`` on PATH)."""
    heartbeat_ms: int = 100
    """Raft heartbeat interval (etcd ``--heartbeat-interval``, upstream default 100 ms)."""
    election_ms: int = 1000
    """Raft election timeout (etcd ``--election-timeout``, upstream default 1000 ms)."""
    ready_timeout: float = 30.0
    """Seconds to wait for a member to report healthy / a leader to be elected."""
    stop_timeout: float = 10.0
    """Seconds between SIGTERM and SIGKILL in :meth:`EtcdMember.stop`."""
    max_request_bytes: int = 2 * 1024 * 1024
    """etcd ``--max-request-bytes``. etcd's default (1.5 MiB) counts the whole request, so a value of
    exactly the storage limit (1.5 MiB) plus its key would be refused; sampan runs etcd with 2 MiB."""
    log_level: str = "warn"


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _death_signal_prefix() -> list[str]:
    """``setpriv --pdeathsig KILL --`` when util-linux's setpriv exists: the child then dies with the
    thread that started it, without running Python code between fork and exec."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def _http(url: str, body: bytes | None, timeout: float) -> Any:
    """GET (or POST ``body``) ``url`` and decode the JSON answer; blocking, no proxies."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    with opener.open(request, timeout=timeout) as response:
        return json.loads(response.read())


class EtcdMember:
    """One etcd process. ``process`` is None until started; ``running`` says whether it is alive."""

    def __init__(self, name: str, base_dir: Path, options: EtcdOptions) -> None:
        self.name = name
        self.options = options
        self.data_dir = base_dir / f"{name}.etcd"
        self.log_path = base_dir / f"{name}.log"
        self.client_port = 0
        self.peer_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._args: list[str] = []

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _configure(self, *, initial_cluster: str, token: str) -> None:
        self._args = [
            self.options.binary,
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={initial_cluster}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token={token}",
            f"--heartbeat-interval={self.options.heartbeat_ms}",
            f"--election-timeout={self.options.election_ms}",
            f"--max-request-bytes={self.options.max_request_bytes}",
            "--pre-vote=true",
            "--logger=zap",
            f"--log-level={self.options.log_level}",
        ]

    def start(self) -> None:
        """Launch the process (again, after a stop or kill: the data dir makes it rejoin)."""
        if self.running:
            return
        if not self._args:
            raise EtcdError(f"member {self.name} has no configuration; start it through EtcdCluster")
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [*_death_signal_prefix(), *self._args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        log.info("etcd started name=%s pid=%d client=%s", self.name, self.process.pid, self.client_url)

    def kill(self) -> None:
        """SIGKILL the process (a crash: no clean shutdown) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
            log.info("etcd killed name=%s", self.name)

    async def stop(self) -> None:
        """SIGTERM, wait up to ``stop_timeout``, then SIGKILL."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, self.options.stop_timeout)
        except subprocess.TimeoutExpired:
            log.warning("etcd did not stop on SIGTERM, killing name=%s", self.name)
        self.kill()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def healthy(self) -> bool:
        """True when the member answers ``/health`` with ``"health": "true"`` (it has a leader)."""
        if not self.running:
            return False
        try:
            answer = await asyncio.to_thread(_http, self.client_url + "/health", None, 1.0)
        except (OSError, ValueError):
            return False
        return isinstance(answer, dict) and answer.get("health") == "true"

    async def status(self) -> dict[str, Any]:
        """The member's v3 status (``header.member_id``, ``leader``, ``raftTerm``, ...)."""
        answer = await asyncio.to_thread(_http, self.client_url + "/v3/maintenance/status", b"{}", 2.0)
        if not isinstance(answer, dict):
            raise EtcdError(f"unexpected status answer from {self.name}: {answer!r}")
        return answer

    async def is_leader(self) -> bool:
        if not self.running:
            return False
        try:
            status = await self.status()
        except (OSError, ValueError, EtcdError):
            return False
        member_id = str(status.get("header", {}).get("member_id", ""))
        return bool(member_id) and member_id == str(status.get("leader", ""))


class EtcdCluster:
    """``size`` members forming one cluster; use :meth:`start` to create and :meth:`stop` to end."""

    def __init__(self, base_dir: Path, *, size: int, options: EtcdOptions) -> None:
        if size < 1:
            raise ValueError(f"an etcd cluster needs at least one member, got size={size}")
        self.base_dir = base_dir
        self.options = options
        self.members = [EtcdMember(f"etcd{i}", base_dir, options) for i in range(size)]

    @classmethod
    async def start(cls, base_dir: Path, *, size: int = 1, options: EtcdOptions | None = None) -> EtcdCluster:
        """Start ``size`` members under ``base_dir`` and wait until all are healthy.

        Retries with fresh ports when a member dies at start-up (a port taken in between).
        """
        options = options or EtcdOptions()
        if shutil.which(options.binary) is None:
            raise EtcdError(f"etcd binary {options.binary!r} not found (install etcd-server or set SAMPAN_ETCD)")
        await asyncio.to_thread(base_dir.mkdir, parents=True, exist_ok=True)
        cluster = cls(base_dir, size=size, options=options)
        for attempt in range(1, _START_ATTEMPTS + 1):
            cluster._assign_ports(token=f"sampan-{os.getpid()}-{free_port()}")
            for member in cluster.members:
                member.start()
            try:
                await cluster.wait_ready()
                return cluster
            except EtcdError:
                crashed = [m for m in cluster.members if not m.running]
                await cluster.stop()
                if not crashed or attempt == _START_ATTEMPTS:
                    raise
                for member in cluster.members:
                    shutil.rmtree(member.data_dir, ignore_errors=True)
                log.warning("etcd member died at start-up, retrying attempt=%d", attempt)
        raise AssertionError("unreachable")

    def _assign_ports(self, *, token: str) -> None:
        taken: set[int] = set()
        for member in self.members:
            member.client_port, member.peer_port = (self._fresh_port(taken) for _ in range(2))
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for member in self.members:
            member._configure(initial_cluster=initial, token=token)

    @staticmethod
    def _fresh_port(taken: set[int]) -> int:
        while True:
            port = free_port()
            if port not in taken:
                taken.add(port)
                return port

    @property
    def client_urls(self) -> list[str]:
        """Client URLs of every member (alive or not), in member order."""
        return [m.client_url for m in self.members]

    def _failure(self, what: str) -> EtcdError:
        tails = "\n".join(f"--- {m.name} ({m.log_path}):\n{m.log_tail()}" for m in self.members)
        return EtcdError(f"{what}\n{tails}")

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until every running member is healthy. Raises EtcdError on timeout or a crash."""
        deadline = time.monotonic() + (timeout or self.options.ready_timeout)
        while True:
            started = [m for m in self.members if m.process is not None]
            dead = [m.name for m in started if not m.running]
            if dead and len(dead) == len(started):
                raise self._failure(f"etcd members exited: {', '.join(dead)}")
            alive = [m for m in started if m.running]
            if alive and all(await asyncio.gather(*(m.healthy() for m in alive))):
                return
            if time.monotonic() > deadline:
                raise self._failure("etcd did not become healthy in time")
            await asyncio.sleep(_POLL)

    async def leader(self, timeout: float | None = None) -> EtcdMember:
        """The running member that is leader now, waiting for an election if there is none."""
        deadline = time.monotonic() + (timeout or self.options.ready_timeout)
        while True:
            for member in self.members:
                if await member.is_leader():
                    return member
            if time.monotonic() > deadline:
                raise self._failure("no etcd leader elected in time")
            await asyncio.sleep(_POLL)

    async def stop(self) -> None:
        """Stop every member (SIGTERM, then SIGKILL after the stop timeout), the leader first.

        A stopping leader hands its leadership to a live follower, which is quick while followers
        are up; a leader whose followers already went away waits seconds for a hand-over that cannot
        happen. So members stop one at a time, always the current leader (if any) first.
        """
        while running := [m for m in self.members if m.running]:
            roles = await asyncio.gather(*(m.is_leader() for m in running))
            leading = [m for m, lead in zip(running, roles, strict=True) if lead]
            await (leading or running)[0].stop()

    def kill_all(self) -> None:
        for member in self.members:
            with contextlib.suppress(ProcessLookupError):
                member.kill()

    async def __aenter__(self) -> EtcdCluster:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
