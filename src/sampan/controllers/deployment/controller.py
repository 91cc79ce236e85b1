"""The Deployment controller: handlers enqueue the owning Deployment's key; ``reconcile`` claims the
Deployment's ReplicaSets and then, as upstream's ``syncDeployment``:

* being deleted -> status only;
* paused, or a scaling event (``spec.replicas`` changed) -> resize (proportionally mid-rollout), clean up
  history when paused, status;
* otherwise the strategy: :func:`~.rolling.rollout_rolling` or :func:`~.recreate.rollout_recreate`.

Rollback (``kubectl rollout undo``) writes an older template into the Deployment; the ReplicaSet with that
template is found again and gets the next revision, so no special path is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sampan.api import errors
from sampan.api.selectors import LabelSelector
from sampan.client import EventHandlerFuncs, SharedIndexInformer
from sampan.client.cache import DeletedFinalStateUnknown, split_meta_namespace_key
from sampan.controllers.deployment.recreate import rollout_recreate
from sampan.controllers.deployment.rolling import rollout_rolling
from sampan.controllers.deployment.scaling import is_rolling, is_scaling_event
from sampan.controllers.deployment.sync import Rollout
from sampan.controllers.manager import ControllerContext
from sampan.controllers.ownership import CONTROLLER_UID_INDEX, claim, controller_ref, controller_uid_index
from sampan.controllers.pods import TERMINAL_PHASES, phase
from sampan.controllers.runner import Enqueuer, Result

log = logging.getLogger(__name__)


def _key(obj: Any) -> str:
    md = obj["metadata"]
    return f"{md.get('namespace', '')}/{md['name']}"


class DeploymentController:
    name = "deployment"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.d_informer = ctx.informers.informer("apps/v1", "deployments")
        self.rs_informer = ctx.informers.informer("apps/v1", "replicasets",
                                                  indexers={CONTROLLER_UID_INDEX: controller_uid_index})
        self.pod_informer = ctx.informers.informer("v1", "pods", indexers={CONTROLLER_UID_INDEX: controller_uid_index})
        self.d_lister = ctx.informers.lister("apps/v1", "deployments")
        self.rs_lister = ctx.informers.lister("apps/v1", "replicasets")
        self.recorder = ctx.recorder("deployment-controller")
        self._queue: Enqueuer | None = None

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self.d_informer, self.rs_informer, self.pod_informer)

    # ---- handlers -----------------------------------------------------------------------------------------

    def watch(self, queue: Enqueuer) -> None:
        self._queue = queue

        def d_event(obj: Any) -> None:
            queue.add(_key(obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj))

        self.d_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=d_event, on_update_func=lambda old, new: d_event(new), on_delete_func=d_event))
        self.rs_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=self._rs_changed, on_update_func=self._rs_updated, on_delete_func=self._rs_changed))
        self.pod_informer.add_event_handler(EventHandlerFuncs(on_delete_func=self._pod_deleted))

    def _owner_key(self, obj: Any) -> str | None:
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != "Deployment":
            return None
        ns = obj["metadata"].get("namespace", "")
        try:
            d = self.d_lister.namespaced(ns).get(ref["name"])
        except errors.NotFound:
            return None
        return _key(d) if d["metadata"].get("uid") == ref.get("uid") else None

    def _rs_changed(self, obj: Any) -> None:
        assert self._queue is not None
        rs = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        key = self._owner_key(rs)
        if key is not None:
            self._queue.add(key)
        elif controller_ref(rs) is None:
            labels = rs["metadata"].get("labels") or {}
            for d in self.d_lister.namespaced(rs["metadata"].get("namespace", "")).list():
                try:
                    if LabelSelector.from_dict((d.get("spec") or {}).get("selector")).matches(labels):
                        self._queue.add(_key(d))
                except ValueError:
                    continue

    def _rs_updated(self, old: Any, new: Any) -> None:
        assert self._queue is not None
        old_key = self._owner_key(old)
        if old_key is not None and old_key != self._owner_key(new):
            self._queue.add(old_key)
        self._rs_changed(new)

    def _pod_deleted(self, obj: Any) -> None:
        """Recreate waits for old pods to go: a deleted pod may unblock its Deployment."""
        assert self._queue is not None
        pod = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        try:
            rs = self.rs_lister.namespaced(pod["metadata"].get("namespace", "")).get(ref["name"])
        except errors.NotFound:
            return
        key = self._owner_key(rs)
        if key is not None:
            self._queue.add(key)

    # ---- reconcile ----------------------------------------------------------------------------------------

    def _old_pods_running(self, uids: list[str]) -> bool:
        for uid in uids:
            for pod in self.pod_informer.indexer.by_index(CONTROLLER_UID_INDEX, uid):
                if phase(pod) not in TERMINAL_PHASES:
                    return True
        return False

    async def reconcile(self, key: str) -> Result | None:
        ns, name = split_meta_namespace_key(key)
        try:
            d = self.d_lister.namespaced(ns).get(name)
        except errors.NotFound:
            return None
        spec = d.get("spec") or {}
        try:
            selector = LabelSelector.from_dict(spec.get("selector"))
        except ValueError as e:
            log.warning("invalid selector deployment=%s error=%s", key, e)
            return None
        if selector.empty:
            self.recorder.event(d, "Warning", "SelectingAll", "This deployment is selecting all pods. A non-empty "
                                "selector is required.")
            return None
        rs_client = await self.ctx.client.resource("apps/v1", "replicasets")
        deployments = await self.ctx.client.resource("apps/v1", "deployments")
        uid = d["metadata"].get("uid")
        # its own ReplicaSets and the namespace's orphans, by index (not a scan of every ReplicaSet)
        index = self.rs_informer.indexer
        keys = {str(uid or ""), ""}  # "": no controller reference, or one without a uid
        candidates = [rs for k in keys for rs in index.by_index(CONTROLLER_UID_INDEX, k)
                      if rs["metadata"].get("namespace", "") == ns]
        rss = await claim(rs_client, d, selector, candidates, api_version="apps/v1", kind="Deployment")
        r = Rollout(d, rss, rs_client=rs_client, deployments=deployments, recorder=self.recorder,
                    now=self.clock.wall())
        if d["metadata"].get("deletionTimestamp"):
            await r.sync_status()
            return None
        if spec.get("paused") or is_scaling_event(d, r.active()):
            await r.ensure_new(create=False)
            await r.scale()
            if spec.get("paused"):
                await r.cleanup()
            return _requeue(await r.sync_status())
        if is_rolling(d):
            return _requeue(await rollout_rolling(r))
        return _requeue(await rollout_recreate(r, self._old_pods_running))


def _requeue(seconds: float | None) -> Result | None:
    return Result(requeue_after=seconds) if seconds is not None else None
