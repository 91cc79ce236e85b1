"""Killing what a CRI exec started when its client goes away (CRI has no call for it).

CRI ``Exec`` gives a streaming URL and nothing else: no exec id, no pid, and no RPC to signal or cancel the
process. containerd's streaming server, when the client's connection closes, only closes the process's
stdio; the process itself runs on until it exits by itself (containerd's ``execInContainer`` waits for
it; upstream kubernetes/kubernetes#89031, kubernetes/kubectl#1076, containerd/cri#1256: an interactive
shell or a ``sleep`` left behind by a killed ``kubectl exec`` is a long-standing upstream behaviour).
sampan's kubelet instead ends the command with the client, as its process runtime does.

How the process is found, from the node (the kubelet runs beside its runtime, as root):

* ContainerStatus ``verbose`` gives the container's host pid (containerd: ``info`` → ``pid``); its
  ``/proc/<pid>/ns/pid`` names the container's pid namespace.
* Before the Exec call, the pids in that namespace are noted. An exec'd process is then a *new* pid in
  the namespace whose parent is *outside* it (the runtime's shim or ``runc``; anything the container
  spawns itself has its parent inside). Among several such (an exec probe at the same moment), the one
  whose ``cmdline`` is the command wins.
* One exec per container looks at a time (a lock from the snapshot until its process is found or the
  exec ends), so two execs never claim each other's process.

On the client's departure (the exec cancelled) or a broken runtime connection, the process and its
descendants are stopped (SIGSTOP, so none forks meanwhile), then SIGKILLed; a pid is only signalled
while its start time is the one seen when it was found (no pid reuse). When the pid cannot be learnt
(a remote runtime, no ``pid`` in the status) nothing is killed: upstream's behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sampan._lib.procstat import PROC, ProcStat, read_proc_stat
from sampan.kubelet.runtime.cri.client import CRIClient, CRIError

log = logging.getLogger(__name__)

FIND_PERIOD = 0.05
FIND_DEADLINE = 10.0
"""How long the exec's process is looked for after its streams opened (the runtime starts it then)."""


def _pid_ns(pid: int, proc: str = PROC) -> str:
    try:
        return os.readlink(f"{proc}/{pid}/ns/pid")
    except OSError:
        return ""


def _cmdline(pid: int, proc: str = PROC) -> list[str]:
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return []


def _all_pids(proc: str = PROC) -> list[int]:
    try:
        return [int(e) for e in os.listdir(proc) if e.isdigit()]
    except OSError:
        return []


def _in_ns(ns: str, proc: str = PROC) -> dict[int, ProcStat]:
    out = {}
    for pid in _all_pids(proc):
        if _pid_ns(pid, proc) == ns and (st := read_proc_stat(pid, proc)) is not None:
            out[pid] = st
    return out


def exec_roots(ns: str, before: Iterable[int], cmd: list[str], proc: str = PROC) -> list[ProcStat]:
    """The processes an exec started in pid namespace ``ns`` since ``before`` was taken (see the module doc)."""
    old = set(before)
    now = _in_ns(ns, proc)
    roots = [p for pid, p in now.items() if pid not in old and p.ppid not in now]
    matching = [p for p in roots if _cmdline(p.pid, proc) == cmd]
    return matching or (roots if len(roots) == 1 else [])


def kill_tree(roots: Iterable[ProcStat], proc: str = PROC) -> list[int]:
    """SIGSTOP ``roots`` and every descendant (until no new one appears), then SIGKILL them all; returns
    the pids killed. Roots whose pid now names another process are skipped."""
    stopped: dict[int, ProcStat] = {}
    frontier = [r for r in roots
                if (st := read_proc_stat(r.pid, proc)) is not None and st.start_ticks == r.start_ticks]
    while frontier:
        for p in frontier:
            with contextlib.suppress(OSError):
                os.kill(p.pid, signal.SIGSTOP)
            stopped[p.pid] = p
        frontier = [st for pid in _all_pids(proc) if pid not in stopped
                    and (st := read_proc_stat(pid, proc)) is not None and st.ppid in stopped]
    for p in stopped.values():
        st = read_proc_stat(p.pid, proc)
        if st is not None and st.start_ticks == p.start_ticks:
            with contextlib.suppress(OSError):
                os.kill(p.pid, signal.SIGKILL)
    return sorted(stopped)


@dataclass(slots=True)
class ExecWatch:
    """One exec's process, looked for from before the Exec call until found; :meth:`kill` ends it."""

    ns: str
    cmd: list[str]
    before: set[int]
    unlock: Callable[[], None] | None
    """Lets the container's next exec look (called once)."""
    found: list[ProcStat] = field(default_factory=list)
    finished: bool = False
    """The runtime reported the command's end: nothing is left to kill."""

    def release(self) -> None:
        unlock, self.unlock = self.unlock, None
        if unlock is not None:
            unlock()

    async def find(self, *, deadline: float = FIND_DEADLINE, period: float = FIND_PERIOD) -> None:
        """Poll until the exec's process shows up (or ``deadline`` passes), then let the next exec look.
        Cancelled meanwhile (the client went away before the process was seen), the container's lock stays
        held, so :meth:`kill` can still look once for it; ``kill`` releases it."""
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        while not self.found and loop.time() < end:
            self.found = await asyncio.to_thread(exec_roots, self.ns, self.before, self.cmd)
            if not self.found:
                await asyncio.sleep(period)
        self.release()

    def kill(self) -> list[int]:
        """Kill the exec's process tree (synchronous: callable while being cancelled). A last look for it
        only while this exec still holds the container's lock (no other exec can have started since)."""
        if self.finished:
            killed = []
        else:
            if not self.found and self.unlock is not None:
                self.found = exec_roots(self.ns, self.before, self.cmd)
            killed = kill_tree(self.found) if self.found else []
        if killed:
            log.info("exec client went away, killed its processes cmd=%s pids=%s", self.cmd[:3], killed)
        self.release()
        return killed


class ExecWatcher:
    """Makes :class:`ExecWatch`es for a CRI runtime whose processes this host can see."""

    def __init__(self, client: Callable[[], CRIClient]) -> None:
        self._client = client
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        """container id -> its lock and how many execs hold or wait for it (dropped at zero)."""

    async def begin(self, container_id: str, cmd: list[str]) -> ExecWatch | None:
        """Snapshot the container's pid namespace before its Exec; None when its processes are not visible
        here (nothing will be killed then, as upstream)."""
        try:
            info = await self._client().container_info(container_id)
            pid = int(json.loads(info.get("info") or "{}").get("pid") or 0)
        except (CRIError, ValueError, TypeError, AttributeError):
            return None
        ns = _pid_ns(pid) if pid > 0 else ""
        if not ns:
            return None
        lock, users = self._locks.get(container_id) or (asyncio.Lock(), 0)
        self._locks[container_id] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:
            self._leave(container_id)
            raise

        def unlock() -> None:
            lock.release()
            self._leave(container_id)

        try:
            before = set(await asyncio.to_thread(_in_ns, ns))
        except BaseException:
            unlock()
            raise
        return ExecWatch(ns=ns, cmd=list(cmd), before=before, unlock=unlock)

    def _leave(self, container_id: str) -> None:
        lock, users = self._locks[container_id]
        if users > 1:
            self._locks[container_id] = (lock, users - 1)
        else:
            del self._locks[container_id]
