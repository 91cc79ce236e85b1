"""DELETE a collection: every object matching the label/field selectors (in the namespace of the path)
is deleted as a single DELETE would (same DeleteOptions: grace, propagation, preconditions, dry run);
the response is the list of deleted (or marked) objects."""

from __future__ import annotations

import logging

from aiohttp import web

from sampan.api import errors
from sampan.apiserver.cacher.objects import CachedObject
from sampan.apiserver.context import ServerContext
from sampan.apiserver.handlers.delete import delete_object, read_delete_options
from sampan.apiserver.handlers.list import filter_for
from sampan.apiserver.handlers.reads import list_from_store
from sampan.apiserver.listoptions import ListOptions, parse_list_options
from sampan.apiserver.responses import list_response
from sampan.apiserver.routes import Target

log = logging.getLogger(__name__)


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    scope = t.scope
    info = scope.info
    opts = parse_list_options(request.query, selectable_fields=scope.selectable_fields())
    delete_opts = await read_delete_options(request, max_bytes=ctx.config.max_body_bytes)
    flt = filter_for(t, opts)
    page = await list_from_store(ctx, scope, flt, ListOptions(opts.label_selector, opts.field_selector))
    deleted: list[CachedObject] = []
    for co in page.items:
        try:
            obj, _ = await delete_object(ctx, scope, co.key, co.name, delete_opts, dry=delete_opts.dry)
        except errors.NotFound:
            continue  # deleted concurrently
        deleted.append(CachedObject(co.key, co.namespace, co.name, int(obj["metadata"]["resourceVersion"]), obj,
                                    scope.strategy.field_values))
    log.info("deletecollection resource=%s namespace=%s deleted=%d", info.resource, t.namespace or "", len(deleted))
    return list_response(request, scope, deleted, resource_version=page.revision, now=ctx.clock.wall())
