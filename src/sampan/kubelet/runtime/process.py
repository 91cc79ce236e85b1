"""The ``process`` runtime: each container is a host process group, supervised by a shim process.

Layout under ``root_dir`` (all state lives in files, so a new :class:`ProcessRuntime` on the same
directory — a restarted kubelet — sees exactly what is running and re-adopts it)::

    sandboxes/<id>/sandbox.json            pod identity, state, creation time
    containers/<id>/meta.json              name, attempt, image, sandbox, labels, log path
    containers/<id>/config.json            what the shim runs (argv, env, cwd, mounts, cgroups)
    containers/<id>/started.json           written by the shim once the process runs
    containers/<id>/exit.json              written by the shim once it has exited
    logs/<ns>_<pod>_<uid>/<container>/<attempt>.log   CRI-format log

The state files are the truth; the runtime also keeps an in-memory index of them (``sandbox.json`` and
``meta.json`` by id, and each sandbox's container ids), read from disk once when it is constructed and then
kept up to date by its own create/stop/remove calls, so listing one sandbox's containers costs O(its
containers), not a disk read of every container on the node. ``started.json``/``exit.json`` (written by the
shim) are still read from disk, only for the containers asked about; ``exit.json`` is cached once seen (it is
written once). Invariant: one ProcessRuntime per root directory at a time owns the sandbox/container
lifecycle; a second one (a restarted kubelet) sees what existed when it was constructed.

A container is RUNNING while ``started.json`` names a live process (same pid *and* same /proc start
time, so a recycled pid is never mistaken for ours) or a live shim that has not written its exit yet.

As root (and unless disabled) each container gets a private mount namespace with its volumes
bind-mounted at their paths, and cgroup v1 limits. Otherwise volumes are exposed as environment
variables ``SAMPAN_MOUNT_<PATH>`` (``/etc/config`` -> ``SAMPAN_MOUNT__ETC_CONFIG``) plus a symlink
at the mount path when nothing exists there, and limits are not enforced (``info().enforces_limits``).

With a :class:`~sampan.kubelet.network.pod_network.PodNetwork` (``options.network``), every sandbox but a
``hostNetwork`` one gets its own network namespace and address at RunPodSandbox (kept in
``sandbox.json``: ``ip``, ``netns``); its containers' shims ``setns`` into it before exec, and
Stop/RemovePodSandbox tear it down. Without one, every pod reports ``options.pod_ip`` (the host's).

There are no pid namespaces: every container sees the host's processes, so an ephemeral container's
``target_id`` (``kubectl debug --target``) needs nothing more to see its target's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from sampan.kubelet.network.pod_network import PodNetwork, PodNetworkError
from sampan.kubelet.runtime import attach, shim
from sampan.kubelet.runtime import process_files as files
from sampan.kubelet.runtime.cgroups import Cgroups, cgroups_v1_usable, ensure_runtime_cgroup
from sampan.kubelet.runtime.interface import (
    ContainerConfig,
    ContainerConfigError,
    ContainerState,
    ContainerStatus,
    CreateContainerError,
    NotFoundError,
    PodSandboxConfig,
    RuntimeFailure,
    RuntimeInfo,
    SandboxState,
    SandboxStatus,
)
from sampan.kubelet.runtime.spawner import Spawner, SpawnerGone
from sampan.kubelet.runtime.stats import ContainerStats

log = logging.getLogger(__name__)

FILE_WORKERS = 2
"""Threads for file-system work (see ``ProcessRuntime._file_pool``)."""
T = TypeVar("T")

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class ProcessRuntimeOptions:
    root_dir: Path
    cgroup_parent: str = "sampan"
    """Every container's cgroups sit under this one (upstream's ``kubepods``)."""
    runtime_cgroup: str = ""
    """The shims run in this cgroup ("" = ``<cgroup_parent>-runtime``; upstream's ``--runtime-cgroups``), so a
    burst of them weighs as one task against the kubelet (the spawn helper and exec probes stay in the
    kubelet's cgroup)."""
    use_cgroups: bool | None = None
    """None: use cgroups when running as root on a cgroup v1 host."""
    private_mounts: bool | None = None
    """None: private mount namespaces when running as root."""
    pod_ip: str = "127.0.0.1"
    poll_interval: float = 0.02
    start_timeout: float = 10.0
    kill_wait: float = 5.0
    """How long to wait for an exit after SIGKILL before giving up."""
    network: PodNetwork | None = None
    """Per-pod network namespaces and addresses; None: pods share the host network."""


@dataclass(frozen=True, slots=True)
class ExecSpec:
    """A command to run in a container's context (see :meth:`ProcessRuntime.exec_spec`)."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    cgroup_procs: tuple[str, ...] = ()
    """cgroup ``cgroup.procs`` files the process joins before it execs."""


class ProcessRuntime:
    """Host processes behind the CRI-shaped :class:`~sampan.kubelet.runtime.interface.Runtime` Protocol."""

    def __init__(self, options: ProcessRuntimeOptions) -> None:
        self.options = options
        root = Path(options.root_dir)
        self._sandboxes, self._containers, self._logs = root / "sandboxes", root / "containers", root / "logs"
        for d in (self._sandboxes, self._containers, self._logs):
            d.mkdir(parents=True, exist_ok=True)
        is_root = os.geteuid() == 0
        self._cgroups = cgroups_v1_usable() if options.use_cgroups is None else options.use_cgroups
        self._private_mounts = is_root if options.private_mounts is None else options.private_mounts
        self._sandbox_index: dict[str, dict[str, Any]] = {}
        """sandbox id -> the contents of its sandbox.json (mutated and written back together)."""
        self._meta_index: dict[str, dict[str, Any]] = {}
        """container id -> the contents of its meta.json (never changes after create_container)."""
        self._by_sandbox: dict[str, set[str]] = {}
        """sandbox id -> ids of its containers in ``_meta_index``."""
        self._exits: dict[str, dict[str, Any]] = {}
        """container id -> its exit.json once read (the shim writes it once)."""
        self._started: dict[str, dict[str, Any]] = {}
        """container id -> its started.json once read (the shim writes it once): a status check of a
        running container reads no file, only its /proc entry."""
        self._configs: dict[str, dict[str, Any]] = {}
        """container id -> its config.json once read by ``exec_spec`` (written once, at create)."""
        self._file_pool = ThreadPoolExecutor(max_workers=FILE_WORKERS, thread_name_prefix="sampan-runtime-files")
        """Threads for the runtime's file-system work: few, so a burst of 110 pod starts keeps few threads
        contending with the event loop for the GIL (docs/liveness.md)."""
        self._spawner = Spawner(cgroup_procs=self._runtime_cgroup())
        """The helper process that starts shims and runs exec probes (:mod:`~sampan.kubelet.runtime.spawner`):
        the kubelet itself never forks for them."""
        self._load_index()

    def _runtime_cgroup(self) -> tuple[str, ...]:
        """The runtime cgroup's ``cgroup.procs`` files (none without cgroups, or when the kernel refuses)."""
        if not self._cgroups:
            return ()
        try:
            return ensure_runtime_cgroup(self.options.runtime_cgroup or f"{self.options.cgroup_parent}-runtime")
        except OSError as err:
            log.warning("runtime cgroup not created: shims run in the kubelet's err=%s", err)
            return ()

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on one of the runtime's file threads."""
        return await asyncio.get_running_loop().run_in_executor(self._file_pool, functools.partial(fn, *args))

    def _load_index(self) -> None:
        """Re-adoption: rebuild the index from the state files (unreadable ones are skipped, as before)."""
        for d in self._sandboxes.iterdir():
            data = files.read_json(d / "sandbox.json")
            if data is not None:
                self._sandbox_index[d.name] = data
        for d in self._containers.iterdir():
            meta = files.read_json(d / "meta.json")
            if meta is not None:
                self._index_container(d.name, meta)
        log.debug("runtime index loaded sandboxes=%d containers=%d", len(self._sandbox_index), len(self._meta_index))

    def _index_container(self, container_id: str, meta: dict[str, Any]) -> None:
        self._meta_index[container_id] = meta
        self._by_sandbox.setdefault(str(meta.get("sandbox_id", "")), set()).add(container_id)

    def _unindex_container(self, container_id: str) -> None:
        meta = self._meta_index.pop(container_id, None)
        self._exits.pop(container_id, None)
        self._started.pop(container_id, None)
        self._configs.pop(container_id, None)
        if meta is not None:
            ids = self._by_sandbox.get(str(meta.get("sandbox_id", "")))
            if ids is not None:
                ids.discard(container_id)

    def set_network(self, network: PodNetwork) -> None:
        """Give pods their own network from now on (the kubelet calls it once the Node has a podCIDR)."""
        self.options = dataclasses.replace(self.options, network=network)

    def info(self) -> RuntimeInfo:
        network = self.options.network
        return RuntimeInfo(name="process", version="0.1.0", enforces_limits=self._cgroups,
                           private_mounts=self._private_mounts, pod_cidr=network.cidr if network else "")

    # -- sandboxes ---------------------------------------------------------------------------------

    def _sandbox(self, sandbox_id: str) -> dict[str, Any]:
        data = self._sandbox_index.get(sandbox_id)
        if data is None:
            raise NotFoundError(f"pod sandbox {sandbox_id!r} not found")
        return data

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        sid = secrets.token_hex(16)
        d = self._sandboxes / sid
        logdir = self._logs / f"{config.namespace}_{config.name}_{config.uid}"
        await self._off_loop(files.make_dirs, d, logdir)  # every file operation off the loop (docs/liveness.md)
        data = {"config": asdict(config), "state": SandboxState.READY.value, "created_at": time.time(),
                "log_dir": str(logdir)}
        network = self.options.network
        if network is not None and not config.host_network:
            try:
                attachment = await network.setup(sid, sandbox_dir=str(d))
            except PodNetworkError as err:
                shutil.rmtree(d, ignore_errors=True)
                raise CreateContainerError(f"failed to set up the sandbox network: {err}") from None
            data.update(ip=attachment.ip, netns=attachment.netns, pod_cidr=attachment.pod_cidr)
        await self._off_loop(shim.write_json_atomic, d / "sandbox.json", data)
        self._sandbox_index[sid] = data
        log.info("sandbox created id=%s pod=%s/%s", sid, config.namespace, config.name)
        return sid

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        data = self._sandbox(sandbox_id)
        for c in await self.list_containers(sandbox_id):
            if c.state is ContainerState.RUNNING:
                await self.stop_container(c.id, 0)
        await self._teardown_network(sandbox_id, data)
        data["state"] = SandboxState.NOTREADY.value
        await self._off_loop(shim.write_json_atomic, self._sandboxes / sandbox_id / "sandbox.json", dict(data))

    async def _teardown_network(self, sandbox_id: str, data: dict[str, Any]) -> None:
        """CRI: StopPodSandbox releases the network; idempotent, so RemovePodSandbox calls it too."""
        if data.get("netns") and self.options.network is not None:
            try:
                await self.options.network.teardown(sandbox_id)
            except PodNetworkError as err:
                raise CreateContainerError(str(err)) from None

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        try:
            data = self._sandbox(sandbox_id)
        except NotFoundError:
            return
        for c in await self.list_containers(sandbox_id):
            await self.remove_container(c.id)
        await self._teardown_network(sandbox_id, data)
        self._sandbox_index.pop(sandbox_id, None)
        if not self._by_sandbox.get(sandbox_id):
            self._by_sandbox.pop(sandbox_id, None)
        dirs = [self._sandboxes / sandbox_id, Path(data["log_dir"]) if data.get("log_dir") else None]
        await self._off_loop(files.remove_trees, dirs)  # off the loop (docs/liveness.md)

    async def list_pod_sandboxes(self, uid: str | None = None) -> list[SandboxStatus]:
        out = []
        for sid, data in sorted(self._sandbox_index.items()):
            if uid is not None and data["config"].get("uid") != uid:
                continue
            cfg = PodSandboxConfig(**data["config"])
            state = SandboxState(data["state"])
            if data.get("netns") and not files.exists(data["netns"]):  # its namespace is gone (a reboot): not ready
                state = SandboxState.NOTREADY
            out.append(SandboxStatus(id=sid, config=cfg, state=state,
                                     created_at=data["created_at"], ip=data.get("ip") or self.options.pod_ip))
        return out

    # -- containers --------------------------------------------------------------------------------

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        sandbox = self._sandbox(sandbox_id)
        argv = [*config.command, *config.args]
        if not argv:
            raise ContainerConfigError(
                f"container {config.name!r} has no command: the process runtime runs command + args and has no "
                "image entrypoint to fall back to; set spec.containers[].command"
            )
        cid = secrets.token_hex(32)
        d = self._containers / cid
        log_path = Path(sandbox["log_dir"]) / config.name / f"{config.attempt}.log"
        await self._off_loop(files.make_dirs, d, log_path.parent)  # off the loop (docs/liveness.md)
        env = {"PATH": DEFAULT_PATH, "HOSTNAME": sandbox["config"].get("hostname") or sandbox["config"]["name"]}
        env.update(config.env)
        links = [] if self._private_mounts else files.expose_mounts(config.mounts, env)
        cg_procs: list[str] = []
        cg_dirs: list[str] = []
        oom_control = ""
        if self._cgroups:
            cg = Cgroups(self.options.cgroup_parent, cid)
            try:  # cgroupfs mkdirs and writes can take long on a busy host: off the loop (docs/liveness.md)
                await self._off_loop(cg.create, config.resources)
            except OSError as err:
                await self._off_loop(files.discard_container_files, cg, d)
                raise CreateContainerError(f"setting cgroup limits: {err}") from err
            cg_procs, cg_dirs = cg.procs_files(), [str(p) for p in cg.dirs.values()]
            oom_control = str(cg.dirs["memory"] / "memory.oom_control")
        await self._off_loop(shim.write_json_atomic, d / "config.json", {
            "argv": argv, "env": env, "cwd": config.working_dir or "/",
            "mounts": [asdict(m) for m in config.mounts], "private_mounts": self._private_mounts,
            "log_path": str(log_path), "cgroup_procs": cg_procs, "cgroup_dirs": cg_dirs,
            "memory_oom_control": oom_control, "netns": sandbox.get("netns", ""),
            "stdin": config.stdin, "tty": config.tty,
        })
        meta = {
            "sandbox_id": sandbox_id, "name": config.name, "attempt": config.attempt, "image": config.image,
            "created_at": time.time(), "labels": dict(config.labels), "annotations": dict(config.annotations),
            "log_path": str(log_path), "links": links,
        }
        await self._off_loop(shim.write_json_atomic, d / "meta.json", meta)
        self._index_container(cid, meta)
        log.debug("container created id=%s name=%s", cid[:12], config.name)
        return cid

    def _meta(self, container_id: str) -> dict[str, Any]:
        data = self._meta_index.get(container_id)
        if data is None:
            raise NotFoundError(f"container {container_id!r} not found")
        return data

    async def start_container(self, container_id: str) -> None:
        self._meta(container_id)
        d = self._containers / container_id
        if (d / "started.json").exists() or (d / "exit.json").exists():
            raise CreateContainerError(f"container {container_id[:12]} was already started")
        argv = [sys.executable, "-I", shim.__file__, str(d)]
        try:  # started by the spawn helper: the kubelet never forks (docs/liveness.md)
            _, out = await self._spawner.run(argv, env=None, cwd="/", timeout=self.options.start_timeout,
                                             merge_stderr=False, runtime_cgroup=True)
        except SpawnerGone as err:
            raise CreateContainerError(f"starting the shim: {err}") from None
        line = out.split(b"\n", 1)[0]
        report = json.loads(line or b"{}") if line.strip() else {"error": "shim exited without a report"}
        if "error" in report and not (d / "exit.json").exists():
            shim.write_json_atomic(d / "exit.json", {"exit_code": 128, "reason": "StartError",
                                                     "message": report["error"], "finished_at": time.time()})

    async def stop_container(self, container_id: str, timeout: float) -> None:
        status = await self.container_status(container_id)
        if status.state is not ContainerState.RUNNING:
            return
        d = self._containers / container_id
        started = files.read_json(d / "started.json") or {}
        if timeout > 0 and self._signal(started, signal.SIGTERM) and await self._wait_exit(d, timeout):
            return
        self._signal(started, signal.SIGKILL)
        if not await self._wait_exit(d, self.options.kill_wait):
            log.warning("container did not exit after SIGKILL id=%s", container_id[:12])

    def _signal(self, started: dict[str, Any], sig: signal.Signals) -> bool:
        pid = started.get("pid")
        if not files.alive(pid, started.get("start_ticks")):
            return False
        try:
            os.killpg(int(pid), sig)  # type: ignore[arg-type]
        except ProcessLookupError:
            return False
        return True

    async def _wait_exit(self, d: Path, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not (d / "exit.json").exists():
            started = files.read_json(d / "started.json") or {}
            shim_alive = files.alive(started.get("shim_pid"), started.get("shim_start_ticks"))
            if not shim_alive and not (d / "exit.json").exists():
                return not files.alive(started.get("pid"), started.get("start_ticks"))
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self.options.poll_interval)
        return True

    async def remove_container(self, container_id: str) -> None:
        d = self._containers / container_id
        try:
            meta = self._meta(container_id)
        except NotFoundError:
            return
        await self.stop_container(container_id, 0)
        self._unindex_container(container_id)  # gone for every reader before its files go
        cg = Cgroups(self.options.cgroup_parent, container_id) if self._cgroups else None
        await self._off_loop(files.remove_container_files, cg, d, meta)  # off the loop (docs/liveness.md)

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        out = []
        ids = self._meta_index if sandbox_id is None else self._by_sandbox.get(sandbox_id, ())
        for cid in sorted(ids):
            try:
                out.append(await self.container_status(cid))
            except NotFoundError:
                continue
        return out

    async def container_status(self, container_id: str) -> ContainerStatus:
        meta = self._meta(container_id)
        d = self._containers / container_id
        base: dict[str, Any] = {
            "id": container_id, "sandbox_id": meta["sandbox_id"], "name": meta["name"],
            "attempt": meta["attempt"], "image": meta["image"], "created_at": meta["created_at"],
            "log_path": meta["log_path"], "labels": meta.get("labels") or {},
            "annotations": meta.get("annotations") or {}, "runtime_name": "process",
        }
        started = self._started.get(container_id)
        if started is None:
            started = files.read_json(d / "started.json")
            if started is not None:
                self._started[container_id] = started
        if started and container_id not in self._exits and files.alive(started.get("pid"), started.get("start_ticks")):
            # the main process runs, so the shim has not written exit.json: one /proc read, no other file
            return ContainerStatus(state=ContainerState.RUNNING, started_at=started.get("started_at", 0.0),
                                   pid=started.get("pid", 0), **base)
        exited = self._exits.get(container_id)
        if exited is None:
            exited = files.read_json(d / "exit.json")
            if exited is not None:
                self._exits[container_id] = exited
        if started:
            base.update(started_at=started.get("started_at", 0.0), pid=started.get("pid", 0))
        if exited:
            return ContainerStatus(state=ContainerState.EXITED, finished_at=exited.get("finished_at", 0.0),
                                   exit_code=exited.get("exit_code", 0), reason=exited.get("reason", ""),
                                   message=exited.get("message", ""), **base)
        if not started:
            return ContainerStatus(state=ContainerState.CREATED, **base)
        if files.alive(started.get("pid"), started.get("start_ticks")) or files.alive(
            started.get("shim_pid"), started.get("shim_start_ticks")
        ):
            return ContainerStatus(state=ContainerState.RUNNING, **base)
        return ContainerStatus(
            state=ContainerState.EXITED, exit_code=137, reason="ContainerStatusUnknown", finished_at=time.time(),
            message="the container's shim exited without recording an exit status", **base,
        )

    async def container_stats(self, container_id: str) -> ContainerStats | None:
        """From the container's cgroups when it has them, else from ``/proc`` of its main process only
        (children are not counted then)."""
        status = await self.container_status(container_id)
        if status.state is not ContainerState.RUNNING:
            return None
        now = time.time()
        if self._cgroups:
            cg = Cgroups(self.options.cgroup_parent, container_id)
            cpu, memory = cg.cpu_usage_ns(), cg.memory_usage()
            if cpu is not None and memory is not None:
                return ContainerStats(container_id, now, cpu, memory_working_set_bytes=memory[1],
                                      memory_usage_bytes=memory[0])
        return files.proc_stats(container_id, status.pid, now)

    async def exec_spec(self, container_id: str, cmd: list[str]) -> ExecSpec:
        """How to run ``cmd`` in a running container's context: ``nsenter`` into its mount namespace
        (when it has a private one) and its pod's network namespace, with its env, cwd and cgroups."""
        status = await self.container_status(container_id)
        if status.state is not ContainerState.RUNNING:
            raise NotFoundError(f"container {container_id[:12]} is not running")
        cfg = self._configs.get(container_id)
        if cfg is None:  # config.json never changes once written: read once, not on every exec probe
            cfg = self._configs[container_id] = files.read_json(self._containers / container_id / "config.json") or {}
        argv = list(cmd)
        enter = ["-m"] if self._private_mounts and cfg.get("mounts") else []
        if cfg.get("netns"):
            enter.append("-n")
        if enter:
            argv = ["nsenter", "-t", str(status.pid), *enter, "--", *argv]
        return ExecSpec(argv=argv, env=dict(cfg.get("env") or {}), cwd=cfg.get("cwd") or "/",
                        cgroup_procs=tuple(cfg.get("cgroup_procs") or ()))

    def attach_socket(self, container_id: str) -> str:
        """Where the container's shim serves its stdio for attach (see :mod:`.attach`)."""
        self._meta(container_id)
        return str(self._containers / container_id / attach.SOCKET_NAME)

    def sandbox_netns(self, sandbox_id: str) -> str:
        """The path of the sandbox's network namespace ("" for a pod on the host network)."""
        return str(self._sandbox(sandbox_id).get("netns") or "")

    async def aclose(self) -> None:
        """Stop the spawn helper (the containers, each under its shim, keep running)."""
        await self._spawner.aclose()

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> tuple[int, bytes]:
        spec = await self.exec_spec(container_id, cmd)
        argv = spec.argv
        try:  # by the spawn helper: the kubelet's loop and GIL never pay for a fork (docs/liveness.md)
            return await self._spawner.run(argv, env=spec.env, cwd=spec.cwd, timeout=timeout)
        except TimeoutError:
            raise  # a subclass of OSError, but the probe's timeout, not a failed start
        except SpawnerGone as err:
            raise RuntimeFailure(f"running {argv[0]!r}: {err}") from None
        except OSError as err:
            return 126, shim.exec_error(argv, err).encode()
