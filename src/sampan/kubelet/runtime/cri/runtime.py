"""The kubelet's :class:`~sampan.kubelet.runtime.interface.Runtime` over any CRI runtime (containerd here).

Every pod operation is a CRI call; nothing shells out. What the runtime does not do itself, this class
does on the kubelet's side, as upstream's kubelet does:

* **Identity and re-adoption.** Sandboxes and containers carry the kubelet's ``io.kubernetes.*`` labels
  plus ``sampan.io/node=<node>``; every List call filters on the node label, so several kubelets may
  share one runtime and a restarted kubelet finds exactly its own pods again (same ids, nothing
  recreated). The only in-memory state is a cache of sandbox IPs (an IP never changes for a sandbox).
* **Logs.** The sandbox's CRI ``log_directory`` is ``<log_root>/<ns>_<pod>_<uid>`` and each container logs
  to ``<container>/<attempt>.log`` in it (CRI format, written by the runtime); ``kubectl logs`` reads the
  absolute path from the container status. RemoveContainer deletes the file, RemovePodSandbox the dir.
* **Termination message.** A host file ``<container>/<attempt>.termination-log`` in the same directory is
  bind-mounted at ``terminationMessagePath``; an exited container's status message is its content
  (at most 4 KiB), or, with ``FallbackToLogsOnError`` and a failure, the log's last lines.
* **cgroups.** Each pod's containers live under ``<cgroup_root>/pod<uid>`` (cgroupfs, v1); the runtime
  leaves that empty directory behind, RemovePodSandbox deletes it in every hierarchy.
* **Images.** Without an image manager (see :mod:`sampan.kubelet.runtime.images`), CreateContainer pulls
  a missing image first (pull-if-absent, serialized when ``serialize_image_pulls``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sampan.kubelet.runtime.cri import convert
from sampan.kubelet.runtime.cri.client import CRIClient, CRIError, CRINotFound
from sampan.kubelet.runtime.cri.images import CRIImageService
from sampan.kubelet.runtime.cri.relist import SharedListing
from sampan.kubelet.runtime.images import ImagePullError
from sampan.kubelet.runtime.interface import (
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    CreateContainerError,
    NotFoundError,
    PodSandboxConfig,
    RuntimeFailure,
    RuntimeInfo,
    SandboxStatus,
)
from sampan.kubelet.runtime.stats import ContainerStats

log = logging.getLogger(__name__)

CGROUP_FS = Path("/sys/fs/cgroup")
MAX_TERMINATION_MESSAGE = 4096
FALLBACK_LOG_LINES = 80


@dataclass(frozen=True, slots=True)
class CRIRuntimeOptions:
    endpoint: str
    """``--container-runtime-endpoint`` (``unix:///…/containerd.sock``)."""
    node_name: str
    log_root: Path
    """Where pod log directories live (``<kubelet root>/logs``)."""
    image_endpoint: str = ""
    """``--image-service-endpoint`` ("" = the runtime endpoint)."""
    cgroup_root: str = "/sampan-pods"
    serialize_image_pulls: bool = True
    pull_if_absent: bool = True
    """CreateContainer pulls a missing image (off once the kubelet's image manager decides pulls)."""
    runtime_name: str = "containerd"
    host_ip: str = "127.0.0.1"
    """The node's address: the IP of ``hostNetwork`` pods (the runtime reports none for them)."""
    relist_period: float = 1.0
    """How old a node-wide container listing may be when a pod worker asks for its sandbox's containers
    (upstream's PLEG relist period; 0: one ListContainers per call). See :mod:`.relist`."""


def _read_tail(path: str, limit: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _log_lines_tail(path: str, lines: int) -> str:
    """The last ``lines`` of a CRI log file, as the container wrote them (timestamps and tags dropped)."""
    out = []
    for line in _read_tail(path, 64 * 1024).splitlines()[-lines:]:
        parts = line.split(" ", 3)
        out.append(parts[3] if len(parts) == 4 else line)
    return "\n".join(out)[-MAX_TERMINATION_MESSAGE:]


class CRIRuntime:
    """A CRI runtime behind the kubelet's Runtime Protocol; also the node's ImageService (``images``)."""

    def __init__(self, options: CRIRuntimeOptions, *, client: CRIClient | None = None) -> None:
        self.options = options
        self._client = client
        self.images: CRIImageService | None = None
        self._ips: dict[str, str] = {}
        """sandbox id -> pod IP (fixed for a sandbox's life)."""
        self._sandboxes: dict[str, Any] = {}
        """sandbox id -> its PodSandboxStatus (metadata, labels and annotations are fixed for its life):
        CreateContainer needs them, and asking again for every container start is one RPC per start."""
        self._sandbox_of: dict[str, str] = {}
        """container id -> its sandbox id (ContainerStatus does not carry it; fixed for a container's life)."""
        self._settled: dict[str, ContainerStatus] = {}
        """container id -> its last RUNNING or EXITED status: ListContainers reports the state, and while it
        is unchanged the status is too (a running container's start time, an exited one's everything), so
        list_containers asks ContainerStatus only after a transition (one RPC per pod sync, not 1 + N)."""
        self._version = ""
        self._pod_cidr = ""
        self._listing = SharedListing(lambda: self.client.list_containers(labels=self._mine),
                                      max_age=options.relist_period)

    @property
    def client(self) -> CRIClient:
        """The gRPC client, made on first use (a grpc.aio channel belongs to the running loop)."""
        if self._client is None:
            self._client = CRIClient(self.options.endpoint, image_endpoint=self.options.image_endpoint)
        if self.images is None:
            self.images = CRIImageService(self._client, serialize=self.options.serialize_image_pulls)
        return self._client

    @property
    def operations(self) -> Mapping[str, int]:
        """CRI calls made so far, by method (``kubelet_runtime_operations_total``)."""
        return self._client.operations if self._client is not None else {}

    @property
    def image_service(self) -> CRIImageService:
        self.client  # noqa: B018 - creates both
        assert self.images is not None
        return self.images

    async def start(self) -> None:
        """Check the runtime answers (Version); remembered for :meth:`info`."""
        try:
            version = await self.client.version()
        except CRIError as err:
            raise RuntimeFailure(f"container runtime at {self.options.endpoint} is not answering: {err.message}") \
                from None
        self._version = f"{version.runtime_name}://{version.runtime_version}"
        log.info("container runtime runtime=%s api=%s", self._version, version.runtime_api_version)

    async def close(self) -> None:
        await self._listing.close()
        if self._client is not None:
            await self._client.close()

    async def set_pod_cidr(self, cidr: str) -> None:
        """Hand the node's pod CIDR to the runtime (CRI UpdateRuntimeConfig: containerd renders its CNI
        config template with it)."""
        await self._wrap(self.client.update_pod_cidr(cidr))
        self._pod_cidr = cidr

    def info(self) -> RuntimeInfo:
        name, _, version = self._version.partition("://")
        return RuntimeInfo(name=name or self.options.runtime_name, version=version, enforces_limits=True,
                           private_mounts=True, pod_cidr=self._pod_cidr)

    async def _wrap(self, coro: Any) -> Any:
        try:
            return await coro
        except CRINotFound as err:
            raise NotFoundError(err.message) from None
        except CRIError as err:
            raise CreateContainerError(err.message) from None

    @property
    def _mine(self) -> dict[str, str]:
        return {convert.NODE_LABEL: self.options.node_name}

    # -- sandboxes ---------------------------------------------------------------------------------

    def _log_dir(self, config: PodSandboxConfig) -> Path:
        return self.options.log_root / f"{config.namespace}_{config.name}_{config.uid}"

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        log_dir = self._log_dir(config)
        log_dir.mkdir(parents=True, exist_ok=True)
        cfg = convert.sandbox_config(config, node=self.options.node_name, log_directory=str(log_dir),
                                     cgroup_parent=f"{self.options.cgroup_root}/pod{config.uid}")
        sid: str = await self._wrap(self.client.run_pod_sandbox(cfg))
        self._listing.changed(sid)
        status = await self._wrap(self.client.pod_sandbox_status(sid))
        self._ips[sid] = status.network.ip or self.options.host_ip
        self._sandboxes[sid] = status
        log.info("sandbox created id=%s pod=%s/%s ip=%s", sid[:12], config.namespace, config.name, self._ips[sid])
        return sid

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        try:
            await self._wrap(self.client.stop_pod_sandbox(sandbox_id))
        finally:
            self._listing.changed(sandbox_id)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        try:
            status = await self.client.pod_sandbox_status(sandbox_id)
        except CRINotFound:
            self._ips.pop(sandbox_id, None)
            self._sandboxes.pop(sandbox_id, None)
            return
        except CRIError as err:
            raise CreateContainerError(err.message) from None
        for c in await self.list_containers(sandbox_id):
            await self.remove_container(c.id)
        try:
            await self.client.remove_pod_sandbox(sandbox_id)
        except CRINotFound:
            pass
        except CRIError as err:
            raise CreateContainerError(err.message) from None
        self._ips.pop(sandbox_id, None)
        self._sandboxes.pop(sandbox_id, None)
        self._listing.forget(sandbox_id)
        md = status.metadata
        shutil.rmtree(self.options.log_root / f"{md.namespace}_{md.name}_{md.uid}", ignore_errors=True)
        await asyncio.to_thread(self._remove_pod_cgroups, md.uid)

    def _remove_pod_cgroups(self, uid: str) -> None:
        """rmdir the pod's (empty) cgroup in every v1 hierarchy; a non-empty one is left (never forced)."""
        rel = f"{self.options.cgroup_root}/pod{uid}".lstrip("/")
        try:
            hierarchies = list(CGROUP_FS.iterdir())
        except OSError:
            return
        for h in hierarchies:
            path = h / rel
            if path.is_dir():
                for child in sorted(path.iterdir(), reverse=True):
                    if child.is_dir():
                        with contextlib.suppress(OSError):
                            child.rmdir()
                with contextlib.suppress(OSError):
                    path.rmdir()

    async def list_pod_sandboxes(self, uid: str | None = None) -> list[SandboxStatus]:
        labels = self._mine if uid is None else {**self._mine, convert.POD_UID_LABEL: uid}
        items = await self._wrap(self.client.list_pod_sandboxes(labels))
        out = []
        for item in items:
            if uid is not None and item.metadata.uid != uid:
                continue
            ip = self._ips.get(item.id)
            if ip is None:
                try:
                    status = await self.client.pod_sandbox_status(item.id)
                    ip = self._ips[item.id] = status.network.ip or self.options.host_ip
                except CRIError:
                    continue  # removed meanwhile
            out.append(convert.sandbox_status(item, ip=ip))
        out.sort(key=lambda s: s.created_at)
        return out

    # -- containers --------------------------------------------------------------------------------

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            try:
                sb = self._sandboxes[sandbox_id] = await self.client.pod_sandbox_status(sandbox_id)
            except CRINotFound:
                raise NotFoundError(f"pod sandbox {sandbox_id!r} not found") from None
            except CRIError as err:
                raise CreateContainerError(err.message) from None
        if self.options.pull_if_absent:
            await self._ensure_image(config.image)
        md = sb.metadata
        log_dir = self.options.log_root / f"{md.namespace}_{md.name}_{md.uid}"
        rel_log = f"{config.name}/{config.attempt}.log"
        (log_dir / config.name).mkdir(parents=True, exist_ok=True)
        extra: tuple[tuple[str, str], ...] = ()
        if config.termination_message_path:
            term = log_dir / config.name / f"{config.attempt}.termination-log"
            term.write_bytes(b"")
            term.chmod(0o666)
            extra = ((config.termination_message_path, str(term)),)
        pod = convert.with_namespace_labels(PodSandboxConfig(
            name=md.name, namespace=md.namespace, uid=md.uid, attempt=md.attempt, labels=dict(sb.labels),
            annotations=dict(sb.annotations)))
        sandbox_cfg = convert.sandbox_config(pod, node=self.options.node_name, log_directory=str(log_dir),
                                             cgroup_parent=f"{self.options.cgroup_root}/pod{md.uid}")
        cfg = convert.container_config(config, node=self.options.node_name, log_path=rel_log, extra_mounts=extra,
                                       namespaces=convert.namespace_options(pod))
        try:
            cid: str = await self._wrap(self.client.create_container(sandbox_id, cfg, sandbox_cfg))
        finally:
            self._listing.changed(sandbox_id)
        self._sandbox_of[cid] = sandbox_id
        log.debug("container created id=%s name=%s", cid[:12], config.name)
        return cid

    async def _ensure_image(self, image: str) -> None:
        images = self.image_service
        try:
            if await images.image_status(image) is not None:
                return
            await images.pull_image(image)
        except ImagePullError:
            raise
        except RuntimeFailure as err:
            raise ImagePullError(err.message) from None

    def _changed(self, container_id: str) -> None:
        self._listing.changed(self._sandbox_of.get(container_id, ""))

    async def start_container(self, container_id: str) -> None:
        try:
            await self._wrap(self.client.start_container(container_id))
        finally:
            self._changed(container_id)

    async def stop_container(self, container_id: str, timeout: float) -> None:
        try:
            await self.client.stop_container(container_id, timeout)
        except CRINotFound:
            return
        except CRIError as err:
            raise CreateContainerError(err.message) from None
        finally:
            self._changed(container_id)

    async def remove_container(self, container_id: str) -> None:
        try:
            status = await self.client.container_status(container_id)
        except CRINotFound:
            return
        except CRIError as err:
            raise CreateContainerError(err.message) from None
        try:
            await self.client.remove_container(container_id)
        except CRINotFound:
            pass
        except CRIError as err:
            raise CreateContainerError(err.message) from None
        finally:
            self._changed(container_id)
        self._sandbox_of.pop(container_id, None)
        self._settled.pop(container_id, None)
        if status.log_path:
            for path in (status.log_path, status.log_path.removesuffix(".log") + ".termination-log"):
                with contextlib.suppress(OSError):
                    os.unlink(path)

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        """The node's containers (of one sandbox); a pod worker's per-sync call is served by a node-wide
        listing shared with the other workers (:mod:`.relist`)."""
        items = await self._wrap(self._listing.get(sandbox_id or ""))
        out = []
        for item in items:
            if sandbox_id and item.pod_sandbox_id != sandbox_id:
                continue
            self._sandbox_of[item.id] = item.pod_sandbox_id
            cached = self._settled.get(item.id)
            if cached is not None and cached.state is convert.container_state(item.state):
                out.append(cached)  # still running since we last looked, or exited for good: nothing changed
                continue
            try:
                out.append(await self._status(item.id, sandbox_id=item.pod_sandbox_id))
            except NotFoundError:
                continue
        return out

    async def container_status(self, container_id: str) -> ContainerStatus:
        return await self._status(container_id, sandbox_id="")

    async def _status(self, container_id: str, *, sandbox_id: str) -> ContainerStatus:
        st = await self._wrap(self.client.container_status(container_id))
        message = ""
        if st.state == 2 and st.log_path:  # EXITED: the termination message, if any
            message = _read_tail(st.log_path.removesuffix(".log") + ".termination-log", MAX_TERMINATION_MESSAGE)
            policy = st.annotations.get(convert.TERMINATION_POLICY_ANNOTATION, "")
            if not message and st.exit_code != 0 and policy == "FallbackToLogsOnError":
                message = _log_lines_tail(st.log_path, FALLBACK_LOG_LINES)
        if sandbox_id:
            self._sandbox_of[container_id] = sandbox_id
        else:
            sandbox_id = self._sandbox_of.get(container_id, "")
            if not sandbox_id:
                for item in await self._wrap(self.client.list_containers(labels=self._mine)):
                    self._sandbox_of[item.id] = item.pod_sandbox_id
                sandbox_id = self._sandbox_of.get(container_id, "")
        status = convert.container_status(st, sandbox_id=sandbox_id, message=message, runtime_name=self.info().name)
        if status.state in (ContainerState.RUNNING, ContainerState.EXITED):
            self._settled[container_id] = status
        return status

    async def container_stats(self, container_id: str) -> ContainerStats | None:
        """CRI ``ContainerStats`` (what containerd reads from the container's cgroup); None when the container
        is not running or the runtime has no figures for it yet."""
        status = await self.container_status(container_id)
        if status.state is not ContainerState.RUNNING:
            return None
        try:
            stats = await self.client.container_stats(container_id)
        except CRIError as err:
            log.debug("no stats for container %s: %s", container_id[:12], err.message)
            return None
        if not stats.HasField("cpu") or not stats.HasField("memory"):
            return None
        stamp = (stats.cpu.timestamp or stats.memory.timestamp) / 1e9 or time.time()
        return ContainerStats(container_id, stamp, int(stats.cpu.usage_core_nano_seconds.value),
                              memory_working_set_bytes=int(stats.memory.working_set_bytes.value),
                              memory_usage_bytes=int(stats.memory.usage_bytes.value))

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> tuple[int, bytes]:
        status = await self.container_status(container_id)
        if status.state is not ContainerState.RUNNING:
            raise NotFoundError(f"container {container_id[:12]} is not running")
        try:
            resp = await self.client.exec_sync(container_id, cmd, timeout)
        except CRIError as err:
            if err.code.name == "DEADLINE_EXCEEDED" or "timeout" in err.message.lower():
                raise TimeoutError(err.message) from None
            return 126, err.message.encode()
        return int(resp.exit_code), bytes(resp.stdout) + bytes(resp.stderr)
