"""Strategies of resources served in one version but stored in another (upstream's conversion).

A strategy whose objects are stored in another group-version's form subclasses :class:`Converted`:
it declares ``storage_gv`` (the storage form's group and version; the resource plural is its own)
and a pair of pure conversion functions, plus how its field-selector names map to the storage form's.
Everything else — defaults, validation, tables — works on the strategy's own (served) form, as for
any strategy; the API server converts on the way to and from the store (``context.Scope.view``).

Invariants: ``from_storage(to_storage(x))`` keeps every field the served version has; both functions
are pure (they never change their argument) and never raise on well-formed objects of their input form.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from sampan.apiserver.cacher.views import Remote, View
from sampan.apiserver.registry.strategy import Object, Strategy

log = logging.getLogger(__name__)


class Converted:
    """Mixin for a strategy stored in another version's form."""

    storage_gv: ClassVar[tuple[str, str]]
    """(group, version) of the stored form (``("", "v1")`` for events.k8s.io events)."""
    field_labels: ClassVar[dict[str, str]] = {}
    """Field-selector names of the served form -> the storage form's (identity when absent)."""
    remote: ClassVar[Remote | None] = None
    """Set when converting calls out (a CRD's conversion webhook): the view awaits it (``cacher.views``)."""

    def to_storage(self, obj: Object) -> Object:
        """The served form ``obj`` in the storage form (a new dict)."""
        raise NotImplementedError

    def from_storage(self, obj: Object) -> Object:
        """The stored form ``obj`` in the served form (a new dict)."""
        raise NotImplementedError

    def storage_field_label(self, label: str) -> str:
        return self.field_labels.get(label, label)


def storage_gv(strategy: Strategy) -> tuple[str, str] | None:
    """The (group, version) ``strategy``'s objects are stored as, when not its own; else None."""
    if isinstance(strategy, Converted):
        return strategy.storage_gv
    return None


def view_for(strategy: Strategy) -> View | None:
    """The cache view serving ``strategy`` over its storage, or None when it is the storage form."""
    if not isinstance(strategy, Converted):
        return None
    return View(name=strategy.info.group_version, kind=strategy.info.kind, to_view=strategy.from_storage,
                to_storage=strategy.to_storage, field_label=strategy.storage_field_label,
                field_values_of=strategy.field_values, remote=strategy.remote)


__all__ = ["Converted", "storage_gv", "view_for"]
