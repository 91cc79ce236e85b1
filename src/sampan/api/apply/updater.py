"""The ownership algorithm: who owns what after an update or an apply (upstream's ``merge.Updater``).

``managers`` maps a manager identity to its :class:`ManagerSet` (fields, apiVersion, whether the entry
comes from an apply). Functions here take a managers mapping and return a new one; they never mutate
their arguments.

* :func:`update` (PUT, PATCH, create): every path the write added or modified moves to ``manager``;
  paths it removed leave every owner.
* :func:`apply`: the configuration is merged into the live value; the applier's set becomes exactly
  the configuration's field set; paths it applied last time but not now are pruned from the object
  unless another manager (or the configuration) still owns them; then any other manager owning a
  path whose value changed is a conflict — raised as :class:`Conflicts` unless ``force``, which moves
  the path to the applier.

``ignored`` paths (upstream's reset fields, e.g. ``status`` on the main resource) are never recorded
and never conflict.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sampan.api.apply.fieldset import EMPTY, FieldSet, recursive_difference
from sampan.api.apply.merge import ensure_named_fields_are_members, merge, remove_items
from sampan.api.apply.shapes import TypeRef
from sampan.api.apply.walk import MISSING, Comparison, compare, json_equal, to_field_set

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class ManagerSet:
    """What one manager owns: upstream's VersionedSet."""

    fields: FieldSet
    api_version: str
    applied: bool


class Conflicts(Exception):
    """Other managers own paths the apply would change: ``conflicts`` maps each to its paths."""

    def __init__(self, conflicts: Mapping[Any, FieldSet]) -> None:
        super().__init__(f"{sum(len(s) for s in conflicts.values())} conflict(s)")
        self.conflicts = dict(conflicts)


def _update(
    old: Any, new: Any, t: TypeRef, managers: Mapping[K, ManagerSet], workflow: K, *, force: bool, ignored: FieldSet
) -> tuple[dict[K, ManagerSet], Comparison]:
    cmp = compare(old, new, t).excluding(ignored)
    changed = cmp.modified | cmp.added
    conflicts: dict[K, FieldSet] = {}
    out = dict(managers)
    for m, ms in managers.items():
        if m == workflow:
            continue
        taken = ms.fields & changed
        if taken:
            conflicts[m] = taken
    if conflicts and not force:
        raise Conflicts(conflicts)
    for m, ms in managers.items():
        if m == workflow:
            continue
        remaining = ms.fields - conflicts.get(m, EMPTY) - cmp.removed
        if remaining != ms.fields:
            out[m] = replace(ms, fields=remaining)
    return {m: ms for m, ms in out.items() if ms.fields}, cmp


def update(
    old: Any, new: Any, t: TypeRef, managers: Mapping[K, ManagerSet], manager: K, *, api_version: str,
    ignored: FieldSet = EMPTY,
) -> dict[K, ManagerSet]:
    """Ownership after a non-apply write from ``old`` to ``new`` by ``manager``."""
    out, cmp = _update(old, new, t, managers, manager, force=True, ignored=ignored)
    previous = out[manager].fields if manager in out else EMPTY
    fields = recursive_difference((previous - cmp.removed) | cmp.modified | cmp.added, ignored)
    if fields:
        out[manager] = ManagerSet(fields, api_version, False)
    else:
        out.pop(manager, None)
    return out


def apply(
    live: Any, config: Any, t: TypeRef, managers: Mapping[K, ManagerSet], manager: K, *, api_version: str,
    force: bool, ignored: FieldSet = EMPTY,
) -> tuple[Any, dict[K, ManagerSet]]:
    """The object after applying ``config`` to ``live`` as ``manager``, and the new ownership. The
    object is ``MISSING`` when the apply changes nothing. Raises :class:`Conflicts` (unless ``force``)
    and ``ShapeError`` (a configuration list with unidentifiable or duplicate items)."""
    merged = merge(live, config, t)
    last = managers.get(manager)
    out = dict(managers)
    out[manager] = ManagerSet(recursive_difference(to_field_set(config, t), ignored), api_version, True)
    merged = _prune(merged, out, t, last)
    out, _ = _update(live, merged, t, out, manager, force=force, ignored=ignored)
    if json_equal(live, merged):
        return MISSING, out
    return merged, out


def _prune(merged: Any, managers: Mapping[Any, ManagerSet], t: TypeRef, last: ManagerSet | None) -> Any:
    """Remove what the applier applied last time and dropped now, unless someone still owns it."""
    if last is None or not last.fields:
        return merged

    def named(s: FieldSet) -> FieldSet:
        return ensure_named_fields_are_members(s, t)

    pruned = remove_items(merged, named(last.fields), t)
    # Add back whatever any manager (the applier's new configuration included) still owns.
    owned: FieldSet = frozenset().union(*(ms.fields for ms in managers.values()))
    merged_set = named(to_field_set(merged, t))
    pruned = remove_items(merged, merged_set - (named(to_field_set(pruned, t)) | named(owned)), t)
    # Remove only what the applier did own last time (unowned and updater-owned leftovers stay).
    pruned_set = named(to_field_set(pruned, t))
    return remove_items(merged, (merged_set - pruned_set) & named(last.fields), t)
