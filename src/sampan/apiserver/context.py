"""What every handler needs: the served resources (``Scope``) and the server-wide state (``ServerContext``).

Storage keys follow upstream: ``/registry/<resource>/<namespace>/<name>`` for namespaced resources and
``/registry/<resource>/<name>`` for cluster-scoped ones, for core and group resources alike. When two
groups serve the same plural, the later one in catalog order is keyed ``/registry/<group>/<resource>/``
— unless its strategy declares a ``storage_gv`` (``registry.conversion``): then it is a *view* of that
group's storage (``events.k8s.io`` events over core events; every version of one group resource shares
its prefix anyway) and its ``Scope.view`` converts objects on every read and write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sampan._lib.clock import Clock
from sampan.api.resources import ResourceInfo
from sampan.api.selectors import FieldSelector
from sampan.apiserver.cacher.objects import CachedObject, decode_stored, encode_for_store
from sampan.apiserver.cacher.resource_cache import ResourceCache
from sampan.apiserver.cacher.views import View
from sampan.apiserver.cacher.watch_cache import WatchCache
from sampan.apiserver.cacher.watcher import Filter
from sampan.apiserver.config import APIServerConfig
from sampan.apiserver.registry.conversion import storage_gv
from sampan.apiserver.registry.strategy import Strategy
from sampan.storage import Storage


@dataclass(frozen=True, eq=False)
class Scope:
    """One served resource: its strategy, where it lives in the store, and its watch cache."""

    strategy: Strategy
    prefix: str
    cache: ResourceCache
    view: View | None = None
    """Set when objects are stored in another version's form: every read converts with ``view.to_view``,
    every write with ``view.to_storage``; the cache and filters work on the storage form."""

    @property
    def info(self) -> ResourceInfo:
        return self.strategy.info

    def key(self, namespace: str, name: str) -> str:
        return f"{self.prefix}{namespace}/{name}" if self.info.namespaced else f"{self.prefix}{name}"

    def list_prefix(self, namespace: str | None) -> str:
        """The store prefix of the collection (one namespace, or all)."""
        if self.info.namespaced and namespace:
            return f"{self.prefix}{namespace}/"
        return self.prefix

    def decode(self, value: bytes, revision: int) -> dict[str, Any]:
        """A stored value in this scope's form (a private dict the caller may change)."""
        obj = decode_stored(value, revision)
        if self.view is None:
            return obj
        out = self.view.to_view(obj)
        out.setdefault("metadata", {})["resourceVersion"] = str(revision)
        return out

    def encode(self, obj: dict[str, Any]) -> bytes:
        """The stored bytes of ``obj`` (in this scope's form)."""
        return encode_for_store(obj if self.view is None else self.view.to_storage(obj))

    async def decode_async(self, value: bytes, revision: int) -> dict[str, Any]:
        """:meth:`decode` without blocking the loop when the view calls out (a conversion webhook)."""
        if self.view is None or self.view.remote is None:
            return self.decode(value, revision)
        obj = decode_stored(value, revision)
        [out] = await self.view.remote.to_view_many([obj])
        out.setdefault("metadata", {})["resourceVersion"] = str(revision)
        return out

    async def encode_async(self, obj: dict[str, Any]) -> bytes:
        """:meth:`encode` without blocking the loop when the view calls out (a conversion webhook)."""
        if self.view is None or self.view.remote is None:
            return self.encode(obj)
        return encode_for_store(await self.view.remote.to_storage_one(obj))

    async def prepare(self, cos: Iterable[CachedObject]) -> None:
        """Convert ``cos`` ahead of :meth:`shown` when the view calls out (``View.prepare``)."""
        if self.view is not None:
            await self.view.prepare(cos)

    def shown(self, co: CachedObject) -> CachedObject:
        """A cached (storage-form) object as this scope serves it."""
        return co if self.view is None else self.view.show(co)

    def storage_filter(self, flt: Filter) -> Filter:
        """``flt`` (field names of this scope) over the storage form's field names."""
        if self.view is None or flt.fields is None or not isinstance(flt.fields, FieldSelector):
            return flt
        return Filter(flt.namespace, flt.labels, self.view.storage_selector(flt.fields))

    def selectable_fields(self) -> list[str]:
        names = getattr(self.strategy, "selectable_field_names", None)
        if callable(names):
            return list(names())
        return ["metadata.name", "metadata.namespace"] if self.info.namespaced else ["metadata.name"]


def storage_prefixes(strategies: list[Strategy], root: str) -> dict[tuple[str, str], str]:
    """(group, resource) -> storage prefix, per the module rule above."""
    out: dict[tuple[str, str], str] = {}
    taken: set[str] = set()
    views = [s for s in strategies if storage_gv(s) is not None]
    for s in [s for s in strategies if storage_gv(s) is None] + views:
        gr = (s.info.group, s.info.resource)
        if gr in out:
            continue
        gv = storage_gv(s)
        if gv is not None and (gv[0], s.info.resource) in out:
            out[gr] = out[(gv[0], s.info.resource)]
            continue
        prefix = f"{root}{s.info.resource}/"
        if prefix in taken:
            prefix = f"{root}{s.info.group}/{s.info.resource}/"
        taken.add(prefix)
        out[gr] = prefix
    return out


@dataclass(eq=False)
class ServerContext:
    config: APIServerConfig
    store: Storage
    clock: Clock
    watch_cache: WatchCache
    scopes: dict[tuple[str, str, str], Scope]
    """(group, version, resource) -> Scope."""
    catalog: Any
    metrics: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    def scope(self, group: str, version: str, resource: str) -> Scope | None:
        return self.scopes.get((group, version, resource))

    def namespaces(self) -> Scope:
        scope = self.scopes.get(("", "v1", "namespaces"))
        assert scope is not None, "the namespaces resource is always served"
        return scope
