"""Which streaming implementation serves a runtime: the process runtime's own (:mod:`.process`), a CRI
runtime's streaming server (:mod:`.cri`), or, for a static-pod split (control plane on the process
runtime, other pods on containerd), whichever runtime owns the container or sandbox asked for."""

from __future__ import annotations

from sampan.kubelet.runtime.cri.runtime import CRIRuntime
from sampan.kubelet.runtime.interface import NotFoundError, Runtime
from sampan.kubelet.runtime.process import ProcessRuntime
from sampan.kubelet.static_pods.runtime import StaticPodRuntime
from sampan.kubelet.streaming.cri import CRIStreaming
from sampan.kubelet.streaming.interface import CommandIO, PortConnection, StreamingError, StreamingRuntime
from sampan.kubelet.streaming.process import ProcessStreaming


def streaming_for(runtime: Runtime) -> StreamingRuntime | None:
    """The streaming side of ``runtime``; None when it has none (the simulated runtime)."""
    if isinstance(runtime, ProcessRuntime):
        return ProcessStreaming(runtime)
    if isinstance(runtime, CRIRuntime):
        return CRIStreaming(lambda: runtime.client)
    if isinstance(runtime, StaticPodRuntime):
        default, static = streaming_for(runtime.default), streaming_for(runtime.static)
        if default is None and static is None:
            return None
        return SplitStreaming(runtime, default=default, static=static)
    return None


class SplitStreaming:
    """Routes each request to the streaming side of the runtime that owns the id."""

    def __init__(self, split: StaticPodRuntime, *, default: StreamingRuntime | None,
                 static: StreamingRuntime | None) -> None:
        self._split, self._default, self._static = split, default, static

    async def _pick(self, object_id: str) -> StreamingRuntime:
        try:
            owner = await self._split.owner(object_id)
        except NotFoundError as err:
            raise StreamingError(err.message, code=404) from None
        chosen = self._static if owner is self._split.static else self._default
        if chosen is None:
            raise StreamingError(f"the {owner.info().name} runtime does not support streaming", code=400)
        return chosen

    async def exec(self, container_id: str, cmd: list[str], io: CommandIO) -> int:
        return await (await self._pick(container_id)).exec(container_id, cmd, io)

    async def attach(self, container_id: str, io: CommandIO) -> None:
        await (await self._pick(container_id)).attach(container_id, io)

    async def port_forward(self, sandbox_id: str, port: int) -> PortConnection:
        return await (await self._pick(sandbox_id)).port_forward(sandbox_id, port)
