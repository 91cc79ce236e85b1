"""The ``simulated`` runtime: containers "run" without executing anything.

Cheap enough for thousands of nodes in one process: no task, thread or file per container; a
container's state is computed from the clock when asked. Behaviour per container comes from, in order,
its annotations (the kubelet copies the pod's annotations onto each container), the image table in
:class:`SimulatedRuntimeOptions`, then the defaults:

* ``sim.sampan.io/start-delay``: seconds from StartContainer until it is RUNNING (default 0);
* ``sim.sampan.io/run-seconds``: seconds it runs before exiting (default: forever);
* ``sim.sampan.io/exit-code``: its exit code when it exits (default 0);
* ``sim.sampan.io/oom``: ``"true"`` makes the exit an OOM kill (exit code 137);
* ``sim.sampan.io/cpu-usage`` / ``sim.sampan.io/memory-usage``: the synthetic usage it reports through
  ``container_stats`` (default: its requests; see :mod:`~sampan.kubelet.runtime.simulated_stats`).

Per-container keys ``sim.sampan.io/<container-name>.exit-code`` (and so on) override the pod-wide ones.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from sampan._lib.clock import Clock, RealClock
from sampan.kubelet.runtime.interface import (
    ContainerConfig,
    ContainerConfigError,
    ContainerState,
    ContainerStatus,
    NotFoundError,
    PodSandboxConfig,
    RuntimeInfo,
    SandboxState,
    SandboxStatus,
    exit_reason,
)
from sampan.kubelet.runtime.simulated_stats import SyntheticUsage, usage_for
from sampan.kubelet.runtime.stats import ContainerStats

PREFIX = "sim.sampan.io/"

_ID_PREFIX = secrets.token_hex(8)
"""Random per process: IDs of two processes (a restarted hollow-node process) do not collide."""
_ID_COUNTER = itertools.count(1)


def new_id(length: int) -> str:
    """A sandbox or container ID of ``length`` hex digits, unique in the process: the process's random
    prefix, then a counter (``secrets.token_hex`` for every sandbox and container took ~3.6% of a 5,000-node
    hollow process's samples; IDs need not be unguessable, only unique)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):0{length - len(_ID_PREFIX)}x}"


@dataclass(frozen=True, slots=True)
class Behaviour:
    start_delay: float = 0.0
    run_seconds: float | None = None
    exit_code: int = 0
    oom: bool = False


@dataclass(frozen=True, slots=True)
class SimulatedRuntimeOptions:
    images: Mapping[str, Behaviour] = field(default_factory=dict)
    """Behaviour per image name (exact match, tag included)."""
    default: Behaviour = Behaviour()
    pod_ip: str = "127.0.0.1"
    require_command: bool = False
    """Fail like the process runtime does for a container without a command."""


@dataclass(slots=True)
class _Container:
    status: ContainerStatus
    behaviour: Behaviour
    usage: SyntheticUsage = field(default_factory=SyntheticUsage)
    start_requested: float = 0.0
    stopped: tuple[float, int, str] | None = None
    """(finished_at, exit_code, reason) once stopped from outside."""
    running: ContainerStatus | None = None
    """The RUNNING record of a started container that never exits by itself, built once: it is the same
    until the container is stopped (a pod worker lists its containers twice per sync; a
    ``dataclasses.replace`` each time was the largest cost of a hollow pod's resync)."""


def behaviour_for(config: ContainerConfig, options: SimulatedRuntimeOptions) -> Behaviour:
    """The behaviour of one container; raises ContainerConfigError on an unparsable annotation."""
    b = options.images.get(config.image, options.default)
    ann = config.annotations

    def pick(key: str) -> str | None:
        return ann.get(f"{PREFIX}{config.name}.{key}", ann.get(f"{PREFIX}{key}"))

    try:
        if (v := pick("start-delay")) is not None:
            b = replace(b, start_delay=float(v))
        if (v := pick("run-seconds")) is not None:
            b = replace(b, run_seconds=float(v))
        if (v := pick("exit-code")) is not None:
            b = replace(b, exit_code=int(v))
    except ValueError as err:
        raise ContainerConfigError(f"bad simulated-runtime annotation on container {config.name!r}: {err}") from err
    if (v := pick("oom")) is not None:
        b = replace(b, oom=v.lower() == "true")
    return b


class SimulatedRuntime:
    """In-memory runtime on an injected clock. Invariant: a container id is in ``_containers`` from
    create until remove, and its ``status.sandbox_id`` names a sandbox in ``_sandboxes``."""

    def __init__(self, options: SimulatedRuntimeOptions | None = None, *, clock: Clock | None = None) -> None:
        self.options = options or SimulatedRuntimeOptions()
        self._clock = clock or RealClock()
        self._sandboxes: dict[str, SandboxStatus] = {}
        self._containers: dict[str, _Container] = {}
        self.starts = 0
        self._retired_cpu_ns = 0
        """CPU time of removed containers, so the node's cumulative counter never decreases."""
        """How many containers were started (tests check for duplicates)."""

    def info(self) -> RuntimeInfo:
        return RuntimeInfo(name="simulated", version="0.1.0", enforces_limits=False, private_mounts=False)

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        sid = new_id(32)
        self._sandboxes[sid] = SandboxStatus(id=sid, config=config, state=SandboxState.READY,
                                             created_at=self._clock.wall(), ip=self.options.pod_ip)
        return sid

    def _sandbox(self, sandbox_id: str) -> SandboxStatus:
        try:
            return self._sandboxes[sandbox_id]
        except KeyError:
            raise NotFoundError(f"pod sandbox {sandbox_id!r} not found") from None

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        sb = self._sandbox(sandbox_id)
        for cid, c in list(self._containers.items()):
            if c.status.sandbox_id == sandbox_id:
                await self.stop_container(cid, 0)
        self._sandboxes[sandbox_id] = replace(sb, state=SandboxState.NOTREADY)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        for cid, c in list(self._containers.items()):
            if c.status.sandbox_id == sandbox_id:
                await self.remove_container(cid)
        self._sandboxes.pop(sandbox_id, None)

    async def list_pod_sandboxes(self, uid: str | None = None) -> list[SandboxStatus]:
        return [sb for sb in self._sandboxes.values() if uid is None or sb.config.uid == uid]

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        self._sandbox(sandbox_id)
        if self.options.require_command and not (config.command or config.args):
            raise ContainerConfigError(f"container {config.name!r} has no command")
        behaviour = behaviour_for(config, self.options)
        usage = usage_for(config)
        cid = new_id(64)
        status = ContainerStatus(
            id=cid, sandbox_id=sandbox_id, name=config.name, attempt=config.attempt, image=config.image,
            state=ContainerState.CREATED, created_at=self._clock.wall(), labels=dict(config.labels),
            annotations=dict(config.annotations), runtime_name="simulated",
        )
        self._containers[cid] = _Container(status=status, behaviour=behaviour, usage=usage)
        return cid

    def _get(self, container_id: str) -> _Container:
        try:
            return self._containers[container_id]
        except KeyError:
            raise NotFoundError(f"container {container_id!r} not found") from None

    async def start_container(self, container_id: str) -> None:
        c = self._get(container_id)
        if c.start_requested:
            return
        self.starts += 1
        c.start_requested = self._clock.wall()
        c.status = replace(c.status, started_at=c.start_requested + c.behaviour.start_delay)

    def _current(self, c: _Container) -> ContainerStatus:
        now = self._clock.wall()
        st, b = c.status, c.behaviour
        if c.stopped is not None:
            finished, code, reason = c.stopped
            return replace(st, state=ContainerState.EXITED, finished_at=finished, exit_code=code, reason=reason)
        if not c.start_requested:
            return st
        if b.run_seconds is not None and now >= st.started_at + b.run_seconds:
            code = 137 if b.oom else b.exit_code
            return replace(st, state=ContainerState.EXITED, finished_at=st.started_at + b.run_seconds,
                           exit_code=code, reason=exit_reason(code, oom_killed=b.oom))
        if now >= st.started_at:
            if b.run_seconds is None:
                if c.running is None:
                    c.running = replace(st, state=ContainerState.RUNNING)
                return c.running
            return replace(st, state=ContainerState.RUNNING)
        return st

    async def stop_container(self, container_id: str, timeout: float) -> None:
        c = self._get(container_id)
        cur = self._current(c)
        if cur.state is ContainerState.EXITED:
            c.stopped = (cur.finished_at, cur.exit_code, cur.reason)
        elif c.start_requested:
            c.stopped = (self._clock.wall(), 143 if timeout > 0 else 137, "Error")
        else:
            c.stopped = (self._clock.wall(), 0, "")

    async def remove_container(self, container_id: str) -> None:
        c = self._containers.pop(container_id, None)
        if c is not None:
            self._retired_cpu_ns += self._cpu_ns(c, self._now_ms())

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return [self._current(c) for c in self._containers.values()
                if sandbox_id is None or c.status.sandbox_id == sandbox_id]

    async def container_status(self, container_id: str) -> ContainerStatus:
        return self._current(self._get(container_id))

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> tuple[int, bytes]:
        """Exec probes against a simulated container succeed while it runs (exit code 0)."""
        st = await self.container_status(container_id)
        if st.state is not ContainerState.RUNNING:
            raise NotFoundError(f"container {container_id[:12]} is not running")
        return 0, b""

    # -- synthetic stats (StatsProvider, NodeUsageProvider) -----------------------------------------------
    def _now_ms(self) -> int:
        return int(self._clock.wall() * 1000)

    def _cpu_ns(self, c: _Container, now_ms: int) -> int:
        cur = self._current(c)
        if not c.start_requested or cur.state is ContainerState.CREATED:
            return 0
        end_ms = int(cur.finished_at * 1000) if cur.state is ContainerState.EXITED else now_ms
        return c.usage.cpu_ns(min(end_ms, now_ms) - int(cur.started_at * 1000))

    async def container_stats(self, container_id: str) -> ContainerStats | None:
        """The container's synthetic counters while it runs (None otherwise)."""
        c = self._containers.get(container_id)
        if c is None or self._current(c).state is not ContainerState.RUNNING:
            return None
        now_ms = self._now_ms()
        return ContainerStats(container_id=container_id, timestamp=now_ms / 1000,
                              cpu_usage_core_ns=self._cpu_ns(c, now_ms), memory_working_set_bytes=c.usage.memory_bytes,
                              memory_usage_bytes=c.usage.memory_bytes)

    def node_usage(self) -> tuple[float, int, int]:
        """(time, cumulative CPU ns, working set bytes) of the whole simulated node: its containers' sums."""
        now_ms = self._now_ms()
        cpu = self._retired_cpu_ns + sum(self._cpu_ns(c, now_ms) for c in self._containers.values())
        memory = sum(c.usage.memory_bytes for c in self._containers.values()
                     if self._current(c).state is ContainerState.RUNNING)
        return now_ms / 1000, cpu, memory
