"""Charging quotas in batches (the ``ResourceQuota`` plugin's write side, as upstream's quota evaluator).

Requests of one namespace are queued; one worker task per namespace (owned here, started on demand, ended
when the queue is empty) takes everything queued, evaluates it *in arrival order* against running totals
(the first that does not fit gets upstream's ``exceeded quota`` 403 with the usage its predecessors in the
batch left), then writes each changed quota once, by compare-and-swap on its resourceVersion. If any write
conflicts (another server charged it), the quotas this batch already wrote are refunded, the namespace's
quotas are re-read from the store and the whole batch is evaluated again; so the result always equals
some sequential order of the requests against the stored quotas, and ``status.used`` never exceeds
``hard`` through admission. Each request awaits its own future.

States of a namespace's work: idle (no worker) -> draining (worker running; new requests join the
queue) -> idle once a pass finds the queue empty (checked and cleared with no await in between).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sampan.api import errors, meta
from sampan.api.quota import resourcelist as rl
from sampan.api.quota.evaluators import Evaluator
from sampan.api.quota.scopes import matches
from sampan.apiserver.admission.interface import Attributes
from sampan.apiserver.cacher.watcher import Filter
from sampan.storage import Conflict, KeyNotFound

if TYPE_CHECKING:
    from sampan.apiserver.context import Scope, ServerContext

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 32


def forbidden(attrs: Attributes, message: str) -> errors.Forbidden:
    """Upstream's ``admission.NewForbidden``: ``<resource> "<name>" is forbidden: <message>``."""
    qualified = errors.qualified(attrs.resource, attrs.group)
    details: dict[str, Any] = {"name": attrs.name, "kind": attrs.resource}
    if attrs.group:
        details["group"] = attrs.group
    return errors.Forbidden(f'{qualified} "{attrs.name}" is forbidden: {message}', details=details)


def status_of(quota: dict[str, Any]) -> dict[str, Any]:
    status = quota.get("status")
    return status if isinstance(status, dict) else {}


@dataclass
class Pending:
    attrs: Attributes
    evaluator: Evaluator
    delta: rl.ResourceList
    charge: bool
    """False for a dry run (or a name already taken): checked against the totals, never added to them."""
    result: asyncio.Future[None]


@dataclass
class _Work:
    queue: list[Pending] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None


class QuotaCharger:
    def __init__(self) -> None:
        self._work: dict[str, _Work] = {}
        self._written: dict[str, dict[str, Any]] = {}
        """Quota key -> the newest version this server wrote or read (newer than the cache until its event
        lands)."""

    def current(self, scope: Scope, namespace: str) -> list[dict[str, Any]]:
        """The namespace's quotas: the cache's version, or a newer one this server wrote or read."""
        out = []
        for co in scope.cache.sorted_objects(Filter(namespace=namespace)):
            mine = self._written.get(co.key)
            if mine is not None and int(meta.resource_version(mine) or 0) > co.rv:
                out.append(mine)
            else:
                self._written.pop(co.key, None)
                out.append(co.obj)
        return out

    async def submit(self, ctx: ServerContext, scope: Scope, pending: Pending) -> None:
        """Queue ``pending`` and wait for its verdict (raises the 403/409 that refuses it)."""
        namespace = pending.attrs.namespace
        work = self._work.setdefault(namespace, _Work())
        work.queue.append(pending)
        if work.worker is None:
            work.worker = asyncio.create_task(self._drain(ctx, scope, namespace, work),
                                              name=f"quota-charges-{namespace}")
        await pending.result

    async def _drain(self, ctx: ServerContext, scope: Scope, namespace: str, work: _Work) -> None:
        batch: list[Pending] = []
        try:
            while work.queue:
                batch, work.queue = work.queue, []
                await self._run_batch(ctx, scope, namespace, batch)
        except BaseException as exc:  # the worker died: nobody may wait forever
            log.exception("quota charging failed namespace=%s", namespace)
            failure = errors.InternalError(f"Internal error occurred: resource quota evaluation failed: {exc}")
            for p in [*batch, *work.queue]:
                if not p.result.done():
                    p.result.set_exception(failure)
            work.queue = []
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            work.worker = None
            if self._work.get(namespace) is work and not work.queue:
                del self._work[namespace]

    async def _run_batch(self, ctx: ServerContext, scope: Scope, namespace: str, batch: list[Pending]) -> None:
        for _ in range(MAX_ATTEMPTS):
            quotas = {scope.key(namespace, meta.name(q)): q for q in self.current(scope, namespace)}
            verdicts, totals = self._evaluate(quotas, batch)
            if await self._write(ctx, scope, quotas, totals):
                for p, verdict in zip(batch, verdicts, strict=True):
                    if p.result.done():
                        continue
                    if verdict is None:
                        p.result.set_result(None)
                    else:
                        p.result.set_exception(verdict)
                return
            await self._refresh(ctx, scope, list(quotas))
        for p in batch:
            if not p.result.done():
                p.result.set_exception(errors.Conflict(
                    "Operation cannot be fulfilled on resourcequotas: the quotas of this namespace are being "
                    "modified too often; try again", details={"kind": "resourcequotas"}))

    @staticmethod
    def _evaluate(quotas: dict[str, dict[str, Any]], batch: list[Pending]
                  ) -> tuple[list[errors.APIError | None], dict[str, rl.ResourceList]]:
        """Each request's verdict, in order, and the quotas' new ``used`` totals (changed ones only)."""
        hard = {k: rl.parse(status_of(q).get("hard")) for k, q in quotas.items()}
        used = {k: rl.parse(status_of(q).get("used")) for k, q in quotas.items()}
        changed: set[str] = set()
        verdicts: list[errors.APIError | None] = []
        for p in batch:
            assert p.attrs.obj is not None
            proposed: dict[str, rl.ResourceList] = {}
            verdict: errors.APIError | None = None
            for key, quota in quotas.items():
                if not matches(quota, p.evaluator, p.attrs.obj):
                    continue
                requested = rl.mask(p.delta, hard[key])
                if not requested:
                    continue
                new_used = rl.add(used[key], requested)
                over = rl.exceeded(rl.mask(new_used, requested), hard[key])
                if over:
                    verdict = forbidden(p.attrs, f"exceeded quota: {meta.name(quota)}, requested: "
                                        f"{rl.pretty(rl.mask(requested, over))}, used: "
                                        f"{rl.pretty(rl.mask(used[key], over))}, limited: "
                                        f"{rl.pretty(rl.mask(hard[key], over))}")
                    break
                proposed[key] = new_used
            if verdict is None and p.charge:
                used.update(proposed)
                changed.update(proposed)
            verdicts.append(verdict)
        return verdicts, {k: used[k] for k in sorted(changed)}

    async def _write(self, ctx: ServerContext, scope: Scope, quotas: dict[str, dict[str, Any]],
                     totals: dict[str, rl.ResourceList]) -> bool:
        """CAS every changed quota; on a conflict refund what was written and answer False."""
        written: list[tuple[str, rl.ResourceList]] = []
        for key, new_used in totals.items():
            quota = quotas[key]
            old_used = rl.parse(status_of(quota).get("used"))
            updated = copy.deepcopy(quota)
            status = updated.setdefault("status", {})
            status["used"] = {**(status.get("used") or {}), **rl.to_wire(new_used)}
            try:
                rev = await ctx.store.update(key, scope.encode(updated),
                                             expected_mod_revision=int(meta.resource_version(quota) or 0))
            except (Conflict, KeyNotFound):
                log.debug("quota write conflicted, re-evaluating quota=%s refunds=%d", key, len(written))
                for done_key, added in written:
                    await self.refund(ctx, scope, done_key, added)
                return False
            updated["metadata"]["resourceVersion"] = str(rev)
            self._written[key] = updated
            written.append((key, rl.remove_zeros(rl.subtract(new_used, rl.mask(old_used, new_used)))))
        return True

    async def _refresh(self, ctx: ServerContext, scope: Scope, keys: list[str]) -> None:
        for key in keys:
            try:
                kv = await ctx.store.get(key)
            except KeyNotFound:
                self._written.pop(key, None)
                continue
            self._written[key] = scope.decode(kv.value, kv.mod_revision)

    async def refund(self, ctx: ServerContext, scope: Scope, key: str, added: rl.ResourceList) -> None:
        """Take ``added`` back out of a quota's ``status.used`` (best effort; the controller recalculates)."""
        for _ in range(MAX_ATTEMPTS):
            try:
                kv = await ctx.store.get(key)
            except KeyNotFound:
                return
            quota = scope.decode(kv.value, kv.mod_revision)
            status = quota.setdefault("status", {})
            used = rl.subtract_non_negative(rl.parse(status.get("used")), added)
            status["used"] = {**(status.get("used") or {}), **rl.to_wire(rl.mask(used, added))}
            try:
                rev = await ctx.store.update(key, scope.encode(quota), expected_mod_revision=kv.mod_revision)
            except (Conflict, KeyNotFound):
                continue
            quota["metadata"]["resourceVersion"] = str(rev)
            self._written[key] = quota
            return
