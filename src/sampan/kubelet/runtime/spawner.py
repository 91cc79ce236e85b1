"""Short processes (exec probes, shim starts) started by a small helper process, not by the kubelet.

110 pods with an exec liveness and a readiness probe each start 220 processes a second. Started from the
kubelet itself — even on worker threads — every start costs the kubelet's interpreter a ``Popen`` set-up,
a fork of a large process and the reaping, all under the GIL its event loop needs: with 16 spawning
threads the loop waited up to ~0.5-0.9 s for the GIL (issue 13, docs/liveness.md). Here the kubelet only
writes one request line to a long-lived helper (``python -I spawner.py``, a few MB, standard library only)
and reads one reply line; the helper forks, waits, reads the output and kills on timeout. The kubelet's
loop pays a pipe write and a read per process, its GIL no fork at all.

Protocol (one JSON object per line; replies in any order, matched by ``id``)::

    kubelet -> helper  {"id": 7, "argv": [...], "env": {...} | null, "cwd": "/", "timeout": 1.0,
                        "stderr": "merge" | "inherit", "cgroup": true (optional: join the runtime cgroup)}
    helper -> kubelet  {"id": 7, "code": 0, "out": "<base64 of stdout (+stderr when merged)>"}
                       {"id": 7, "timeout": true}           (ran longer than timeout: its group SIGKILLed)
                       {"id": 7, "errno": 2, "error": "No such file or directory"}   (could not start)

The helper is one thread around a ``selectors`` loop (``Popen``, a pidfd per child, a deadline heap), no
asyncio: asyncio's subprocess machinery cost more CPU per process than the start itself. Given
``--cgroup-procs``, a request marked ``"cgroup": true`` (shim starts) joins those cgroups before exec (the
runtime's cgroup, docs/liveness.md), so the shims weigh as one task against the kubelet; the helper and
exec probes stay in the kubelet's cgroup.

Invariants: every process the helper starts runs in a new session and never outlives its timeout (its
process group is SIGKILLed, then reaped); the helper exits when its stdin closes (the kubelet died or
closed it), killing the process groups it still runs; a helper that dies fails the requests it held
(``SpawnerGone``) and the next request starts a new one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import heapq
import itertools
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

REPLY_GRACE = 5.0
"""Seconds past a request's own timeout the kubelet waits for the helper's reply before giving up."""
STOP_WAIT = 5.0
"""Seconds a closed helper gets to kill its processes and exit before it is killed."""
READ_LIMIT = 64 * 1024 * 1024
"""The longest reply line accepted (a process's whole output, base64)."""


class SpawnerGone(OSError):
    """The helper process exited (or stopped answering) before it replied."""


class Spawner:
    """The kubelet's side: one helper process, started on first use, shared by all requests on one loop.

    ``run`` may be called concurrently; replies are matched by id. Not thread-safe (one event loop)."""

    def __init__(self, *, python: str = sys.executable, cgroup_procs: tuple[str, ...] = ()) -> None:
        """``cgroup_procs``: ``cgroup.procs`` files that processes started with ``runtime_cgroup=True`` join
        before they exec (the runtime's cgroup, like upstream's ``--runtime-cgroups``). The helper itself
        stays where the kubelet is: inside that cgroup it would queue for CPU behind the very burst of
        shims it is starting, and could not reap them or answer."""
        self.python = python
        self.cgroup_procs = cgroup_procs
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._starting: asyncio.Lock | None = None
        self.started = 0
        """How many helper processes this spawner has started (1 unless one died)."""

    async def run(
        self, argv: list[str], *, env: Mapping[str, str] | None, cwd: str, timeout: float, merge_stderr: bool = True,
        runtime_cgroup: bool = False,
    ) -> tuple[int, bytes]:
        """Run ``argv`` to completion in a new session; ``(exit code, output)``. Raises ``TimeoutError``
        once it has run longer than ``timeout`` (its process group killed), ``OSError`` (with the
        ``errno`` of the failed exec) when it cannot be started, ``SpawnerGone`` if the helper died."""
        proc = await self._helper()
        rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        req = {"id": rid, "argv": list(argv), "env": dict(env) if env is not None else None, "cwd": cwd,
               "timeout": timeout, "stderr": "merge" if merge_stderr else "inherit"}
        if runtime_cgroup and self.cgroup_procs:
            req["cgroup"] = True
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(req).encode() + b"\n")
            reply = await asyncio.wait_for(fut, timeout + REPLY_GRACE)
        except (ConnectionError, TimeoutError) as err:
            raise SpawnerGone(f"the spawn helper did not answer: {err!r}") from None
        finally:
            self._pending.pop(rid, None)
        if reply.get("timeout"):
            raise TimeoutError(f"{argv[0]} timed out after {timeout:g}s")
        if "errno" in reply:
            raise OSError(int(reply["errno"]), str(reply.get("error", "")))
        return int(reply["code"]), base64.b64decode(reply.get("out", ""))

    async def _helper(self) -> asyncio.subprocess.Process:
        if self._proc is not None and self._proc.returncode is None and self._reader is not None \
                and not self._reader.done():
            return self._proc
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._proc is None or self._proc.returncode is not None or self._reader is None \
                    or self._reader.done():
                await self._stop_helper()
                join = ["--cgroup-procs", ",".join(self.cgroup_procs)] if self.cgroup_procs else []
                self._proc = await asyncio.create_subprocess_exec(
                    self.python, "-I", __file__, *join, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    limit=READ_LIMIT, start_new_session=True)
                self.started += 1
                self._reader = asyncio.create_task(self._read_replies(self._proc), name="spawner-replies")
            return self._proc

    async def _read_replies(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                reply = json.loads(line)
                fut = self._pending.get(int(reply.get("id", 0)))
                if fut is not None and not fut.done():
                    fut.set_result(reply)
        except (ValueError, ConnectionError) as err:
            log.warning("spawn helper reply unreadable: %r", err)
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(SpawnerGone("the spawn helper exited"))

    async def _stop_helper(self) -> None:
        proc, reader = self._proc, self._reader
        self._proc = self._reader = None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()  # the helper kills what it still runs and exits
            try:
                await asyncio.wait_for(proc.wait(), STOP_WAIT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop the helper (it kills the processes it still runs)."""
        await self._stop_helper()


# -- the helper process (standard library only: started as ``python -I spawner.py``) ----------------
#
# One thread, one ``selectors`` loop, no asyncio: each request is a ``Popen`` (``_posixsubprocess``'s
# vfork + exec in C), its stdout pipe and a pidfd registered with the selector, its deadline in a heap.
# asyncio's subprocess transports, protocols and child watcher cost more CPU per process than the
# process start itself (bench/exec_probes.py).

READ_CHUNK = 65536
KILLED_GRACE = 5.0
"""Seconds a killed process group gets to close its output pipe before its output is abandoned."""


class _Job:
    """One running request. Done once its process is reaped and its output pipe is at EOF (or, after a
    timeout kill, once it is reaped)."""

    __slots__ = ("code", "deadline", "eof", "out", "pidfd", "proc", "rid", "timed_out")

    def __init__(self, rid: Any, proc: Any, pidfd: int | None, deadline: float) -> None:
        self.rid, self.proc, self.pidfd, self.deadline = rid, proc, pidfd, deadline
        self.out: list[bytes] = []
        self.timed_out = False
        self.code: int | None = None
        self.eof = proc.stdout is None


class _Helper:
    """The helper's state: running jobs by pid, deadlines, replies waiting to be written."""

    def __init__(self, out: Any, *, cgroup_procs: list[str]) -> None:
        self.cgroup_procs = cgroup_procs
        self.sel = selectors.DefaultSelector()
        self.out = out
        self.jobs: dict[int, _Job] = {}
        self.deadlines: list[tuple[float, int]] = []
        self.replies: list[bytes] = []
        self.devnull = os.open(os.devnull, os.O_RDONLY)
        self.pidfds = hasattr(os, "pidfd_open")

    def start(self, req: dict[str, Any]) -> None:
        rid = req.get("id")
        try:
            proc = subprocess.Popen(
                req["argv"], env=req.get("env"), cwd=req.get("cwd") or "/", stdin=self.devnull,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if req.get("stderr", "merge") == "merge" else None,
                start_new_session=True, preexec_fn=self._join_cgroups if req.get("cgroup") else None)
        except OSError as err:
            self.reply({"id": rid, "errno": err.errno or 0, "error": err.strerror or str(err)})
            return
        pidfd = None
        if self.pidfds:
            try:
                pidfd = os.pidfd_open(proc.pid)
            except OSError:
                pidfd = None
        job = _Job(rid, proc, pidfd, time.monotonic() + float(req.get("timeout") or 1.0))
        self.jobs[proc.pid] = job
        heapq.heappush(self.deadlines, (job.deadline, proc.pid))
        assert proc.stdout is not None  # stdout=PIPE
        os.set_blocking(proc.stdout.fileno(), False)
        self.sel.register(proc.stdout, selectors.EVENT_READ, ("out", proc.pid))
        if pidfd is not None:
            self.sel.register(pidfd, selectors.EVENT_READ, ("exit", proc.pid))

    def _join_cgroups(self) -> None:
        """In the forked child, before exec (a fork, not vfork: only for the few shim starts)."""
        pid = str(os.getpid())
        for f in self.cgroup_procs:
            with open(f, "w") as fh:
                fh.write(pid)

    def reply(self, reply: dict[str, Any]) -> None:
        self.replies.append(json.dumps(reply).encode() + b"\n")

    def flush(self) -> None:
        if self.replies:
            self.out.write(b"".join(self.replies))
            self.out.flush()
            self.replies.clear()

    def readable(self, kind: str, pid: int) -> None:
        job = self.jobs.get(pid)
        if job is None:
            return
        if kind == "out":
            try:
                chunk = os.read(job.proc.stdout.fileno(), READ_CHUNK)
            except BlockingIOError:
                return
            if chunk:
                job.out.append(chunk)
                return
            job.eof = True
            self.sel.unregister(job.proc.stdout)
            job.proc.stdout.close()
        else:
            self._reap(job)
        self._maybe_done(job)

    def _reap(self, job: _Job) -> None:
        if job.code is None and job.proc.poll() is not None:
            job.code = job.proc.returncode
            if job.pidfd is not None:
                self.sel.unregister(job.pidfd)
                os.close(job.pidfd)
                job.pidfd = None

    def _maybe_done(self, job: _Job) -> None:
        if job.code is None or not (job.eof or job.timed_out):
            return
        pid = job.proc.pid
        del self.jobs[pid]
        if not job.eof:
            self.sel.unregister(job.proc.stdout)
            job.proc.stdout.close()
        if job.timed_out:
            self.reply({"id": job.rid, "timeout": True})
        else:
            self.reply({"id": job.rid, "code": job.code, "out": base64.b64encode(b"".join(job.out)).decode()})

    def expire(self, now: float) -> float | None:
        """Kill the groups past their deadline; poll exits when there are no pidfds; the next wait."""
        while self.deadlines and self.deadlines[0][0] <= now:
            deadline, pid = heapq.heappop(self.deadlines)
            job = self.jobs.get(pid)
            if job is None or job.deadline != deadline:
                continue
            if not job.timed_out and job.code is None:
                job.timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                job.deadline = now + KILLED_GRACE  # reaped by then, or its output is given up below
                heapq.heappush(self.deadlines, (job.deadline, pid))
            else:  # killed or exited, yet its pipe is still open (a descendant escaped): give up the output
                job.timed_out = True
                if job.code is None:
                    job.proc.wait()
                    self._reap(job)
                self._maybe_done(job)
        if not self.pidfds:
            for job in list(self.jobs.values()):
                self._reap(job)
                self._maybe_done(job)
            return 0.005 if self.jobs else None
        return max(0.0, self.deadlines[0][0] - now) if self.deadlines else None

    def kill_all(self) -> None:
        for pid, job in list(self.jobs.items()):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            job.proc.wait()
            self._reap(job)
            if not job.eof:  # reported as killed, with the output read so far
                self.sel.unregister(job.proc.stdout)
                job.proc.stdout.close()
                job.eof = True
            self._maybe_done(job)


def _serve(stdin_fd: int, *, cgroup_procs: list[str]) -> None:
    helper = _Helper(sys.stdout.buffer, cgroup_procs=cgroup_procs)
    os.set_blocking(stdin_fd, False)
    helper.sel.register(stdin_fd, selectors.EVENT_READ, ("in", 0))
    pending = b""
    try:
        while True:
            timeout = helper.expire(time.monotonic())
            for key, _ in helper.sel.select(timeout):
                kind, pid = key.data
                if kind != "in":
                    helper.readable(kind, pid)
                    continue
                try:
                    data = os.read(stdin_fd, READ_CHUNK)
                except BlockingIOError:
                    continue
                if not data:
                    return
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        helper.start(json.loads(line))
            helper.flush()
    finally:
        helper.kill_all()
        with contextlib.suppress(BrokenPipeError):
            helper.flush()


def _main() -> None:
    args = sys.argv[1:]
    cgroup_procs = [f for f in args[1].split(",") if f] if args[:1] == ["--cgroup-procs"] and len(args) > 1 else []
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        _serve(sys.stdin.fileno(), cgroup_procs=cgroup_procs)


if __name__ == "__main__":
    _main()
