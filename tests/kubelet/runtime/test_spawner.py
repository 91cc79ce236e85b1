"""The spawn helper: the kubelet's short processes (exec probes, shim starts) run by a helper process,
with their output, exit code, environment and working directory; a timeout kills the whole process
group; a start failure keeps its errno; a dead helper fails its requests and is replaced."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
from pathlib import Path

import pytest

from sampan.kubelet.runtime.spawner import Spawner, SpawnerGone


async def test_runs_processes_with_env_cwd_and_merged_output(tmp_path: Path) -> None:
    sp = Spawner()
    try:
        code, out = await sp.run(["sh", "-c", 'echo "$GREETING $(pwd)"; echo err >&2; exit 3'],
                                 env={"GREETING": "hello", "PATH": os.environ["PATH"]}, cwd=str(tmp_path),
                                 timeout=10)
        assert code == 3
        assert out.decode().split("\n")[:2] == [f"hello {tmp_path}", "err"]
        # stderr not merged: only stdout comes back
        _, out = await sp.run(["sh", "-c", "echo out; echo err >&2"], env=None, cwd="/", timeout=10,
                              merge_stderr=False)
        assert out == b"out\n"
        # many at once, replies matched to their requests; all by one helper, none forked by us
        results = await asyncio.gather(*(sp.run(["sh", "-c", f"echo {i}"], env=None, cwd="/", timeout=10)
                                         for i in range(40)))
        assert [r[1] for r in results] == [f"{i}\n".encode() for i in range(40)]
        assert sp.started == 1
    finally:
        await sp.aclose()


async def test_a_timeout_kills_the_process_group_and_a_failed_start_keeps_its_errno(tmp_path: Path) -> None:
    sp = Spawner()
    pidfile = tmp_path / "child.pid"
    try:
        with pytest.raises(TimeoutError):
            # the shell's background child is in the same (new) process group: it must die too
            await sp.run(["sh", "-c", f"sleep 300 & echo $! > {pidfile}; wait"], env=None, cwd="/", timeout=0.5)
        child = int(pidfile.read_text())
        for _ in range(200):
            if not _alive(child):
                break
            await asyncio.sleep(0.05)
        assert not _alive(child)
        with pytest.raises(OSError) as err:
            await sp.run(["/nonexistent/sampan-no-such-binary"], env=None, cwd="/", timeout=5)
        assert err.value.errno == errno.ENOENT
        assert not isinstance(err.value, TimeoutError | SpawnerGone)
    finally:
        await sp.aclose()


async def test_a_dead_helper_fails_its_requests_and_the_next_request_starts_a_new_one() -> None:
    sp = Spawner()
    try:
        assert (await sp.run(["true"], env=None, cwd="/", timeout=5))[0] == 0
        assert sp._proc is not None
        pending = asyncio.create_task(sp.run(["sleep", "30"], env=None, cwd="/", timeout=60))
        await asyncio.sleep(0.3)
        os.kill(sp._proc.pid, signal.SIGKILL)
        with pytest.raises(SpawnerGone):
            await pending
        assert (await sp.run(["sh", "-c", "echo again"], env=None, cwd="/", timeout=5)) == (0, b"again\n")
        assert sp.started == 2
    finally:
        await sp.aclose()


async def test_the_helper_kills_what_it_runs_when_its_stdin_closes(tmp_path: Path) -> None:
    sp = Spawner()
    pidfile = tmp_path / "child.pid"
    pending = asyncio.create_task(
        sp.run(["sh", "-c", f"echo $$ > {pidfile}; exec sleep 300"], env=None, cwd="/", timeout=600))
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.05)
    child = int(pidfile.read_text())
    assert _alive(child)
    await sp.aclose()  # closes the helper's stdin (as the kubelet's death would), then kills it
    try:  # killed: reported as killed (SIGKILL), or failed with the helper
        assert (await pending)[0] == -signal.SIGKILL
    except SpawnerGone:
        pass
    for _ in range(200):
        if not _alive(child):
            break
        await asyncio.sleep(0.05)
    assert not _alive(child)


async def test_only_processes_asking_for_it_join_the_runtime_cgroup(tmp_path: Path) -> None:
    """Shim starts (``runtime_cgroup=True``) write their pid into the runtime cgroup's ``cgroup.procs``
    before exec; exec probes and the helper itself do not (plain files stand in for cgroupfs here)."""
    procs = [tmp_path / "cpu.procs", tmp_path / "cpuacct.procs"]
    for f in procs:
        f.write_text("")
    sp = Spawner(cgroup_procs=tuple(str(f) for f in procs))
    try:
        _, out = await sp.run(["sh", "-c", "echo $$"], env=None, cwd="/", timeout=10)
        assert [f.read_text() for f in procs] == ["", ""]
        _, out = await sp.run(["sh", "-c", "echo $$"], env=None, cwd="/", timeout=10, runtime_cgroup=True)
        assert [f.read_text() for f in procs] == [out.decode().strip()] * 2
        assert sp._proc is not None
        assert str(sp._proc.pid) not in {f.read_text() for f in procs}
    finally:
        await sp.aclose()


def _alive(pid: int) -> bool:
    """Running (a zombie, reaped by nobody yet in a test, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
