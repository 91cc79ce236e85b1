"""How token authenticators see the objects a token depends on (its ServiceAccount, bound Pod or Secret,
a bootstrap-token Secret): through the watch cache, never a store read per request, as upstream reads
them through informers. A deleted object is gone from the cache once its DELETED event was applied."""

from __future__ import annotations

from typing import Any, Protocol

from sampan.apiserver.context import ServerContext


class ObjectLookup(Protocol):
    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The current core/v1 object (read-only), or None when it does not exist."""
        ...


class WatchCacheLookup:
    """Core/v1 objects from the server's watch cache."""

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        scope = self._ctx.scope("", "v1", resource)
        if scope is None:
            return None
        cached = scope.cache.objects.get(scope.key(namespace, name))
        return cached.obj if cached is not None else None


class DictLookup:
    """Objects from a dict keyed ``(resource, namespace, name)`` (unit tests)."""

    def __init__(self, objects: dict[tuple[str, str, str], dict[str, Any]] | None = None) -> None:
        self.objects = objects if objects is not None else {}

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((resource, namespace, name))
