"""Feeding the APF controller from the API: the configuration is whatever FlowSchemas and
PriorityLevelConfigurations the server's watch cache holds, applied without a restart.

:func:`run_config` (one background task per server):

1. waits for the watch cache, then creates/restores the bootstrap objects (:mod:`.ensure`);
2. registers an internal watcher on both resources' caches; on every change (bursts coalesced for
   ``settle`` seconds) it rebuilds the controller's configuration from the cached objects, re-ensures
   the bootstrap objects, and writes each FlowSchema's ``Dangling`` condition when it changed (upstream's
   status: ``False``/``Found`` when the level exists, ``True``/``NotFound`` when it does not);
3. a watcher the cache closes (reset, overflow) is replaced.

``apf.initialized`` is set after the first round that wrote nothing (the bootstrap objects and every
status are stored and seen by the cache): the server's start waits for it, so a started server's store
is still.

:func:`run_borrowing` re-divides seats every ``period`` (:meth:`APF.adjust_borrowing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sampan.api import errors
from sampan.apiserver.cacher.watcher import Filter
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.flowcontrol.controller import APF
from sampan.apiserver.flowcontrol.ensure import MANAGER, ensure_configuration, scopes
from sampan.apiserver.handlers.guaranteed import UpdateRequest, update_object
from sampan.apiserver.handlers.objectmeta import timestamp
from sampan.apiserver.handlers.reads import cache_is_fresh
from sampan.apiserver.handlers.writeopts import WriteOptions

log = logging.getLogger(__name__)

DANGLING = "Dangling"


def dangling_condition(level: str, *, exists: bool) -> dict[str, str]:
    """Upstream's ``Dangling`` condition (without ``lastTransitionTime``)."""
    if exists:
        return {"type": DANGLING, "status": "False", "reason": "Found",
                "message": f'This FlowSchema references the PriorityLevelConfiguration object named "{level}" '
                           "and it exists"}
    return {"type": DANGLING, "status": "True", "reason": "NotFound",
            "message": f'This FlowSchema references the PriorityLevelConfiguration object named "{level}" but '
                       "there is no such object"}


def _current_dangling(obj: dict[str, Any]) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == DANGLING:
            return cond
    return None


async def update_statuses(ctx: ServerContext, fs: Scope, levels: set[str]) -> int:
    """Write the ``Dangling`` condition of every FlowSchema whose condition is missing or stale."""
    writes = 0
    opts = WriteOptions(dry=False, manager=MANAGER, field_validation="Ignore")
    for cached in list(fs.cache.objects.values()):
        obj = cached.obj
        level = str(((obj.get("spec") or {}).get("priorityLevelConfiguration") or {}).get("name", ""))
        want = dangling_condition(level, exists=level in levels)
        have = _current_dangling(obj)
        if have is not None and all(have.get(k) == v for k, v in want.items()):
            continue
        now = timestamp(ctx.clock.wall())

        def transform(old: dict[str, Any], want: dict[str, str] = want, now: str = now) -> dict[str, Any]:
            status = old.setdefault("status", {})
            conditions = [c for c in status.get("conditions") or [] if c.get("type") != DANGLING]
            prev = _current_dangling(old)
            since = prev.get("lastTransitionTime") if prev and prev.get("status") == want["status"] else now
            conditions.append({**want, "lastTransitionTime": since})
            status["conditions"] = conditions
            old["metadata"].pop("resourceVersion", None)
            return old

        try:
            _, changed = await update_object(ctx, UpdateRequest(fs, "", cached.name, "status", transform, opts))
            writes += changed
        except errors.NotFound:
            continue
    return writes


def _objects(scope: Scope) -> list[dict[str, Any]]:
    return [c.obj for c in scope.cache.objects.values()]


async def _changed(watchers: list[Any]) -> None:
    waits = [asyncio.ensure_future(w.wait()) for w in watchers]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in waits:
            t.cancel()
        for t in waits:
            with contextlib.suppress(asyncio.CancelledError):
                await t


async def run_config(ctx: ServerContext, apf: APF, *, settle: float = 0.01, retry: float = 1.0) -> None:
    """See the module docstring; runs until cancelled. A failed round is retried after ``retry`` seconds."""
    found = scopes(ctx)
    if found is None:
        return
    fs, pl = found
    await ctx.watch_cache.ready.wait()
    while True:
        watchers = [fs.cache.add_watcher(Filter(), bookmarks=False, initial=()),
                    pl.cache.add_watcher(Filter(), bookmarks=False, initial=())]
        try:
            while not any(w.closed for w in watchers):
                try:
                    await cache_is_fresh(ctx)  # this round sees every write of the previous one
                    writes = await ensure_configuration(ctx)
                    apf.apply_config(_objects(fs), _objects(pl))
                    writes += await update_statuses(ctx, fs, set(apf.levels))
                    if writes == 0:
                        apf.initialized.set()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the store is unavailable, or a write raced: try again soon
                    log.exception("applying the flowcontrol configuration failed; retrying")
                    await asyncio.sleep(retry)
                    continue
                await _changed(watchers)
                await asyncio.sleep(settle)
                for w in watchers:
                    w.take(limit=1 << 30)
        finally:
            for w, scope in zip(watchers, (fs, pl), strict=True):
                scope.cache.remove_watcher(w)


async def run_borrowing(apf: APF, *, period: float) -> None:
    while True:
        await asyncio.sleep(period)
        apf.adjust_borrowing()
