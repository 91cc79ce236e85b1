"""Ownership of an Update that only changes leaf values its manager already owns alone, without the walk.

Issue 21: a node Lease renewal changes ``spec.renewTime`` and nothing else; its managedFields entry keeps
its fieldsV1 and only its ``time`` moves. :func:`owned_leaf_update` proves that case from the two objects
and the decoded managers, and returns what the full ownership walk (``fieldmanager._update_chain``)
would; ``None`` means "not provably that case: run the walk". tests/api/apply/test_leaf_update.py
compares both on generated writes.

Why it is exact. The walk gives every added or modified path to the writer and takes it from every
other manager, takes removed paths from everybody, and bumps the writer's time when it got any path
other than the never-owned ones (``stripped``). Here the two objects have the same keys everywhere
(``metadata.managedFields`` aside: the caller's new object carries none), unchanged lists and
containers (equal and spelled alike), and a set of changed scalars of unchanged JSON types reached
through maps only. Each changed path is either never owned (``stripped``: resourceVersion,
generation, ...) or owned by the writer and by no one else, and not under an ignored (reset) path. No
manager owns a stripped path or anything at or under ``metadata.managedFields`` (the only removed
path). So nobody loses a path, the writer keeps its set, and its time becomes ``now`` when a
non-stripped path changed. Managers with empty sets are dropped, as the walk drops them.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Any

from sampan.api.apply.fieldset import FieldSet
from sampan.api.apply.managers import Identity, Managed, cap_update_managers
from sampan.api.apply.path import Path, make_path
from sampan.api.apply.walk import same_tree

_MANAGED_FIELDS = make_path("metadata", "managedFields")
_SCALARS = (str, int, float, bool)


def leaf_changes(old: Any, new: Any) -> list[tuple[str, ...]] | None:
    """The field-name paths whose scalar value changed from ``old`` to ``new``, or None when anything
    else differs (a key added or removed, a list or a type changed). ``metadata.managedFields`` is not
    compared."""
    if type(old) is not dict or type(new) is not dict:
        return None
    out: list[tuple[str, ...]] = []
    return out if _diff(old, new, (), out) else None


def _diff(a: dict[str, Any], b: dict[str, Any], names: tuple[str, ...], out: list[tuple[str, ...]]) -> bool:
    keys: AbstractSet[str] = a.keys()
    if names == ("metadata",):
        keys = keys - {"managedFields"}
        if keys != b.keys() - {"managedFields"}:
            return False
    elif keys != b.keys():
        return False
    for k in keys:
        x, y = a[k], b[k]
        kind = type(x)
        if kind is not type(y):
            return False
        if kind is dict:
            if not same_tree(x, y) and not _diff(x, y, (*names, k), out):
                return False
        elif kind is list:
            if not same_tree(x, y):
                return False
        elif x != y:
            if kind not in _SCALARS:
                return False
            out.append((*names, k))
    return True


@lru_cache(maxsize=4096)
def _owns_nothing_removable(fields: FieldSet, stripped: FieldSet) -> bool:
    """No path of ``fields`` is never-owned (``stripped``) or at or under ``metadata.managedFields``."""
    return fields.isdisjoint(stripped) and not any(p[:2] == _MANAGED_FIELDS for p in fields)


def _under(path: Path, ignored: FieldSet) -> bool:
    return any(path[:i] in ignored for i in range(1, len(path) + 1))


def owned_leaf_update(old: dict[str, Any], new: dict[str, Any], managed: Managed, who: Identity, *,
                      stripped: FieldSet, ignored: FieldSet, now: str) -> Managed | None:
    """The managers after ``who`` wrote ``old`` -> ``new`` (``new`` without managedFields), or None when
    the write is not a change of leaves ``who`` alone owns (see the module docstring)."""
    changed = leaf_changes(old, new)
    if changed is None:
        return None
    fields = {m: ms for m, ms in managed.fields.items() if ms.fields}
    if not all(_owns_nothing_removable(ms.fields, stripped) for ms in fields.values()):
        return None
    paths = [p for p in (make_path(*names) for names in changed) if p not in stripped]
    times = dict(managed.times)
    if paths:
        mine = fields.get(who)
        if mine is None or mine.applied:
            return None
        for p in paths:
            if p not in mine.fields or _under(p, ignored):
                return None
            if any(p in ms.fields for m, ms in fields.items() if m != who):
                return None
        times[who] = now
    return cap_update_managers(Managed(fields, times))
