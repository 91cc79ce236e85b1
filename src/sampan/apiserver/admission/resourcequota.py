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
5. not a dry run: ``status.used`` is written with compare-and-swap on the quota's resourceVersion. A
   conflict re-reads the quota from the store and re-checks it. When a later quota refuses, quotas
   already charged by this request are refunded.

Invariant: a quota's ``status.used`` only grows through a successful CAS made by a check against the very
version it replaces, so the sum of admitted charges never exceeds ``hard``. A charge for an object that
then fails to store (a name taken meanwhile) stays until the resource-quota controller recalculates, as
upstream; a create of a name already stored is checked (403 when over) but not charged.
One lock per namespace (with quotas) serialises this server's charges (fewer CAS conflicts); other
servers are kept honest by the CAS alone.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sampan.api import errors, meta
from sampan.api.quota import resourcelist as rl
from sampan.api.quota.evaluators import Evaluator, evaluator_for
from sampan.api.quota.scopes import hard_names, matches
from sampan.apiserver.admission.interface import Attributes, PluginBase
from sampan.apiserver.cacher.watcher import Filter
from sampan.storage import Conflict, KeyNotFound

if TYPE_CHECKING:
    from sampan.apiserver.context import Scope, ServerContext

log = logging.getLogger(__name__)

MAX_CAS_ATTEMPTS = 32


def forbidden(attrs: Attributes, message: str) -> errors.Forbidden:
    """Upstream's ``admission.NewForbidden``: ``<resource> "<name>" is forbidden: <message>``."""
    qualified = errors.qualified(attrs.resource, attrs.group)
    details: dict[str, Any] = {"name": attrs.name, "kind": attrs.resource}
    if attrs.group:
        details["group"] = attrs.group
    return errors.Forbidden(f'{qualified} "{attrs.name}" is forbidden: {message}', details=details)


class ResourceQuotaPlugin(PluginBase):
    name = "ResourceQuota"

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._written: dict[str, dict[str, Any]] = {}
        """Quota key -> the version this server last wrote (newer than the cache until its event lands)."""

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
        async with self._locks.setdefault(attrs.namespace, asyncio.Lock()):
            await self._admit(ctx, scope, evaluator, attrs)

    # ---- one request ------------------------------------------------------------------------------

    def _current(self, scope: Scope, namespace: str) -> list[dict[str, Any]]:
        """The namespace's quotas: the cache's version, or this server's last write when newer."""
        out = []
        for co in scope.cache.sorted_objects(Filter(namespace=namespace)):
            mine = self._written.get(co.key)
            if mine is not None and int(meta.resource_version(mine) or 0) > co.rv:
                out.append(mine)
            else:
                self._written.pop(co.key, None)
                out.append(co.obj)
        return out

    def _delta(self, evaluator: Evaluator, attrs: Attributes, now: datetime) -> rl.ResourceList:
        assert attrs.obj is not None
        delta = evaluator.usage(attrs.obj, now=now)
        if negative := rl.negative(delta):
            raise forbidden(attrs, f"quota usage is negative for resource(s): {','.join(negative)}")
        if attrs.operation == "UPDATE" and attrs.old is not None and meta.resource_version(attrs.old):
            delta = rl.subtract_non_negative(delta, evaluator.usage(attrs.old, now=now))
        return rl.remove_zeros(delta)

    def _check(self, quota: dict[str, Any], evaluator: Evaluator, attrs: Attributes,
               delta: rl.ResourceList) -> rl.ResourceList | None:
        """The quota's new ``used`` with ``delta`` charged (None: the quota does not concern the
        request); 403 when the request may not pass it."""
        assert attrs.obj is not None
        if not matches(quota, evaluator, attrs.obj):
            return None
        status = _status(quota)
        hard, used = rl.parse(status.get("hard")), rl.parse(status.get("used"))
        requested = rl.mask(delta, hard)
        if not requested:
            return None
        new_used = rl.add(used, requested)
        over = rl.exceeded(rl.mask(new_used, requested), hard)
        if over:
            raise forbidden(attrs, f"exceeded quota: {meta.name(quota)}, requested: "
                            f"{rl.pretty(rl.mask(requested, over))}, used: {rl.pretty(rl.mask(used, over))}, "
                            f"limited: {rl.pretty(rl.mask(hard, over))}")
        return new_used

    def _preflight(self, quota: dict[str, Any], evaluator: Evaluator, attrs: Attributes) -> bool:
        """Constraints and usage stats of one quota; True when it concerns the object."""
        assert attrs.obj is not None
        if not matches(quota, evaluator, attrs.obj):
            return False
        restricted = evaluator.matching_resources(hard_names(quota))
        problem = evaluator.constraints(restricted, attrs.obj)
        if problem:
            raise forbidden(attrs, f"failed quota: {meta.name(quota)}: {problem}")
        used = _status(quota).get("used")
        used = used if isinstance(used, dict) else {}
        if any(n not in used for n in restricted):
            raise forbidden(attrs, f"status unknown for quota: {meta.name(quota)}, resources: {','.join(restricted)}")
        return True

    async def _admit(self, ctx: ServerContext, scope: Scope, evaluator: Evaluator, attrs: Attributes) -> None:
        quotas = [q for q in self._current(scope, attrs.namespace) if self._preflight(q, evaluator, attrs)]
        if not quotas:
            return
        delta = self._delta(evaluator, attrs, datetime.fromtimestamp(ctx.clock.wall(), UTC))
        if not delta:
            return
        for quota in quotas:  # every quota is checked before any is charged
            self._check(quota, evaluator, attrs, delta)
        if attrs.dry_run or await _already_exists(ctx, attrs):
            return
        charged: list[tuple[str, rl.ResourceList]] = []
        try:
            for quota in quotas:
                key = scope.key(attrs.namespace, meta.name(quota))
                requested = await self._charge(ctx, scope, key, quota, evaluator, attrs, delta)
                if requested:
                    charged.append((key, requested))
        except BaseException:
            for key, requested in charged:
                await self._refund(ctx, scope, key, requested)
            raise

    async def _charge(self, ctx: ServerContext, scope: Scope, key: str, quota: dict[str, Any], evaluator: Evaluator,
                      attrs: Attributes, delta: rl.ResourceList) -> rl.ResourceList:
        """CAS the quota's ``status.used`` up by its share of ``delta``; returns what was charged."""
        for _ in range(MAX_CAS_ATTEMPTS):
            new_used = self._check(quota, evaluator, attrs, delta)
            if new_used is None:
                return {}
            updated = copy.deepcopy(quota)
            status = updated.setdefault("status", {})
            hard = rl.parse(status.get("hard"))
            status["used"] = {**status.get("used", {}), **rl.to_wire(rl.mask(new_used, rl.mask(delta, hard)))}
            try:
                rev = await ctx.store.update(key, scope.encode(updated),
                                             expected_mod_revision=int(meta.resource_version(quota) or 0))
            except Conflict:
                try:
                    quota = await self._read(ctx, scope, key)
                except errors.NotFound:
                    return {}  # the quota was deleted meanwhile
                continue
            except KeyNotFound:
                return {}
            updated["metadata"]["resourceVersion"] = str(rev)
            self._written[key] = updated
            log.debug("quota charged quota=%s rv=%d", key, rev)
            return rl.mask(delta, hard)
        raise errors.Conflict(f'Operation cannot be fulfilled on resourcequotas "{meta.name(quota)}": '
                              "the quota is being modified too often; try again",
                              details={"name": meta.name(quota), "kind": "resourcequotas"})

    async def _refund(self, ctx: ServerContext, scope: Scope, key: str, requested: rl.ResourceList) -> None:
        """Give back what :meth:`_charge` took (best effort; the controller recalculates anyway)."""
        for _ in range(MAX_CAS_ATTEMPTS):
            try:
                quota = await self._read(ctx, scope, key)
            except errors.NotFound:
                return
            status = quota.setdefault("status", {})
            used = rl.subtract_non_negative(rl.parse(status.get("used")), requested)
            status["used"] = {**status.get("used", {}), **rl.to_wire(rl.mask(used, requested))}
            try:
                rev = await ctx.store.update(key, scope.encode(quota),
                                             expected_mod_revision=int(meta.resource_version(quota) or 0))
            except (Conflict, KeyNotFound):
                continue
            quota["metadata"]["resourceVersion"] = str(rev)
            self._written[key] = quota
            return

    async def _read(self, ctx: ServerContext, scope: Scope, key: str) -> dict[str, Any]:
        try:
            kv = await ctx.store.get(key)
        except KeyNotFound:
            raise errors.NotFound(f"resourcequota {key} not found") from None
        return scope.decode(kv.value, kv.mod_revision)


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


def _status(quota: dict[str, Any]) -> dict[str, Any]:
    status = quota.get("status")
    return status if isinstance(status, dict) else {}
