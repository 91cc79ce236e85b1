"""POST to a collection: decode, default, validate, check the namespace, store; 201 with the object.

Order (as upstream): body checks -> system fields (uid, creationTimestamp, generation) -> strategy
``prepare_for_create`` -> ``validate`` (422) -> namespace lifecycle (404/403) -> store (409 on an existing
name; a generated name is retried a few times). Nothing is written unless every step passed.
"""

from __future__ import annotations

import logging

from aiohttp import web

from sampan.api import errors
from sampan.apiserver.bodies import read_object
from sampan.apiserver.cacher.objects import encode_for_store
from sampan.apiserver.context import ServerContext
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.lifecycle import check_can_create_in
from sampan.apiserver.responses import object_response
from sampan.apiserver.routes import Target
from sampan.apiserver.storage_errors import to_api_error
from sampan.storage import KeyExists, StorageError

log = logging.getLogger(__name__)

GENERATE_NAME_ATTEMPTS = 8


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    scope = t.scope
    info = scope.info
    if info.namespaced and not t.namespace:
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    dry = om.dry_run(request)
    obj = await read_object(request, max_bytes=ctx.config.max_body_bytes, expect=info.kind)
    md = om.check_body(obj, scope, namespace=t.namespace, name=None)
    if md.get("resourceVersion"):
        raise errors.BadRequest("resourceVersion should not be set on objects to be created")
    generate = md.get("generateName") or ""
    generated = not md.get("name") and bool(generate)
    if generated:
        md["name"] = om.generate_name(generate)
    now = ctx.clock.wall()
    md["uid"] = om.new_uid()
    md["creationTimestamp"] = om.timestamp(now)
    for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
        md.pop(key, None)
    om.call_strategy(scope, scope.strategy.prepare_for_create, obj)
    md = obj["metadata"]
    if om.tracks_generation(scope, obj):
        md["generation"] = 1
    else:
        md.pop("generation", None)
    name = md.get("name") or ""
    om.raise_invalid(scope, name, om.call_strategy(scope, scope.strategy.validate, obj))
    namespace = md.get("namespace") or ""
    if info.namespaced:
        await check_can_create_in(ctx, namespace, resource=info.resource, group=info.group, name=name)
    if dry:
        return object_response(request, scope, obj, now=now, status=201)
    attempts = GENERATE_NAME_ATTEMPTS if generated else 1
    for attempt in range(attempts):
        try:
            rev = await ctx.store.create(scope.key(namespace, name), encode_for_store(obj))
            break
        except KeyExists:
            if attempt + 1 >= attempts:
                raise errors.already_exists(info.resource, name, info.group) from None
            name = md["name"] = om.generate_name(generate)
        except StorageError as exc:
            raise to_api_error(exc, resource=info.resource, group=info.group, name=name) from None
    md["resourceVersion"] = str(rev)
    log.debug("created resource=%s key=%s/%s rv=%d", info.resource, namespace, name, rev)
    return object_response(request, scope, obj, now=now, status=201)
