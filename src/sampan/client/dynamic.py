"""Generic ("dynamic") access to any resource by group/version/resource, objects as plain dicts.

``client = Client(config)``; ``pods = await client.resource("v1", "pods")`` (discovery finds the
resource and whether it is namespaced); then ``await pods.get("web", namespace="default")``,
``pods.list(...)``, ``pods.watch(...)``, ``create``, ``update``, ``patch`` (json, merge, strategic merge,
apply), ``delete``, ``delete_collection``, and ``subresource=`` for ``status``, ``scale``… A namespaced
single-object call takes its namespace from the argument, else from the object, else fails with
ValueError; list, watch and delete_collection without a namespace span all namespaces.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from typing import Any

from sampan._lib.clock import Clock
from sampan.api.resources import ResourceInfo
from sampan.client.config import RESTConfig
from sampan.client.discovery import Discovery
from sampan.client.rest import RESTClient


class PatchType(enum.StrEnum):
    JSON = "application/json-patch+json"
    MERGE = "application/merge-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    APPLY = "application/apply-patch+yaml"


class ResourceClient:
    """Verbs on one resource type. Cheap to create; holds no state but the path prefix."""

    def __init__(self, rest: RESTClient, info: ResourceInfo) -> None:
        self.rest = rest
        self.info = info

    def _ns(self, namespace: str | None, obj: dict[str, Any] | None = None) -> str | None:
        if not self.info.namespaced:
            return None
        ns = namespace or ((obj or {}).get("metadata") or {}).get("namespace")
        if not ns:
            raise ValueError(f"{self.info.resource} are namespaced: pass a namespace")
        return str(ns)

    def _path(self, name: str | None, namespace: str | None, subresource: str | None = None) -> str:
        ns = namespace if self.info.namespaced else None
        path = self.info.object_path(name, ns) if name else self.info.collection_path(ns)
        return f"{path}/{subresource}" if subresource else path

    async def get(self, name: str, *, namespace: str | None = None, subresource: str | None = None,
                  resource_version: str | None = None) -> dict[str, Any]:
        path = self._path(name, self._ns(namespace), subresource)
        result: dict[str, Any] = await self.rest.request("GET", path, params={"resourceVersion": resource_version})
        return result

    async def list(
        self,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
    ) -> dict[str, Any]:
        """One LIST call (one page when ``limit`` is set; follow ``metadata.continue``)."""
        params = {
            "labelSelector": label_selector or None, "fieldSelector": field_selector or None, "limit": limit,
            "continue": continue_ or None, "resourceVersion": resource_version,
            "resourceVersionMatch": resource_version_match,
        }
        result: dict[str, Any] = await self.rest.request("GET", self._path(None, namespace), params=params)
        return result

    async def list_all(self, *, namespace: str | None = None, label_selector: str | None = None,
                       field_selector: str | None = None, page_size: int = 500) -> dict[str, Any]:
        """Every page of a consistent LIST merged into one list object."""
        first: dict[str, Any] | None = None
        token: str | None = None
        while True:
            page = await self.list(namespace=namespace, label_selector=label_selector,
                                   field_selector=field_selector, limit=page_size, continue_=token)
            if first is None:
                first = page
                first["items"] = list(page.get("items") or [])
            else:
                first["items"].extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                first.setdefault("metadata", {}).pop("continue", None)
                return first

    def watch(
        self,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
        send_initial_events: bool | None = None,
        resource_version_match: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream watch events (``{"type": ..., "object": ...}``) until the server ends the watch."""
        params = {
            "watch": "true", "resourceVersion": resource_version, "labelSelector": label_selector or None,
            "fieldSelector": field_selector or None, "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": allow_bookmarks or None, "sendInitialEvents": send_initial_events,
            "resourceVersionMatch": resource_version_match,
        }
        read_timeout = timeout_seconds + 30.0 if timeout_seconds else None
        return self.rest.stream(self._path(None, namespace), params=params, read_timeout=read_timeout)

    async def create(self, obj: dict[str, Any], *, namespace: str | None = None, subresource: str | None = None,
                     name: str | None = None, dry_run: bool = False, field_manager: str | None = None
                     ) -> dict[str, Any]:
        path = self._path(name if subresource else None, self._ns(namespace, obj), subresource)
        result: dict[str, Any] = await self.rest.request(
            "POST", path, body=obj, params={"dryRun": _dry_run(dry_run), "fieldManager": field_manager})
        return result

    async def update(self, obj: dict[str, Any], *, namespace: str | None = None, subresource: str | None = None,
                     field_manager: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        """PUT the object (its metadata.resourceVersion makes it a compare-and-swap: stale -> Conflict).
        ``dry_run``: the server validates and admits it and answers the result, but stores nothing."""
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            raise ValueError("update needs metadata.name")
        path = self._path(str(name), self._ns(namespace, obj), subresource)
        result: dict[str, Any] = await self.rest.request(
            "PUT", path, body=obj, params={"fieldManager": field_manager, "dryRun": _dry_run(dry_run)})
        return result

    async def update_status(self, obj: dict[str, Any], *, namespace: str | None = None, dry_run: bool = False
                            ) -> dict[str, Any]:
        return await self.update(obj, namespace=namespace, subresource="status", dry_run=dry_run)

    async def patch(
        self,
        name: str,
        patch: Any,
        *,
        patch_type: PatchType = PatchType.MERGE,
        namespace: str | None = None,
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """PATCH with any of the four types; ``patch`` is a dict/list (JSON-encoded) or raw bytes.
        Server-side apply (``PatchType.APPLY``) requires ``field_manager``. ``dry_run``: nothing is stored."""
        if patch_type is PatchType.APPLY and not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        path = self._path(name, self._ns(namespace), subresource)
        result: dict[str, Any] = await self.rest.request(
            "PATCH", path, body=patch, content_type=str(patch_type),
            params={"fieldManager": field_manager, "force": force, "dryRun": _dry_run(dry_run)},
        )
        return result

    async def delete(
        self,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        uid: str | None = None,
        resource_version: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """DELETE; returns what the server returns (the object, or a Status). ``uid``/``resource_version``
        are preconditions; ``dry_run``: the answer is what a real delete would answer, nothing changes."""
        body = _delete_options(propagation_policy, grace_period_seconds, uid, resource_version)
        result: dict[str, Any] = await self.rest.request("DELETE", self._path(name, self._ns(namespace)), body=body,
                                                         params={"dryRun": _dry_run(dry_run)})
        return result

    async def delete_collection(self, *, namespace: str | None = None, label_selector: str | None = None,
                                field_selector: str | None = None, propagation_policy: str | None = None,
                                dry_run: bool = False) -> dict[str, Any]:
        body = _delete_options(propagation_policy, None, None, None)
        params = {"labelSelector": label_selector or None, "fieldSelector": field_selector or None,
                  "dryRun": _dry_run(dry_run)}
        result: dict[str, Any] = await self.rest.request("DELETE", self._path(None, namespace), params=params,
                                                         body=body)
        return result


def _dry_run(requested: bool) -> str | None:
    """The ``dryRun`` query value: ``All`` (the only one upstream accepts) or absent."""
    return "All" if requested else None


def _delete_options(policy: str | None, grace: int | None, uid: str | None, rv: str | None) -> dict[str, Any] | None:
    opts: dict[str, Any] = {}
    if policy:
        opts["propagationPolicy"] = policy
    if grace is not None:
        opts["gracePeriodSeconds"] = grace
    pre = {k: v for k, v in (("uid", uid), ("resourceVersion", rv)) if v}
    if pre:
        opts["preconditions"] = pre
    if not opts:
        return None
    return {"kind": "DeleteOptions", "apiVersion": "v1", **opts}


class Client:
    """A REST client plus cached discovery: the entry point of the library."""

    def __init__(self, config: RESTConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.rest = RESTClient(config, clock=clock)
        self.discovery = Discovery(self.rest)

    def sharing(self, config: RESTConfig) -> Client:
        """A client sending ``config``'s credentials over this client's connections, token bucket and
        discovery cache (:meth:`RESTClient.sharing`); closing it leaves this client open."""
        view = object.__new__(Client)
        view.config = config
        view.rest = self.rest.sharing(config)
        view.discovery = self.discovery
        return view

    def with_own_rate_limit(self) -> Client:
        """This client with a token bucket of its own (:meth:`RESTClient.with_own_rate_limit`), sharing its
        connections and discovery cache; closing it leaves this client open."""
        view = object.__new__(Client)
        view.config = self.config
        view.rest = self.rest.with_own_rate_limit()
        view.discovery = self.discovery
        return view

    def with_own_connections(self) -> Client:
        """This client's server and config over a connection pool and token bucket of their own
        (:meth:`RESTClient.with_own_connections`), sharing the discovery cache. Close it when done: closing
        it closes only its own connections."""
        view = object.__new__(Client)
        view.config = self.config
        view.rest = self.rest.with_own_connections()
        view.discovery = self.discovery
        return view

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.rest.close()

    async def resource(self, api_version: str, name: str) -> ResourceClient:
        """The resource ``name`` (plural, singular, short name or kind) of ``api_version``, via discovery."""
        return ResourceClient(self.rest, await self.discovery.resolve(api_version, name))

    def resource_for(self, info: ResourceInfo) -> ResourceClient:
        """Skip discovery when the ResourceInfo is already known."""
        return ResourceClient(self.rest, info)

    async def version(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.rest.request("GET", "/version")
        return result
