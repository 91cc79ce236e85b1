"""ListerWatcher: the two calls a reflector makes, and :class:`ListWatch`, their REST implementation.

The seam exists so the reflector can be fed by anything that speaks LIST and WATCH (a fake in unit tests,
a filtered or namespaced view of a resource in production).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from sampan.client.dynamic import ResourceClient


class ListerWatcher(Protocol):
    async def list(self, *, resource_version: str | None, limit: int | None, continue_: str | None
                   ) -> dict[str, Any]:
        """One LIST page (a ``*List`` object with ``metadata.resourceVersion`` and maybe ``continue``)."""

    def watch(self, *, resource_version: str, timeout_seconds: int) -> AsyncIterator[dict[str, Any]]:
        """A WATCH stream from ``resource_version`` with bookmarks, as ``{"type", "object"}`` dicts."""


class ListWatch:
    """LIST and WATCH of one resource, optionally in one namespace and filtered by selectors.

    ``resource`` is a :class:`ResourceClient` or an async factory of one (resolved on first use, so a
    factory can hand out informers before discovery ran).
    """

    def __init__(
        self,
        resource: ResourceClient | Callable[[], Awaitable[ResourceClient]],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> None:
        self._resource = resource if isinstance(resource, ResourceClient) else None
        self._resolve = None if isinstance(resource, ResourceClient) else resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector

    async def resource(self) -> ResourceClient:
        if self._resource is None:
            assert self._resolve is not None
            self._resource = await self._resolve()
        return self._resource

    async def list(self, *, resource_version: str | None, limit: int | None, continue_: str | None
                   ) -> dict[str, Any]:
        rc = await self.resource()
        return await rc.list(
            namespace=self.namespace, label_selector=self.label_selector, field_selector=self.field_selector,
            limit=limit, continue_=continue_, resource_version=None if continue_ else resource_version,
        )

    async def watch(self, *, resource_version: str, timeout_seconds: int) -> AsyncIterator[dict[str, Any]]:
        rc = await self.resource()
        async for event in rc.watch(
            namespace=self.namespace, resource_version=resource_version, label_selector=self.label_selector,
            field_selector=self.field_selector, timeout_seconds=timeout_seconds, allow_bookmarks=True,
        ):
            yield event
