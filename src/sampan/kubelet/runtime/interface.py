"""The runtime seam: a CRI-shaped :class:`Runtime` Protocol and the plain data it exchanges.

The shapes follow CRI ``runtime.v1`` (RunPodSandbox, CreateContainer, StartContainer, StopContainer,
RemoveContainer, ListContainers, ContainerStatus) so that a containerd implementation can be dropped in
behind the same Protocol. Everything here is data: no I/O, no clock.

Container state machine (CRI's)::

    CREATED --start--> RUNNING --exit/stop--> EXITED --remove--> (gone)
       \\__________________start failed_______/^

``UNKNOWN`` is reported for a container whose supervisor vanished without recording an exit.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class ContainerState(enum.Enum):
    CREATED = "CONTAINER_CREATED"
    RUNNING = "CONTAINER_RUNNING"
    EXITED = "CONTAINER_EXITED"
    UNKNOWN = "CONTAINER_UNKNOWN"


class SandboxState(enum.Enum):
    READY = "SANDBOX_READY"
    NOTREADY = "SANDBOX_NOTREADY"


class RuntimeFailure(Exception):
    """Base of runtime failures. ``reason`` is the kubelet's waiting reason to report."""

    reason = "RunContainerError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ContainerConfigError(RuntimeFailure):
    """The container spec cannot be turned into a runnable container (no command, missing env ref...)."""

    reason = "CreateContainerConfigError"


class CreateContainerError(RuntimeFailure):
    """The runtime failed to create the container."""

    reason = "CreateContainerError"


class NotFoundError(RuntimeFailure):
    """No sandbox or container with that id."""

    reason = "NotFound"


@dataclass(frozen=True, slots=True)
class Mount:
    """A volume mount: ``host_path`` is visible to the process at ``container_path``."""

    container_path: str
    host_path: str
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class LinuxResources:
    """cgroup limits; None means unlimited. ``cpu_quota_us`` is per ``cpu_period_us``."""

    memory_limit_bytes: int | None = None
    cpu_quota_us: int | None = None
    cpu_period_us: int = 100_000
    cpu_shares: int | None = None
    pids_limit: int | None = None
    cpu_request_milli: int | None = None
    """``resources.requests.cpu`` (else the limit) in millicores: no cgroup knob, but the simulated runtime's
    synthetic usage defaults to it."""
    memory_request_bytes: int | None = None
    """``resources.requests.memory`` (else the limit): likewise informative only."""


@dataclass(frozen=True, slots=True)
class SecurityContext:
    """A container's effective ``securityContext`` (pod-level values already merged in); None = the image's
    or runtime's default. Enforced by runtimes with real isolation (containerd); the process runtime
    ignores it."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    supplemental_groups: tuple[int, ...] = ()
    read_only_root_fs: bool = False
    privileged: bool = False
    allow_privilege_escalation: bool | None = None
    capabilities_add: tuple[str, ...] = ()
    capabilities_drop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PodSandboxConfig:
    """What RunPodSandbox needs: the pod's identity. ``attempt`` grows each time the sandbox is recreated."""

    name: str
    namespace: str
    uid: str
    attempt: int = 0
    hostname: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    host_network: bool = False
    """``spec.hostNetwork``: the pod shares the node's network namespace and address."""
    host_pid: bool = False
    """``spec.hostPID``: the pod's containers see the node's processes (pid namespace NODE)."""
    host_ipc: bool = False
    """``spec.hostIPC``: the node's IPC namespace."""
    share_process_namespace: bool = False
    """``spec.shareProcessNamespace``: one pid namespace for the whole pod (POD); otherwise each container
    has its own (CONTAINER), as upstream's kubelet asks."""


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """What CreateContainer needs. ``command`` + ``args`` is the full argv (the process runtime has no
    image entrypoint to fall back to); ``env`` is already resolved and expanded."""

    name: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str = ""
    mounts: tuple[Mount, ...] = ()
    resources: LinuxResources = field(default_factory=LinuxResources)
    attempt: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    stdin: bool = False
    """``spec.containers[].stdin``: the process reads a stdin that ``attach`` writes to."""
    tty: bool = False
    """``spec.containers[].tty``: the process runs on a pseudo-terminal (attach resizes it)."""
    security: SecurityContext = field(default_factory=SecurityContext)
    termination_message_path: str = ""
    """Where the container may write its termination message ("" = none); the runtime reports the file's
    content (at most 4 KiB) as the exited container's ``message``."""
    termination_message_policy: str = "File"
    """``FallbackToLogsOnError``: a failed container with no message reports its last log lines instead."""
    target_id: str = ""
    """An ephemeral container's ``targetContainerName``, resolved to that container's runtime id: it joins
    the target's process namespace (CRI's pid mode TARGET) when the pod has one per container."""


@dataclass(frozen=True, slots=True)
class SandboxStatus:
    id: str
    config: PodSandboxConfig
    state: SandboxState
    created_at: float
    ip: str = ""


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    """A container as the runtime reports it. Times are epoch seconds (0 = not yet).

    ``exit_code`` and ``reason`` are meaningful once ``state`` is EXITED; ``reason`` is CRI's
    (``Completed``, ``Error``, ``OOMKilled``, ``StartError``) and ``message`` explains a failure.
    """

    id: str
    sandbox_id: str
    name: str
    attempt: int
    image: str
    state: ContainerState
    created_at: float
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    log_path: str = ""
    pid: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    image_ref: str = ""
    """The image the runtime resolved (CRI ``image_ref``: its id, ``sha256:…``); "" for runtimes without images."""
    runtime_name: str = ""
    """The runtime that runs it (``containerd``, ``process``, ``simulated``): the scheme of the API's
    ``containerID`` (``containerd://<id>``), as upstream's ``<runtime name>://<id>``."""


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    """What the runtime can do on this host; the node reports it (e.g. limits unenforced without root)."""

    name: str
    version: str
    enforces_limits: bool
    private_mounts: bool
    pod_cidr: str = ""
    """The CIDR pods get addresses from in their own network namespaces; "" = pods use the host network."""


def exit_reason(exit_code: int, *, oom_killed: bool = False) -> str:
    """CRI's terminated reason for an exit."""
    if oom_killed:
        return "OOMKilled"
    return "Completed" if exit_code == 0 else "Error"


class Runtime(Protocol):
    """A CRI-shaped container runtime. All methods are idempotent where CRI's are (stop and remove of an
    already stopped/removed object succeed). Methods raise :class:`RuntimeFailure` subclasses."""

    def info(self) -> RuntimeInfo: ...

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str: ...

    async def stop_pod_sandbox(self, sandbox_id: str) -> None: ...

    async def remove_pod_sandbox(self, sandbox_id: str) -> None: ...

    async def list_pod_sandboxes(self, uid: str | None = None) -> list[SandboxStatus]:
        """The node's sandboxes, oldest first; with ``uid``, only that pod's (a CRI runtime filters them
        server-side by the ``io.kubernetes.pod.uid`` label, as upstream's kubelet asks: a pod start then
        costs no listing of the whole node)."""

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str: ...

    async def start_container(self, container_id: str) -> None: ...

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; returns once the container has exited."""

    async def remove_container(self, container_id: str) -> None: ...

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]: ...

    async def container_status(self, container_id: str) -> ContainerStatus: ...

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> tuple[int, bytes]:
        """Run ``cmd`` in the container's context; (exit code, combined output). Used by exec probes."""
        ...
