"""What every handler needs: the served resources (``Scope``) and the server-wide state (``ServerContext``).

Storage keys follow upstream: ``/registry/<resource>/<namespace>/<name>`` for namespaced resources and
``/registry/<resource>/<name>`` for cluster-scoped ones, for core and group resources alike. When two
groups serve the same plural (core ``events`` and ``events.k8s.io`` ``events``), the later one in
catalog order is keyed ``/registry/<group>/<resource>/`` (upstream shares one key space and converts;
sampan has no conversion yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sampan._lib.clock import Clock
from sampan.api.resources import ResourceInfo
from sampan.apiserver.cacher.resource_cache import ResourceCache
from sampan.apiserver.cacher.watch_cache import WatchCache
from sampan.apiserver.config import APIServerConfig
from sampan.apiserver.registry.strategy import Strategy
from sampan.storage import Storage


@dataclass(frozen=True, eq=False)
class Scope:
    """One served resource: its strategy, where it lives in the store, and its watch cache."""

    strategy: Strategy
    prefix: str
    cache: ResourceCache

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

    def selectable_fields(self) -> list[str]:
        names = getattr(self.strategy, "selectable_field_names", None)
        if callable(names):
            return list(names())
        return ["metadata.name", "metadata.namespace"] if self.info.namespaced else ["metadata.name"]


def storage_prefixes(strategies: list[Strategy], root: str) -> dict[tuple[str, str], str]:
    """(group, resource) -> storage prefix, per the module rule above."""
    out: dict[tuple[str, str], str] = {}
    taken: set[str] = set()
    for s in strategies:
        gr = (s.info.group, s.info.resource)
        if gr in out:
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
