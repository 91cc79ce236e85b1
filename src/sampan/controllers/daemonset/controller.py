"""The DaemonSet controller: one pod per eligible node, placed by the default scheduler, rolled out with
RollingUpdate (maxUnavailable/maxSurge) or OnDelete, with ControllerRevisions as template history.

``reconcile(key)``, level-based from the listers (upstream's ``syncDaemonSet``):

1. claim the pods the selector matches; find or create the ControllerRevision for the current template (a
   rollback to an older template bumps that revision's number; a name clash with a different template
   raises ``status.collisionCount``);
2. when the expectations are met (a stale cache cannot cause a double create): apply
   :func:`~sampan.controllers.daemonset.plan.plan_manage`, and only when that changes nothing, the rolling
   update step (:func:`~sampan.controllers.daemonset.plan.plan_rolling_update`);
3. delete revisions beyond ``revisionHistoryLimit`` that no live pod uses, write the status counters
   (upstream's), and requeue while a ready pod waits out ``minReadySeconds``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sampan.api import errors
from sampan.api.omitempty import DAEMON_SET_STATUS, drop_zero
from sampan.api.selectors import LabelSelector
from sampan.client import EventHandlerFuncs, SharedIndexInformer
from sampan.client.cache import DeletedFinalStateUnknown, split_meta_namespace_key
from sampan.controllers.daemonset import history as h
from sampan.controllers.daemonset.placement import pod_spec_for_node, should_run, target_node
from sampan.controllers.daemonset.plan import (
    NodeState,
    Plan,
    oldest_first,
    plan_manage,
    plan_rolling_update,
    surge_budget,
)
from sampan.controllers.daemonset.status import daemonset_status
from sampan.controllers.expectations import UIDTrackingExpectations
from sampan.controllers.manager import ControllerContext
from sampan.controllers.owned_pod_events import OwnedPodEvents
from sampan.controllers.ownership import (
    CONTROLLER_UID_INDEX,
    claim,
    controller_ref,
    controller_uid_index,
    new_controller_ref,
)
from sampan.controllers.podcontrol import pod_from_template, slow_start_batch
from sampan.controllers.pods import is_available, is_terminating
from sampan.controllers.runner import Enqueuer, Result

log = logging.getLogger(__name__)


def _key(obj: Any) -> str:
    md = obj["metadata"]
    return f"{md.get('namespace', '')}/{md['name']}"


class DaemonSetController:
    name = "daemonset"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        inf = ctx.informers
        self.ds_informer = inf.informer("apps/v1", "daemonsets")
        self.pod_informer = inf.informer("v1", "pods", indexers={CONTROLLER_UID_INDEX: controller_uid_index})
        self.node_informer = inf.informer("v1", "nodes")
        self.revision_informer = inf.informer("apps/v1", "controllerrevisions",
                                              indexers={CONTROLLER_UID_INDEX: controller_uid_index})
        self.ds_lister = inf.lister("apps/v1", "daemonsets")
        self.node_lister = inf.lister("v1", "nodes")
        self.expectations = UIDTrackingExpectations(ttl=ctx.options.expectations_ttl, clock=ctx.clock)
        self.recorder = ctx.recorder("daemonset-controller")
        self.burst = ctx.options.replicaset_burst_replicas
        self._queue: Enqueuer | None = None

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self.ds_informer, self.pod_informer, self.node_informer, self.revision_informer)

    # ---- handlers -----------------------------------------------------------------------------------------

    def watch(self, queue: Enqueuer) -> None:
        self._queue = queue

        def ds_deleted(obj: Any) -> None:
            ds = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
            self.expectations.delete_expectations(_key(ds))

        def all_daemonsets(*_: Any) -> None:
            for ds in self.ds_lister.list():
                queue.add(_key(ds))

        self.ds_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda d: queue.add(_key(d)), on_update_func=lambda old, new: queue.add(_key(new)),
            on_delete_func=ds_deleted))
        self.pod_informer.add_event_handler(OwnedPodEvents(
            owner_key=self._owner_key, expectations=self.expectations, queue=lambda: self._queue).handlers())
        self.node_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=all_daemonsets, on_update_func=all_daemonsets, on_delete_func=all_daemonsets))

    def _owner_key(self, pod: Any) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "DaemonSet":
            return None
        return f"{pod['metadata'].get('namespace', '')}/{ref['name']}"

    # ---- reconcile ----------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        ns, name = split_meta_namespace_key(key)
        try:
            ds = self.ds_lister.namespaced(ns).get(name)
        except errors.NotFound:
            self.expectations.delete_expectations(key)
            return None
        spec = ds.get("spec") or {}
        try:
            selector = LabelSelector.from_dict(spec.get("selector"))
        except ValueError as e:
            log.warning("invalid selector daemonset=%s error=%s", key, e)
            return None
        pods_client = await self.ctx.client.resource("v1", "pods")
        uid = ds["metadata"].get("uid")
        candidates = list(self.pod_informer.indexer.by_index(CONTROLLER_UID_INDEX, uid))
        candidates += [p for p in self.pod_informer.indexer.by_index(CONTROLLER_UID_INDEX, "")
                       if p["metadata"].get("namespace") == ns]
        pods = await claim(pods_client, ds, selector, candidates, api_version="apps/v1", kind="DaemonSet")
        revisions = [r for r in self.revision_informer.indexer.by_index(CONTROLLER_UID_INDEX, uid)]
        digest = await self._current_revision(ds, revisions)
        if digest is None:
            return Result(requeue=True)
        generation = h.template_generation(ds)
        now = self.clock.wall()
        min_ready = int(spec.get("minReadySeconds") or 0)

        def updated(p: dict[str, Any]) -> bool:
            return h.is_updated(p, digest=digest, generation=generation)

        def available(p: dict[str, Any]) -> bool:
            return is_available(p, min_ready, now)

        nodes, strays = self._node_states(ds, pods)
        if self.expectations.satisfied(key) and not ds["metadata"].get("deletionTimestamp"):
            strategy = spec.get("updateStrategy") or {}
            desired = sum(1 for n in nodes if n.should_run)
            max_surge, max_unavailable = surge_budget(strategy, desired)
            plan = plan_manage(nodes, strays, updated=updated, surge=max_surge > 0)
            if plan.empty() and strategy.get("type") == "RollingUpdate":
                plan = plan_rolling_update(nodes, updated=updated, available=available, max_surge=max_surge,
                                           max_unavailable=max_unavailable)
            await self._execute(ds, key, plan, digest=digest, generation=generation, pods_client=pods_client)
        await self._cleanup_history(ds, revisions, pods, keep=digest)
        status = daemonset_status(ds, nodes, updated=updated, available=available)
        old = ds.get("status") or {}
        written = {**{k: v for k, v in old.items() if k not in status}, **drop_zero(status, DAEMON_SET_STATUS)}
        if written != old:
            client = await self.ctx.client.resource("apps/v1", "daemonsets")
            await client.update_status({**ds, "status": written})
        if min_ready and status["numberReady"] > status["numberAvailable"]:
            return Result(requeue_after=float(min_ready))
        return None

    def _node_states(self, ds: dict[str, Any], pods: list[dict[str, Any]]) -> tuple[list[NodeState], list[Any]]:
        template_spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
        by_node: dict[str, list[dict[str, Any]]] = {}
        strays: list[dict[str, Any]] = []
        for p in pods:
            if is_terminating(p):
                continue
            node = target_node(p)
            if node is None:
                strays.append(p)
            else:
                by_node.setdefault(node, []).append(p)
        states = []
        for node in self.node_lister.list():
            node_name = node["metadata"]["name"]
            run, keep = should_run(template_spec, node)
            states.append(NodeState(node_name, run, keep, oldest_first(by_node.pop(node_name, []))))
        for gone in by_node.values():
            strays += gone
        return sorted(states, key=lambda s: s.name), strays

    async def _current_revision(self, ds: dict[str, Any], revisions: list[dict[str, Any]]) -> str | None:
        """The current template's hash, creating or renumbering its ControllerRevision; None after raising
        ``collisionCount`` (the caller requeues)."""
        client = await self.ctx.client.resource("apps/v1", "controllerrevisions")
        top = max((int(r.get("revision") or 0) for r in revisions), default=0)
        found = h.matching(ds, revisions)
        if found:
            current = found[0]
            if int(current.get("revision") or 0) < top:
                await client.update({**current, "revision": top + 1})
            return str(((current["metadata"].get("labels") or {}).get(h.REVISION_HASH)) or h.current_hash(ds))
        body = h.revision_body(ds, number=top + 1)
        try:
            await client.create(body)
        except errors.AlreadyExists:
            existing = await client.get(body["metadata"]["name"], namespace=body["metadata"]["namespace"])
            if h.matching(ds, [existing]) and controller_ref(existing) is not None and \
                    controller_ref(existing).get("uid") == ds["metadata"].get("uid"):  # type: ignore[union-attr]
                return h.current_hash(ds)
            status = dict(ds.get("status") or {})
            status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
            dsc = await self.ctx.client.resource("apps/v1", "daemonsets")
            await dsc.update_status({**ds, "status": status})
            return None
        return h.current_hash(ds)

    async def _execute(self, ds: dict[str, Any], key: str, plan: Plan, *, digest: str, generation: str,
                       pods_client: Any) -> None:
        for pod in plan.failed:
            self.recorder.event(ds, "Warning", "FailedDaemonPod",
                                f"Found failed daemon pod {pod['metadata']['namespace']}/{pod['metadata']['name']} "
                                f"on node {target_node(pod)}, will try to kill it")
        deletes = plan.delete[: self.burst]
        if deletes:
            self.expectations.expect_deletions_of(key, [_key(p) for p in deletes])
            for p in deletes:
                try:
                    await pods_client.delete(p["metadata"]["name"], namespace=p["metadata"]["namespace"])
                except errors.NotFound:
                    self.expectations.deletion_observed_for(key, _key(p))
                    continue
                except BaseException:
                    self.expectations.deletion_observed_for(key, _key(p))
                    raise
                self.recorder.event(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}")
        creates = plan.create_on[: self.burst]
        if not creates:
            return
        template = (ds.get("spec") or {}).get("template") or {}
        ref = new_controller_ref(ds, api_version="apps/v1", kind="DaemonSet")
        labels = {h.REVISION_HASH: digest}
        if generation:
            labels[h.TEMPLATE_GENERATION_LABEL] = generation
        self.expectations.expect_creations(key, len(creates))

        async def create(i: int) -> None:
            body = pod_from_template(template, namespace=ds["metadata"]["namespace"],
                                     generate_name=f"{ds['metadata']['name']}-", owner_ref=ref, extra_labels=labels)
            body["spec"] = pod_spec_for_node(body["spec"], creates[i])
            pod = await pods_client.create(body)
            self.recorder.event(ds, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")

        done, error = await slow_start_batch(len(creates), create)
        if error is not None:
            self.expectations.lower_expectations(key, add=len(creates) - done)
            self.recorder.event(ds, "Warning", "FailedCreate", f"Error creating: {error}")
            raise error

    async def _cleanup_history(self, ds: dict[str, Any], revisions: list[dict[str, Any]],
                               pods: list[dict[str, Any]], *, keep: str) -> None:
        limit = int((ds.get("spec") or {}).get("revisionHistoryLimit", 10))
        live = {(p["metadata"].get("labels") or {}).get(h.REVISION_HASH) for p in pods} | {keep}
        old = sorted((r for r in revisions if (r["metadata"].get("labels") or {}).get(h.REVISION_HASH) not in live),
                     key=lambda r: int(r.get("revision") or 0))
        if len(old) <= limit:
            return
        client = await self.ctx.client.resource("apps/v1", "controllerrevisions")
        for r in old[: len(old) - limit]:
            try:
                await client.delete(r["metadata"]["name"], namespace=r["metadata"]["namespace"])
            except errors.NotFound:
                pass
