"""Writing responses: objects and lists in the negotiated representation, and errors as ``Status``.

JSON lists of cached objects are assembled from each object's memoized bytes (no re-encoding); other
representations (Table, PartialObjectMetadata, YAML) go through :mod:`sampan.apiserver.tables`.
Protobuf (when the client's Accept prefers ``application/vnd.kubernetes.protobuf``, as kubectl's typed
commands and client-go do) is written for objects, lists and Status bodies of kinds with a protobuf
schema, lists again from each item's memoized message; a kind without one (custom resources) or an
object that does not fit its schema (logged) is sent as JSON instead.
The error middleware is the one place an exception becomes an HTTP response: APIError -> its Status,
aiohttp's own 404/405 -> upstream-shaped Status, anything else -> 500 InternalError (logged, no traceback
on the wire).

JSON bodies end with a newline, as Go's ``json.Encoder`` writes them (``?pretty=true`` bodies, like
upstream's ``MarshalIndent``, do not); a ``Status`` keeps upstream's field order
(:meth:`~sampan.api.errors.APIError.to_status`), so clients comparing error bodies as text match.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson
import yaml
from aiohttp import web

from sampan.api import errors
from sampan.apiserver import negotiation, protobuf_bodies, tables
from sampan.apiserver.cacher.objects import CachedObject
from sampan.apiserver.context import Scope

log = logging.getLogger(__name__)

JSON_CT = "application/json"

try:  # the C dumper is much faster when libyaml is present
    _Dumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover
    _Dumper = yaml.SafeDumper


def representation(request: web.Request) -> negotiation.Representation:
    return negotiation.negotiate(request.headers.get("Accept"), allow_protobuf=True)


def wants_protobuf(request: web.BaseRequest) -> bool:
    """True when the Accept header prefers protobuf (a header we cannot serve at all counts as no)."""
    try:
        return negotiation.negotiate(request.headers.get("Accept"), allow_protobuf=True).is_protobuf
    except errors.NotAcceptable:
        return False


def _encode(rep: negotiation.Representation, body: Mapping[str, Any]) -> bytes:
    if rep.media_type == negotiation.YAML:
        return yaml.dump(dict(body), Dumper=_Dumper, default_flow_style=False, sort_keys=False).encode()
    if rep.pretty:
        return orjson.dumps(body, option=orjson.OPT_INDENT_2)
    return orjson.dumps(body) + b"\n"


def json_bytes(body: Any) -> bytes:
    """``body`` as Go's ``json.Encoder`` writes it: compact, newline-terminated."""
    return orjson.dumps(body) + b"\n"


def raw_response(body: bytes, *, status: int = 200, content_type: str = JSON_CT) -> web.Response:
    """``body`` as is; a compact JSON body gets its trailing newline here when it lacks one."""
    if content_type == JSON_CT and body[-1:] not in (b"\n", b""):
        body += b"\n"
    return web.Response(body=body, status=status, headers={"Content-Type": content_type})


def object_response(
    request: web.Request, scope: Scope, obj: Mapping[str, Any] | CachedObject, *, now: float, status: int = 200
) -> web.Response:
    """One object (or a Status) in the negotiated representation."""
    rep = representation(request)
    if rep.is_protobuf:
        encoded = _protobuf_object(obj)
        if encoded is not None:
            return raw_response(encoded, status=status, content_type=protobuf_bodies.CONTENT_TYPE)
        rep = negotiation.DEFAULT
    if rep.target is negotiation.Target.OBJECT and rep.media_type == negotiation.JSON and not rep.pretty:
        if isinstance(obj, CachedObject):
            return raw_response(obj.raw, status=status)
        return raw_response(orjson.dumps(obj), status=status)
    plain = obj.obj if isinstance(obj, CachedObject) else obj
    if plain.get("kind") == "Status":
        return raw_response(orjson.dumps(plain), status=status)
    include = tables.parse_include_object(request.query.get("includeObject"))
    body = tables.render_object(rep, scope.strategy, plain, now=now, include_object=include)
    return _encoded_response(_encode(rep, body), status=status, content_type=rep.content_type)


def _encoded_response(body: bytes, *, status: int = 200, content_type: str) -> web.Response:
    """A body :func:`_encode` produced (newline already decided: pretty JSON and YAML have their own)."""
    return web.Response(body=body, status=status, headers={"Content-Type": content_type})


def list_head(scope: Scope, *, resource_version: int, continue_token: str = "",
              remaining: int | None = None) -> dict[str, Any]:
    """A list's ``kind``, ``apiVersion`` and ``metadata`` (everything but its items)."""
    info = scope.info
    md: dict[str, Any] = {"resourceVersion": str(resource_version)}
    if continue_token:
        md["continue"] = continue_token
    if remaining is not None:
        md["remainingItemCount"] = remaining
    return {"kind": info.list_kind_name, "apiVersion": info.group_version, "metadata": md}


def list_response(
    request: web.Request,
    scope: Scope,
    items: Sequence[CachedObject],
    *,
    resource_version: int,
    continue_token: str = "",
    remaining: int | None = None,
    now: float,
) -> web.Response:
    """A ``<Kind>List`` of ``items`` in the negotiated representation, built whole (see
    :mod:`sampan.apiserver.liststream` for large lists)."""
    rep = representation(request)
    head = list_head(scope, resource_version=resource_version, continue_token=continue_token, remaining=remaining)
    if rep.is_protobuf:
        encoded = _protobuf_list(head, items)
        if encoded is not None:
            return raw_response(encoded, content_type=protobuf_bodies.CONTENT_TYPE)
        rep = negotiation.DEFAULT
    if rep.target is negotiation.Target.OBJECT and rep.media_type == negotiation.JSON and not rep.pretty:
        body = orjson.dumps(head)[:-1] + b',"items":[' + b",".join(o.raw for o in items) + b"]}\n"
        return raw_response(body)
    list_obj = {**head, "items": [o.obj for o in items]}
    include = tables.parse_include_object(request.query.get("includeObject"))
    rendered = tables.render_list(rep, scope.strategy, list_obj, now=now, include_object=include)
    return _encoded_response(_encode(rep, rendered), content_type=rep.content_type)


def _protobuf_object(obj: Mapping[str, Any] | CachedObject) -> bytes | None:
    if isinstance(obj, CachedObject):
        if not protobuf_bodies.supported(obj.obj):
            return None
        try:
            return obj.envelope
        except protobuf_bodies.ProtobufError as exc:
            log.warning("cannot answer in protobuf, sending JSON key=%s: %s", obj.key, exc)
            return None
    return protobuf_bodies.encode_or_none(obj)


def _protobuf_list(head: Mapping[str, Any], items: Sequence[CachedObject]) -> bytes | None:
    if not protobuf_bodies.supported(head):
        return None
    try:
        return protobuf_bodies.list_body(head, [o.message for o in items])
    except protobuf_bodies.ProtobufError as exc:
        log.warning("cannot answer a %s in protobuf, sending JSON: %s", head.get("kind"), exc)
        return None


def status_response(err: errors.APIError, *, protobuf: bool = False) -> web.Response:
    """``err`` as a Status body: protobuf when ``protobuf`` (the client prefers it), else JSON."""
    status = err.to_status()
    if protobuf:
        body = protobuf_bodies.encode_or_none(status)
        if body is not None:
            return raw_response(body, status=err.code, content_type=protobuf_bodies.CONTENT_TYPE)
    return raw_response(orjson.dumps(status), status=err.code)


def success_status(*, name: str, kind: str, group: str, uid: str) -> dict[str, Any]:
    """The ``Status`` upstream returns for a delete that removed the object at once."""
    details: dict[str, Any] = {"name": name, "kind": kind, "uid": uid}
    if group:
        details = {"name": name, "group": group, "kind": kind, "uid": uid}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def status_bytes(err: errors.APIError) -> bytes:
    """``err``'s Status as upstream's JSON encoder writes it (field order, trailing newline)."""
    return json_bytes(err.to_status())


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _sendable(response: web.StreamResponse) -> web.StreamResponse:
    """Drop (and log) any header value aiohttp would refuse to write (CR or LF in it): the request may
    already have changed the store, so its answer must reach the client whatever a header holds."""
    if response.prepared:
        return response
    bad = [(k, v) for k, v in response.headers.items() if "\r" in v or "\n" in v]
    if bad:
        kept = [(k, v) for k, v in response.headers.items() if "\r" not in v and "\n" not in v]
        response.headers.clear()
        response.headers.extend(kept)
        log.warning("dropped unsendable response headers names=%s", sorted({k for k, _ in bad}))
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return _sendable(await handler(request))
    except errors.APIError as err:
        return status_response(err, protobuf=wants_protobuf(request))
    except web.HTTPNotFound:
        return status_response(errors.no_such_resource(),
                               protobuf=wants_protobuf(request))
    except web.HTTPMethodNotAllowed:
        return status_response(
            errors.MethodNotAllowed("the server does not allow this method on the requested resource"),
            protobuf=wants_protobuf(request),
        )
    except web.HTTPException:
        raise
    except (ConnectionResetError, ConnectionError):
        raise
    except Exception:
        log.exception("unhandled error method=%s path=%s", request.method, request.path)
        return status_response(errors.InternalError("an error on the server has prevented the request from succeeding"))
