"""Versions served over one storage: a :class:`View` turns a stored object into another group-version's
form (and back), and :func:`view_of` memoizes that per cached object.

Upstream stores each resource in one version and converts on every read and write; sampan does the
same for the few resources served in several versions or groups (``events.k8s.io/v1`` Events over core
``v1`` Events, ``autoscaling/v1`` HPAs over ``autoscaling/v2``). The watch cache keeps one cache per
storage prefix, holding storage-form objects; selectors are evaluated on the storage form (a view
translates its field-selector names), and a watcher of a view gets the view's encoding.

Invariants: ``to_view`` and ``to_storage`` are pure (they never change their argument and return new
dicts, sharing no mutable parts the caller may later change); a converted :class:`CachedObject` is
read-only like any other and is built at most once per stored object version and view, so its JSON
(and protobuf) encoding is also done once per view: watch events are encoded once per event, delivery
variant and view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sampan.api import meta
from sampan.api.selectors import FieldRequirement, FieldSelector
from sampan.apiserver.cacher.objects import CachedObject

log = logging.getLogger(__name__)

Convert = Callable[[dict[str, Any]], dict[str, Any]]


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

    def show(self, co: CachedObject) -> CachedObject:
        """``co`` in this view's form, built once per stored object version. A stored object the
        conversion cannot handle is shown unconverted (logged), never an error."""
        memo = co._views
        if memo is None:
            memo = co._views = {}
        converted = memo.get(self.name)
        if converted is None:
            try:
                obj = self.to_view(co.obj)
            except Exception:  # a conversion must never break reads or the watch cache
                log.exception("cannot convert stored object key=%s to %s", co.key, self.name)
                obj = co.obj
            md = obj.get("metadata")
            if isinstance(md, dict) and obj is not co.obj:
                md["resourceVersion"] = str(co.rv)
            converted = CachedObject(co.key, co.namespace, co.name, co.rv, obj, self.field_values_of,
                                     _labels=meta.labels(obj))
            memo[self.name] = converted
        return converted

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
