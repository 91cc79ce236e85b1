"""Recalculate ResourceQuota usage (upstream's ``resourcequota`` controller).

Keys are ``namespace/name`` of quotas. A quota is queued when it is added, when its ``spec.hard``
changes, every ``sync_period`` (the full resync), and — replenishment — when an object it may count is
deleted (pods, services, config maps, secrets, replication controllers, claims), when a pod
finishes or starts terminating, and when a service changes type. The API server's ``ResourceQuota``
admission charges ``status.used`` on every create; this controller only puts the truth back (releasing
what deleted objects held, and what failed creates were charged).

``reconcile`` reads the quota *live* (its current resourceVersion), then LISTs each counted resource of
the namespace live, sums what matching objects cost (:mod:`sampan.api.quota`), and writes
``status: {hard: spec.hard, used}`` only when it changed, as an update with that resourceVersion: an
admission charge made in between makes it a 409 Conflict, and the key is retried with the new version
(the runner's policy), so a recalculation never erases a concurrent charge it did not see.
Resources a ``count/<resource>.<group>`` names that the server does not serve count 0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan.api import errors
from sampan.api.quantity import Quantity
from sampan.api.quota import resourcelist as rl
from sampan.api.quota.evaluators import evaluator_for, resources_measured
from sampan.api.quota.scopes import matches
from sampan.client import (
    Client,
    DeletedFinalStateUnknown,
    EventHandlerFuncs,
    SharedIndexInformer,
    SharedInformerFactory,
)
from sampan.controllers.runner import Enqueuer

log = logging.getLogger(__name__)

REPLENISHED = ("pods", "services", "configmaps", "secrets", "replicationcontrollers", "persistentvolumeclaims")
"""core/v1 resources whose deletions trigger a recalculation of their namespace's quotas (other ``count/``
resources are recounted by the full resync)."""


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _namespace(obj: Any) -> str:
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key.split("/", 1)[0] if "/" in obj.key else ""
    return str(_d(_d(obj).get("metadata")).get("namespace") or "")


def _pod_released(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """A pod update that frees compute quota: it finished or began terminating."""
    terminal = ("Succeeded", "Failed")
    if _d(new.get("status")).get("phase") in terminal and _d(old.get("status")).get("phase") not in terminal:
        return True
    return bool(_d(new.get("metadata")).get("deletionTimestamp")) and not _d(old.get("metadata")).get(
        "deletionTimestamp")


class ResourceQuotaController:
    name = "resourcequota"

    def __init__(self, client: Client, factory: SharedInformerFactory, *, sync_period: float = 300.0,
                 clock: Clock | None = None) -> None:
        self._client = client
        self._clock = clock or RealClock()
        self._sync_period = sync_period
        self._quota_informer = factory.informer("v1", "resourcequotas")
        self.quotas = factory.lister("v1", "resourcequotas")
        self._replenish = {name: factory.informer("v1", name) for name in REPLENISHED}
        self._queue: Enqueuer | None = None

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._quota_informer, *self._replenish.values())

    def watch(self, queue: Enqueuer) -> None:
        self._queue = queue

        def key_of(obj: dict[str, Any]) -> str:
            md = obj["metadata"]
            return f"{md.get('namespace', '')}/{md['name']}"

        def quota_updated(old: dict[str, Any], new: dict[str, Any]) -> None:
            if _d(old.get("spec")).get("hard") != _d(new.get("spec")).get("hard"):
                queue.add(key_of(new))

        self._quota_informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda q: queue.add(key_of(q)), on_update_func=quota_updated))

        def namespace_changed(obj: Any) -> None:
            namespace = _namespace(obj)
            if namespace:
                self._enqueue_namespace(namespace)

        def pod_updated(old: dict[str, Any], new: dict[str, Any]) -> None:
            if _pod_released(old, new):
                namespace_changed(new)

        def service_updated(old: dict[str, Any], new: dict[str, Any]) -> None:
            if _d(old.get("spec")).get("type") != _d(new.get("spec")).get("type"):
                namespace_changed(new)

        updates = {"pods": pod_updated, "services": service_updated}
        for name, informer in self._replenish.items():
            informer.add_event_handler(EventHandlerFuncs(on_delete_func=namespace_changed,
                                                         on_update_func=updates.get(name)))

    def _enqueue_namespace(self, namespace: str) -> None:
        assert self._queue is not None
        for quota in self.quotas.namespaced(namespace).list():
            self._queue.add(f"{namespace}/{quota['metadata']['name']}")

    async def background(self) -> None:
        """The full resync: every quota, every ``sync_period``."""
        while True:
            await self._clock.sleep(self._sync_period)
            assert self._queue is not None
            for quota in self.quotas.list():
                md = quota["metadata"]
                self._queue.add(f"{md.get('namespace', '')}/{md['name']}")

    async def reconcile(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        quotas = await self._client.resource("v1", "resourcequotas")
        try:
            quota = await quotas.get(name, namespace=namespace)
        except errors.NotFound:
            return
        spec_hard = rl.parse(_d(quota.get("spec")).get("hard"))
        status = _d(quota.get("status"))
        names = sorted(spec_hard)
        used = rl.mask(rl.parse(status.get("used")), names)
        now = datetime.fromtimestamp(self._clock.wall(), UTC)
        for group, resource in resources_measured(names):
            items = await self._list(group, resource, namespace)
            evaluator = evaluator_for(group, resource)
            measured = evaluator.matching_resources(names)
            total: rl.ResourceList = {n: Quantity(0) for n in measured}
            for obj in items:
                if matches(quota, evaluator, obj, names=names):
                    total = rl.add(total, rl.mask(evaluator.usage(obj, now=now), measured))
            used.update(total)
        new_status = {"hard": rl.to_wire(spec_hard), "used": rl.to_wire(used)}
        if status.get("hard") == new_status["hard"] and rl.equal(rl.parse(status.get("used")), used) and \
                set(_d(status.get("used"))) == set(new_status["used"]):
            return
        quota["status"] = new_status
        await quotas.update_status(quota, namespace=namespace)  # 409 on a concurrent charge: retried
        log.info("quota usage recalculated quota=%s used=%s", key, rl.pretty(used))

    async def _list(self, group: str, resource: str, namespace: str) -> list[dict[str, Any]]:
        try:
            rc = await self._client.resource(group or "v1", resource)
            page = await rc.list_all(namespace=namespace)
        except errors.NotFound:
            return []
        return [o for o in page.get("items") or [] if isinstance(o, dict)]


__all__ = ["ResourceQuotaController"]
