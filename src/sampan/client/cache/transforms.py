"""Informer transforms: what an informer does to every object it receives before queueing and caching it
(client-go's ``cache.TransformFunc``, set with ``SharedInformerFactory(transform=...)`` as upstream's
``informers.WithTransform``).

A transform takes a decoded object (a plain dict, from a LIST page or a watch event, a delete included) and
returns the object to cache: usually the same dict changed in place. It runs once per object, in the
reflector, before the DeltaFIFO, so handlers, listers and indexers only ever see transformed objects, and
a LIST's objects are trimmed page by page (the untrimmed list is never held whole). It must not block and
should be cheap: it runs on the informer's loop for every event. A transform that raises fails the LIST or
the watch it ran in; the reflector backs off and lists again (client-go: the same).

Provided:

- :func:`strip_managed_fields`: drops ``metadata.managedFields`` (client-go's
  ``cache.TransformStripManagedFields``, which kube-scheduler and kube-controller-manager set): about half of
  a cached pod's memory (a Running pod of a Deployment: ~17.7 KB decoded, ~9.4 KB without). Cached objects
  then read as if the server had sent no managedFields; an update written from one keeps the server's
  managedFields (an absent list means "unchanged"; only ``[]`` resets them).
- :class:`StringInterner`: makes equal strings one object across every cached object (namespace, node
  name, image, label values, owner uids, phases, timestamps of one second...): a further ~30% of a pod
  (9.4 -> 6.2 KB). Objects stay plain dicts with ``str`` values; only identity changes, which no reader of
  a dict can tell apart. Not upstream's (Go's strings cost 16 bytes a header and share their bytes when
  sliced; CPython's cost 49 bytes plus their text each).
- :func:`chain`: several transforms in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Transform = Callable[[Any], Any]
"""Object in, object to cache out (may be the same object, changed in place)."""


def strip_managed_fields(obj: Any) -> Any:
    """``obj`` without ``metadata.managedFields`` (in place); anything but an object is returned as is."""
    if type(obj) is dict:
        meta = obj.get("metadata")
        if type(meta) is dict:
            meta.pop("managedFields", None)
    return obj


#: Metadata values unique to one object: never worth a table entry.
_UNIQUE_METADATA = frozenset(("name", "uid", "resourceVersion", "selfLink"))


class StringInterner:
    """A transform sharing equal string values between the objects it has seen.

    Invariants: the object keeps its shape and every value compares equal to what it was (only ``str``
    values are replaced, each by an equal ``str``); the table holds at most ``max_entries`` strings: when
    it is full it starts again empty (objects interned so far keep their strings, later ones share new
    ones), so unique values (names, uids, container ids) cannot make it grow without bound. Strings longer
    than ``max_length`` are left alone (long values are rarely repeated). One interner may serve every
    informer of a process (node names in pods and Nodes then share one string).
    """

    def __init__(self, *, max_entries: int = 200_000, max_length: int = 64) -> None:
        self.max_entries = max_entries
        self.max_length = max_length
        self._table: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._table)

    def __call__(self, obj: Any) -> Any:
        if type(obj) is dict:
            if len(self._table) >= self.max_entries:
                self._table = {}
            meta = obj.get("metadata")
            if type(meta) is dict:
                self._metadata(meta)
                for key, value in obj.items():
                    if key != "metadata":
                        self._value(obj, key, value)
            else:
                self._dict(obj)
        return obj

    def _metadata(self, meta: dict[str, Any]) -> None:
        for key, value in meta.items():
            if key not in _UNIQUE_METADATA:
                self._value(meta, key, value)

    def _value(self, parent: Any, key: Any, value: Any) -> None:
        t = type(value)
        if t is str:
            if len(value) <= self.max_length:
                parent[key] = self._table.setdefault(value, value)
        elif t is dict:
            self._dict(value)
        elif t is list:
            self._list(value)

    def _dict(self, d: dict[str, Any]) -> None:
        table, limit = self._table, self.max_length
        for key, value in d.items():
            t = type(value)
            if t is str:
                if len(value) <= limit:
                    d[key] = table.setdefault(value, value)
            elif t is dict:
                self._dict(value)
            elif t is list:
                self._list(value)

    def _list(self, items: list[Any]) -> None:
        table, limit = self._table, self.max_length
        for i, value in enumerate(items):
            t = type(value)
            if t is str:
                if len(value) <= limit:
                    items[i] = table.setdefault(value, value)
            elif t is dict:
                self._dict(value)
            elif t is list:
                self._list(value)


def chain(*transforms: Transform | None) -> Transform | None:
    """One transform applying ``transforms`` in order (``None`` entries skipped; ``None`` if none left)."""
    steps = [t for t in transforms if t is not None]
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def chained(obj: Any) -> Any:
        for step in steps:
            obj = step(obj)
        return obj

    return chained


def component_transform() -> Transform:
    """What sampan's own components cache with: managedFields dropped (as upstream's scheduler and
    controller-manager do), equal strings shared (one interner for every informer given this transform)."""
    transform = chain(strip_managed_fields, StringInterner())
    assert transform is not None
    return transform
