"""``/openapi/v3``: the index and one OpenAPI 3 document per served group-version.

kubectl 1.32 fetches ``GET /openapi/v3`` (``{"paths": {"api/v1": {"serverRelativeURL":
"/openapi/v3/api/v1?hash=…"}, …}}``) and then the documents it needs; ``create -f``, ``apply`` and
``replace`` use them to learn that the server validates fields itself, ``explain`` to print schemas.
Schemas come from upstream's 1.32 definitions (:mod:`.schemas`), operations from :mod:`.paths`.

Documents are built lazily on the first request and then kept, encoded and gzip-compressed, for the
server's life (they only depend on the catalog). A request with the current ``hash`` is answered
``Cache-Control: public, immutable``; with a stale hash it is redirected (301) to the current URL, as
upstream does; without a hash it is answered ``no-cache``. ``/openapi/v2`` serves only the PATCH
operations old kubectl releases look for (:mod:`.v2`).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from aiohttp import web

from sampan.api.errors import APIError, NotFound
from sampan.api.resources import ResourceInfo
from sampan.apiserver.negotiation import JSON, negotiate
from sampan.apiserver.openapi import paths as oapaths
from sampan.apiserver.openapi import schemas, v2
from sampan.apiserver.registry.strategy import Strategy

log = logging.getLogger(__name__)

__all__ = ["OpenAPIService", "build_document", "register"]


_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"


class CatalogView(Protocol):
    def strategies(self) -> list[Strategy]: ...


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _subresource_schemas(info: ResourceInfo, kind_schema: str) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for sub in info.subresources:
        if sub == "status":
            out[sub] = (kind_schema, info.kind)
        elif sub == "scale":
            out[sub] = (oapaths.SCALE_SCHEMA, "Scale")
    return out


def build_document(group: str, version: str, infos: list[ResourceInfo], *,
                   custom: dict[tuple[str, str, str], dict[str, Any]] | None = None) -> dict[str, Any]:
    """The OpenAPI 3 document of one group-version: its resources' operations and every schema they
    reach. ``custom`` maps a custom kind's (group, version, kind) to its published schemas (the kind's
    first, then its list's; ``sampan.api.crd.openapi.kind_schemas``). Other kinds upstream does not
    define get an open object schema (``x-kubernetes-preserve-unknown-fields``) so a document is
    always produced."""
    defs = schemas.definitions()
    all_paths: dict[str, Any] = {}
    roots = [oapaths.STATUS_SCHEMA, oapaths.DELETE_OPTIONS_SCHEMA, oapaths.PATCH_SCHEMA, oapaths.WATCH_EVENT_SCHEMA]
    extra: dict[str, schemas.Schema] = {}
    for info in infos:
        kind_schema = schemas.schema_name(info.group, info.version, info.kind)
        list_schema = schemas.schema_name(info.group, info.version, info.list_kind_name)
        published = (custom or {}).get((info.group, info.version, info.kind))
        if kind_schema is None and published:
            kind_schema, list_schema = [*list(published), None][:2]
            extra.update(published)
            roots += [_OBJECT_META, _LIST_META]
        if kind_schema is None:
            kind_schema = f"io.sampan.{_gv_path(info.group, info.version).replace('/', '.')}.{info.kind}"
            extra[kind_schema] = {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "x-kubernetes-group-version-kind": [{"group": info.group, "version": info.version,
                                                     "kind": info.kind}],
            }
        roots.append(kind_schema)
        if list_schema:
            roots.append(list_schema)
        subs = _subresource_schemas(info, kind_schema)
        roots.extend(s for s, _ in subs.values())
        all_paths.update(oapaths.resource_paths(info, schema=kind_schema, list_schema=list_schema,
                                                subresource_schemas=subs, strategic=published is None))
    components = schemas.closure(roots, defs)
    components.update(extra)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-sampan"},
        "paths": dict(sorted(all_paths.items())),
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication",
                                                "name": "authorization", "in": "header"}},
        },
    }


@dataclass(frozen=True, slots=True)
class _Encoded:
    body: bytes
    gzipped: bytes
    hash: str


class OpenAPIService:
    """Builds (once) and serves the OpenAPI v3 index and documents of a catalog."""

    def __init__(self, catalog: CatalogView) -> None:
        self._building: asyncio.Lock | None = None
        self.rebuild(catalog)

    def rebuild(self, catalog: CatalogView, *,
                custom_schemas: dict[tuple[str, str, str], dict[str, Any]] | None = None) -> None:
        """Serve ``catalog`` from now on (custom resources came or went); documents are rebuilt lazily.
        ``custom_schemas``: see :func:`build_document`."""
        self._by_gv: dict[str, list[ResourceInfo]] = {}
        for s in catalog.strategies():
            self._by_gv.setdefault(_gv_path(s.info.group, s.info.version), []).append(s.info)
        self._custom = dict(custom_schemas or {})
        self._docs: dict[str, _Encoded] | None = None
        self._v2: tuple[bytes, bytes] | None = None

    async def ready_documents(self) -> dict[str, _Encoded]:
        """:meth:`documents`, built in a worker thread the first time (about 0.1-0.3 s of CPU) so the
        event loop keeps serving watches meanwhile; concurrent first requests share one build."""
        if self._docs is not None:
            return self._docs
        if self._building is None:
            self._building = asyncio.Lock()
        async with self._building:
            if self._docs is None:
                return await asyncio.to_thread(self.documents)
        return self._docs if self._docs is not None else self.documents()

    def documents(self) -> dict[str, _Encoded]:
        """Every document, encoded; built on first use."""
        if self._docs is None:
            by_gv = self._by_gv  # a rebuild() while this runs (in a thread) must not be overwritten
            docs: dict[str, _Encoded] = {}
            patches: list[v2.PatchOperation] = []
            for path, infos in by_gv.items():
                info = infos[0]
                doc = build_document(info.group, info.version, infos, custom=self._custom)
                patches += v2.patch_operations(doc["paths"])
                body = orjson.dumps(doc)
                digest = hashlib.sha512(body).hexdigest().upper()
                docs[path] = _Encoded(body, gzip.compress(body, compresslevel=6, mtime=0), digest)
            version = "v1.32.0-sampan"
            built_v2 = (v2.document_proto(patches, version=version),
                        orjson.dumps(v2.document_json(patches, version=version)))
            log.info("openapi v3 documents built count=%d", len(docs))
            if self._by_gv is by_gv:
                self._docs, self._v2 = docs, built_v2
            return docs
        return self._docs

    async def handle_v2(self, request: web.Request) -> web.StreamResponse:
        """``/openapi/v2``: protobuf when the client lists gnostic's media type, else JSON."""
        accept = request.headers.get("Accept") or ""
        await self.ready_documents()
        if self._v2 is None:  # a rebuild() raced the build
            self.documents()
        assert self._v2 is not None
        proto, as_json = self._v2
        if v2.PROTOBUF_MEDIA_TYPE in accept or v2.PROTOBUF_CONTENT_TYPE in accept:
            return web.Response(body=proto, headers={"Content-Type": v2.PROTOBUF_CONTENT_TYPE})
        negotiate(accept, allow_transforms=False)
        return web.Response(body=as_json, content_type=JSON)

    def index(self) -> dict[str, Any]:
        return {"paths": {p: {"serverRelativeURL": f"/openapi/v3/{p}?hash={d.hash}"}
                          for p, d in sorted(self.documents().items())}}

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        negotiate(request.headers.get("Accept"), allow_transforms=False)
        await self.ready_documents()
        return web.Response(body=orjson.dumps(self.index()), content_type=JSON,
                            headers={"Cache-Control": "no-cache, private"})

    async def handle_document(self, request: web.Request) -> web.StreamResponse:
        negotiate(request.headers.get("Accept"), allow_transforms=False)
        path = request.match_info["path"].strip("/")
        doc = (await self.ready_documents()).get(path)
        if doc is None:
            raise NotFound("the server could not find the requested resource")
        wanted = request.query.get("hash")
        headers = {"ETag": f'"{doc.hash}"', "Vary": "Accept"}
        if wanted is not None and wanted != doc.hash:
            raise web.HTTPMovedPermanently(location=f"/openapi/v3/{path}?hash={doc.hash}", headers=headers)
        headers["Cache-Control"] = "public, immutable" if wanted else "no-cache, private"
        if request.headers.get("If-None-Match") == f'"{doc.hash}"':
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = JSON
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=doc.gzipped, headers=headers)
        return web.Response(body=doc.body, headers=headers)


def _status_errors(handler: Any) -> Any:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except APIError as err:
            return web.Response(status=err.code, body=orjson.dumps(err.to_status()) + b"\n", content_type=JSON)

    return wrapped


OPENAPI_KEY = web.AppKey("sampan.openapi", OpenAPIService)


def register(app: web.Application, catalog: CatalogView) -> OpenAPIService:
    """Add ``GET /openapi/v3`` (and ``/openapi/v3/``) and ``GET /openapi/v3/{path}``."""
    service = OpenAPIService(catalog)
    app.router.add_get("/openapi/v3", _status_errors(service.handle_index))
    app.router.add_get("/openapi/v3/", _status_errors(service.handle_index))
    app.router.add_get("/openapi/v3/{path:.+}", _status_errors(service.handle_document))
    app.router.add_get("/openapi/v2", _status_errors(service.handle_v2))
    app[OPENAPI_KEY] = service
    return service
