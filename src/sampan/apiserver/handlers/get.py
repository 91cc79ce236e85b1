"""GET one object (also ``…/status``). resourceVersion "" reads the store; any other value is served
from the watch cache once it is at least that new."""

from __future__ import annotations

from aiohttp import web

from sampan.api import errors
from sampan.apiserver.cacher.objects import CachedObject
from sampan.apiserver.context import ServerContext
from sampan.apiserver.handlers.reads import wait_not_older_than
from sampan.apiserver.listoptions import parse_resource_version
from sampan.apiserver.responses import object_response
from sampan.apiserver.routes import Target
from sampan.apiserver.storage_errors import to_api_error
from sampan.storage import StorageError


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    scope = t.scope
    assert t.name is not None
    info = scope.info
    if info.namespaced and not t.namespace:
        raise errors.NotFound("the server could not find the requested resource")
    key = scope.key(t.namespace or "", t.name)
    rv = request.query.get("resourceVersion", "")
    if rv:
        if rv != "0":
            await wait_not_older_than(ctx, parse_resource_version(rv))
        cached = scope.cache.objects.get(key)
        if cached is None:
            raise errors.not_found(info.resource, t.name, info.group)
        await scope.prepare((cached,))
        return object_response(request, scope, scope.shown(cached), now=ctx.clock.wall())
    try:
        kv = await ctx.store.get(key)
    except StorageError as exc:
        raise to_api_error(exc, resource=info.resource, group=info.group, name=t.name) from None
    obj = CachedObject.from_store(kv.key, kv.value, kv.mod_revision, scope.cache.field_values_of, compact=False)
    await scope.prepare((obj,))
    return object_response(request, scope, scope.shown(obj), now=ctx.clock.wall())
