"""Field sets: the paths one manager owns, and their fieldsV1 encoding.

A :data:`FieldSet` is a ``frozenset`` of non-empty :data:`~sampan.api.apply.path.Path` tuples — the
*members*. Upstream stores a tree of members and children; the tree never holds an empty child, so the
flat set of members is an exact equivalent and set algebra is Python's (``|``, ``&``, ``-``).

fieldsV1 is that tree as JSON: each key is a path element (``f:``, ``k:``, ``v:``, ``i:``); a member
with no children is ``{}``; a member that also has children carries ``".": {}`` first; a node that is
only a parent of members has no ``"."``. Keys are written in upstream's element order, so encoding is
canonical: ``to_fields_v1(from_fields_v1(x)) == x`` for anything upstream wrote.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sampan.api.apply.path import Path, PathElement, PathError, parse_element

FieldSet = frozenset[Path]
EMPTY: FieldSet = frozenset()


class FieldsError(ValueError):
    """A fieldsV1 value that cannot be decoded."""


def recursive_difference(s: FieldSet, other: FieldSet) -> FieldSet:
    """``s`` without every path that is in ``other`` or lies below a path in ``other``."""
    if not other:
        return s
    heads = {q[0] for q in other if q}  # a path whose first element starts no path of ``other`` is kept at once
    return frozenset(p for p in s
                     if not p or p[0] not in heads or not any(p[:i] in other for i in range(1, len(p) + 1)))


def with_prefix(s: FieldSet, pe: PathElement) -> FieldSet:
    """The paths below ``pe`` (``pe`` itself excluded), with ``pe`` stripped."""
    return frozenset(p[1:] for p in s if len(p) > 1 and p[0] == pe)


def has_below(s: FieldSet, prefix: Path) -> bool:
    """Whether some member lies strictly below ``prefix``."""
    n = len(prefix)
    return any(len(p) > n and p[:n] == prefix for p in s)


class _Node:
    """A path element in a tree of paths: children by their element's ``text`` (the element's identity, a
    string whose hash Python keeps; hashing the element itself rehashes its nested tuples every time)."""

    __slots__ = ("children", "element", "member")

    def __init__(self, element: PathElement | None) -> None:
        self.element = element
        self.member = False
        self.children: dict[str, _Node] = {}


def _tree(s: Iterable[Path]) -> _Node:
    root = _Node(None)
    for path in s:
        node = root
        for pe in path:
            children = node.children
            child = children.get(pe.text)
            if child is None:
                child = children[pe.text] = _Node(pe)
            node = child
        node.member = True
    return root


_BY_ELEMENT = operator.attrgetter("element")


def _ordered(node: _Node) -> list[_Node]:
    """``node``'s children in element order."""
    return sorted(node.children.values(), key=_BY_ELEMENT)


def _element(node: _Node) -> PathElement:
    assert node.element is not None
    return node.element


def iterate(s: FieldSet) -> Iterator[Path]:
    """Members in upstream's iteration order: a level's members first, then each child's subtree,
    both in element order (the order conflicts are reported in)."""

    def walk(node: _Node, prefix: Path) -> Iterator[Path]:
        ordered = _ordered(node)
        for child in ordered:
            if child.member:
                yield (*prefix, _element(child))
        for child in ordered:
            if child.children:
                yield from walk(child, (*prefix, _element(child)))

    return walk(_tree(s), ())


def to_fields_v1(s: FieldSet) -> dict[str, Any]:
    """The fieldsV1 object for ``s`` (keys inserted in upstream's order)."""

    def emit(node: _Node) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in _ordered(node):
            body: dict[str, Any] = {}
            if child.children:
                if child.member:
                    body["."] = {}
                body.update(emit(child))
            out[_element(child).text] = body
        return out

    return emit(_tree(s))


def from_fields_v1(fields: Any) -> FieldSet:
    """Decode a fieldsV1 object. Unknown element kinds are skipped, as upstream does; anything else
    malformed raises :class:`FieldsError`."""
    if fields is None:
        return EMPTY
    if not isinstance(fields, Mapping):
        raise FieldsError("fieldsV1 must be a JSON object")
    out: set[Path] = set()

    def read(obj: Mapping[str, Any], prefix: Path) -> bool:
        """Adds the members below ``prefix``; True when ``prefix`` itself is a member."""
        is_member = False
        has_children = False
        for text, sub in obj.items():
            if text == ".":
                is_member = True
                continue
            try:
                pe = parse_element(text)
            except PathError as err:
                raise FieldsError(f"parsing key as path element: {err}") from err
            if pe is None:
                continue
            if not isinstance(sub, Mapping):
                raise FieldsError(f"value of {text!r} must be a JSON object")
            has_children = True
            if read(sub, (*prefix, pe)):
                out.add((*prefix, pe))
        return is_member or not has_children

    read(fields, ())
    return frozenset(out)
