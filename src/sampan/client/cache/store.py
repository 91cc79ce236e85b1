"""Store and Indexer: the informer's local cache of objects, keyed ``namespace/name`` (or ``name``).

:class:`Store` and :class:`Indexer` are the seams (``typing.Protocol``); :class:`IndexedStore` is the one
implementation: a dict of key -> object plus :class:`~sampan.client.cache.index.Indices`. It has one owner
(the informer's processing task) and synchronous mutators, so it needs no lock under asyncio. Objects in
it are shared and read-only: copy before mutating.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sampan.client.cache.index import NAMESPACE_INDEX, IndexFunc, Indices, namespace_index

KeyFunc = Callable[[Any], str]
Objects = list[Any]
"""A list of objects (an alias: the ``list`` methods below shadow the builtin in class scope)."""
Keys = list[str]


@dataclass(frozen=True, slots=True)
class DeletedFinalStateUnknown:
    """A tombstone: the object was deleted while we were not watching, so its final state is unknown.

    ``obj`` is the last state we knew (possibly stale). Delete handlers must accept either an object or
    one of these.
    """

    key: str
    obj: Any


class KeyFuncError(ValueError):
    """An object whose key cannot be computed (no metadata.name)."""


def meta_namespace_key(obj: Any) -> str:
    """``namespace/name`` for namespaced objects, ``name`` otherwise; a tombstone yields its key."""
    if type(obj) is dict:  # the common case, without the cost of ABC isinstance checks
        meta = obj.get("metadata")
    elif isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    elif isinstance(obj, str):
        return obj
    else:
        meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    if type(meta) is not dict and not isinstance(meta, Mapping):
        raise KeyFuncError("object has no metadata.name")
    name = meta.get("name")
    if not name:
        raise KeyFuncError("object has no metadata.name")
    ns = meta.get("namespace")
    return f"{ns}/{name}" if ns else str(name)


def split_meta_namespace_key(key: str) -> tuple[str, str]:
    """``(namespace, name)`` from a key; namespace is "" for cluster-scoped keys. ValueError if malformed."""
    parts = key.split("/")
    if len(parts) == 1 and parts[0]:
        return "", parts[0]
    if len(parts) == 2 and parts[1]:
        return parts[0], parts[1]
    raise ValueError(f"unexpected key format: {key!r}")


class Store(Protocol):
    def add(self, obj: Any) -> None: ...
    def update(self, obj: Any) -> None: ...
    def delete(self, obj: Any) -> None: ...
    def list(self) -> Objects: ...
    def list_keys(self) -> Keys: ...
    def get(self, obj: Any) -> Any | None: ...
    def get_by_key(self, key: str) -> Any | None: ...
    def replace(self, objs: Iterable[Any], resource_version: str) -> None: ...


class KeyListerGetter(Protocol):
    """What DeltaFIFO needs to know of the cache: its keys and objects ("known objects")."""

    def list_keys(self) -> Keys: ...
    def get_by_key(self, key: str) -> Any | None: ...


class Indexer(Store, Protocol):
    def index(self, index_name: str, obj: Any) -> Objects: ...
    def index_keys(self, index_name: str, value: str) -> Keys: ...
    def by_index(self, index_name: str, value: str) -> Objects: ...
    def list_index_func_values(self, index_name: str) -> Keys: ...
    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None: ...


class IndexedStore:
    """A Store with indices (client-go's ``cache`` + ``threadSafeMap``).

    Invariant: ``self._items`` holds exactly the objects added and not deleted since the last replace, and
    ``self._indices`` indexes exactly those (see :class:`Indices`).
    """

    def __init__(self, key_func: KeyFunc = meta_namespace_key, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._key_func = key_func
        self._items: dict[str, Any] = {}
        self._indices = Indices(indexers if indexers is not None else {NAMESPACE_INDEX: namespace_index})

    def key_of(self, obj: Any) -> str:
        return self._key_func(obj)

    def add(self, obj: Any) -> None:
        self._put(self._key_func(obj), obj)

    def update(self, obj: Any) -> None:
        self._put(self._key_func(obj), obj)

    def delete(self, obj: Any) -> None:
        self.delete_key(self._key_func(obj))

    def delete_key(self, key: str) -> None:
        """Delete by a key computed by the caller (saves recomputing it on hot paths)."""
        old = self._items.pop(key, None)
        if old is not None:
            self._indices.update(key, old, None)

    def put(self, key: str, obj: Any) -> None:
        """Add or update under a key computed by the caller; ``key`` must equal ``key_of(obj)``."""
        self._put(key, obj)

    def _put(self, key: str, obj: Any) -> None:
        old = self._items.get(key)
        self._items[key] = obj
        self._indices.update(key, old, obj)

    def list(self) -> Objects:
        return list(self._items.values())

    def list_keys(self) -> Keys:
        return list(self._items)

    def get(self, obj: Any) -> Any | None:
        return self._items.get(self._key_func(obj))

    def get_by_key(self, key: str) -> Any | None:
        return self._items.get(key)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def replace(self, objs: Iterable[Any], resource_version: str = "") -> None:
        """Drop everything and store ``objs`` (the resource version is accepted for interface parity)."""
        self._items = {self._key_func(o): o for o in objs}
        self._indices.clear()
        for key, obj in self._items.items():
            self._indices.update(key, None, obj)

    def index(self, index_name: str, obj: Any) -> Objects:
        """Objects sharing any index value with ``obj`` in index ``index_name``."""
        keys: set[str] = set()
        for value in self._indices.apply(index_name, obj):
            keys |= self._indices.keys_for(index_name, value)
        return [self._items[k] for k in sorted(keys)]

    def index_keys(self, index_name: str, value: str) -> Keys:
        return sorted(self._indices.keys_for(index_name, value))

    def by_index(self, index_name: str, value: str) -> Objects:
        return [self._items[k] for k in self.index_keys(index_name, value)]

    def list_index_func_values(self, index_name: str) -> Keys:
        return self._indices.values(index_name)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        self._indices.add_funcs(indexers, self._items.items())

    @property
    def indexers(self) -> dict[str, IndexFunc]:
        return self._indices.funcs
