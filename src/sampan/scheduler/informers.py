"""Feed the scheduler from shared informers, as upstream's ``addAllEventHandlers``.

- **pods**, listed and watched with ``status.phase!=Succeeded,status.phase!=Failed`` (finished pods hold
  no resources): every notification goes to :class:`~sampan.scheduler.eventhandlers.EventHandlers`,
  which splits by responsibility exactly as upstream's two filtering handlers do — assigned pods
  (``spec.nodeName`` set) go to the cache, unassigned pods whose ``spec.schedulerName`` names one of our
  profiles go to the scheduling queue, and pods for other schedulers are ignored. A pod that leaves the
  selector (it finished) arrives as a delete.
- **nodes**: add / update / delete update the cache and move unschedulable pods.
- **namespaces**: labels for affinity terms with a ``namespaceSelector``.
- **persistentvolumeclaims**, **persistentvolumes**, **storageclasses**: the VolumeBinding plugin's cache.
- **services**, **replicationcontrollers**, **replicasets**, **statefulsets** (``workloads``, by kind): their
  selectors, for PodTopologySpread's system default constraints.

Deletes may carry a ``DeletedFinalStateUnknown`` tombstone (the object vanished while the watch was
down); it is unwrapped to the last known object before the handlers see it. The handlers are
synchronous and never raise (malformed objects are logged and skipped).
"""

from __future__ import annotations

import logging
from typing import Any

from sampan.client import DeletedFinalStateUnknown, EventHandlerFuncs, SharedIndexInformer
from sampan.client.cache.shared_informer import HandlerRegistration
from sampan.scheduler.eventhandlers import EventHandlers

log = logging.getLogger(__name__)

POD_FIELD_SELECTOR = "status.phase!=Succeeded,status.phase!=Failed"
"""What upstream's scheduler lists and watches pods with."""


def unwrap(obj: Any) -> dict[str, Any] | None:
    """The object a delete notification carries: the object itself, or a tombstone's last known state
    (None when that is not an object)."""
    if isinstance(obj, DeletedFinalStateUnknown):
        obj = obj.obj
    return obj if isinstance(obj, dict) else None


def _on_delete(fn: Any) -> Any:
    def handle(obj: Any) -> None:
        real = unwrap(obj)
        if real is None:
            log.warning("ignoring a delete without an object tombstone=%r", obj)
            return
        fn(real)
    return handle


def connect(handlers: EventHandlers, *, pods: SharedIndexInformer, nodes: SharedIndexInformer,
            namespaces: SharedIndexInformer | None = None, claims: SharedIndexInformer | None = None,
            volumes: SharedIndexInformer | None = None, classes: SharedIndexInformer | None = None,
            workloads: dict[str, SharedIndexInformer] | None = None,
            ) -> list[HandlerRegistration]:
    """Register the scheduler's handlers on the informers; returns the registrations (their
    ``has_synced`` tells when the initial lists have reached the scheduler)."""
    regs = [
        nodes.add_event_handler(EventHandlerFuncs(
            on_add_func=handlers.add_node, on_update_func=handlers.update_node,
            on_delete_func=_on_delete(handlers.delete_node)), name="scheduler-nodes"),
        pods.add_event_handler(EventHandlerFuncs(
            on_add_func=handlers.add_pod, on_update_func=handlers.update_pod,
            on_delete_func=_on_delete(handlers.delete_pod)), name="scheduler-pods"),
    ]
    if namespaces is not None:
        regs.append(namespaces.add_event_handler(EventHandlerFuncs(
            on_add_func=handlers.set_namespace, on_update_func=lambda old, new: handlers.set_namespace(new),
            on_delete_func=_on_delete(handlers.delete_namespace)), name="scheduler-namespaces"))
    for informer, on_set, on_delete, name in (
            (claims, handlers.set_claim, handlers.delete_claim, "scheduler-pvcs"),
            (volumes, handlers.set_volume, handlers.delete_volume, "scheduler-pvs"),
            (classes, handlers.set_class, handlers.delete_class, "scheduler-storageclasses")):
        if informer is not None:
            regs.append(informer.add_event_handler(EventHandlerFuncs(
                on_add_func=on_set, on_update_func=_second(on_set), on_delete_func=_on_delete(on_delete)), name=name))
    for kind, informer in (workloads or {}).items():
        regs.append(informer.add_event_handler(EventHandlerFuncs(
            on_add_func=_with_kind(handlers.set_workload, kind),
            on_update_func=_second(_with_kind(handlers.set_workload, kind)),
            on_delete_func=_on_delete(_with_kind(handlers.delete_workload, kind))), name=f"scheduler-{kind}"))
    return regs


def _with_kind(fn: Any, kind: str) -> Any:
    def handle(obj: Any) -> None:
        fn(kind, obj)
    return handle


def _second(fn: Any) -> Any:
    def handle(old: Any, new: Any) -> None:
        fn(new)
    return handle
