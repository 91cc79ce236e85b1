"""Resource URL parsing and dispatch to the verb handlers.

Paths, as upstream (``/api/v1`` for the core group, ``/apis/<group>/<version>`` otherwise)::

    <base>/<resource>[/<name>[/<subresource>]]                      cluster-scoped, or all namespaces
    <base>/namespaces/<namespace>/<resource>[/<name>[/<subresource>]]
    <base>/namespaces/<name>/{status,finalize}                      namespace subresources
    <base>/watch/...                                                legacy watch paths (also of one object)

Verb = method + shape: GET object -> get, GET collection -> list (or watch with ``?watch=true``),
POST collection -> create, PUT object -> update, PATCH object -> patch, DELETE object -> delete, DELETE
collection -> deletecollection, POST ``pods/<name>/binding`` -> bind, POST ``pods/<name>/eviction`` ->
evict, GET/PUT ``<workload>/<name>/scale`` -> getscale/updatescale (PATCH of a subresource is ``patch``,
which handles ``status`` and ``scale`` itself). A verb the resource does not list, or a method with no
verb here, is 405.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from sampan.api import errors
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.listoptions import parse_bool
from sampan.apiserver.warning_headers import header_value

log = logging.getLogger(__name__)

CONTEXT_KEY = web.AppKey("sampan.context", ServerContext)
DEPRECATION_KEY = web.RequestKey("sampan.deprecation_warning", str)
"""Request key: the ``Warning`` a deprecated version's responses carry (set once its scope is known)."""
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
SUBRESOURCE_VERBS: dict[str, dict[str, str]] = {
    "binding": {"create": "bind"},
    "eviction": {"create": "evict"},
    "log": {"get": "getlog"},
    "pods/exec": {"get": "connectexec", "create": "connectexec"},
    "pods/attach": {"get": "connectattach", "create": "connectattach"},
    "pods/portforward": {"get": "connectportforward", "create": "connectportforward"},
    "proxy": {"get": "proxy", "create": "proxy", "update": "proxy", "patch": "proxy", "delete": "proxy"},
    "token": {"create": "createtoken"},
    "scale": {"get": "getscale", "update": "updatescale", "patch": "patch"},
    "status": {"get": "get", "update": "update", "patch": "patch"},
    "finalize": {"update": "update"},
    "certificatesigningrequests/approval": {"get": "get", "update": "update", "patch": "patch"},
    "pods/ephemeralcontainers": {"get": "get", "update": "update", "patch": "patch"},
}
"""Subresource (``sub``, or ``resource/sub`` for one resource only) -> request verb -> handler name.
A subresource is served — routed, and advertised by discovery — iff it has an entry here whose
handlers are all registered (:func:`served_subresources`); the streaming work adds ``exec``,
``attach``, ``portforward`` and ``proxy`` by adding entries and handlers, nothing else."""
COLLECTION_VERBS: dict[tuple[str, str], dict[str, str]] = {("", "bindings"): {"create": "bind"}}
"""(group, resource) -> request verb -> handler name, for create-only collections answered by another
verb's handler (``POST …/bindings`` binds the pod its body names, as ``pods/<name>/binding``); any
other verb on them is 405."""
_OWN_VERBS = frozenset({"bind", "evict", "getscale", "updatescale", "getlog", "createtoken", "connectexec",
                        "connectattach", "connectportforward", "proxy"})


@dataclass(frozen=True, slots=True)
class Target:
    """What a resource request addresses."""

    scope: Scope
    namespace: str | None
    """The namespace from the path (None: cluster-scoped, or a namespaced resource across namespaces)."""
    name: str | None
    subresource: str | None
    watch_path: bool = False
    proxy_path: str = ""
    """What follows ``…/proxy/`` (``proxy`` subresources only), without its leading slash."""


Handler = Callable[[web.Request, ServerContext, Target], Awaitable[web.StreamResponse]]


def _not_found() -> errors.NotFound:
    return errors.no_such_resource()


def _segments(raw_tail: str) -> list[str]:
    parts = [urllib.parse.unquote(p) for p in raw_tail.split("/")]
    while parts and parts[-1] == "":
        parts.pop()
    for p in parts:
        if p == "" or p in (".", "..") or "/" in p or "\x00" in p:
            raise _not_found()
    return parts


def _any_route(resource: str, sub: str) -> bool:
    return subresource_verbs(resource, sub) is not None


def parse_target(ctx: ServerContext, *, group: str, version: str, raw_tail: str,
                 serves: Callable[[str, str], bool] = _any_route) -> Target:
    """The resource, namespace, name and subresource a path names; 404 when it names none we serve
    (``serves``: whether a subresource is served, see :func:`served_subresources`)."""
    parts = _segments(raw_tail)
    watch_path = False
    if parts and parts[0] == "watch":
        watch_path = True
        parts = parts[1:]
    if not parts:
        raise _not_found()
    namespace: str | None = None
    if parts[0] == "namespaces" and len(parts) >= 3 and parts[2] not in _NAMESPACE_SUBRESOURCES:
        namespace = parts[1]
        parts = parts[2:]
    proxy_path = ""
    if len(parts) > 3 and parts[2] == "proxy":
        proxy_path, parts = "/".join(parts[3:]) + ("/" if raw_tail.endswith("/") else ""), parts[:3]
    if len(parts) > 3:
        raise _not_found()
    scope = ctx.scope(group, version, parts[0])
    if scope is None:
        raise _not_found()
    if namespace is not None and not scope.info.namespaced:
        raise _not_found()
    name = parts[1] if len(parts) > 1 else None
    sub = parts[2] if len(parts) > 2 else None
    if sub is not None and (sub not in scope.info.subresources or not serves(scope.info.resource, sub)):
        raise _not_found()
    return Target(scope, namespace, name, sub, watch_path, proxy_path)


def subresource_verbs(resource: str, sub: str) -> dict[str, str] | None:
    """The verb table of ``resource``'s subresource ``sub`` (None: no route for it)."""
    return SUBRESOURCE_VERBS.get(f"{resource}/{sub}", SUBRESOURCE_VERBS.get(sub))


def served_subresources(handlers: Mapping[str, Handler]) -> Callable[[str, str], bool]:
    """``(resource, sub) -> bool``: whether the subresource has a route whose handlers all exist in
    ``handlers`` (what discovery may advertise)."""

    def serves(resource: str, sub: str) -> bool:
        verbs = subresource_verbs(resource, sub)
        return verbs is not None and bool(verbs) and all(h in handlers for h in verbs.values())

    return serves


def _verb(request: web.Request, t: Target) -> str:
    method = request.method
    if method == "GET":
        if t.name is None:
            return "watch" if (t.watch_path or parse_bool(request.query, "watch")) else "list"
        return "watch" if t.watch_path else "get"
    if t.watch_path:
        return ""
    if method == "POST" and t.name is None:
        return "create"
    if method == "PUT" and t.name is not None:
        return "update"
    if method == "PATCH" and t.name is not None:
        return "patch"
    if method == "DELETE":
        return "delete" if t.name is not None else "deletecollection"
    return ""


def make_resource_handler(
    handlers: dict[str, Handler], *, core: bool
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler for ``/api/{version}/{tail}`` (``core``) or ``/apis/{group}/{version}/{tail}``."""
    serves = served_subresources(handlers)

    async def handle(request: web.Request) -> web.StreamResponse:
        ctx = request.app[CONTEXT_KEY]
        group = "" if core else request.match_info["group"]
        version = request.match_info["version"]
        prefix = f"/api/{version}/" if core else f"/apis/{group}/{version}/"
        raw_path = request.raw_path.split("?", 1)[0]
        if not raw_path.startswith(prefix):
            raise _not_found()
        target = parse_target(ctx, group=group, version=version, raw_tail=raw_path[len(prefix):], serves=serves)
        deprecation = getattr(target.scope.strategy, "deprecation_warning", None)
        if deprecation:
            request[DEPRECATION_KEY] = deprecation
        verb = _verb(request, target)
        if target.subresource is not None:
            if request.method == "POST" and not target.watch_path:
                verb = "create"
            verb = (subresource_verbs(target.scope.info.resource, target.subresource) or {}).get(verb, "")
        elif (collection := COLLECTION_VERBS.get((group, target.scope.info.resource))) is not None:
            verb = collection.get(verb, "")
        handler = handlers.get(verb)
        if handler is None or (verb not in target.scope.info.verbs and verb not in _OWN_VERBS):
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        return await handler(request, ctx, target)

    return handle


def register(app: web.Application, handlers: dict[str, Handler]) -> None:
    """Add the catch-all resource routes (after discovery's exact routes, which take precedence)."""
    core = make_resource_handler(handlers, core=True)
    grouped = make_resource_handler(handlers, core=False)
    app.router.add_route("*", "/api/{version}/{tail:.+}", core)
    app.router.add_route("*", "/apis/{group}/{version}/{tail:.+}", grouped)
    app.on_response_prepare.append(_deprecation_warning)


async def _deprecation_warning(request: web.Request, response: web.StreamResponse) -> None:
    """aiohttp ``on_response_prepare`` signal: a deprecated version's warning comes first on every answer
    (errors and watches too), as upstream records it before serving the request."""
    text = request.get(DEPRECATION_KEY)
    if not text:
        return
    first = header_value(text)
    if first is None:
        return
    others = [v for v in response.headers.getall("Warning", ()) if v != first]
    response.headers.popall("Warning", None)
    for value in (first, *others):
        response.headers.add("Warning", value)
