"""Fill aggregated ClusterRoles, as upstream's clusterrole-aggregation controller.

Keys are ClusterRole names. Any ClusterRole change (add, update, delete) queues every ClusterRole that
has an ``aggregationRule`` — a label change anywhere may add or drop rules from any of them, and there
are few such roles. ``reconcile`` is level-based: the role's rules become the rules of every other
ClusterRole matched by any of its ``clusterRoleSelectors``, in name order, each rule once; written only
when they differ (the runner retries a Conflict). A role without an aggregationRule is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sampan.api import errors
from sampan.api.selectors import LabelSelector
from sampan.client import Client, EventHandlerFuncs, SharedIndexInformer, SharedInformerFactory
from sampan.client.cache import DeletedFinalStateUnknown
from sampan.controllers.runner import Enqueuer

log = logging.getLogger(__name__)

RBAC = "rbac.authorization.k8s.io/v1"


def _selectors(role: dict[str, Any]) -> list[LabelSelector]:
    agg = role.get("aggregationRule")
    raw = agg.get("clusterRoleSelectors") if isinstance(agg, dict) else None
    out: list[LabelSelector] = []
    for s in raw if isinstance(raw, list) else ():
        try:
            out.append(LabelSelector.from_dict(s))
        except ValueError:
            log.warning("skipping bad aggregation selector role=%s", role["metadata"].get("name"))
    return out


def aggregated_rules(role: dict[str, Any], roles: Sequence[dict[str, Any]]) -> list[Any]:
    """The rules ``role``'s aggregationRule gathers from ``roles`` (name order, each rule once)."""
    selectors = _selectors(role)
    name = role["metadata"].get("name")
    rules: list[Any] = []
    for other in sorted(roles, key=lambda r: str(r["metadata"].get("name"))):
        if other["metadata"].get("name") == name:
            continue
        labels = other["metadata"].get("labels") or {}
        if not any(s.matches(labels) for s in selectors):
            continue
        for rule in other.get("rules") or []:
            if rule not in rules:
                rules.append(rule)
    return rules


class ClusterRoleAggregationController:
    name = "clusterrole-aggregation"

    def __init__(self, client: Client, factory: SharedInformerFactory) -> None:
        self._client = client
        self._informer = factory.informer(RBAC, "clusterroles")
        self.roles = factory.lister(RBAC, "clusterroles")

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._informer,)

    def watch(self, queue: Enqueuer) -> None:
        def changed(_obj: Any) -> None:
            for role in self.roles.list():
                if role.get("aggregationRule"):
                    queue.add(role["metadata"]["name"])

        self._informer.add_event_handler(EventHandlerFuncs(
            on_add_func=changed, on_update_func=lambda _old, new: changed(new),
            on_delete_func=lambda obj: changed(obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj)))

    async def reconcile(self, key: str) -> None:
        try:
            role = self.roles.get(key)
        except errors.NotFound:
            return
        if not role.get("aggregationRule"):
            return
        rules = aggregated_rules(role, self.roles.list())
        if rules == (role.get("rules") or []):
            return
        resource = await self._client.resource(RBAC, "clusterroles")
        await resource.update({**role, "rules": rules})  # Conflict: the runner retries from a fresh cache
        log.info("aggregated clusterrole name=%s rules=%d", key, len(rules))
