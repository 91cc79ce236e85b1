"""Pod informer handlers for a controller that counts its own pod writes with expectations.

The Job and DaemonSet controllers (and upstream's ReplicaSet controller) react to pod events the same
way: find the owning object's key, record what the event proves about the controller's earlier writes,
and enqueue the owner. This module holds that one recipe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sampan.client import EventHandlerFuncs
from sampan.client.cache import DeletedFinalStateUnknown
from sampan.controllers.expectations import UIDTrackingExpectations
from sampan.controllers.pods import is_terminating
from sampan.controllers.runner import Enqueuer


def pod_key(pod: Any) -> str:
    md = pod["metadata"]
    return f"{md.get('namespace', '')}/{md['name']}"


class OwnedPodEvents:
    """Invariants: an event for a pod whose ``owner_key`` is known enqueues that key (once the queue
    exists); an added pod is one observed creation; a pod seen terminating or deleted is an observed
    deletion by pod key, which ``UIDTrackingExpectations`` counts once however often it is seen."""

    def __init__(self, *, owner_key: Callable[[Any], str | None], expectations: UIDTrackingExpectations,
                 queue: Callable[[], Enqueuer | None]) -> None:
        self._owner_key = owner_key
        self._expectations = expectations
        self._queue = queue

    def handlers(self) -> EventHandlerFuncs:
        return EventHandlerFuncs(on_add_func=self.added, on_update_func=self.updated, on_delete_func=self.deleted)

    def added(self, pod: Any) -> None:
        key, queue = self._owner_key(pod), self._queue()
        if key is not None and queue is not None:
            self._expectations.creation_observed(key)
            if is_terminating(pod):
                self._expectations.deletion_observed_for(key, pod_key(pod))
            queue.add(key)

    def updated(self, old: Any, new: Any) -> None:
        key, queue = self._owner_key(new) or self._owner_key(old), self._queue()
        if key is not None and queue is not None:
            if is_terminating(new):
                self._expectations.deletion_observed_for(key, pod_key(new))
            queue.add(key)

    def deleted(self, obj: Any) -> None:
        pod = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        key, queue = self._owner_key(pod), self._queue()
        if key is not None and queue is not None:
            self._expectations.deletion_observed_for(key, pod_key(pod))
            queue.add(key)
