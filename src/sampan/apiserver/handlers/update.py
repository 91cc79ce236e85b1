"""PUT an object (also its ``status`` subresource, and ``finalize`` for namespaces).

A body with ``metadata.resourceVersion`` is a compare-and-swap: a stale version is 409 Conflict. Without
one the update is unconditional (retried on concurrent writes). System fields come from the stored
object: creationTimestamp (changes are ignored, as upstream), uid when absent, deletionTimestamp and
generation, which is bumped when the strategy says the spec changed. An update that changes nothing is
not written (same resourceVersion back). An update that removes the last finalizer of an object being
deleted deletes it. The loop itself is :func:`~sampan.apiserver.handlers.guaranteed.update_object`.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from sampan.api import errors
from sampan.api.jsoncopy import json_copy
from sampan.apiserver.bodies import read_body
from sampan.apiserver.context import ServerContext
from sampan.apiserver.fieldvalidation import add_warning_headers
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.handlers import writeopts
from sampan.apiserver.handlers.guaranteed import UpdateRequest, finalizers_pending, update_object
from sampan.apiserver.listoptions import parse_resource_version
from sampan.apiserver.responses import object_response
from sampan.apiserver.routes import Target

log = logging.getLogger(__name__)

__all__ = ["finalizers_pending", "handle"]


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    scope = t.scope
    info = scope.info
    assert t.name is not None
    if info.namespaced and not t.namespace:
        raise errors.NotFound("the server could not find the requested resource")
    opts = writeopts.parse(request)
    body, raw = await read_body(request, max_bytes=ctx.config.max_body_bytes, expect=info.kind)
    writeopts.check_fields(scope, body, opts=opts, raw=raw)
    om.check_body(body, scope, namespace=t.namespace, name=t.name)
    precondition = body["metadata"].get("resourceVersion")
    if precondition:
        parse_resource_version(precondition)  # 400 before anything is read

    def transform(_old: dict[str, Any]) -> dict[str, Any]:  # must not touch ``_old``: see ``replaces``
        return json_copy(body)

    req = UpdateRequest(scope, t.namespace or "", t.name, t.subresource, transform, opts, replaces=True)
    obj, _ = await update_object(ctx, req)
    return add_warning_headers(object_response(request, scope, obj, now=ctx.clock.wall()), opts.warnings)
