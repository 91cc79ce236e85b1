"""``ResourceQuota`` admission: a create (or a service/claim update) that would take a namespace's
usage above a quota's ``status.hard`` is refused, and an admitted one is *charged* to every quota it
falls under before it is stored — so concurrent creates can never overshoot, even across API servers.

For a request the plugin measures (:mod:`sampan.api.quota`), per matching quota (``status.hard`` names
one of the object's resources and the scopes match):

1. ``Constraints`` (pods: every container states what a cpu/memory quota limits) else 403
   ``failed quota: <q>: must specify limits.cpu for: c``;
2. the quota has ``status.used`` for those names (the controller has seen it) else 403
   ``status unknown for quota: <q>, resources: <names>``;
3. delta = usage(new) - usage(old) on update, zeros dropped (nothing left: admitted, nothing charged);
4. ``used + delta`` within ``hard`` for every requested name, else 403 ``exceeded quota: <q>, requested:
   pods=1, used: pods=3, limited: pods=3`` (upstream's wording);
5. unless a dry run: ``status.used`` is written by compare-and-swap on the quota's resourceVersion, for a
   whole batch of the namespace's concurrent requests at once (:mod:`.quotabatch`), before the objects
   are stored.

Invariant: a quota's ``status.used`` only grows through a successful CAS made by a check against the very
version it replaces, so the sum of admitted charges never exceeds ``hard``. A charge for an object that
then fails to store (a name taken meanwhile) stays until the resource-quota controller recalculates, as
upstream; a create of a name already stored is checked (403 when over) but not charged.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sampan.api import meta
from sampan.api.quota import resourcelist as rl
from sampan.api.quota.evaluators import Evaluator, evaluator_for
from sampan.api.quota.scopes import hard_names, matches
from sampan.apiserver.admission.interface import Attributes, PluginBase
from sampan.apiserver.admission.quotabatch import Pending, QuotaCharger, forbidden, status_of
from sampan.apiserver.cacher.watcher import Filter
from sampan.storage import KeyNotFound

if TYPE_CHECKING:
    from sampan.apiserver.context import ServerContext

log = logging.getLogger(__name__)


class ResourceQuotaPlugin(PluginBase):
    name = "ResourceQuota"

    def __init__(self) -> None:
        self.charger = QuotaCharger()

    def handles(self, attrs: Attributes) -> bool:
        return (attrs.operation in ("CREATE", "UPDATE") and attrs.subresource == "" and bool(attrs.namespace)
                and attrs.obj is not None)

    async def validate(self, ctx: ServerContext, attrs: Attributes) -> None:
        scope = ctx.scope("", "v1", "resourcequotas")
        evaluator = evaluator_for(attrs.group, attrs.resource)
        if scope is None or not evaluator.handles(attrs.operation):
            return
        if not scope.cache.sorted_objects(Filter(namespace=attrs.namespace)):
            return
        quotas = [q for q in self.charger.current(scope, attrs.namespace) if _preflight(q, evaluator, attrs)]
        if not quotas:
            return
        delta = _delta(evaluator, attrs, datetime.fromtimestamp(ctx.clock.wall(), UTC))
        if not delta:
            return
        charge = not attrs.dry_run and not await _already_exists(ctx, attrs)
        result: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self.charger.submit(ctx, scope, Pending(attrs, evaluator, delta, charge, result))


def _preflight(quota: dict[str, Any], evaluator: Evaluator, attrs: Attributes) -> bool:
    """Constraints and usage stats of one quota; True when it concerns the object."""
    assert attrs.obj is not None
    if not matches(quota, evaluator, attrs.obj):
        return False
    restricted = evaluator.matching_resources(hard_names(quota))
    problem = evaluator.constraints(restricted, attrs.obj)
    if problem:
        raise forbidden(attrs, f"failed quota: {meta.name(quota)}: {problem}")
    used = status_of(quota).get("used")
    used = used if isinstance(used, dict) else {}
    if any(n not in used for n in restricted):
        raise forbidden(attrs, f"status unknown for quota: {meta.name(quota)}, resources: {','.join(restricted)}")
    return True


def _delta(evaluator: Evaluator, attrs: Attributes, now: datetime) -> rl.ResourceList:
    assert attrs.obj is not None
    delta = evaluator.usage(attrs.obj, now=now)
    if negative := rl.negative(delta):
        raise forbidden(attrs, f"quota usage is negative for resource(s): {','.join(negative)}")
    if attrs.operation == "UPDATE" and attrs.old is not None and meta.resource_version(attrs.old):
        delta = rl.subtract_non_negative(delta, evaluator.usage(attrs.old, now=now))
    return rl.remove_zeros(delta)


async def _already_exists(ctx: ServerContext, attrs: Attributes) -> bool:
    """A create whose name is taken will be refused (409) by the store: its usage is not charged (upstream
    charges it and leaves the excess to the controller's next full resync)."""
    if attrs.operation != "CREATE" or not attrs.name:
        return False
    scope = ctx.scope(attrs.group, attrs.version, attrs.resource)
    if scope is None:
        return False
    try:
        await ctx.store.get(scope.key(attrs.namespace, attrs.name))
    except KeyNotFound:
        return False
    return True
