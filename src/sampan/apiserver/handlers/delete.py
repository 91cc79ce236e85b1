"""DELETE one object: DeleteOptions and the decision of :mod:`.deletion` (graceful pod deletion,
finalizers, propagation policy, preconditions) applied with compare-and-swap, retried on concurrent
writes.

The answer, as upstream: an object that stays (graceful, or finalizers pending) comes back as the object
(200; 202 when the legacy ``orphanDependents: false`` was given); an object removed at once comes back
as itself for pods, services and namespaces and as a ``Status`` Success for everything else.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web

from sampan.api import errors, meta
from sampan.apiserver import admission
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.handlers.deletion import (
    DeleteOptions,
    Outcome,
    check_preconditions,
    plan,
    read_delete_options,
)
from sampan.apiserver.responses import object_response, raw_response, success_status
from sampan.apiserver.routes import Target
from sampan.apiserver.services import hooks as service_hooks
from sampan.apiserver.storage_errors import to_api_error
from sampan.storage import Conflict, KeyNotFound, StorageError

log = logging.getLogger(__name__)

RETURNS_DELETED_OBJECT = frozenset({("", "pods"), ("", "services"), ("", "namespaces")})
MAX_ATTEMPTS = 16

__all__ = ["DeleteOptions", "check_preconditions", "delete_object", "handle", "read_delete_options"]


async def delete_object(ctx: ServerContext, scope: Scope, key: str, name: str, opts: DeleteOptions, *,
                        dry: bool) -> tuple[dict[str, Any], bool]:
    """Delete (or mark for deletion) the object at ``key``. Returns (object, removed)."""
    info = scope.info
    for _ in range(MAX_ATTEMPTS):
        try:
            kv = await ctx.store.get(key)
        except KeyNotFound:
            raise errors.not_found(info.resource, name, info.group) from None
        except StorageError as exc:
            raise to_api_error(exc, resource=info.resource, group=info.group, name=name) from None
        obj = await scope.decode_async(kv.value, kv.mod_revision)
        outcome, result = plan(scope, obj, opts=opts, now=ctx.clock.wall())
        if outcome is Outcome.UNCHANGED:
            return result, False
        attrs = admission.attributes(scope, "DELETE", obj=None, old=obj, namespace=meta.namespace(obj),
                                     name=name, user=opts.user, dry_run=dry)
        await admission.admit(ctx, attrs)
        await admission.validate(ctx, attrs)
        if dry:
            return result, outcome is Outcome.REMOVE
        try:
            if outcome is Outcome.UPDATE:
                stored = await scope.encode_async(result)
                rev = await ctx.store.update(key, stored, expected_mod_revision=kv.mod_revision)
                result["metadata"]["resourceVersion"] = str(rev)
                log.debug("marked for deletion resource=%s name=%s", info.resource, name)
                return result, False
            gone = await ctx.store.delete(key, expected_mod_revision=kv.mod_revision)
            result["metadata"]["resourceVersion"] = str(gone.mod_revision)
            await service_hooks.after_delete(ctx, scope, obj)  # its cluster IP and node ports
            return result, True
        except Conflict:
            continue
        except KeyNotFound:
            raise errors.not_found(info.resource, name, info.group) from None
        except StorageError as exc:
            raise to_api_error(exc, resource=info.resource, group=info.group, name=name) from None
    raise errors.conflict(info.resource, name, "the object is being modified too often; try again", info.group)


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    scope = t.scope
    info = scope.info
    assert t.name is not None
    if info.namespaced and not t.namespace:
        raise errors.NotFound("the server could not find the requested resource")
    opts = await read_delete_options(request, max_bytes=ctx.config.max_body_bytes)
    key = scope.key(t.namespace or "", t.name)
    obj, removed = await delete_object(ctx, scope, key, t.name, opts, dry=opts.dry)
    now = ctx.clock.wall()
    if not removed:
        status = 202 if opts.orphan_dependents is False else 200
        return object_response(request, scope, obj, now=now, status=status)
    if (info.group, info.resource) in RETURNS_DELETED_OBJECT:
        return object_response(request, scope, obj, now=now)
    status_body = success_status(name=t.name, kind=info.resource, group=info.group, uid=meta.uid(obj))
    return raw_response(orjson.dumps(status_body))
