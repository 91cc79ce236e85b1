"""The StatefulSet controller: pods ``<set>-0 … <set>-(N-1)`` with stable names, network identity and storage.

Handlers (enqueue only): a set changed -> its key; a pod or ControllerRevision changed -> its controlling
set's key (an orphan pod: every set whose selector matches it).

``reconcile(key)`` (upstream ``StatefulSetControl.UpdateStatefulSet``, level-based):

1. adopt matching orphan pods and revisions, release non-matching ones;
2. find or create the update revision (the template's ControllerRevision; ``collisionCount`` grows on a
   name clash); the current revision is ``status.currentRevision`` while it still exists;
3. walk the ordinals in order: delete failed/succeeded pods (recreated next time); create a missing pod
   (its claims first, from ``volumeClaimTemplates``) with the current revision's template below the
   RollingUpdate ``partition`` (never under OnDelete) and the update revision's otherwise. Under
   ``OrderedReady`` one step at a time: stop after a creation and while a pod is not Running and Ready;
4. delete condemned pods (ordinal ≥ replicas) highest first; under ``OrderedReady`` one at a time and only
   while every lower pod is healthy; ``whenScaled: Delete`` hands the pod's claims to the pod (an owner
   reference) so the garbage collector removes them with it;
5. RollingUpdate: from the highest ordinal down to ``partition``, delete at most ``maxUnavailable``
   (default 1) pods of another revision at a time, waiting for unhealthy ones (they come back updated);
6. write the status, prune revisions beyond ``revisionHistoryLimit``.

``whenDeleted: Delete`` makes the set an owner (non-controller) of each claim, so deleting the set lets the
garbage collector remove them. Writes that race the informer (AlreadyExists, NotFound) are ignored: the
next reconcile sees the cache catch up.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from sampan.api import errors
from sampan.api.selectors import LabelSelector
from sampan.client import EventHandlerFuncs, SharedIndexInformer
from sampan.client.cache import DeletedFinalStateUnknown, split_meta_namespace_key
from sampan.controllers.manager import ControllerContext
from sampan.controllers.ownership import (
    CONTROLLER_UID_INDEX,
    claim,
    controller_ref,
    controller_uid_index,
    new_controller_ref,
)
from sampan.controllers.pods import is_terminating, phase
from sampan.controllers.runner import Enqueuer, Result
from sampan.controllers.statefulset import identity, revisions
from sampan.controllers.statefulset.status import compute_status, is_healthy, status_differs

log = logging.getLogger(__name__)

API_VERSION = "apps/v1"
KIND = "StatefulSet"


def _key(obj: Any) -> str:
    md = obj["metadata"]
    return f"{md.get('namespace', '')}/{md['name']}"


def _max_unavailable(sts: dict[str, Any], replicas: int) -> int:
    value = (((sts.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable")
    if value is None:
        return 1
    if isinstance(value, str) and value.endswith("%"):
        return max(1, int(replicas * int(value[:-1]) / 100))
    return max(1, int(value))


class StatefulSetController:
    name = "statefulset"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.sts_informer = ctx.informers.informer(API_VERSION, "statefulsets")
        self.pod_informer = ctx.informers.informer("v1", "pods", indexers={CONTROLLER_UID_INDEX: controller_uid_index})
        self.rev_informer = ctx.informers.informer(API_VERSION, "controllerrevisions",
                                                   indexers={CONTROLLER_UID_INDEX: controller_uid_index})
        self.pvc_lister = ctx.informers.lister("v1", "persistentvolumeclaims")
        self.pvc_informer = ctx.informers.informer("v1", "persistentvolumeclaims")
        self.sts_lister = ctx.informers.lister(API_VERSION, "statefulsets")
        self.recorder = ctx.recorder("statefulset-controller")
        self._queue: Enqueuer | None = None

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self.sts_informer, self.pod_informer, self.rev_informer, self.pvc_informer)

    def watch(self, queue: Enqueuer) -> None:
        self._queue = queue
        self.sts_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda s: queue.add(_key(s)), on_update_func=lambda o, n: queue.add(_key(n)),
            on_delete_func=lambda s: queue.add(_key(s.obj if isinstance(s, DeletedFinalStateUnknown) else s))))
        handlers = EventHandlerFuncs(on_add_func=self._owned_changed, on_update_func=self._owned_updated,
                                     on_delete_func=self._owned_changed)
        self.pod_informer.add_event_handler(handlers)
        self.rev_informer.add_event_handler(handlers)

    def _owned_updated(self, old: Any, new: Any) -> None:
        self._owned_changed(old)
        self._owned_changed(new)

    def _owned_changed(self, obj: Any) -> None:
        assert self._queue is not None
        obj = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        ns = obj["metadata"].get("namespace", "")
        ref = controller_ref(obj)
        if ref is not None:
            if ref.get("kind") == KIND and str(ref.get("apiVersion", "")).startswith("apps/"):
                self._queue.add(f"{ns}/{ref['name']}")
            return
        labels = obj["metadata"].get("labels") or {}
        for sts in self.sts_lister.namespaced(ns).list():
            with contextlib.suppress(ValueError):
                if LabelSelector.from_dict((sts.get("spec") or {}).get("selector")).matches(labels):
                    self._queue.add(_key(sts))

    # ---- reconcile ----------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        ns, name = split_meta_namespace_key(key)
        try:
            sts = self.sts_lister.namespaced(ns).get(name)
        except errors.NotFound:
            return None
        try:
            selector = LabelSelector.from_dict((sts.get("spec") or {}).get("selector"))
        except ValueError as e:
            log.warning("invalid selector statefulset=%s error=%s", key, e)
            return None
        uid = sts["metadata"].get("uid", "")
        pods_client = await self.ctx.client.resource("v1", "pods")
        revs_client = await self.ctx.client.resource(API_VERSION, "controllerrevisions")

        def candidates(informer: SharedIndexInformer) -> list[dict[str, Any]]:
            index = informer.indexer
            return list(index.by_index(CONTROLLER_UID_INDEX, uid)) + [
                o for o in index.by_index(CONTROLLER_UID_INDEX, "") if o["metadata"].get("namespace") == ns]

        pods = await claim(pods_client, sts, selector,
                           [p for p in candidates(self.pod_informer) if identity.is_member(sts, p)],
                           api_version=API_VERSION, kind=KIND)
        history = await claim(revs_client, sts, selector, candidates(self.rev_informer),
                              api_version=API_VERSION, kind=KIND)
        if sts["metadata"].get("deletionTimestamp"):
            return None
        ref = new_controller_ref(sts, api_version=API_VERSION, kind=KIND)
        collision_count = int((sts.get("status") or {}).get("collisionCount") or 0)
        update_rev, collision_count = await self._update_revision(sts, history, revs_client, ref, collision_count)
        history = [r for r in history if r["metadata"]["name"] != update_rev["metadata"]["name"]] + [update_rev]
        by_name = {r["metadata"]["name"]: r for r in history}
        current_name = (sts.get("status") or {}).get("currentRevision")
        current_rev = by_name.get(current_name or "", update_rev)
        current, update = current_rev["metadata"]["name"], update_rev["metadata"]["name"]

        await self._sync_pods(sts, pods, pods_client, ref=ref, current=current_rev, update=update_rev)
        live = [p for p in self.pod_informer.indexer.by_index(CONTROLLER_UID_INDEX, uid)
                if identity.is_member(sts, p)]
        status = compute_status(sts, live, current=current, update=update, collision_count=collision_count,
                                now=self.clock.wall())
        if status_differs(sts.get("status"), status):
            sts_client = await self.ctx.client.resource(API_VERSION, "statefulsets")
            with contextlib.suppress(errors.NotFound):
                await sts_client.update_status({**sts, "status": status})
        await self._prune(sts, history, revs_client, live, {status["currentRevision"], update})
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready > 0 and status.get("readyReplicas", 0) != status.get("availableReplicas", 0):
            return Result(requeue_after=float(min_ready))  # availability changes with no event
        return None

    async def _update_revision(self, sts: dict[str, Any], history: list[dict[str, Any]], client: Any,
                               ref: dict[str, Any], collision_count: int) -> tuple[dict[str, Any], int]:
        existing = revisions.equal_revision(sts, history)
        number = revisions.next_number(history)
        if existing is not None:
            if int(existing.get("revision") or 0) < number - 1:  # a rollback: the old revision becomes newest
                existing = await client.update({**existing, "revision": number})
            return existing, collision_count
        while True:
            body = revisions.new_revision(sts, number=number, collision_count=collision_count, owner_ref=ref)
            try:
                created: dict[str, Any] = await client.create(body)
                return created, collision_count
            except errors.AlreadyExists:
                clash = await client.get(body["metadata"]["name"], namespace=body["metadata"]["namespace"])
                if clash.get("data") == body["data"] and (controller_ref(clash) or {}).get("uid") == ref["uid"]:
                    return clash, collision_count
                collision_count += 1

    async def _sync_pods(self, sts: dict[str, Any], pods: list[dict[str, Any]], pods_client: Any, *,
                         ref: dict[str, Any], current: dict[str, Any], update: dict[str, Any]) -> None:
        """Steps 3-5 of the module docstring (a pod event triggers the next step)."""
        spec = sts.get("spec") or {}
        raw_replicas = spec.get("replicas")
        replicas = 1 if raw_replicas is None else int(raw_replicas)
        start = identity.start_ordinal(sts)
        ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        by_ordinal = {identity.ordinal_of(p): p for p in pods}
        wanted = range(start, start + replicas)
        update_name = update["metadata"]["name"]
        for ordinal in wanted:
            pod = by_ordinal.get(ordinal)
            if pod is not None and phase(pod) in ("Failed", "Succeeded") and not is_terminating(pod):
                await self._delete_pod(pods_client, sts, pod, "recreating failed pod")
                if ordered:
                    return
                continue
            if pod is None:
                use_current = rolling and ordinal - start < partition
                rev = current if use_current else update
                await self._create_pod(sts, pods_client, ref=ref, ordinal=ordinal, revision=rev)
                if ordered:
                    return
                continue
            if ordered and not is_healthy(pod):
                return
        condemned = sorted((p for o, p in by_ordinal.items() if o not in wanted),
                           key=identity.ordinal_of, reverse=True)
        healthy_below = all(by_ordinal.get(o) is not None and is_healthy(by_ordinal[o]) for o in wanted)
        for pod in condemned:
            if is_terminating(pod):
                if ordered:
                    return
                continue
            if ordered and not healthy_below:
                return
            await self._scale_down_claims(sts, pod)
            await self._delete_pod(pods_client, sts, pod, "scale down")
            if ordered:
                return
        if not rolling:
            return
        unavailable = sum(1 for o in wanted if by_ordinal.get(o) is None or not is_healthy(by_ordinal[o]))
        budget = _max_unavailable(sts, replicas) - unavailable
        for ordinal in reversed(wanted):
            if ordinal - start < partition or budget <= 0:
                break
            pod = by_ordinal[ordinal]
            revision = (pod["metadata"].get("labels") or {}).get(identity.REVISION_LABEL)
            if revision != update_name and not is_terminating(pod) and is_healthy(pod):
                await self._delete_pod(pods_client, sts, pod, "rolling update")
                budget -= 1
        return

    async def _create_pod(self, sts: dict[str, Any], pods_client: Any, *, ref: dict[str, Any], ordinal: int,
                          revision: dict[str, Any]) -> None:
        claims_client = await self.ctx.client.resource("v1", "persistentvolumeclaims")
        ns = sts["metadata"]["namespace"]
        policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        for template in identity.claim_templates(sts):
            body = identity.new_claim(sts, template, ordinal=ordinal)
            if policy.get("whenDeleted") == "Delete":
                body["metadata"]["ownerReferences"] = [{**ref, "controller": False, "blockOwnerDeletion": True}]
            try:
                self.pvc_lister.namespaced(ns).get(body["metadata"]["name"])
                continue
            except errors.NotFound:
                pass
            try:
                await claims_client.create(body)
                self.recorder.event(sts, "Normal", "SuccessfulCreate",
                                    f"create Claim {body['metadata']['name']} Pod {identity.pod_name(sts, ordinal)} "
                                    f"in StatefulSet {sts['metadata']['name']} success")
            except errors.AlreadyExists:
                pass
        pod = identity.new_pod(sts, revisions.template_of(revision), ordinal=ordinal,
                               revision=revision["metadata"]["name"], owner_ref=ref)
        try:
            await pods_client.create(pod)
        except errors.AlreadyExists:
            return
        except errors.APIError as e:
            self.recorder.event(sts, "Warning", "FailedCreate",
                                f"create Pod {pod['metadata']['name']} in StatefulSet {sts['metadata']['name']} "
                                f"failed error: {e}")
            raise
        self.recorder.event(sts, "Normal", "SuccessfulCreate",
                            f"create Pod {pod['metadata']['name']} in StatefulSet {sts['metadata']['name']} successful")

    async def _delete_pod(self, pods_client: Any, sts: dict[str, Any], pod: dict[str, Any], why: str) -> None:
        name = pod["metadata"]["name"]
        log.debug("deleting pod statefulset=%s pod=%s reason=%s", sts["metadata"]["name"], name, why)
        try:
            await pods_client.delete(name, namespace=pod["metadata"]["namespace"], uid=pod["metadata"].get("uid"))
        except (errors.NotFound, errors.Conflict):
            return
        self.recorder.event(sts, "Normal", "SuccessfulDelete",
                            f"delete Pod {name} in StatefulSet {sts['metadata']['name']} successful")

    async def _scale_down_claims(self, sts: dict[str, Any], pod: dict[str, Any]) -> None:
        """``whenScaled: Delete``: make the condemned pod the owner of its claims instead of the set (the GC
    deletes them after the pod)."""
        policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenScaled") != "Delete":
            return
        client = await self.ctx.client.resource("v1", "persistentvolumeclaims")
        owner = {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"],
                 "uid": pod["metadata"].get("uid"), "controller": False, "blockOwnerDeletion": True}
        for template in identity.claim_templates(sts):
            name = identity.claim_name(template, sts, identity.ordinal_of(pod))
            try:
                pvc = await client.get(name, namespace=sts["metadata"]["namespace"])
            except errors.NotFound:
                continue
            refs = pvc["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == owner["uid"] for r in refs):
                continue
            # the set's own reference (whenDeleted: Delete) would keep the claim alive: the pod replaces it
            kept = [r for r in refs if r.get("uid") != sts["metadata"].get("uid")]
            pvc["metadata"]["ownerReferences"] = [*kept, owner]
            with contextlib.suppress(errors.Conflict, errors.NotFound):
                await client.update(pvc)

    async def _prune(self, sts: dict[str, Any], history: list[dict[str, Any]], client: Any,
                     pods: list[dict[str, Any]], live: set[str]) -> None:
        live = live | {(p["metadata"].get("labels") or {}).get(identity.REVISION_LABEL, "") for p in pods}
        limit = int((sts.get("spec") or {}).get("revisionHistoryLimit", 10) or 0)
        for rev in revisions.prunable(history, limit=limit, live=live):
            with contextlib.suppress(errors.NotFound):
                await client.delete(rev["metadata"]["name"], namespace=rev["metadata"]["namespace"])
