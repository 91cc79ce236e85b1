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
                        "stderr": "merge" | "inherit"}
    helper -> kubelet  {"id": 7, "code": 0, "out": "<base64 of stdout (+stderr when merged)>"}
                       {"id": 7, "timeout": true}           (ran longer than timeout: its group SIGKILLed)
                       {"id": 7, "errno": 2, "error": "No such file or directory"}   (could not start)

Invariants: every process the helper starts runs in a new session and never outlives its timeout (its
process group is SIGKILLed, then reaped); the helper exits when its stdin closes (the kubelet died or
closed it), killing the process groups it still runs; a helper that dies fails the requests it held
(``SpawnerGone``) and the next request starts a new one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import os
import signal
import sys
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

    def __init__(self, *, python: str = sys.executable) -> None:
        self.python = python
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._starting: asyncio.Lock | None = None
        self.started = 0
        """How many helper processes this spawner has started (1 unless one died)."""

    async def run(
        self, argv: list[str], *, env: Mapping[str, str] | None, cwd: str, timeout: float, merge_stderr: bool = True,
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
                self._proc = await asyncio.create_subprocess_exec(
                    self.python, "-I", __file__, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
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


async def _serve_one(req: dict[str, Any], write: Any, running: set[int]) -> None:
    rid = req.get("id")
    try:
        proc = await asyncio.create_subprocess_exec(
            *req["argv"], env=req.get("env"), cwd=req.get("cwd") or "/", stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if req.get("stderr", "merge") == "merge" else None,
            start_new_session=True)
    except OSError as err:
        write({"id": rid, "errno": err.errno or 0, "error": err.strerror or str(err)})
        return
    running.add(proc.pid)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), float(req.get("timeout") or 1.0))
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.communicate()
        write({"id": rid, "timeout": True})
        return
    finally:
        running.discard(proc.pid)
    write({"id": rid, "code": proc.returncode or 0, "out": base64.b64encode(out).decode()})


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer

    def write(reply: dict[str, Any]) -> None:
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()

    running: set[int] = set()
    tasks: set[asyncio.Task[None]] = set()
    try:
        while line := await reader.readline():
            task = asyncio.create_task(_serve_one(json.loads(line), write, running))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for pid in list(running):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        await asyncio.gather(*tasks, return_exceptions=True)


def _main() -> None:
    if sys.version_info < (3, 12) and hasattr(os, "pidfd_open"):
        # Python 3.11 waits for each child on a thread of its own; a pidfd per child is cheaper (3.12+
        # does this by default)
        asyncio.set_child_watcher(asyncio.PidfdChildWatcher())
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        asyncio.run(_serve())


if __name__ == "__main__":
    _main()
