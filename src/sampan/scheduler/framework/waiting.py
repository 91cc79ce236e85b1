"""Pods held at Permit: a pod waits until every plugin that said WAIT allows it, one rejects it, or a
plugin's timeout passes (then it is rejected with "rejected due to timeout after waiting …").

States of a waiting pod: waiting -> allowed | rejected. ``wait`` resolves to None (allowed) or the
rejection Status, and removes the entry.
"""

from __future__ import annotations

import asyncio

from sampan._lib.clock import Clock
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import Code, Status


class WaitingPod:
    def __init__(self, pod: PodInfo, pending: dict[str, float]) -> None:
        self.pod = pod
        self.pending = dict(pending)
        self.result: asyncio.Future[Status | None] = asyncio.get_running_loop().create_future()

    def allow(self, plugin: str) -> None:
        self.pending.pop(plugin, None)
        if not self.pending and not self.result.done():
            self.result.set_result(None)

    def reject(self, plugin: str, message: str) -> None:
        if not self.result.done():
            self.result.set_result(Status(Code.UNSCHEDULABLE, message, plugin=plugin))


class WaitingPods:
    """uid -> WaitingPod. Owned by the framework; mutated only from the event loop."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._pods: dict[str, WaitingPod] = {}

    def add(self, pod: PodInfo, pending: dict[str, float]) -> WaitingPod:
        wp = WaitingPod(pod, pending)
        self._pods[pod.uid] = wp
        return wp

    def get(self, uid: str) -> WaitingPod | None:
        return self._pods.get(uid)

    def __len__(self) -> int:
        return len(self._pods)

    async def wait(self, uid: str) -> Status | None:
        wp = self._pods.get(uid)
        if wp is None:
            return None
        plugin, timeout = min(wp.pending.items(), key=lambda kv: kv[1])

        async def expire() -> None:
            await self._clock.sleep(timeout)
            wp.reject(plugin, f"rejected due to timeout after waiting {timeout:g}s at plugin {plugin}")

        timer = asyncio.ensure_future(expire())
        try:
            return await wp.result
        finally:
            timer.cancel()
            self._pods.pop(uid, None)
