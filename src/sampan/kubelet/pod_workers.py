"""All pod workers of one kubelet: admission, one :class:`~sampan.kubelet.pod_worker.PodWorker` per pod
(see there for what a worker does), removal and orphan clean-up.

:class:`PodWorkers` owns the workers' tasks; its mutators are synchronous and called from one task (the
pod informer's handler).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan._lib.tasks import cancel_and_wait
from sampan.api.podresources import pod_requests
from sampan.api.quantity import Quantity
from sampan.kubelet.admission import Admission, admit
from sampan.kubelet.api_status import EventSink
from sampan.kubelet.backoff import RestartBackoff
from sampan.kubelet.containers import POD_UID
from sampan.kubelet.images.manager import ImageManager
from sampan.kubelet.pod_worker import PodWorker, PodWorkerOptions, WorkerShared, grace_period, guarded
from sampan.kubelet.runtime.interface import Runtime
from sampan.kubelet.status_manager import PodStatusSink, pod_key
from sampan.kubelet.volumes.manager import VolumeManager

__all__ = ["PodWorkerOptions", "PodWorkers"]


class PodWorkers:
    """All pod workers of one kubelet. Invariant: a uid is in ``workers`` from the first update until
    its worker has terminated the pod."""

    def __init__(self, runtime: Runtime, *, sink: PodStatusSink, volumes: VolumeManager,
                 options: PodWorkerOptions | None = None, clock: Clock | None = None,
                 images: ImageManager | None = None) -> None:
        clock = clock or RealClock()
        opts = options or PodWorkerOptions()
        self._shared = WorkerShared(runtime=runtime, volumes=volumes, sink=sink, clock=clock, options=opts,
                                    images=images, backoff=RestartBackoff(clock=clock, policy=opts.backoff_policy))
        self.workers: dict[str, PodWorker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._requests: dict[str, tuple[str, Mapping[str, Quantity]]] = {}

    def admit(self, pod: Mapping[str, Any]) -> Admission:
        """Whether a new pod fits beside the running ones (call before the first :meth:`update_pod`)."""
        running = [w.pod for w in self.workers.values()
                   if w.terminating is None and (w.last_status or {}).get("phase") not in ("Succeeded", "Failed")]
        return admit(pod, allocatable=self._shared.options.node_allocatable, admitted=running,
                     requests_of=self._requests_of)

    def _requests_of(self, pod: Mapping[str, Any]) -> Mapping[str, Quantity]:
        """``pod_requests`` memoized per pod uid and resourceVersion (admission sums every running pod's)."""
        md = pod.get("metadata") or {}
        uid, rv = md.get("uid", ""), md.get("resourceVersion", "")
        hit = self._requests.get(uid)
        if hit is not None and hit[0] == rv and uid:
            return hit[1]
        found = pod_requests(pod)
        if uid:
            if len(self._requests) > 4 * len(self.workers) + 64:  # forget pods that are gone
                self._requests = {u: v for u, v in self._requests.items() if u in self.workers}
            self._requests[uid] = (rv, found)
        return found

    def set_events(self, events: EventSink | None) -> None:
        """Record probe events (``Unhealthy``, ``Killing``) to ``events`` from now on."""
        self._shared.events = events

    def update_pod(self, pod: Mapping[str, Any]) -> None:
        """A pod bound to this node was added or changed (a deletion timestamp starts termination)."""
        uid = (pod.get("metadata") or {}).get("uid", "")
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(pod)
            return
        worker = self.workers[uid] = PodWorker(pod, self._shared)
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            worker.terminate(grace_period(pod))
        task = asyncio.create_task(guarded(worker.run, f"pod worker {pod_key(pod)}"))
        self._tasks[uid] = task
        task.add_done_callback(functools.partial(self._forget, uid))

    def _forget(self, uid: str, _task: object = None) -> None:
        self.workers.pop(uid, None)
        self._tasks.pop(uid, None)

    def remove_pod(self, uid: str, grace: float | None = None) -> None:
        """The pod is gone from the API: stop it with ``grace`` (default: its own grace period)."""
        worker = self.workers.get(uid)
        if worker is not None:
            worker.terminate(grace_period(worker.pod) if grace is None else grace)

    async def cleanup_orphans(self, known_uids: set[str]) -> int:
        """Stop and remove sandboxes of pods neither known nor being worked on; returns how many."""
        removed = 0
        for sb in await self._shared.runtime.list_pod_sandboxes():
            uid = sb.config.uid or sb.config.labels.get(POD_UID, "")
            if uid in known_uids or uid in self.workers:
                continue
            await self._shared.runtime.stop_pod_sandbox(sb.id)
            await self._shared.runtime.remove_pod_sandbox(sb.id)
            self._shared.volumes.teardown(uid)
            removed += 1
        return removed

    async def wait_terminated(self, uid: str) -> None:
        task = self._tasks.get(uid)
        if task is not None:
            await asyncio.shield(task)

    async def aclose(self) -> None:
        """Cancel every worker (containers keep running: a restarted kubelet re-adopts them)."""
        await cancel_and_wait(list(self._tasks.values()))
