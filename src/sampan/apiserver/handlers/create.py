"""POST to a collection: decode, default, validate, check the namespace, store; 201 with the object.

Order (as upstream): body checks (and fieldValidation) -> system fields (uid, creationTimestamp,
generation) -> mutating admission (``sampan.apiserver.admission``, NamespaceLifecycle first: 404/403) ->
strategy ``prepare_for_create`` -> ``validate`` (422) -> managedFields -> validating admission -> store
(409 on an existing name; a generated name is retried a few times). Nothing is written unless every step passed.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from sampan.api import errors
from sampan.apiserver import admission
from sampan.apiserver.bodies import read_body
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.fieldvalidation import add_warning_headers
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.handlers import writeopts
from sampan.apiserver.handlers.writeopts import WriteOptions
from sampan.apiserver.responses import object_response
from sampan.apiserver.routes import Target
from sampan.apiserver.services import hooks as service_hooks
from sampan.apiserver.storage_errors import to_api_error
from sampan.storage import KeyExists, StorageError

log = logging.getLogger(__name__)

GENERATE_NAME_ATTEMPTS = 8


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    scope = t.scope
    info = scope.info
    if info.namespaced and not t.namespace:
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    opts = writeopts.parse(request)
    obj, raw = await read_body(request, max_bytes=ctx.config.max_body_bytes, expect=info.kind)
    writeopts.check_fields(scope, obj, opts=opts, raw=raw)
    om.check_body(obj, scope, namespace=t.namespace, name=None)
    created = await create_object(ctx, scope, obj, opts=opts)
    response = object_response(request, scope, created, now=ctx.clock.wall(), status=201)
    return add_warning_headers(response, opts.warnings)


async def create_object(ctx: ServerContext, scope: Scope, obj: dict[str, Any], *, opts: WriteOptions,
                        managed_by_caller: bool = False) -> dict[str, Any]:
    """Create ``obj`` (already checked against the URL); returns it as stored (or would be, for dry run).
    ``managed_by_caller``: managedFields were set by server-side apply."""
    info = scope.info
    md = obj["metadata"]
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
    attrs = admission.attributes(scope, "CREATE", obj=obj, namespace=md.get("namespace") or "",
                                 name=md.get("name") or "", user=opts.user, dry_run=opts.dry, warnings=opts.warnings)
    await admission.admit(ctx, attrs)
    om.call_strategy(scope, scope.strategy.prepare_for_create, obj)
    stamp_requester = getattr(scope.strategy, "stamp_requester", None)
    if stamp_requester is not None:  # CSRs record who asked (upstream's PrepareForCreate reads the user)
        stamp_requester(obj, opts.user)
    md = obj["metadata"]
    if om.tracks_generation(scope, obj):
        md["generation"] = 1
    else:
        md.pop("generation", None)
    name = md.get("name") or ""
    om.raise_invalid(scope, name, om.call_strategy(scope, scope.strategy.validate_create, obj))
    namespace = md.get("namespace") or ""
    if not managed_by_caller:
        obj = writeopts.record_update(scope, None, obj, manager=opts.manager, now=now, in_place=True)
        md = obj["metadata"]
    attrs.obj, attrs.name = obj, name
    await admission.validate(ctx, attrs)
    allocation = await service_hooks.begin_create(ctx, scope, obj, dry=opts.dry)  # cluster IP, node ports
    if opts.dry:
        return obj
    attempts = GENERATE_NAME_ATTEMPTS if generated else 1
    try:
        for attempt in range(attempts):
            try:
                rev = await ctx.store.create(scope.key(namespace, name), await scope.encode_async(obj))
                break
            except KeyExists:
                if attempt + 1 >= attempts:
                    raise errors.already_exists(info.resource, name, info.group) from None
                name = md["name"] = om.generate_name(generate)
            except StorageError as exc:
                raise to_api_error(exc, resource=info.resource, group=info.group, name=name) from None
    except BaseException:
        await allocation.revert()
        raise
    await allocation.commit()
    md["resourceVersion"] = str(rev)
    log.debug("created resource=%s key=%s/%s rv=%d", info.resource, namespace, name, rev)
    return obj
