"""Versions served over one storage: a :class:`View` turns a stored object into another group-version's
form (and back), and :func:`view_of` memoizes that per cached object.

Upstream stores each resource in one version and converts on every read and write; sampan does the
same for the few resources served in several versions or groups (``events.k8s.io/v1`` Events over core
``v1`` Events, ``autoscaling/v1`` HPAs over ``autoscaling/v2``). The watch cache keeps one cache per
storage prefix, holding storage-form objects; selectors are evaluated on the storage form (a view
translates its field-selector names), and a watcher of a view gets the view's encoding.

A view whose conversion calls out (a CRD's conversion webhook) has a :class:`Remote`: handlers and watchers
``await`` :meth:`View.prepare` for the objects they are about to show — one batched, non-blocking round trip
for all of them, shared by every concurrent caller of the same object version (a watch event is converted
once, not once per watcher) — and :meth:`View.show` then finds them memoized. A failed remote conversion
raises (the request gets upstream's 500) and is not memoized, so the next read asks again; only a view
without a remote shows a stored object it cannot convert unconverted.

Invariants: ``to_view`` and ``to_storage`` are pure (they never change their argument and return new
dicts, sharing no mutable parts the caller may later change); a converted :class:`CachedObject` is
read-only like any other and is built at most once per stored object version and view, so its JSON
(and protobuf) encoding is also done once per view: watch events are encoded once per event, delivery
variant and view.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sampan.api import meta
from sampan.api.selectors import FieldRequirement, FieldSelector
from sampan.apiserver.cacher.objects import CachedObject

log = logging.getLogger(__name__)

Convert = Callable[[dict[str, Any]], dict[str, Any]]


class Remote(Protocol):
    """A conversion that calls out: asynchronous, batched, may fail (``errors.APIError``)."""

    async def to_view_many(self, objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Stored-form objects in the view's form (new dicts, same order)."""
        ...

    async def to_storage_one(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A view-form object in the storage form (a new dict)."""
        ...


@dataclass(frozen=True, eq=False)
class View:
    """How one served group-version shows a resource stored in another form."""

    name: str
    """The view's ``apiVersion`` (``events.k8s.io/v1``): the memo key."""
    kind: str
    to_view: Convert
    to_storage: Convert
    field_label: Callable[[str], str]
    """A field-selector name of the view -> the storage form's name for the same value."""
    field_values_of: Callable[[dict[str, Any]], Mapping[str, str]]
    remote: Remote | None = None
    """Set when converting calls out (CRD conversion webhooks): see :meth:`prepare`."""
    _pending: dict[tuple[str, int], asyncio.Future[CachedObject]] = field(default_factory=dict, repr=False)

    def shown_already(self, co: CachedObject) -> bool:
        """``co`` is converted (memoized): :meth:`show` returns at once, calling nothing."""
        return co._views is not None and self.name in co._views

    async def prepare(self, cos: Iterable[CachedObject]) -> None:
        """Convert ``cos`` ahead of :meth:`show` (a no-op without a remote): the ones not yet converted
        nor being converted by another caller go in one remote call; the others are awaited. Raises the
        remote's error (nothing is memoized then)."""
        if self.remote is None:
            return
        mine: list[CachedObject] = []
        theirs: list[asyncio.Future[CachedObject]] = []
        seen: set[tuple[str, int]] = set()
        for co in cos:
            key = (co.key, co.rv)
            if key in seen or self.shown_already(co):
                continue
            seen.add(key)
            pending = self._pending.get(key)
            if pending is not None:
                theirs.append(pending)
            else:
                mine.append(co)
        if mine:
            loop = asyncio.get_running_loop()
            futures = {(co.key, co.rv): loop.create_future() for co in mine}
            self._pending.update(futures)
            try:
                objs = await self.remote.to_view_many([co.obj for co in mine])
                for co, obj in zip(mine, objs, strict=True):
                    futures[(co.key, co.rv)].set_result(self._memoize(co, obj))
            except BaseException as err:
                for fut in futures.values():
                    if fut.done():
                        continue
                    if isinstance(err, Exception):
                        fut.set_exception(err)
                        fut.exception()  # retrieved: waiters re-raise it, nobody else must
                    else:
                        fut.cancel()
                raise
            finally:
                for key in futures:
                    self._pending.pop(key, None)
        for fut in theirs:
            await fut

    def _memoize(self, co: CachedObject, obj: dict[str, Any]) -> CachedObject:
        md = obj.get("metadata")
        if isinstance(md, dict) and obj is not co.obj:
            md["resourceVersion"] = str(co.rv)
        converted = CachedObject(co.key, co.namespace, co.name, co.rv, obj, self.field_values_of,
                                 _labels=meta.labels(obj))
        if co._views is None:
            co._views = {}
        co._views[self.name] = converted
        return converted

    def show(self, co: CachedObject) -> CachedObject:
        """``co`` in this view's form, built once per stored object version. Without a remote, a stored
        object the conversion cannot handle is shown unconverted (logged), never an error; with one, an
        object not :meth:`prepare`-d is converted synchronously (blocking: only rare paths get here) and
        a failure raises."""
        memo = co._views
        converted = memo.get(self.name) if memo is not None else None
        if converted is not None:
            return converted
        if self.remote is not None:
            return self._memoize(co, self.to_view(co.obj))
        try:
            obj = self.to_view(co.obj)
        except Exception:  # a conversion must never break reads or the watch cache
            log.exception("cannot convert stored object key=%s to %s", co.key, self.name)
            obj = co.obj
        return self._memoize(co, obj)

    def storage_selector(self, selector: FieldSelector) -> FieldSelector:
        """``selector`` (in the view's field names) over the storage form's field names."""
        if selector.empty:
            return selector
        return FieldSelector([FieldRequirement(self.field_label(r.field), r.operator, r.value)
                              for r in selector.requirements])


def view_of(co: CachedObject, view: View | None) -> CachedObject:
    """``co`` as ``view`` shows it (``co`` itself when ``view`` is None)."""
    return co if view is None else view.show(co)


__all__ = ["View", "view_of"]
