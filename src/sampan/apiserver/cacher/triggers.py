"""Watchers indexed by the one field value they require ("indexed triggers", as upstream's cacher does).

A watch in one namespace, or with ``spec.nodeName=<node>`` (every kubelet's pod watch), only cares about
objects with that value. :class:`WatcherSet` keeps such watchers in buckets keyed by (field, value), so
an event is offered to the watchers of the buckets its old and new object fall in, plus the watchers
without a trigger, instead of to every watcher. Selector semantics do not change: each candidate still
applies its whole filter (so a bucket only has to be a superset of the matching watchers).

Invariant: every watcher is in ``_all`` and in exactly one of ``_plain`` or one bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sampan.apiserver.cacher.objects import WatchEvent
from sampan.apiserver.cacher.watcher import CacheWatcher, Filter

NAMESPACE = "metadata.namespace"
TRIGGER_FIELDS = ("spec.nodeName",)
"""Field-selector fields (besides the namespace) whose equality requirements index watchers."""

Trigger = tuple[str, str]


def trigger_of(flt: Filter) -> Trigger | None:
    """The (field, value) every object a watcher with ``flt`` can see must have, if it is indexable."""
    if flt.namespace is not None:
        return (NAMESPACE, flt.namespace)
    for req in getattr(flt.fields, "requirements", ()):
        if req.operator == "=" and req.field in TRIGGER_FIELDS:
            return (req.field, req.value)
    return None


class WatcherSet:
    """A set of watchers with trigger buckets (see module docstring). Set-like: ``in``, ``len``, iteration."""

    def __init__(self) -> None:
        self._all: set[CacheWatcher] = set()
        self._plain: set[CacheWatcher] = set()
        self._buckets: dict[Trigger, set[CacheWatcher]] = {}
        self._trigger: dict[CacheWatcher, Trigger] = {}
        self._field_users: dict[str, int] = {}
        """How many watchers are bucketed by each non-namespace field."""

    def add(self, w: CacheWatcher) -> None:
        trigger = trigger_of(w.filter)
        self._all.add(w)
        if trigger is None:
            self._plain.add(w)
            return
        self._trigger[w] = trigger
        self._buckets.setdefault(trigger, set()).add(w)
        if trigger[0] != NAMESPACE:
            self._field_users[trigger[0]] = self._field_users.get(trigger[0], 0) + 1

    def discard(self, w: CacheWatcher) -> None:
        if w not in self._all:
            return
        self._all.discard(w)
        self._plain.discard(w)
        trigger = self._trigger.pop(w, None)
        if trigger is None:
            return
        bucket = self._buckets.get(trigger)
        if bucket is not None:
            bucket.discard(w)
            if not bucket:
                del self._buckets[trigger]
        if trigger[0] != NAMESPACE:
            left = self._field_users[trigger[0]] - 1
            if left:
                self._field_users[trigger[0]] = left
            else:
                del self._field_users[trigger[0]]

    def clear(self) -> None:
        self._all.clear()
        self._plain.clear()
        self._buckets.clear()
        self._trigger.clear()
        self._field_users.clear()

    def candidates(self, event: WatchEvent) -> Iterable[CacheWatcher]:
        """The watchers that may care about ``event`` (a superset of those whose filter matches)."""
        if not self._buckets:
            return self._all
        keys: set[Trigger] = set()
        for co in (event.cur, event.prev):
            if co is None:
                continue
            keys.add((NAMESPACE, co.namespace))
            for field in self._field_users:
                keys.add((field, co.fields.get(field, "")))
        out = list(self._plain)
        for key in keys:
            bucket = self._buckets.get(key)
            if bucket:
                out.extend(bucket)
        return out

    def __iter__(self) -> Iterator[CacheWatcher]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)

    def __contains__(self, w: object) -> bool:
        return w in self._all
