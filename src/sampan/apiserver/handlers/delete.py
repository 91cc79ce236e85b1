"""DELETE one object.

DeleteOptions come from the body (JSON/YAML, optional) and the query (``gracePeriodSeconds``,
``propagationPolicy``, ``dryRun``). Preconditions (uid, resourceVersion) that do not hold are 409.
An object with finalizers (or a namespace with ``spec.finalizers``) is only marked: ``deletionTimestamp``
is set (a namespace turns ``Terminating``) and the object is returned; whoever removes the last finalizer
deletes it. Otherwise it is removed at once and the response is, as upstream, the deleted object for
pods, services and namespaces and a ``Status`` Success for everything else.

Not yet: graceful pod deletion (pods are removed at once) and the ``orphan``/``foregroundDeletion``
finalizers that ``propagationPolicy`` adds upstream (no garbage collector yet).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import orjson
from aiohttp import web

from sampan.api import errors, meta
from sampan.apiserver.bodies import ACCEPTED, JSON_TYPES, YAML_TYPES, decode, media_type, read_raw
from sampan.apiserver.cacher.objects import decode_stored, encode_for_store
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.handlers.update import finalizers_pending
from sampan.apiserver.lifecycle import check_deletable
from sampan.apiserver.listoptions import parse_int
from sampan.apiserver.responses import object_response, raw_response, success_status
from sampan.apiserver.routes import Target
from sampan.apiserver.storage_errors import to_api_error
from sampan.storage import Conflict, KeyNotFound, StorageError

log = logging.getLogger(__name__)

RETURNS_DELETED_OBJECT = frozenset({("", "pods"), ("", "services"), ("", "namespaces")})
_POLICIES = ("Orphan", "Background", "Foreground")
MAX_ATTEMPTS = 16


async def read_delete_options(request: web.Request, *, max_bytes: int) -> dict[str, Any]:
    """DeleteOptions from the body (may be empty) merged with the query parameters; 400 when malformed."""
    raw = await read_raw(request, max_bytes=max_bytes)
    opts: dict[str, Any] = {}
    if raw.strip():
        ctype = media_type(request)
        if ctype and ctype not in JSON_TYPES and ctype not in YAML_TYPES:
            raise errors.UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types include: {ACCEPTED}"
            )
        opts = decode(raw, yaml_body=ctype in YAML_TYPES, expect="DeleteOptions")
    grace = parse_int(request.query, "gracePeriodSeconds")
    if grace is not None:
        opts["gracePeriodSeconds"] = grace
    policy = request.query.get("propagationPolicy")
    if policy:
        opts["propagationPolicy"] = policy
    policy = opts.get("propagationPolicy")
    if policy is not None and policy not in _POLICIES:
        raise errors.invalid_object("DeleteOptions", "", [errors.not_supported("propagationPolicy", policy,
                                                                               list(_POLICIES))],
                                    group="meta.k8s.io")
    pre = opts.get("preconditions")
    if pre is not None and not isinstance(pre, dict):
        raise errors.BadRequest("DeleteOptions.preconditions must be an object")
    return opts


def check_preconditions(opts: dict[str, Any], obj: dict[str, Any]) -> None:
    pre = opts.get("preconditions") or {}
    uid = pre.get("uid")
    if uid and uid != meta.uid(obj):
        raise errors.Conflict(f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta.uid(obj)}",
                              details={"name": meta.name(obj)})
    rv = pre.get("resourceVersion")
    if rv and rv != meta.resource_version(obj):
        raise errors.Conflict(f"Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in "
                              f"object meta: {meta.resource_version(obj)}", details={"name": meta.name(obj)})


async def delete_object(ctx: ServerContext, scope: Scope, key: str, name: str, opts: dict[str, Any], *,
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
        obj = decode_stored(kv.value, kv.mod_revision)
        check_preconditions(opts, obj)
        try:
            if finalizers_pending(scope, obj):
                if meta.deletion_timestamp(obj):
                    return obj, False
                marked = copy.deepcopy(obj)
                md = marked["metadata"]
                md["deletionTimestamp"] = om.timestamp(ctx.clock.wall())
                md["deletionGracePeriodSeconds"] = 0
                if info.group == "" and info.resource == "namespaces":
                    status = marked.setdefault("status", {})
                    if isinstance(status, dict):
                        status["phase"] = "Terminating"
                if dry:
                    return marked, False
                rev = await ctx.store.update(key, encode_for_store(marked), expected_mod_revision=kv.mod_revision)
                md["resourceVersion"] = str(rev)
                return marked, False
            if dry:
                return obj, True
            gone = await ctx.store.delete(key, expected_mod_revision=kv.mod_revision)
            obj["metadata"]["resourceVersion"] = str(gone.mod_revision)
            return obj, True
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
    dry = om.dry_run(request)
    opts = await read_delete_options(request, max_bytes=ctx.config.max_body_bytes)
    if info.group == "" and info.resource == "namespaces":
        check_deletable(t.name)
    key = scope.key(t.namespace or "", t.name)
    obj, removed = await delete_object(ctx, scope, key, t.name, opts, dry=dry)
    now = ctx.clock.wall()
    if not removed or (info.group, info.resource) in RETURNS_DELETED_OBJECT:
        return object_response(request, scope, obj, now=now)
    status = success_status(name=t.name, kind=info.resource, group=info.group, uid=meta.uid(obj))
    return raw_response(orjson.dumps(status))
