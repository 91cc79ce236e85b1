"""The exec process killer's pieces on real host processes (no containerd): a process tree is killed
whole, a pid whose start time changed is left alone, and an exec's root is told from what the container
spawns itself (a new pid in the namespace whose parent is outside it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import replace

import pytest

from sampan._lib.procstat import read_proc_stat
from sampan.kubelet.streaming.cri_exec import ExecWatch, _cmdline, _in_ns, _pid_ns, exec_roots, kill_tree


def _wait_gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(read_proc_stat(p) is None or _state(p) == "Z" for p in pids):
            return True
        time.sleep(0.05)
    return False


def _state(pid: int) -> str:
    st = read_proc_stat(pid)
    return st.state if st is not None else ""


def _children(pid: int) -> list[int]:
    pids = (int(e) for e in os.listdir("/proc") if e.isdigit())
    return [p for p in pids if (st := read_proc_stat(p)) and st.ppid == pid]


def test_kill_tree_kills_descendants_and_skips_a_reused_pid() -> None:
    root = subprocess.Popen(["sh", "-c", "sleep 1000 & sleep 1000 & wait"])
    try:
        deadline = time.monotonic() + 10
        while len(_children(root.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        kids = _children(root.pid)
        assert len(kids) == 2
        me = read_proc_stat(root.pid)
        assert me is not None
        assert kill_tree([replace(me, start_ticks=me.start_ticks + 1)]) == []  # another process's start time: untouched
        assert _state(root.pid) in ("S", "R")
        assert kill_tree([me]) == sorted([root.pid, *kids])
        root.wait(10)
        assert _wait_gone(kids)
    finally:
        if root.poll() is None:
            root.kill()
            root.wait()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_exec_roots_are_new_pids_whose_parent_is_outside_the_namespace() -> None:
    # like a container: `unshare` (outside) is the parent of the namespace's first process, which has a
    # child of its own (inside): only the first is an exec-like root
    outer = subprocess.Popen(["unshare", "--pid", "--fork", "sh", "-c", "sleep 1000.5 & exec sleep 1000.25"])
    try:
        deadline = time.monotonic() + 10
        inner: list[int] = []
        while time.monotonic() < deadline:
            inner = [p for p in _children(outer.pid) if _cmdline(p) == ["sleep", "1000.25"]]
            if inner and _children(inner[0]):
                break
            time.sleep(0.05)
        [first] = inner
        ns = _pid_ns(first)
        assert ns
        assert ns != _pid_ns(os.getpid())
        assert [p.pid for p in exec_roots(ns, set(), ["sleep", "1000.25"])] == [first]
        assert [p.pid for p in exec_roots(ns, set(), ["other"])] == [first]  # the only root, whatever its argv
        assert exec_roots(ns, {first}, ["sleep", "1000.25"]) == []  # not new
        assert exec_roots(_pid_ns(os.getpid()), set(_in_ns(_pid_ns(os.getpid()))), ["x"]) == []
    finally:
        outer.kill()
        outer.wait()
        for p in _in_ns(ns) if "ns" in locals() and ns else []:
            with contextlib.suppress(ProcessLookupError):  # the namespace's init died first: all went with it
                os.kill(p, 9)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None,
                    reason="needs root, unshare and nsenter")
async def test_a_watch_cancelled_before_it_saw_the_process_still_kills_it() -> None:
    # the client goes away before the poll saw the exec's process: kill() looks once more (the container's
    # lock is still held, so no other exec can have started) and kills it
    outer = subprocess.Popen(["unshare", "--pid", "--fork", "sleep", "1000.5"])  # noqa: ASYNC220
    late: subprocess.Popen[bytes] | None = None
    released: list[bool] = []
    try:
        deadline = time.monotonic() + 10
        while not (inner := _children(outer.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)  # noqa: ASYNC251
        ns = _pid_ns(inner[0])
        watch = ExecWatch(ns=ns, cmd=["sleep", "1000.75"], before=set(_in_ns(ns)), unlock=lambda: released.append(True))
        finder = asyncio.ensure_future(watch.find(period=1000))
        await asyncio.sleep(0.3)  # its first look found nothing; it now sleeps
        late = subprocess.Popen(["nsenter", "-t", str(inner[0]), "--pid", "sleep", "1000.75"])  # noqa: ASYNC220
        while not any(_cmdline(p) == ["sleep", "1000.75"] for p in _in_ns(ns)) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        finder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await finder
        assert released == []  # still held for kill()
        killed = watch.kill()
        assert len(killed) == 1
        assert released == [True]
        assert _wait_gone(killed)
    finally:
        for proc in (late, outer):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        for pid in _in_ns(ns) if "ns" in locals() and ns else []:
            os.kill(pid, 9)
