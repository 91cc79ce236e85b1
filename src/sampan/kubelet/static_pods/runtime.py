"""A runtime that runs static pods on one runtime and every other pod on another.

``sampan up --runtime simulated`` still needs a real control plane: its first kubelet runs the control
plane's static pods on the process runtime while the pods from the API are simulated. The split is by the
sandbox's ``kubernetes.io/config.source`` annotation (``file`` = a static pod), the way a CRI runtime picks
a handler per sandbox. Ids are remembered per runtime as they are handed out or listed; an id neither
runtime is known to own is looked up by listing both.
"""

from __future__ import annotations

from collections.abc import Mapping

from sampan.kubelet.runtime.interface import (
    ContainerConfig,
    ContainerStatus,
    NotFoundError,
    PodSandboxConfig,
    Runtime,
    RuntimeInfo,
    SandboxStatus,
)
from sampan.kubelet.runtime.stats import ContainerStats, StatsProvider
from sampan.kubelet.static_pods.manifests import CONFIG_SOURCE, SOURCE_FILE


class StaticPodRuntime:
    """Implements :class:`~sampan.kubelet.runtime.interface.Runtime`. Invariant: an id in ``_owner`` maps
    to the runtime that created it."""

    def __init__(self, default: Runtime, static: Runtime) -> None:
        self.default = default
        self.static = static
        self._owner: dict[str, Runtime] = {}

    def info(self) -> RuntimeInfo:
        return self.default.info()

    @property
    def operations(self) -> Mapping[str, int]:
        """The pod runtime's CRI calls by method, when it counts them (a CRI runtime does)."""
        counted: Mapping[str, int] = getattr(self.default, "operations", {})
        return counted

    async def _find(self, object_id: str) -> Runtime:
        owner = self._owner.get(object_id)
        if owner is not None:
            return owner
        for rt in (self.static, self.default):
            for sb in await rt.list_pod_sandboxes():
                self._owner[sb.id] = rt
            for c in await rt.list_containers():
                self._owner[c.id] = rt
        owner = self._owner.get(object_id)
        if owner is None:
            raise NotFoundError(f"no sandbox or container {object_id}")
        return owner

    async def owner(self, object_id: str) -> Runtime:
        """The runtime that runs this sandbox or container (NotFoundError if neither does)."""
        return await self._find(object_id)

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        rt = self.static if config.annotations.get(CONFIG_SOURCE) == SOURCE_FILE else self.default
        sandbox_id = await rt.run_pod_sandbox(config)
        self._owner[sandbox_id] = rt
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        await (await self._find(sandbox_id)).stop_pod_sandbox(sandbox_id)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        await (await self._find(sandbox_id)).remove_pod_sandbox(sandbox_id)
        self._owner.pop(sandbox_id, None)

    async def list_pod_sandboxes(self, uid: str | None = None) -> list[SandboxStatus]:
        out: list[SandboxStatus] = []
        for rt in (self.static, self.default):
            listed = await rt.list_pod_sandboxes(uid)
            for sb in listed:
                self._owner[sb.id] = rt
            out.extend(listed)
        return out

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        rt = await self._find(sandbox_id)
        container_id = await rt.create_container(sandbox_id, config)
        self._owner[container_id] = rt
        return container_id

    async def start_container(self, container_id: str) -> None:
        await (await self._find(container_id)).start_container(container_id)

    async def stop_container(self, container_id: str, timeout: float) -> None:
        await (await self._find(container_id)).stop_container(container_id, timeout)

    async def remove_container(self, container_id: str) -> None:
        await (await self._find(container_id)).remove_container(container_id)
        self._owner.pop(container_id, None)

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        if sandbox_id is not None:
            return await (await self._find(sandbox_id)).list_containers(sandbox_id)
        return [*await self.static.list_containers(), *await self.default.list_containers()]

    async def container_status(self, container_id: str) -> ContainerStatus:
        return await (await self._find(container_id)).container_status(container_id)

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> tuple[int, bytes]:
        return await (await self._find(container_id)).exec_sync(container_id, cmd, timeout)

    async def container_stats(self, container_id: str) -> ContainerStats | None:
        """The owning runtime's figures (see :class:`~sampan.kubelet.runtime.stats.StatsProvider`); None when
        it cannot measure or no longer runs the container."""
        try:
            owner = await self._find(container_id)
        except NotFoundError:
            return None
        return await owner.container_stats(container_id) if isinstance(owner, StatsProvider) else None
