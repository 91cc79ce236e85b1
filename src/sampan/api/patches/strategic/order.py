"""Element identity and ordering for merged lists.

After a merge the result's order follows upstream's rules: items named by the patch (or by a
``$setElementOrder`` list) keep the patch's relative order, items only the server had keep the server's
relative order, and the two runs are interleaved using the server's order where both sides know an item.
An item new to the server is placed before the server-only item it is compared with (upstream does the
same: without ``$setElementOrder``, a new element lands ahead of the remaining server-only elements).

Identity: maps are identified by the value of their merge key, primitives by their JSON value, where
``true`` never equals ``1`` (JSON booleans are not numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from sampan.api.patches.strategic.directives import show

KeyFn = Callable[[Any], Hashable]


def scalar_key(value: Any) -> Hashable:
    """A hashable identity for a JSON value, keeping booleans apart from numbers."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("num", value)
    if isinstance(value, str):
        return ("str", value)
    if value is None:
        return ("null", None)
    return ("json", show(value))


def key_fn(merge_key: str | None) -> KeyFn:
    """The identity function for list elements: by merge key value for maps, by value otherwise."""
    if not merge_key:
        return scalar_key

    def by_merge_key(item: Any) -> Hashable:
        if isinstance(item, dict) and merge_key in item:
            return scalar_key(item[merge_key])
        return ("missing", id(item))

    return by_merge_key


def partition(items: Sequence[Any], named: Sequence[Any], key: KeyFn) -> tuple[list[Any], list[Any]]:
    """Split ``items`` into those whose identity appears in ``named`` and the rest, keeping order."""
    wanted = {key(n) for n in named}
    inside: list[Any] = []
    outside: list[Any] = []
    for item in items:
        (inside if key(item) in wanted else outside).append(item)
    return inside, outside


def _positions(order: Sequence[Any], key: KeyFn) -> dict[Hashable, int]:
    positions: dict[Hashable, int] = {}
    for i, item in enumerate(order):
        positions.setdefault(key(item), i)
    return positions


def normalize(
    patch_items: Sequence[Any],
    server_items: Sequence[Any],
    *,
    patch_order: Sequence[Any],
    server_order: Sequence[Any],
    key: KeyFn,
) -> list[Any]:
    """Order ``patch_items`` by ``patch_order`` and ``server_items`` by ``server_order``, then interleave
    them: a server item goes first only when the server knows both items and had it first."""
    in_patch = _positions(patch_order, key)
    in_server = _positions(server_order, key)
    end = len(patch_order) + len(server_order)
    right = sorted(patch_items, key=lambda item: in_patch.get(key(item), end))
    left = sorted(server_items, key=lambda item: in_server.get(key(item), end))
    merged: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            merged.append(left[i])
            i += 1
        elif i >= len(left):
            merged.append(right[j])
            j += 1
        else:
            li = in_server.get(key(left[i]))
            ri = in_server.get(key(right[j]))
            if li is not None and ri is not None and li < ri:
                merged.append(left[i])
                i += 1
            else:
                merged.append(right[j])
                j += 1
    return merged


def dedupe(items: Sequence[Any]) -> list[Any]:
    """Primitives without repeats, first occurrence kept."""
    seen: set[Hashable] = set()
    out = []
    for item in items:
        k = scalar_key(item)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out
