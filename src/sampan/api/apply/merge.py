"""Building new values: merging an applied configuration into a live value, and removing owned paths.

:func:`merge` follows upstream's merge with "keep the right-hand side" at every leaf:

* leaves, atomic maps and lists, shape mismatches and pairs of empty containers take the applied value;
* granular maps merge key by key (live keys first, in live order, then new keys in applied order);
* granular lists merge item by item, identified by key or value. The result keeps live items the
  configuration does not mention where they were, and the configuration's items in its own order: a
  live item the configuration also holds is emitted at the configuration's position. Duplicate keys in
  the configuration are rejected; duplicates in the live value are tolerated.

:func:`remove_items` drops every path of a field set (and whatever is below it) from a value. Inputs
are never mutated; results share no containers with inputs that they changed.
"""

from __future__ import annotations

import copy
from typing import Any

from sampan.api.apply import shapes
from sampan.api.apply.fieldset import FieldSet, with_prefix
from sampan.api.apply.path import FIELD, KEY, Path, PathElement, field, path_string
from sampan.api.apply.shapes import ShapeError, TypeRef
from sampan.api.apply.walk import MISSING, list_elements


def merge(lhs: Any, rhs: Any, t: TypeRef) -> Any:
    """``rhs`` (the applied configuration) merged into ``lhs`` (live). Returns ``MISSING`` only when both
    are missing. Raises ``ShapeError`` for unidentifiable or duplicate configuration items."""
    return _merge(lhs, rhs, t, ())


def _merge(lhs: Any, rhs: Any, t: TypeRef, path: Path) -> Any:
    if rhs is MISSING:
        return copy.deepcopy(lhs)
    if lhs is MISSING:
        _check_items(rhs, t, path)
        return copy.deepcopy(rhs)
    sl, sr = shapes.shape(t, lhs), shapes.shape(t, rhs)
    if rhs is None and sl.kind != "leaf" and not sl.atomic and lhs:
        return copy.deepcopy(lhs)  # upstream types the null as an empty container: live entries stay
    if sl != sr or sr.kind == "leaf" or sr.atomic or (not lhs and not rhs):
        _check_items(rhs, t, path)
        return copy.deepcopy(rhs)
    if sr.kind == "map":
        out: dict[str, Any] = {}
        for name in [*lhs, *(k for k in rhs if k not in lhs)]:
            ct, _ = shapes.child(t, name)
            merged = _merge(lhs.get(name, MISSING), rhs.get(name, MISSING), ct, (*path, field(name)))
            if merged is not MISSING:
                out[name] = merged
        return out if out else MISSING
    return _merge_items(lhs, rhs, t, sr, path)


def _check_items(rhs: Any, t: TypeRef, path: Path) -> None:
    """Validate a configuration subtree taken whole: its granular lists must have identifiable, unique
    items (upstream rejects the configuration otherwise)."""
    sh = shapes.shape(t, rhs)
    if sh.kind == "leaf" or sh.atomic:
        return
    if sh.kind == "map":
        for name, val in rhs.items():
            ct, _ = shapes.child(t, name)
            _check_items(val, ct, (*path, field(name)))
        return
    _index(rhs, t, sh, path, allow_duplicates=False)
    itype = shapes.item_type(t)
    for item, pe in zip(rhs, list_elements(t, sh, rhs, lenient=False), strict=True):
        assert pe is not None
        _check_items(item, itype, (*path, pe))


def _index(
    items: list[Any], t: TypeRef, sh: shapes.Shape, path: Path, *, allow_duplicates: bool
) -> tuple[list[PathElement], dict[PathElement, Any]]:
    pes: list[PathElement] = []
    observed: dict[PathElement, Any] = {}
    for i, item in enumerate(items):
        try:
            pe = shapes.item_element(t, sh, item)
        except ShapeError as err:
            raise ShapeError(f"{path_string(path)}: element {i}: {err}") from None
        if pe in observed:
            if not allow_duplicates:
                raise ShapeError(f"{path_string(path)}: duplicate entries for key {pe}")
            observed[pe] = None
        else:
            observed[pe] = item
        pes.append(pe)
    return pes, observed


def _merge_items(lhs: list[Any], rhs: list[Any], t: TypeRef, sh: shapes.Shape, path: Path) -> Any:
    rpes, robserved = _index(rhs, t, sh, path, allow_duplicates=False)
    lpes, lobserved = _index(lhs, t, sh, path, allow_duplicates=True)
    itype = shapes.item_type(t)
    shared = [pe for pe in rpes if pe in lobserved]
    shared.reverse()
    next_shared = shared.pop() if shared else None
    merged_rhs: set[PathElement] = set()
    out: list[Any] = []

    def emit(pe: PathElement, left: Any, right: Any) -> None:
        value = _merge(left, right, itype, (*path, pe))
        if value is not MISSING:
            out.append(value)

    li = ri = 0
    nl, nr = len(lpes), len(rpes)
    while li < nl or ri < nr:
        if li < nl and ri < nr:
            pe = lpes[li]
            if pe == rpes[ri]:
                merged_rhs.add(pe)
                emit(pe, lobserved.get(pe, MISSING), robserved[pe])
                li += 1
                ri += 1
                next_shared = shared.pop() if shared else None
                continue
            if pe in robserved and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < nl:
            pe = lpes[li]
            if pe not in robserved:
                emit(pe, lhs[li], MISSING)
                li += 1
                continue
            if pe in merged_rhs:
                li += 1
        if ri < nr:
            pe = rpes[ri]
            merged_rhs.add(pe)
            emit(pe, lobserved.get(pe, MISSING), robserved[pe])
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop() if shared else None
    return out if out else MISSING


def remove_items(v: Any, to_remove: FieldSet, t: TypeRef) -> Any:
    """``v`` without the paths in ``to_remove`` and everything below them. A granular map or list whose
    entries are all removed becomes empty (upstream writes null there)."""
    if not to_remove:
        return v
    sh = shapes.shape(t, v)
    if sh.kind == "leaf" or sh.atomic or not v:
        return v
    if sh.kind == "map":
        out: dict[str, Any] = {}
        for name, val in v.items():
            pe = field(name)
            if (pe,) in to_remove:
                continue
            sub = with_prefix(to_remove, pe)
            out[name] = remove_items(val, sub, shapes.child(t, name)[0]) if sub else val
        return out
    items: list[Any] = []
    itype = shapes.item_type(t)
    for item, element in zip(v, list_elements(t, sh, v, lenient=True), strict=True):
        if element is None:
            items.append(item)
            continue
        if (element,) in to_remove:
            continue
        sub = with_prefix(to_remove, element)
        items.append(remove_items(item, sub, itype) if sub else item)
    return items


def ensure_named_fields_are_members(s: FieldSet, t: TypeRef) -> FieldSet:
    """``s`` plus every declared struct field that is a parent of a member (so removing it removes the
    whole field rather than leaving an empty map or list behind)."""
    extra: set[Path] = set()
    types: dict[Path, TypeRef] = {(): t}

    def type_at(p: Path) -> TypeRef:
        if p in types:
            return types[p]
        parent = type_at(p[:-1])
        pe = p[-1]
        if pe.rank == FIELD:
            result = shapes.child(parent, pe.order[0])[0]
        elif pe.rank == KEY:
            result = shapes.item_type(parent)
        else:
            result = shapes.ATOMIC
        types[p] = result
        return result

    for p in s:
        for i in range(1, len(p)):
            q = p[:i]
            if q in extra or q[-1].rank != FIELD:
                continue
            if shapes.declared(type_at(q[:-1]), q[-1].order[0]):
                extra.add(q)
    return s | extra


def validate_config(config: Any, t: TypeRef) -> None:
    """Raise ``ShapeError`` (with the path) if a configuration's granular lists hold unidentifiable or
    duplicate items — upstream refuses to type such a configuration."""
    _check_items(config, t, ())
