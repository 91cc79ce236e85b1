"""What the API knows about a resource type: group, version, plural, kind, scope, names, verbs.

A :class:`ResourceInfo` is what discovery serves and what clients use to build paths. It is plain data
shared by the API server (which serves it), the client (which reads it from discovery) and tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    group: str
    """API group; "" for the core (legacy) group served under /api."""
    version: str
    resource: str
    """Plural, lower case: ``pods``."""
    kind: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    """Subresource names this resource serves (``status``, ``scale``, ``binding``, ``log``…)."""
    list_kind: str = field(default="")

    @property
    def group_version(self) -> str:
        """``v1`` for core, ``apps/v1`` otherwise (the ``apiVersion`` of objects)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind_name(self) -> str:
        return self.list_kind or f"{self.kind}List"

    def collection_path(self, namespace: str | None = None) -> str:
        """The URL path of the collection, in ``namespace`` when the resource is namespaced."""
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{self.resource}"
        return f"{base}/{self.resource}"

    def object_path(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection_path(namespace)}/{name}"
