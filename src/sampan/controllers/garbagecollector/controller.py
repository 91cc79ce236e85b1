"""The garbage collector's workers: attempt-to-delete and attempt-to-orphan, as upstream.

``background`` discovers every resource with list, watch and delete verbs, attaches a graph-building
handler to its shared informer (:class:`~sampan.controllers.garbagecollector.graph.Graph` mutators
return the keys to enqueue), waits for them to sync, then re-discovers every ``discovery_period`` to pick
up new resources. ``reconcile`` waits for that first sync.

``delete:<uid>`` (attempt to delete), with the live object from the API:

* gone, or a different uid → forget the node (its dependents are re-checked);
* a virtual node (only named by owner references) that exists → check again after a back-off until an
  informer observes it (upstream's fix for k8s#56121); absent → forget it; of a kind discovery has not
  found yet → check again after a back-off;
* being deleted in the foreground → when no dependent that blocks owner deletion remains, remove the
  ``foregroundDeletion`` finalizer; otherwise make sure those dependents are being deleted;
* otherwise classify its owner references: *solid* (owner exists), *dangling* (owner absent or another
  uid), *waiting* (owner being deleted in the foreground). With a solid owner, drop the dangling and
  waiting references; without one, delete the object — in the foreground when an owner waits for it and
  it has dependents, else by its own finalizers (orphan → Orphan, foregroundDeletion → Foreground),
  else in the background.

``orphan:<uid>``: remove the owner reference to ``uid`` from every dependent, then the ``orphan``
finalizer from the owner.

Writes are PUTs with the live object's resourceVersion (a Conflict is retried by the runner).

Owners found absent by a live lookup are remembered (:class:`AbsentOwners`, upstream's ``absentOwnerCache``):
UIDs are never reused, so an owner once absent stays absent, and the next dependent of a deleted
Deployment's ReplicaSet is classified dangling without a GET (deleting 30,000 pods took three requests
each against the controller's QPS budget; now two, as upstream).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan.api import errors
from sampan.api.resources import ResourceInfo
from sampan.client import (
    Client,
    DeletedFinalStateUnknown,
    EventHandlerFuncs,
    SharedIndexInformer,
    SharedInformerFactory,
    wait_for_cache_sync,
)
from sampan.client.discovery import split_api_version
from sampan.controllers.garbagecollector.graph import FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Graph, Node
from sampan.controllers.namespace.discovery import preferred_resources
from sampan.controllers.runner import Enqueuer, Result

log = logging.getLogger(__name__)

_VERBS = frozenset({"list", "watch", "delete"})
IGNORED = frozenset({("", "events"), ("events.k8s.io", "events")})
"""Resources never watched: high churn, never owners or dependents (upstream ignores events too)."""


ABSENT_OWNERS_SIZE = 500
"""Owner references remembered as absent (upstream's ``absentOwnerCache`` holds 500)."""


class AbsentOwners:
    """A bounded LRU of owner references a live lookup found absent, keyed by the owner's uid and, for a
    namespaced owner, the namespace it was looked up in (a namespaced reference names an owner in the
    dependent's namespace, so absence there says nothing about another namespace).

    Invariant: an entry is added only after the API said NotFound or returned another uid for that name;
    since UIDs are never reused, an entry never becomes wrong, only old."""

    def __init__(self, size: int = ABSENT_OWNERS_SIZE) -> None:
        self._size = size
        self._keys: OrderedDict[tuple[str, str], None] = OrderedDict()

    def add(self, uid: str, namespace: str) -> None:
        key = (uid, namespace)
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._size:
            self._keys.popitem(last=False)

    def __contains__(self, key: tuple[str, str]) -> bool:
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        return False

    def __len__(self) -> int:
        return len(self._keys)


class GarbageCollector:
    """See the module docstring."""

    name = "garbagecollector"

    def __init__(self, client: Client, factory: SharedInformerFactory, *, discovery_period: float = 30.0,
                 clock: Clock | None = None) -> None:
        self._client = client
        self._factory = factory
        self._clock = clock or RealClock()
        self.discovery_period = discovery_period
        self.graph = Graph()
        self.synced = asyncio.Event()
        self._queue: Enqueuer | None = None
        self._monitored: dict[tuple[str, str], ResourceInfo] = {}
        self._by_kind: dict[tuple[str, str], ResourceInfo] = {}
        self.absent_owners = AbsentOwners()
        self.owner_lookups = 0
        """Live GETs of owners so far (tests read it to see the absent-owner cache work)."""

    def informers(self) -> Sequence[SharedIndexInformer]:
        return ()  # discovered in background(); reconcile waits for ``synced``

    def watch(self, queue: Enqueuer) -> None:
        self._queue = queue

    # ---- graph building ------------------------------------------------------------------------------

    def _enqueue(self, keys: set[str]) -> None:
        if self._queue is not None:
            for key in keys:
                self._queue.add(key)

    def _handler(self, info: ResourceInfo) -> EventHandlerFuncs:
        def upsert(obj: Any) -> None:
            self._enqueue(self.graph.upsert(obj, info))

        def remove(obj: Any) -> None:
            obj = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
            self._enqueue(self.graph.remove(obj))

        return EventHandlerFuncs(on_add_func=upsert, on_update_func=lambda _old, new: upsert(new),
                                 on_delete_func=remove)

    async def _sync_monitors(self) -> list[Any]:
        """Attach handlers to informers of resources not monitored yet; their registrations."""
        infos = await preferred_resources(self._client, verbs=_VERBS)
        registrations = []
        for info in infos:
            ident = (info.group, info.resource)
            self._by_kind[(info.group, info.kind)] = info
            if ident in self._monitored or ident in IGNORED:
                continue
            self._monitored[ident] = info
            inf = self._factory.informer(info.group_version, info.resource)
            registrations.append(inf.add_event_handler(self._handler(info), name="garbagecollector"))
        self._factory.start()
        return registrations

    async def background(self) -> None:
        while True:
            try:
                registrations = await self._sync_monitors()
                if registrations:
                    await wait_for_cache_sync(*registrations)
                    log.info("garbage collector graph synced resources=%d nodes=%d", len(self._monitored),
                             len(self.graph.nodes))
                self.synced.set()
            except (errors.APIError, OSError) as exc:
                log.warning("garbage collector discovery failed error=%s", exc)
            await self._clock.sleep(self.discovery_period)

    # ---- workers -------------------------------------------------------------------------------------

    def _info(self, node: Node) -> ResourceInfo | None:
        if node.info is not None:
            return node.info
        group, _version = split_api_version(node.api_version)
        return self._by_kind.get((group, node.kind))

    async def _live(self, info: ResourceInfo, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self._client.resource_for(info).get(name, namespace=namespace or None)
        except errors.NotFound:
            return None

    async def reconcile(self, key: str) -> Result | None:
        await self.synced.wait()
        action, _, uid = key.partition(":")
        node = self.graph.get(uid)
        if node is None:
            return None
        if action == "orphan":
            await self._orphan(node)
            return None
        return await self._attempt_to_delete(node)

    async def _attempt_to_delete(self, node: Node) -> Result | None:
        info = self._info(node)
        if info is None:
            # a kind not discovered yet (a CRD made a moment ago): retry with back-off, as upstream does
            log.debug("unknown owner kind apiVersion=%s kind=%s", node.api_version, node.kind)
            return Result(requeue=True)
        obj = await self._live(info, node.namespace, node.name)
        if obj is None or obj["metadata"].get("uid") != node.uid:
            self._enqueue(self.graph.remove_uid(node.uid) if not node.observed else set())
            return None
        if not node.observed:
            # a virtual owner that exists: check again (back-off) until an informer delivers it, else an
            # owner deleted before its kind's informer started would hold its dependents forever (k8s#56121)
            return Result(requeue=True)
        md = obj["metadata"]
        finalizers = md.get("finalizers") or []
        if md.get("deletionTimestamp"):
            if FOREGROUND_FINALIZER in finalizers:
                await self._delete_dependents_first(node, obj, info)
            return None
        owners = md.get("ownerReferences") or []
        if not owners:
            return None
        solid, dangling, waiting = await self._classify(node, owners)
        if solid:
            if dangling or waiting:
                drop = {r["uid"] for r in dangling + waiting}
                await self._put(info, {**obj, "metadata": _with_owner_references(
                    md, [r for r in owners if r.get("uid") not in drop])})
                log.info("removed dangling owner references object=%s uids=%s", _describe(node), sorted(drop))
            return None
        if waiting and node.dependents:
            policy = "Foreground"
        elif ORPHAN_FINALIZER in finalizers:
            policy = "Orphan"
        elif FOREGROUND_FINALIZER in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        try:
            await self._client.resource_for(info).delete(node.name, namespace=node.namespace or None,
                                                         propagation_policy=policy, uid=node.uid)
        except errors.NotFound:
            return None
        log.info("deleted object whose owners are gone object=%s policy=%s", _describe(node), policy)
        return None

    async def _classify(self, node: Node, owners: list[dict[str, Any]]
                        ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        solid: list[dict[str, Any]] = []
        dangling: list[dict[str, Any]] = []
        waiting: list[dict[str, Any]] = []
        for ref in owners:
            owner = self.graph.get(str(ref.get("uid")))
            if owner is not None and owner.observed:
                (waiting if owner.deleting_dependents else solid).append(ref)
                continue
            group, _v = split_api_version(str(ref.get("apiVersion") or ""))
            info = self._by_kind.get((group, str(ref.get("kind") or "")))
            if info is None:
                solid.append(ref)  # a kind we cannot look up: never delete on a guess
                continue
            namespace = node.namespace if info.namespaced else ""
            uid = str(ref.get("uid"))
            if (uid, namespace) in self.absent_owners:
                dangling.append(ref)
                continue
            self.owner_lookups += 1
            live = await self._live(info, namespace, str(ref.get("name") or ""))
            if live is None or live["metadata"].get("uid") != uid:
                self.absent_owners.add(uid, namespace)
                dangling.append(ref)
            elif live["metadata"].get("deletionTimestamp") and \
                    FOREGROUND_FINALIZER in (live["metadata"].get("finalizers") or []):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    async def _delete_dependents_first(self, node: Node, obj: dict[str, Any], info: ResourceInfo) -> None:
        blocking = []
        for dep_uid in sorted(node.dependents):
            dep = self.graph.get(dep_uid)
            if dep is None or not dep.observed:
                continue
            if any(r.get("uid") == node.uid and r.get("blockOwnerDeletion") for r in dep.owners):
                blocking.append(dep)
        if not blocking:
            md = obj["metadata"]
            await self._put(info, {**obj, "metadata": {
                **md, "finalizers": [f for f in md.get("finalizers") or [] if f != FOREGROUND_FINALIZER]}})
            log.info("foreground deletion finished object=%s", _describe(node))
            return
        for dep in blocking:
            if not dep.being_deleted:
                self._enqueue({f"delete:{dep.uid}"})

    async def _orphan(self, owner: Node) -> None:
        for dep_uid in sorted(owner.dependents):
            dep = self.graph.get(dep_uid)
            if dep is None or not dep.observed or dep.info is None:
                continue
            live = await self._live(dep.info, dep.namespace, dep.name)
            if live is None:
                continue
            refs = live["metadata"].get("ownerReferences") or []
            kept = [r for r in refs if r.get("uid") != owner.uid]
            if len(kept) != len(refs):
                await self._put(dep.info, {**live, "metadata": _with_owner_references(live["metadata"], kept)})
        info = self._info(owner)
        if info is None:
            return
        obj = await self._live(info, owner.namespace, owner.name)
        if obj is None or obj["metadata"].get("uid") != owner.uid:
            return
        md = obj["metadata"]
        if ORPHAN_FINALIZER in (md.get("finalizers") or []):
            await self._put(info, {**obj, "metadata": {
                **md, "finalizers": [f for f in md.get("finalizers") or [] if f != ORPHAN_FINALIZER]}})
            log.info("orphaned dependents object=%s dependents=%d", _describe(owner), len(owner.dependents))

    async def _put(self, info: ResourceInfo, obj: dict[str, Any]) -> None:
        try:
            await self._client.resource_for(info).update(obj)
        except errors.NotFound:
            pass


def _describe(node: Node) -> str:
    where = f"{node.namespace}/{node.name}" if node.namespace else node.name
    return f"{node.kind}:{where}"


def _with_owner_references(md: dict[str, Any], refs: list[Any]) -> dict[str, Any]:
    """``md`` with ``refs`` as its owner references; none left removes the field, as upstream's objects
    never carry an empty ``ownerReferences`` (Go omits it)."""
    out = {k: v for k, v in md.items() if k != "ownerReferences"}
    if refs:
        out["ownerReferences"] = refs
    return out
