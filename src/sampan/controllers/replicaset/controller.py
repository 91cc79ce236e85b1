"""The ReplicaSet controller: keep ``spec.replicas`` active pods that match the selector.

One implementation serves two kinds, as upstream wraps ReplicationControllers in its ReplicaSet
controller: a :class:`ReplicaSetKind` names the API version, resource, kind, controller and event
component, and how the kind's ``spec.selector`` becomes a label selector (a ``LabelSelector`` for
apps/v1 ReplicaSets, a plain label map for core/v1 ReplicationControllers). :data:`REPLICA_SET` and
:data:`REPLICATION_CONTROLLER` are the two instances; everything below is shared.

Handlers (enqueue only): a ReplicaSet changed -> its key; a pod changed -> its controller's key (and, for
an orphan, every ReplicaSet whose selector matches it), observing creations/deletions for expectations.

``reconcile(key)``: read the ReplicaSet and the namespace's pods from the listers; adopt matching orphans
and release non-matching pods; if the expectations are satisfied (every earlier create/delete was seen),
create missing pods in slow-start batches or delete the least valuable extra pods, recording the new
expectations first; finally write the status when it changed. At most ``burst_replicas`` pods are
created or deleted per reconcile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sampan.api import errors
from sampan.api.selectors import LabelSelector
from sampan.client import EventHandlerFuncs, SharedIndexInformer
from sampan.client.cache import DeletedFinalStateUnknown, split_meta_namespace_key
from sampan.controllers.expectations import UIDTrackingExpectations
from sampan.controllers.manager import ControllerContext
from sampan.controllers.ownership import (
    CONTROLLER_UID_INDEX,
    claim,
    controller_ref,
    controller_uid_index,
    new_controller_ref,
)
from sampan.controllers.podcontrol import pod_from_template, slow_start_batch
from sampan.controllers.pods import deletion_rank, is_active, is_ready, is_terminating
from sampan.controllers.replicaset.status import calculate_status, desired_replicas, status_differs
from sampan.controllers.runner import Enqueuer, Result

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class ReplicaSetKind:
    """What differs between the kinds the controller manages (see the module docstring)."""

    api_version: str
    resource: str
    kind: str
    controller_name: str
    """Upstream's name in ``--controllers`` and the runner's queue name."""
    component: str
    """The event source component."""
    selector: Callable[[Any], LabelSelector]
    """``spec.selector`` -> LabelSelector; raises ValueError on a malformed one."""

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


def _label_map_selector(selector: Any) -> LabelSelector:
    if selector is not None and not isinstance(selector, dict):
        raise ValueError("selector must be a map of labels")
    return LabelSelector.from_dict({"matchLabels": selector or {}})


REPLICA_SET = ReplicaSetKind("apps/v1", "replicasets", "ReplicaSet", "replicaset", "replicaset-controller",
                             LabelSelector.from_dict)
REPLICATION_CONTROLLER = ReplicaSetKind("v1", "replicationcontrollers", "ReplicationController",
                                        "replicationcontroller", "replication-controller", _label_map_selector)


def _key(obj: Any) -> str:
    md = obj["metadata"]
    return f"{md.get('namespace', '')}/{md['name']}"


class ReplicaSetController:
    """Reconciles the objects of one :class:`ReplicaSetKind` (``REPLICA_SET`` unless told otherwise)."""

    def __init__(self, ctx: ControllerContext, kind: ReplicaSetKind = REPLICA_SET) -> None:
        self.ctx = ctx
        self.kind = kind
        self.name = kind.controller_name
        self.clock = ctx.clock
        self.rs_informer = ctx.informers.informer(kind.api_version, kind.resource)
        self.pod_informer = ctx.informers.informer("v1", "pods",
                                                   indexers={CONTROLLER_UID_INDEX: controller_uid_index})
        self.rs_lister = ctx.informers.lister(kind.api_version, kind.resource)
        self.pod_lister = ctx.informers.lister("v1", "pods")
        self.expectations = UIDTrackingExpectations(ttl=ctx.options.expectations_ttl, clock=ctx.clock)
        self.recorder = ctx.recorder(kind.component)
        self.burst = ctx.options.replicaset_burst_replicas
        self._queue: Enqueuer | None = None

    # ---- handlers: enqueue only ---------------------------------------------------------------------------

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self.rs_informer, self.pod_informer)

    def watch(self, queue: Enqueuer) -> None:
        self._queue = queue
        self.rs_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda rs: queue.add(_key(rs)),
            on_update_func=lambda old, new: queue.add(_key(new)),
            on_delete_func=self._rs_deleted))
        self.pod_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=self._pod_added, on_update_func=self._pod_updated, on_delete_func=self._pod_deleted))

    def _rs_deleted(self, obj: Any) -> None:
        rs = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        key = _key(rs)
        self.expectations.delete_expectations(key)
        assert self._queue is not None
        self._queue.add(key)

    def _owner_key(self, pod: Any) -> str | None:
        ref = controller_ref(pod)
        if (ref is None or ref.get("kind") != self.kind.kind
                or str(ref.get("apiVersion", "")).rpartition("/")[0] != self.kind.group):
            return None
        ns = pod["metadata"].get("namespace", "")
        try:
            rs = self.rs_lister.namespaced(ns).get(ref["name"])
        except errors.NotFound:
            return None
        if rs["metadata"].get("uid") != ref.get("uid"):
            return None
        return f"{ns}/{ref['name']}"

    def _enqueue_matching(self, pod: Any) -> None:
        assert self._queue is not None
        labels = pod["metadata"].get("labels") or {}
        for rs in self.rs_lister.namespaced(pod["metadata"].get("namespace", "")).list():
            try:
                if self.kind.selector((rs.get("spec") or {}).get("selector")).matches(labels):
                    self._queue.add(_key(rs))
            except ValueError:
                continue

    def _pod_added(self, pod: Any) -> None:
        assert self._queue is not None
        if is_terminating(pod):
            self._pod_deleted(pod)
            return
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self._queue.add(key)
        elif controller_ref(pod) is None:
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Any, new: Any) -> None:
        assert self._queue is not None
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        if is_terminating(new):
            key = self._owner_key(new)
            if key is not None:
                self.expectations.deletion_observed_for(key, _key(new))
        old_key = self._owner_key(old)
        new_key = self._owner_key(new)
        if old_key is not None and old_key != new_key:
            self._queue.add(old_key)
        if new_key is not None:
            self._queue.add(new_key)
            min_ready = self._min_ready_seconds(new_key)
            if min_ready > 0 and not is_ready(old) and is_ready(new):
                self._queue.add_after(new_key, float(min_ready) + 0.5)
        elif controller_ref(new) is None:
            self._enqueue_matching(new)

    def _pod_deleted(self, obj: Any) -> None:
        assert self._queue is not None
        pod = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        key = self._owner_key(pod)
        if key is None:
            return
        self.expectations.deletion_observed_for(key, _key(pod))
        self._queue.add(key)

    def _min_ready_seconds(self, key: str) -> int:
        ns, name = split_meta_namespace_key(key)
        try:
            return int((self.rs_lister.namespaced(ns).get(name).get("spec") or {}).get("minReadySeconds") or 0)
        except errors.NotFound:
            return 0

    # ---- reconcile ----------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        ns, name = split_meta_namespace_key(key)
        try:
            rs = self.rs_lister.namespaced(ns).get(name)
        except errors.NotFound:
            self.expectations.delete_expectations(key)
            return None
        spec = rs.get("spec") or {}
        try:
            selector = self.kind.selector(spec.get("selector"))
        except ValueError as e:
            log.warning("invalid selector kind=%s object=%s error=%s", self.kind.kind, key, e)
            return None
        needs_sync = self.expectations.satisfied(key)
        pods_client = await self.ctx.client.resource("v1", "pods")
        uid = rs["metadata"].get("uid", "")
        index = self.pod_informer.indexer
        candidates = [p for p in index.by_index(CONTROLLER_UID_INDEX, uid) if is_active(p)]
        candidates += [p for p in index.by_index(CONTROLLER_UID_INDEX, "")
                       if is_active(p) and p["metadata"].get("namespace") == ns]
        owned = await claim(pods_client, rs, selector, candidates, api_version=self.kind.api_version,
                            kind=self.kind.kind)
        manage_error: BaseException | None = None
        if needs_sync and not rs["metadata"].get("deletionTimestamp"):
            manage_error = await self._manage(rs, key, owned, pods_client)
        now = self.clock.wall()
        status = calculate_status(rs, owned, now=now, manage_error=manage_error)
        if status_differs(rs.get("status"), status):
            rs_client = await self.ctx.client.resource(self.kind.api_version, self.kind.resource)
            await rs_client.update_status({**rs, "status": status})
        if manage_error is not None:
            raise manage_error
        min_ready = int(spec.get("minReadySeconds") or 0)
        replicas = desired_replicas(spec)
        if min_ready > 0 and status.get("readyReplicas", 0) == replicas \
                and status.get("availableReplicas", 0) != replicas:
            return Result(requeue_after=float(min_ready))
        return None

    async def _manage(self, rs: dict[str, Any], key: str, pods: list[dict[str, Any]],
                      pods_client: Any) -> BaseException | None:
        """Create or delete pods toward ``spec.replicas``; the first error (after expectations are fixed)."""
        spec = rs.get("spec") or {}
        want = desired_replicas(spec)
        diff = len(pods) - want
        if diff < 0:
            count = min(-diff, self.burst)
            self.expectations.expect_creations(key, count)
            ref = new_controller_ref(rs, api_version=self.kind.api_version, kind=self.kind.kind)
            body = pod_from_template(spec.get("template") or {}, namespace=rs["metadata"]["namespace"],
                                     generate_name=f"{rs['metadata']['name']}-", owner_ref=ref)

            async def create(_: int) -> None:
                await pods_client.create(body)

            log.debug("creating pods kind=%s object=%s count=%d", self.kind.kind, key, count)
            created, error = await slow_start_batch(count, create)
            if error is not None:
                skipped = count - created
                self.expectations.lower_expectations(key, add=skipped)  # those will never be observed
                self.recorder.event(rs, "Warning", "FailedCreate", f"Error creating: {error}")
                return error
            self.recorder.event(rs, "Normal", "SuccessfulCreate", f"Created {created} pods")
            return None
        if diff > 0:
            count = min(diff, self.burst)
            victims = self.pods_to_delete(pods, count)
            self.expectations.expect_deletions_of(key, [_key(p) for p in victims])

            async def delete(pod: dict[str, Any]) -> None:
                try:
                    await pods_client.delete(pod["metadata"]["name"], namespace=pod["metadata"]["namespace"])
                except errors.NotFound:
                    self.expectations.deletion_observed_for(key, _key(pod))
                except BaseException:
                    self.expectations.deletion_observed_for(key, _key(pod))
                    raise

            results = await asyncio.gather(*(delete(p) for p in victims), return_exceptions=True)
            errs = [r for r in results if isinstance(r, BaseException)]
            if errs:
                self.recorder.event(rs, "Warning", "FailedDelete", f"Error deleting: {errs[0]}")
                return errs[0]
            self.recorder.event(rs, "Normal", "SuccessfulDelete", f"Deleted {len(victims)} pods")
        return None

    @staticmethod
    def pods_to_delete(pods: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
        """The ``count`` least valuable pods (see :func:`~sampan.controllers.pods.deletion_rank`)."""
        per_node: dict[str, int] = {}
        for p in pods:
            node = (p.get("spec") or {}).get("nodeName") or ""
            per_node[node] = per_node.get(node, 0) + 1
        ranked = sorted(pods, key=lambda p: deletion_rank(
            p, colocated=per_node.get((p.get("spec") or {}).get("nodeName") or "", 0)))
        return ranked[:count]
