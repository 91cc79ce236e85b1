"""Index functions and the incremental index maintenance behind an Indexer.

An *index function* maps an object to the list of index values it files under (``namespace`` maps an
object to ``[its namespace]``). An :class:`Indices` keeps, per index name, ``value -> set of keys`` and is
updated on every store mutation, so ``by_index`` is a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

IndexFunc = Callable[[Any], list[str]]
"""Maps an object to the index values it is filed under; an empty list files it nowhere."""

NAMESPACE_INDEX = "namespace"


def namespace_index(obj: Any) -> list[str]:
    """Index function filing an object under its namespace ("" for cluster-scoped objects)."""
    if type(obj) is not dict and not isinstance(obj, Mapping):
        return [""]
    meta = obj.get("metadata") or {}
    return [meta.get("namespace") or ""]


class Indices:
    """Per index name: value -> keys.

    Invariant: for every index ``n`` and stored ``(key, obj)``, ``key in self._indices[n][v]`` iff
    ``v in self._funcs[n](obj)``; empty key sets are removed.
    """

    def __init__(self, funcs: Mapping[str, IndexFunc] | None = None) -> None:
        self._funcs: dict[str, IndexFunc] = dict(funcs or {})
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._funcs}

    @property
    def funcs(self) -> dict[str, IndexFunc]:
        return dict(self._funcs)

    def add_funcs(self, funcs: Mapping[str, IndexFunc], items: Iterable[tuple[str, Any]]) -> None:
        """Add new index functions and build their indices over ``items``; a name already present is an
        error (upstream refuses redefinition too)."""
        for name in funcs:
            if name in self._funcs:
                raise ValueError(f"indexer conflict: index {name!r} already exists")
        pairs = list(items)
        for name, fn in funcs.items():
            self._funcs[name] = fn
            index: dict[str, set[str]] = {}
            for key, obj in pairs:
                for value in fn(obj):
                    index.setdefault(value, set()).add(key)
            self._indices[name] = index

    def update(self, key: str, old: Any | None, new: Any | None) -> None:
        """Move ``key`` from the values of ``old`` to those of ``new`` (either may be None)."""
        for name, fn in self._funcs.items():
            index = self._indices[name]
            old_values = fn(old) if old is not None else []
            new_values = fn(new) if new is not None else []
            if old_values == new_values:
                continue
            for value in old_values:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
            for value in new_values:
                index.setdefault(value, set()).add(key)

    def clear(self) -> None:
        self._indices = {name: {} for name in self._funcs}

    def keys_for(self, name: str, value: str) -> set[str]:
        """Keys filed under ``value`` in index ``name``; KeyError names an unknown index."""
        index = self._index(name)
        return set(index.get(value, ()))

    def values(self, name: str) -> list[str]:
        return list(self._index(name))

    def apply(self, name: str, obj: Any) -> list[str]:
        """The values ``obj`` would be filed under in index ``name``."""
        self._index(name)
        return self._funcs[name](obj)

    def _index(self, name: str) -> dict[str, set[str]]:
        try:
            return self._indices[name]
        except KeyError:
            raise KeyError(f"index with name {name!r} does not exist") from None
