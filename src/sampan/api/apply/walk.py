"""Read-only walks over typed values: the field set a value sets, and the comparison of two values.

Both follow upstream's walkers (structured-merge-diff ``ToFieldSet`` and ``Compare``):

* a scalar, a null, an atomic map or list, and a value whose shape does not match its type are leaves:
  the leaf's own path is the member;
* a granular map contributes its entries; an entry that is not a declared struct field, or whose value
  is null or ``{}``, is a member itself as well as a parent (so ``f:labels`` is never a member but
  ``f:app`` under it is);
* a granular list contributes each item (the item path is a member) and what is inside it; an item
  key that occurs twice is owned as one member and not descended into.

A :class:`Comparison` lists the paths added, modified and removed going from ``lhs`` to ``rhs``; a
granular map or list item that appears or disappears is itself added or removed, as are its leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from sampan.api.apply import shapes
from sampan.api.apply.fieldset import EMPTY, FieldSet, recursive_difference
from sampan.api.apply.path import Path, PathElement, field
from sampan.api.apply.shapes import TypeRef

MISSING: Any = object()
"""Marks an absent value (distinct from an explicit null)."""


def json_equal(a: Any, b: Any) -> bool:
    """Deep equality of JSON values: ints equal floats of the same value, booleans equal only booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def list_elements(t: TypeRef, sh: shapes.Shape, items: list[Any], *, lenient: bool) -> list[PathElement | None]:
    """The element of each item; with ``lenient`` an unidentifiable item gives ``None`` instead of
    raising :class:`~sampan.api.apply.shapes.ShapeError`."""
    out: list[PathElement | None] = []
    for item in items:
        try:
            out.append(shapes.item_element(t, sh, item))
        except shapes.ShapeError:
            if not lenient:
                raise
            out.append(None)
    return out


def to_field_set(v: Any, t: TypeRef) -> FieldSet:
    """The paths value ``v`` sets under type ``t`` (the root path itself is never a member). Items that
    cannot be identified are skipped, as upstream ignores them here."""
    out: set[Path] = set()
    _collect(v, t, (), out)
    out.discard(())
    return frozenset(out)


def _collect(v: Any, t: TypeRef, path: Path, out: set[Path]) -> None:
    sh = shapes.shape(t, v)
    if sh.kind == "leaf" or sh.atomic:
        out.add(path)
        return
    if sh.kind == "map":
        for name, val in v.items():
            ct, is_declared = shapes.child(t, name)
            cpath = (*path, field(name))
            _collect(val, ct, cpath, out)
            if val is None or (isinstance(val, dict) and not val) or not is_declared:
                out.add(cpath)
        return
    pes = list_elements(t, sh, v, lenient=True)
    seen: set[PathElement] = set()
    dups: set[PathElement] = set()
    for pe in pes:
        if pe is None:
            continue
        if pe in seen and pe not in dups:
            dups.add(pe)
            out.add((*path, pe))
        seen.add(pe)
    itype = shapes.item_type(t)
    for item, pe in zip(v, pes, strict=True):
        if pe is None or pe in dups:
            continue
        _collect(item, itype, (*path, pe), out)
        out.add((*path, pe))


@dataclass(frozen=True, slots=True)
class Comparison:
    added: FieldSet = EMPTY
    modified: FieldSet = EMPTY
    removed: FieldSet = EMPTY

    def is_same(self) -> bool:
        return not (self.added or self.modified or self.removed)

    def excluding(self, ignored: FieldSet) -> Comparison:
        """Without the ``ignored`` paths and everything below them."""
        if not ignored:
            return self
        return Comparison(
            recursive_difference(self.added, ignored),
            recursive_difference(self.modified, ignored),
            recursive_difference(self.removed, ignored),
        )


def compare(lhs: Any, rhs: Any, t: TypeRef) -> Comparison:
    """What changed from ``lhs`` to ``rhs``. Raises ``ShapeError`` for list items that cannot be
    identified."""
    acc: tuple[set[Path], set[Path], set[Path]] = (set(), set(), set())
    _compare(lhs, rhs, t, (), acc)
    added, modified, removed = (frozenset(s - {()}) for s in acc)
    return Comparison(added, modified, removed)


def _common_shape(sl: shapes.Shape, sr: shapes.Shape, lhs: Any, rhs: Any) -> shapes.Shape:
    """The shape two present values are compared under. A null facing a map or list is that
    container, empty (upstream types a null by the other side); any other mismatch is a leaf."""
    if sl == sr:
        return sr
    if lhs is None and sr.kind != "leaf":
        return sr
    if rhs is None and sl.kind != "leaf":
        return sl
    return shapes.LEAF


def _empty(v: Any) -> bool:
    return v is MISSING or not v


def same_tree(lhs: Any, rhs: Any) -> bool:
    """True when two containers are certainly the same JSON (equal and spelled alike), so nothing below
    them changed; False also when unsure (the walk then decides). Issue 21: most of a pod is unchanged
    by a write (a status write leaves spec and metadata alone), and C-speed equality saves the walk."""
    if type(lhs) is not type(rhs) or type(lhs) not in (dict, list):
        return False
    if lhs is rhs:
        return True
    try:
        return bool(lhs == rhs) and orjson.dumps(lhs) == orjson.dumps(rhs)
    except (TypeError, orjson.JSONEncodeError):
        return False


_SCALARS = frozenset({str, int, float, bool, type(None)})
SKIP_UNCHANGED = True
"""Skip unchanged values before any shape is worked out (issue 21: a Lease renewal changes one leaf of
~15; a pod status write a few of ~100). Exact: an unchanged scalar (same type, equal) or a container that
:func:`same_tree` proves unchanged adds nothing to the comparison. Tests turn it off for the reference."""


def _unchanged(lhs: Any, rhs: Any) -> bool:
    if lhs is rhs and lhs is not MISSING:
        return type(lhs) in _SCALARS or same_tree(lhs, rhs)
    kind = type(lhs)
    if kind is not type(rhs):
        return False
    if kind in _SCALARS:
        return bool(lhs == rhs)
    return same_tree(lhs, rhs)


def _compare(lhs: Any, rhs: Any, t: TypeRef, path: Path, acc: tuple[set[Path], set[Path], set[Path]]) -> None:
    if SKIP_UNCHANGED:
        if _unchanged(lhs, rhs):
            return
    elif same_tree(lhs, rhs):
        return
    added, modified, removed = acc
    if lhs is MISSING:
        sh = shapes.shape(t, rhs)
    elif rhs is MISSING:
        sh = shapes.shape(t, lhs)
    else:
        sh = _common_shape(shapes.shape(t, lhs), shapes.shape(t, rhs), lhs, rhs)
    if sh.kind == "leaf" or sh.atomic or (_empty(lhs) and _empty(rhs)):
        if lhs is MISSING:
            added.add(path)
        elif rhs is MISSING:
            removed.add(path)
        elif not json_equal(lhs, rhs):
            modified.add(path)
        return
    if sh.kind == "map":
        left = lhs if isinstance(lhs, dict) else {}
        right = rhs if isinstance(rhs, dict) else {}
        for name in [*left, *(k for k in right if k not in left)]:
            lv, rv = left.get(name, MISSING), right.get(name, MISSING)
            if SKIP_UNCHANGED and _unchanged(lv, rv):
                continue
            ct, _ = shapes.child(t, name)
            _compare(lv, rv, ct, (*path, field(name)), acc)
    else:
        _compare_items(lhs, rhs, t, sh, path, acc)
    if lhs is MISSING:
        added.add(path)
    elif rhs is MISSING:
        removed.add(path)


def _group(t: TypeRef, sh: shapes.Shape, items: Any) -> tuple[list[PathElement], dict[PathElement, list[Any]]]:
    order: list[PathElement] = []
    groups: dict[PathElement, list[Any]] = {}
    if not isinstance(items, list):
        return order, groups
    for item, pe in zip(items, list_elements(t, sh, items, lenient=False), strict=True):
        assert pe is not None
        if pe not in groups:
            groups[pe] = []
            order.append(pe)
        groups[pe].append(item)
    return order, groups


def _compare_items(
    lhs: Any, rhs: Any, t: TypeRef, sh: shapes.Shape, path: Path, acc: tuple[set[Path], set[Path], set[Path]]
) -> None:
    added, modified, removed = acc
    lorder, lgroups = _group(t, sh, lhs)
    rorder, rgroups = _group(t, sh, rhs)
    itype = shapes.item_type(t)
    for pe in [*lorder, *(p for p in rorder if p not in lgroups)]:
        ll, rl = lgroups.get(pe, []), rgroups.get(pe, [])
        ipath = (*path, pe)
        if len(ll) <= 1 and len(rl) <= 1:
            _compare(ll[0] if ll else MISSING, rl[0] if rl else MISSING, itype, ipath, acc)
        elif len(ll) >= 2 and len(rl) >= 2:
            if not json_equal(ll, rl):
                modified.add(ipath)
        elif len(ll) >= 2:
            if rl:
                _compare(MISSING, rl[0], itype, ipath, acc)
            removed.add(ipath)
        else:
            if ll:
                _compare(ll[0], MISSING, itype, ipath, acc)
            added.add(ipath)
