"""The process runtime with real processes: logs, exit codes, env, working dir, mounts, cgroup limits,
graceful stop and re-adoption by a new runtime instance on the same root dir."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sampan.kubelet.logs import render
from sampan.kubelet.runtime.cgroups import cgroups_v1_usable, nice_weight
from sampan.kubelet.runtime.interface import (
    ContainerConfig,
    ContainerConfigError,
    ContainerState,
    ContainerStatus,
    LinuxResources,
    Mount,
    PodSandboxConfig,
    SandboxState,
)
from sampan.kubelet.runtime.process import ProcessRuntime, ProcessRuntimeOptions
from sampan.kubelet.runtime.process_files import mount_env_name
from tests.kubelet.conftest import remove_empty_cgroup_parents, until

PY = sys.executable
def read(path: str) -> str:
    return Path(path).read_text()


def gone(pid: int) -> bool:
    """The process no longer runs (absent, or a zombie waiting for its parent)."""
    try:
        stat = read(f"/proc/{pid}/stat")
    except OSError:
        return True
    return stat[stat.rfind(")") + 2] == "Z"


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
needs_cgroups = pytest.mark.skipif(not cgroups_v1_usable(), reason="needs cgroup v1 as root")


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    rt = ProcessRuntime(ProcessRuntimeOptions(root_dir=tmp_path / "rt", cgroup_parent="sampan-test"))
    yield rt
    for sb in await rt.list_pod_sandboxes():
        await rt.remove_pod_sandbox(sb.id)
    await rt.aclose()  # its spawn helper leaves the runtime cgroup
    remove_empty_cgroup_parents("sampan-test")


async def wait_state(rt: ProcessRuntime, cid: str, state: ContainerState, timeout: float = 10.0) -> ContainerStatus:
    async with asyncio.timeout(timeout):
        while True:
            st = await rt.container_status(cid)
            if st.state is state:
                return st
            await asyncio.sleep(0.02)


async def run(rt: ProcessRuntime, **kw: object) -> tuple[str, str]:
    sid = await rt.run_pod_sandbox(PodSandboxConfig(name="p", namespace="ns", uid="u1"))
    cfg = ContainerConfig(**{"name": "c", "image": "img", **kw})  # type: ignore[arg-type]
    cid = await rt.create_container(sid, cfg)
    await rt.start_container(cid)
    return sid, cid


async def test_logs_exit_code_env_and_workdir(runtime: ProcessRuntime, tmp_path: Path) -> None:
    script = (
        "import os,sys; print('hello', os.environ['GREETING']); print(os.getcwd()); "
        "sys.stderr.write('oops\\n'); sys.exit(3)"
    )
    _, cid = await run(runtime, command=(PY, "-c"), args=(script,), env={"GREETING": "world"},
                       working_dir=str(tmp_path))
    st = await wait_state(runtime, cid, ContainerState.EXITED)
    assert (st.exit_code, st.reason) == (3, "Error")
    assert st.started_at > 0
    assert st.finished_at >= st.started_at
    lines = read(st.log_path).splitlines()
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) F .+", ln) for ln in lines)
    assert sorted(line.split(" ", 1)[1] for line in lines) == sorted(
        ["stdout F hello world", f"stdout F {tmp_path}", "stderr F oops"]
    )


async def test_completed_and_missing_executable(runtime: ProcessRuntime) -> None:
    _, ok = await run(runtime, command=("true",))
    assert (await wait_state(runtime, ok, ContainerState.EXITED)).reason == "Completed"
    _, bad = await run(runtime, command=("no-such-binary-xyz",))
    st = await wait_state(runtime, bad, ContainerState.EXITED)
    assert (st.exit_code, st.reason) == (128, "StartError")
    assert 'exec: "no-such-binary-xyz": executable file not found in $PATH' in st.message


async def test_no_command_is_a_config_error(runtime: ProcessRuntime) -> None:
    sid = await runtime.run_pod_sandbox(PodSandboxConfig(name="p", namespace="ns", uid="u1"))
    with pytest.raises(ContainerConfigError, match="has no command"):
        await runtime.create_container(sid, ContainerConfig(name="c", image="nginx"))


async def test_graceful_stop_uses_sigterm(runtime: ProcessRuntime) -> None:
    script = (
        "import signal,sys,time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\n"
        "print('up', flush=True)\ntime.sleep(60)"
    )
    _, cid = await run(runtime, command=(PY, "-c", script))
    st = await wait_state(runtime, cid, ContainerState.RUNNING)
    await until(lambda: "up" in read(st.log_path), timeout=10, what="output")
    await runtime.stop_container(cid, 30)
    st = await runtime.container_status(cid)
    assert (st.state, st.exit_code) == (ContainerState.EXITED, 7)


async def test_sigkill_after_grace(runtime: ProcessRuntime) -> None:
    script = (
        "import signal,time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('up', flush=True)\ntime.sleep(60)"
    )
    _, cid = await run(runtime, command=(PY, "-c", script))
    st = await wait_state(runtime, cid, ContainerState.RUNNING)
    await until(lambda: "up" in read(st.log_path), timeout=10, what="output")
    await runtime.stop_container(cid, 0.2)
    st = await runtime.container_status(cid)
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, 137, "Error")


async def test_new_runtime_readopts_running_container(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid, cid = await run(runtime, command=("sleep", "60"))
    first = await wait_state(runtime, cid, ContainerState.RUNNING)
    again = ProcessRuntime(runtime.options)
    [sb] = await again.list_pod_sandboxes()
    assert (sb.id, sb.state) == (sid, SandboxState.READY)
    [c] = await again.list_containers(sid)
    assert (c.id, c.state, c.pid) == (cid, ContainerState.RUNNING, first.pid)
    try:
        await again.stop_container(cid, 1)
    finally:
        await again.aclose()
    assert (await runtime.container_status(cid)).exit_code == 143  # 128 + SIGTERM


async def test_index_lists_one_sandbox_and_is_rebuilt_from_the_state_files(runtime: ProcessRuntime) -> None:
    """The in-memory index: a sandbox's containers only, removals forgotten, exits picked up from the shim's
    exit file, and a new runtime on the root dir rebuilds it (skipping an unreadable meta.json)."""
    sid_a, done = await run(runtime, command=("true",))
    sid_b = await runtime.run_pod_sandbox(PodSandboxConfig(name="q", namespace="ns", uid="u2"))
    kept = await runtime.create_container(sid_b, ContainerConfig(name="k", image="img", command=("true",)))
    dropped = await runtime.create_container(sid_b, ContainerConfig(name="d", image="img", command=("true",)))
    await wait_state(runtime, done, ContainerState.EXITED)
    assert [c.id for c in await runtime.list_containers(sid_a)] == [done]
    assert [c.state for c in await runtime.list_containers(sid_a)] == [ContainerState.EXITED]
    await runtime.remove_container(dropped)
    assert [c.id for c in await runtime.list_containers(sid_b)] == [kept]
    assert sorted(c.id for c in await runtime.list_containers()) == sorted([done, kept])
    broken = Path(runtime.options.root_dir) / "containers" / "broken"
    broken.mkdir()
    (broken / "meta.json").write_text("{not json")
    again = ProcessRuntime(runtime.options)
    try:
        assert sorted(sb.id for sb in await again.list_pod_sandboxes()) == sorted([sid_a, sid_b])
        assert [(c.id, c.state) for c in await again.list_containers(sid_b)] == [(kept, ContainerState.CREATED)]
        assert sorted(c.id for c in await again.list_containers()) == sorted([done, kept])
    finally:
        await again.aclose()
    await runtime.remove_pod_sandbox(sid_b)
    assert [sb.id for sb in await runtime.list_pod_sandboxes()] == [sid_a]
    assert await runtime.list_containers(sid_b) == []


async def test_exec_sync(runtime: ProcessRuntime) -> None:
    _, cid = await run(runtime, command=("sleep", "60"), env={"X": "42"})
    await wait_state(runtime, cid, ContainerState.RUNNING)
    code, out = await runtime.exec_sync(cid, ["sh", "-c", "echo $X; exit 4"], 5)
    assert (code, out) == (4, b"42\n")
    with pytest.raises(TimeoutError):
        await runtime.exec_sync(cid, ["sleep", "30"], 0.2)


@needs_root
async def test_bind_mounts_in_private_namespace(runtime: ProcessRuntime, tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "key").write_text("value")
    target = tmp_path / "mnt" / "config"
    _, cid = await run(runtime, command=("cat", f"{target}/key"),
                       mounts=(Mount(container_path=str(target), host_path=str(vol), read_only=True),))
    st = await wait_state(runtime, cid, ContainerState.EXITED)
    assert st.exit_code == 0, read(st.log_path)
    assert read(st.log_path).endswith("stdout F value\n")
    assert not (target / "key").exists()  # the mount was private to the container
    _, cid = await run(runtime, command=("touch", f"{target}/new"),
                       mounts=(Mount(container_path=str(target), host_path=str(vol), read_only=True),))
    assert (await wait_state(runtime, cid, ContainerState.EXITED)).exit_code == 1  # read-only


@needs_cgroups
async def test_memory_limit_oom_kills(runtime: ProcessRuntime) -> None:
    script = "b = []\nwhile True: b.append(bytearray(8 << 20))"
    _, cid = await run(runtime, command=(PY, "-c", script),
                       resources=LinuxResources(memory_limit_bytes=48 << 20))
    st = await wait_state(runtime, cid, ContainerState.EXITED, timeout=30)
    assert (st.reason, st.exit_code) == ("OOMKilled", 137)


@needs_cgroups
async def test_pids_limit(runtime: ProcessRuntime) -> None:
    script = (
        "import os, time\nok = 0\nfor _ in range(8):\n    try:\n        pid = os.fork()\n    except OSError:\n"
        "        break\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n    ok += 1\nprint('forked', ok)"
    )
    _, cid = await run(runtime, command=(PY, "-c", script), resources=LinuxResources(pids_limit=4))
    st = await wait_state(runtime, cid, ContainerState.EXITED)
    assert read(st.log_path).endswith("stdout F forked 3\n")


async def test_leftover_processes_die_with_the_main_process(runtime: ProcessRuntime, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pidfile}; sleep 0.2"
    _, cid = await run(runtime, command=("sh", "-c", script))
    await wait_state(runtime, cid, ContainerState.EXITED)
    pid = int(read(str(pidfile)))
    await until(lambda: gone(pid), timeout=10, what="background child killed")


@needs_cgroups
async def test_processes_escaping_the_group_die_through_the_cgroup(runtime: ProcessRuntime, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    _, cid = await run(runtime, command=("sh", "-c", f"setsid sleep 60 & echo $! > {pidfile}; sleep 0.2"))
    await wait_state(runtime, cid, ContainerState.EXITED)
    pid = int(read(str(pidfile)))
    await until(lambda: gone(pid), timeout=10, what="escaped child killed")


async def test_without_private_mounts_paths_come_through_env_and_symlinks(tmp_path: Path) -> None:
    rt = ProcessRuntime(ProcessRuntimeOptions(root_dir=tmp_path / "rt", private_mounts=False, use_cgroups=False))
    assert (rt.info().private_mounts, rt.info().enforces_limits) == (False, False)
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "key").write_text("value")
    target = tmp_path / "mnt" / "cfg"
    try:
        _, cid = await run(rt, command=("sh", "-c", f'cat "$SAMPAN_MOUNT_{mount_env_name(str(target))[13:]}/key" '
                                                    f'{target}/key'),
                           mounts=(Mount(container_path=str(target), host_path=str(vol)),))
        st = await wait_state(rt, cid, ContainerState.EXITED)
        assert st.exit_code == 0, read(st.log_path)
        assert read(st.log_path).endswith("stdout F valuevalue\n")  # via the env var, then the symlink
        assert os.path.islink(target)  # noqa: ASYNC240
        await rt.remove_container(cid)
        assert not os.path.islink(target)  # noqa: ASYNC240 - the symlink goes with the container
    finally:
        for sb in await rt.list_pod_sandboxes():
            await rt.remove_pod_sandbox(sb.id)
        await rt.aclose()


@needs_cgroups
async def test_cpu_quota_and_shares_are_written(runtime: ProcessRuntime) -> None:
    res = LinuxResources(cpu_quota_us=50_000, cpu_shares=512)
    _, cid = await run(runtime, command=("sleep", "60"), resources=res)
    st = await wait_state(runtime, cid, ContainerState.RUNNING)
    cpu = Path("/sys/fs/cgroup/cpu/sampan-test") / cid
    assert (read(str(cpu / "cpu.cfs_quota_us")).strip(), read(str(cpu / "cpu.shares")).strip()) == ("50000", "512")
    assert str(st.pid) in read(str(cpu / "cgroup.procs")).split()
    await runtime.remove_container(cid)
    assert not os.path.exists(cpu)  # noqa: ASYNC240 - removed with the container


def cpu_cgroup(text: str) -> str:
    """The ``cpu`` controller's path in a /proc/<pid>/cgroup text."""
    return next(line.split(":", 2)[2] for line in text.splitlines() if line.split(":", 2)[1] == "cpu")


@needs_cgroups
async def test_shims_and_exec_probes_run_in_the_runtime_cgroup(runtime: ProcessRuntime, tmp_path: Path) -> None:
    """Upstream's --runtime-cgroups: every shim is charged to one cgroup of the runtime (one scheduling
    entity against the kubelet, docs/liveness.md); the container's own process to its container cgroup;
    the spawn helper and exec'd processes stay in the kubelet's cgroup (inside the runtime's, the helper
    would queue behind the burst of shims it starts)."""
    _, cid = await run(runtime, command=("sleep", "60"))
    st = await wait_state(runtime, cid, ContainerState.RUNNING)
    started = json.loads(read(str(tmp_path / "rt" / "containers" / cid / "started.json")))
    assert cpu_cgroup(read(f"/proc/{started['shim_pid']}/cgroup")) == "/sampan-test-runtime"
    assert cpu_cgroup(read(f"/proc/{st.pid}/cgroup")) == f"/sampan-test/{cid}"
    code, out = await runtime.exec_sync(cid, ["cat", "/proc/self/cgroup"], timeout=10)
    assert (code, cpu_cgroup(out.decode())) == (0, cpu_cgroup(read("/proc/self/cgroup")))
    assert str(started["shim_pid"]) in read("/sys/fs/cgroup/cpuacct/sampan-test-runtime/cgroup.procs").split()
    # the group weighs as one task at the kubelet's nice (1024 at nice 0, 110 at nice 10)
    weight = nice_weight(os.getpriority(os.PRIO_PROCESS, 0))
    assert read("/sys/fs/cgroup/cpu/sampan-test-runtime/cpu.shares").strip() == str(weight)
    assert (nice_weight(0), nice_weight(10), nice_weight(19)) == (1024, 110, 15)


async def test_long_lines_are_split_and_reassembled(runtime: ProcessRuntime) -> None:
    _, cid = await run(runtime, command=(PY, "-c", "print('a' * 40000); print('b', end='')"))
    st = await wait_state(runtime, cid, ContainerState.EXITED)
    tags = [line.split(" ")[2] for line in read(st.log_path).splitlines()]
    assert tags == ["P", "P", "F", "F"]
    assert render(st.log_path) == b"a" * 40000 + b"\nb\n"


async def test_exit_while_kubelet_is_away_is_recorded(runtime: ProcessRuntime) -> None:
    _, cid = await run(runtime, command=("sh", "-c", "exit 5"))
    await wait_state(runtime, cid, ContainerState.EXITED)  # the shim wrote it; nobody was asking
    again = ProcessRuntime(runtime.options)
    try:
        st = await again.container_status(cid)
    finally:
        await again.aclose()
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, 5, "Error")


async def test_vanished_shim_and_process_read_as_status_unknown(runtime: ProcessRuntime, tmp_path: Path) -> None:
    _, cid = await run(runtime, command=("sleep", "60"))
    st = await wait_state(runtime, cid, ContainerState.RUNNING)
    started = json.loads(read(str(tmp_path / "rt" / "containers" / cid / "started.json")))
    os.kill(started["shim_pid"], signal.SIGKILL)
    os.kill(st.pid, signal.SIGKILL)
    st = await wait_state(runtime, cid, ContainerState.EXITED)
    assert (st.exit_code, st.reason) == (137, "ContainerStatusUnknown")
