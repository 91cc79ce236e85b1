"""API discovery: what groups, versions and resources the server serves, in both of upstream's forms.

* Legacy: ``/api`` (APIVersions), ``/apis`` (APIGroupList), ``/apis/{g}`` (APIGroup), ``/api/v1`` and
  ``/apis/{g}/{v}`` (APIResourceList, subresources as ``pods/status`` entries, every entry with
  ``singularName`` as kopf requires).
* Aggregated (``apidiscovery.k8s.io`` v2 and v2beta1, chosen by ``Accept``): ``/api`` and ``/apis``
  answer an APIGroupDiscoveryList with the exact Content-Type client-go checks for. kubectl 1.32 asks
  for v2 then v2beta1 then plain JSON; 1.27 to 1.29 ask for v2beta1.

Every path also answers with a trailing slash (kr8s sends ``/api/``). Documents are built once, from the
:class:`~sampan.apiserver.registry.catalog.Catalog`, when :func:`register` runs, and served with an
``ETag`` (``If-None-Match`` gives 304).

:func:`register` is the one call the app makes: it adds discovery, ``/version``, the health endpoints
and ``/openapi/v3`` (and ``/metrics`` when given an :class:`~sampan.apiserver.metrics.APIMetrics`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from aiohttp import web

from sampan.api.errors import APIError, NotFound
from sampan.api.resources import ResourceInfo
from sampan.apiserver import health, version
from sampan.apiserver.negotiation import JSON, DiscoveryFormat, negotiate_discovery
from sampan.apiserver.registry.strategy import Strategy

if TYPE_CHECKING:
    from sampan.apiserver.metrics import APIMetrics

log = logging.getLogger(__name__)


class CatalogView(Protocol):
    """What discovery needs from the registry catalog."""

    def strategies(self) -> list[Strategy]: ...

    def groups(self) -> list[tuple[str, list[str]]]: ...


@dataclass(frozen=True, slots=True)
class SubresourceKind:
    """What a subresource answers with: its kind (None: the parent's kind) and its verbs."""

    group: str | None
    version: str | None
    kind: str | None
    verbs: tuple[str, ...]


_GET_PATCH_UPDATE = ("get", "patch", "update")
_PROXY_VERBS = ("create", "delete", "get", "patch", "update")
SUBRESOURCES: dict[str, SubresourceKind] = {
    "status": SubresourceKind(None, None, None, _GET_PATCH_UPDATE),
    "scale": SubresourceKind("autoscaling", "v1", "Scale", _GET_PATCH_UPDATE),
    "binding": SubresourceKind("", "v1", "Binding", ("create",)),
    "eviction": SubresourceKind("policy", "v1", "Eviction", ("create",)),
    "log": SubresourceKind("", "v1", "Pod", ("get",)),
    "exec": SubresourceKind("", "v1", "PodExecOptions", ("create", "get")),
    "attach": SubresourceKind("", "v1", "PodAttachOptions", ("create", "get")),
    "portforward": SubresourceKind("", "v1", "PodPortForwardOptions", ("create", "get")),
    "ephemeralcontainers": SubresourceKind(None, None, None, _GET_PATCH_UPDATE),
    "resize": SubresourceKind(None, None, None, _GET_PATCH_UPDATE),
    "token": SubresourceKind("authentication.k8s.io", "v1", "TokenRequest", ("create",)),
    "finalize": SubresourceKind(None, None, None, ("update",)),
    "approval": SubresourceKind(None, None, None, _GET_PATCH_UPDATE),
}
_PROXY_KINDS = {"pods": "PodProxyOptions", "nodes": "NodeProxyOptions", "services": "ServiceProxyOptions"}


def subresource_kind(info: ResourceInfo, sub: str) -> SubresourceKind:
    """The kind and verbs of ``info``'s subresource ``sub`` (unknown names: the parent kind, get)."""
    if sub == "proxy":
        return SubresourceKind("", "v1", _PROXY_KINDS.get(info.resource, "ProxyOptions"), _PROXY_VERBS)
    return SUBRESOURCES.get(sub, SubresourceKind(None, None, None, ("get",)))


ServesSubresource = Callable[[str, str], bool]
"""``(resource, subresource) -> bool``: whether the server routes it (``routes.served_subresources``)."""


def _all_served(resource: str, sub: str) -> bool:
    return True


def storage_version_hash(info: ResourceInfo) -> str:
    """Upstream's opaque storage-version hash: base64 of the first 8 bytes of sha256("g/v/Kind")."""
    digest = hashlib.sha256(f"{info.group}/{info.version}/{info.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


# ---- document builders (pure) ----------------------------------------------------------------------


def _gv(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def api_resource_list(group: str, version: str, infos: Sequence[ResourceInfo], *,
                      serves: ServesSubresource = _all_served) -> dict[str, Any]:
    """The legacy APIResourceList of one group-version (subresources only when ``serves`` them)."""
    resources: list[dict[str, Any]] = []
    for info in infos:
        entry: dict[str, Any] = {
            "name": info.resource,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": list(info.verbs),
        }
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        entry["storageVersionHash"] = storage_version_hash(info)
        resources.append(entry)
        for sub in info.subresources:
            if not serves(info.resource, sub):
                continue
            sk = subresource_kind(info, sub)
            sub_entry: dict[str, Any] = {
                "name": f"{info.resource}/{sub}",
                "singularName": "",
                "namespaced": info.namespaced,
                "kind": sk.kind or info.kind,
                "verbs": list(sk.verbs),
            }
            if sk.group is not None and (sk.group, sk.version) != (info.group, info.version):
                sub_entry["group"] = sk.group
                sub_entry["version"] = sk.version
            resources.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": _gv(group, version),
            "resources": resources}


def _version_ref(group: str, version: str) -> dict[str, str]:
    return {"groupVersion": _gv(group, version), "version": version}


def api_group(group: str, versions: Sequence[str]) -> dict[str, Any]:
    """The legacy APIGroup of a named group (preferred version first in ``versions``)."""
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [_version_ref(group, v) for v in versions],
        "preferredVersion": _version_ref(group, versions[0]),
    }


def api_group_list(groups: Iterable[tuple[str, Sequence[str]]]) -> dict[str, Any]:
    """The legacy APIGroupList of ``/apis`` (named groups only)."""
    items = []
    for g, versions in groups:
        group = api_group(g, versions)
        del group["kind"], group["apiVersion"]
        items.append(group)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": items}


def api_versions(core_versions: Sequence[str], server_address: str) -> dict[str, Any]:
    """The legacy APIVersions of ``/api``."""
    return {
        "kind": "APIVersions",
        "versions": list(core_versions),
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _response_kind(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def discovery_resource(info: ResourceInfo, *, serves: ServesSubresource = _all_served) -> dict[str, Any]:
    """One APIResourceDiscovery entry of aggregated discovery (subresources only when ``serves`` them)."""
    entry: dict[str, Any] = {
        "resource": info.resource,
        "responseKind": _response_kind(info.group, info.version, info.kind),
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    subs = []
    for sub in info.subresources:
        if not serves(info.resource, sub):
            continue
        sk = subresource_kind(info, sub)
        subs.append({
            "subresource": sub,
            "responseKind": _response_kind(
                info.group if sk.group is None else sk.group,
                info.version if sk.version is None else sk.version,
                sk.kind or info.kind,
            ),
            "verbs": list(sk.verbs),
        })
    if subs:
        entry["subresources"] = subs
    return entry


def group_discovery(group: str, versions: Sequence[tuple[str, Sequence[ResourceInfo]]], *,
                    serves: ServesSubresource = _all_served) -> dict[str, Any]:
    """One APIGroupDiscovery item (versions in preference order)."""
    metadata: dict[str, Any] = {"creationTimestamp": None}
    if group:
        metadata = {"name": group, "creationTimestamp": None}
    return {
        "metadata": metadata,
        "versions": [
            {"version": v, "resources": [discovery_resource(i, serves=serves) for i in infos],
             "freshness": "Current"}
            for v, infos in versions
        ],
    }


def remote_group_discovery(group: str, versions: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> dict[str, Any]:
    """One APIGroupDiscovery item of an aggregated group, from its versions' legacy APIResourceList
    ``resources`` (``parent/sub`` entries become the parent's ``subresources``)."""
    out_versions = []
    for ver, resources in versions:
        entries: dict[str, dict[str, Any]] = {}
        for r in resources:
            name = str(r.get("name") or "")
            if not name or "/" in name:
                continue
            entry: dict[str, Any] = {
                "resource": name,
                "responseKind": _response_kind(group, ver, str(r.get("kind") or "")),
                "scope": "Namespaced" if r.get("namespaced") else "Cluster",
                "singularResource": str(r.get("singularName") or ""),
                "verbs": list(r.get("verbs") or []),
            }
            for key in ("shortNames", "categories"):
                if r.get(key):
                    entry[key] = list(r[key])
            entries[name] = entry
        for r in resources:
            parent, _, sub = str(r.get("name") or "").partition("/")
            if sub and parent in entries:
                entries[parent].setdefault("subresources", []).append({
                    "subresource": sub,
                    "responseKind": _response_kind(str(r.get("group") or group), str(r.get("version") or ver),
                                                   str(r.get("kind") or "")),
                    "verbs": list(r.get("verbs") or []),
                })
        out_versions.append({"version": ver, "resources": list(entries.values()),
                             "freshness": "Current" if resources else "Stale"})
    return {"metadata": {"name": group, "creationTimestamp": None}, "versions": out_versions}


def group_discovery_list(items: list[dict[str, Any]], fmt: DiscoveryFormat) -> dict[str, Any]:
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{fmt.value}",
        "metadata": {},
        "items": items,
    }


# ---- the served documents ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Doc:
    body: bytes
    etag: str
    content_type: str


def _doc(obj: dict[str, Any], content_type: str = JSON) -> _Doc:
    body = orjson.dumps(obj) + b"\n"  # as Go's json.Encoder writes it
    return _Doc(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', content_type)


class Discovery:
    """Every discovery document, pre-encoded from a catalog. :meth:`rebuild` swaps in a new catalog's
    documents (custom resources come and go); each document's ETag is its content hash, so clients'
    cached copies go stale exactly when the content changes. Subresources are listed only when
    ``serves`` says the server routes them (by default: all, for discovery served on its own)."""

    def __init__(self, catalog: CatalogView, *, serves: ServesSubresource = _all_served) -> None:
        self._serves = serves
        self._remote: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._remote_order: list[tuple[str, list[str]]] = []
        self.rebuild(catalog)

    def set_remote(self, resource_lists: dict[tuple[str, str], list[dict[str, Any]]],
                   order: list[tuple[str, list[str]]]) -> None:
        """Serve the aggregated (remote) group-versions too: ``resource_lists`` maps each (group,
        version) to the ``resources`` of its APIResourceList; ``order`` lists the remote groups with their
        versions, preferred first. Built-in and custom groups keep precedence over a remote group of the
        same name. No-op when nothing changed (ETags stay)."""
        if resource_lists == self._remote and order == self._remote_order:
            return
        self._remote, self._remote_order = resource_lists, order
        self.rebuild(self._catalog)

    def rebuild(self, catalog: CatalogView) -> None:
        self._catalog = catalog
        by_gv: dict[tuple[str, str], list[ResourceInfo]] = {}
        for s in catalog.strategies():
            by_gv.setdefault((s.info.group, s.info.version), []).append(s.info)
        self.groups = [(g, list(vs)) for g, vs in catalog.groups()]
        local = {g for g, _ in self.groups}
        remote = [(g, vs) for g, vs in self._remote_order if g not in local]
        core_versions = next((vs for g, vs in self.groups if g == ""), [])
        named = [(g, vs) for g, vs in self.groups if g] + remote
        self.core_versions = core_versions
        serves = self._serves
        self.resource_lists = {gv: _doc(api_resource_list(gv[0], gv[1], infos, serves=serves))
                               for gv, infos in by_gv.items()}
        self.api_groups = {g: _doc(api_group(g, vs)) for g, vs in named}
        self.group_list = _doc(api_group_list(named))
        self.aggregated: dict[tuple[str, DiscoveryFormat], _Doc] = {}
        for fmt in (DiscoveryFormat.AGGREGATED_V2, DiscoveryFormat.AGGREGATED_V2BETA1):
            core = ([group_discovery("", [(v, by_gv.get(("", v), [])) for v in core_versions], serves=serves)]
                    if core_versions else [])
            apis = [group_discovery(g, [(v, by_gv.get((g, v), [])) for v in vs], serves=serves)
                    for g, vs in named if g in local]
            apis += [remote_group_discovery(g, [(v, self._remote.get((g, v), [])) for v in vs]) for g, vs in remote]
            self.aggregated[("api", fmt)] = _doc(group_discovery_list(core, fmt), fmt.content_type)
            self.aggregated[("apis", fmt)] = _doc(group_discovery_list(apis, fmt), fmt.content_type)

    # ---- handlers ------------------------------------------------------------------------------------

    async def handle_api(self, request: web.Request) -> web.StreamResponse:
        fmt = negotiate_discovery(request.headers.get("Accept"))
        if fmt is not DiscoveryFormat.LEGACY:
            return _respond(request, self.aggregated[("api", fmt)])
        address = request.host or "127.0.0.1"
        return _respond(request, _doc(api_versions(self.core_versions, address)))

    async def handle_apis(self, request: web.Request) -> web.StreamResponse:
        fmt = negotiate_discovery(request.headers.get("Accept"))
        if fmt is not DiscoveryFormat.LEGACY:
            return _respond(request, self.aggregated[("apis", fmt)])
        return _respond(request, self.group_list)

    async def handle_group(self, request: web.Request) -> web.StreamResponse:
        negotiate_discovery(request.headers.get("Accept"), allow_aggregated=False)
        group = request.match_info["group"]
        doc = self.api_groups.get(group)
        if doc is None:
            raise NotFound("the server could not find the requested resource")
        return _respond(request, doc)

    async def handle_group_version(self, request: web.Request) -> web.StreamResponse:
        negotiate_discovery(request.headers.get("Accept"), allow_aggregated=False)
        group = request.match_info.get("group", "")
        doc = self.resource_lists.get((group, request.match_info["version"]))
        if doc is None:
            raise NotFound("the server could not find the requested resource")
        return _respond(request, doc)


def _respond(request: web.Request, doc: _Doc) -> web.StreamResponse:
    headers = {"ETag": doc.etag, "Vary": "Accept", "Cache-Control": "public"}
    if request.headers.get("If-None-Match") == doc.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=doc.body, headers={**headers, "Content-Type": doc.content_type})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DISCOVERY_KEY = web.AppKey("sampan.discovery", Discovery)


def _status_errors(handler: Handler) -> Handler:
    """Render APIError as a Status body here, so discovery is correct even without the app's error
    middleware (the unit tests run it alone)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except APIError as err:
            return web.Response(status=err.code, body=orjson.dumps(err.to_status()) + b"\n", content_type=JSON)

    return wrapped


def register(
    app: web.Application,
    catalog: CatalogView,
    *,
    health_checks: health.HealthChecks | None = None,
    metrics: APIMetrics | None = None,
    openapi: bool = True,
    serves: ServesSubresource = _all_served,
) -> Discovery:
    """Add every discovery route, ``/version``, ``/healthz`` ``/livez`` ``/readyz`` (with
    ``health_checks``, or just ping/log), ``/openapi/v3`` (unless ``openapi=False``) and, when
    ``metrics`` (an APIMetrics) is given, ``/metrics`` plus its request middleware. ``serves`` says
    which subresources the resource routes serve (only those are advertised).

    Call it before adding the resource routes: ``/apis/{group}/{version}`` must be matched before any
    route with more segments (aiohttp matches in registration order). Returns the Discovery object
    (kept in ``app[DISCOVERY_KEY]``).
    """
    disc = Discovery(catalog, serves=serves)
    routes: list[tuple[str, Handler]] = [
        ("/api", disc.handle_api),
        ("/apis", disc.handle_apis),
        ("/api/{version}", disc.handle_group_version),
        ("/apis/{group}", disc.handle_group),
        ("/apis/{group}/{version}", disc.handle_group_version),
    ]
    for path, handler in routes:
        wrapped = _status_errors(handler)
        app.router.add_get(path, wrapped)
        app.router.add_get(path + "/", wrapped)
    version.register(app)
    health.register(app, health_checks or health.HealthChecks())
    if openapi:
        from sampan.apiserver import openapi as openapi_module

        openapi_module.register(app, catalog)
    if metrics is not None:
        from sampan.apiserver import metrics as metrics_module

        metrics_module.install(app, metrics)
    app[DISCOVERY_KEY] = disc
    return disc
