"""Listers: read-only, typed-by-convention views of an informer's cache.

``lister.list(selector)`` and ``lister.get(name)`` for cluster-scoped resources, and
``lister.namespaced(ns).list(...)`` / ``.get(name)`` for namespaced ones. Lookups go through the namespace
index; nothing touches the server. Returned objects are the cache's own: never mutate them (copy first).
"""

from __future__ import annotations

from typing import Any

from sampan.api import errors
from sampan.api.selectors import LabelSelector
from sampan.client.cache.index import NAMESPACE_INDEX
from sampan.client.cache.store import Indexer

Selector = LabelSelector | str | None


def _selector(selector: Selector) -> LabelSelector | None:
    if selector is None:
        return None
    sel = LabelSelector.parse(selector) if isinstance(selector, str) else selector
    return None if sel.empty else sel


def _filter(objs: list[Any], selector: Selector) -> list[Any]:
    sel = _selector(selector)
    if sel is None:
        return objs
    return [o for o in objs if sel.matches((o.get("metadata") or {}).get("labels") or {})]


class Lister:
    """Lists and gets objects of one resource from an indexer; ``resource`` and ``group`` only word errors."""

    def __init__(self, indexer: Indexer, resource: str, *, group: str = "") -> None:
        self._indexer = indexer
        self.resource = resource
        self.group = group

    def list(self, selector: Selector = None) -> list[Any]:
        """All cached objects (every namespace) whose labels match ``selector`` (a string or LabelSelector)."""
        return _filter(self._indexer.list(), selector)

    def get(self, name: str) -> Any:
        """The cached cluster-scoped object ``name``; raises NotFound with upstream's wording."""
        obj = self._indexer.get_by_key(name)
        if obj is None:
            raise errors.not_found(self.resource, name, self.group)
        return obj

    def namespaced(self, namespace: str) -> NamespaceLister:
        return NamespaceLister(self._indexer, namespace, self.resource, group=self.group)


class NamespaceLister:
    def __init__(self, indexer: Indexer, namespace: str, resource: str, *, group: str = "") -> None:
        self._indexer = indexer
        self.namespace = namespace
        self.resource = resource
        self.group = group

    def list(self, selector: Selector = None) -> list[Any]:
        return _filter(self._indexer.by_index(NAMESPACE_INDEX, self.namespace), selector)

    def get(self, name: str) -> Any:
        obj = self._indexer.get_by_key(f"{self.namespace}/{name}")
        if obj is None:
            raise errors.not_found(self.resource, name, self.group)
        return obj
