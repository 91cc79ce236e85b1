"""PUT an object (also its ``status`` subresource, and ``finalize`` for namespaces).

A body with ``metadata.resourceVersion`` is a compare-and-swap: a stale version is 409 Conflict. Without
one the update is unconditional (retried on concurrent writes). System fields come from the stored
object: creationTimestamp (changes are ignored, as upstream), uid when absent, deletionTimestamp and
generation, which is bumped when the strategy says the spec changed. An update that changes nothing is
not written (same resourceVersion back). An update that removes the last finalizer of an object being
deleted deletes it.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from aiohttp import web

from sampan.api import errors, meta
from sampan.apiserver.bodies import read_object
from sampan.apiserver.cacher.objects import decode_stored, encode_for_store
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.listoptions import parse_resource_version
from sampan.apiserver.responses import object_response
from sampan.apiserver.routes import Target
from sampan.apiserver.storage_errors import MODIFIED, to_api_error
from sampan.storage import Conflict, KeyNotFound, StorageError

log = logging.getLogger(__name__)

MAX_UNCONDITIONAL_ATTEMPTS = 16
_KEPT_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


def finalizers_pending(scope: Scope, obj: dict[str, Any]) -> bool:
    """True while something must still finalize ``obj`` (metadata finalizers, or a namespace's
    ``spec.finalizers``)."""
    if meta.finalizers(obj):
        return True
    if scope.info.group == "" and scope.info.resource == "namespaces":
        spec = obj.get("spec")
        return isinstance(spec, dict) and bool(spec.get("finalizers"))
    return False


def _merge_system_fields(new_md: dict[str, Any], old_md: dict[str, Any]) -> None:
    for key in _KEPT_META:
        if key == "uid" and new_md.get(key):
            continue  # a different uid is reported by validation as immutable
        if key in old_md:
            new_md[key] = old_md[key]
        else:
            new_md.pop(key, None)


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return encode_for_store(a) == encode_for_store(b)


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    scope = t.scope
    info = scope.info
    assert t.name is not None
    if info.namespaced and not t.namespace:
        raise errors.NotFound("the server could not find the requested resource")
    dry = om.dry_run(request)
    body = await read_object(request, max_bytes=ctx.config.max_body_bytes, expect=info.kind)
    om.check_body(body, scope, namespace=t.namespace, name=t.name)
    precondition = meta.resource_version(body)
    expected_rv = parse_resource_version(precondition) if precondition else None
    key = scope.key(t.namespace or "", t.name)
    now = ctx.clock.wall()
    for _ in range(MAX_UNCONDITIONAL_ATTEMPTS):
        try:
            kv = await ctx.store.get(key)
        except KeyNotFound:
            raise errors.not_found(info.resource, t.name, info.group) from None
        except StorageError as exc:
            raise to_api_error(exc, resource=info.resource, group=info.group, name=t.name) from None
        if expected_rv is not None and expected_rv != kv.mod_revision:
            raise errors.conflict(info.resource, t.name, MODIFIED, info.group)
        old = decode_stored(kv.value, kv.mod_revision)
        new = copy.deepcopy(body)
        new_md = new["metadata"]
        old_md = old["metadata"]
        _merge_system_fields(new_md, old_md)
        new_md["generation"] = old_md.get("generation")
        if new_md["generation"] is None:
            del new_md["generation"]
        _prepare(scope, t.subresource, new, old)
        if (t.subresource is None and om.tracks_generation(scope, new) and "generation" in old_md
                and om.call_strategy(scope, scope.strategy.spec_changed, new, old)):
            new["metadata"]["generation"] = int(old_md["generation"]) + 1
        causes = om.call_strategy(scope, scope.strategy.validate_update, new, old)
        om.raise_invalid(scope, t.name, causes)
        if _same(new, old):
            return object_response(request, scope, old, now=now)
        if dry:
            return object_response(request, scope, new, now=now)
        deleting = bool(meta.deletion_timestamp(new)) and not finalizers_pending(scope, new)
        try:
            if deleting:
                gone = await ctx.store.delete(key, expected_mod_revision=kv.mod_revision)
                new["metadata"]["resourceVersion"] = str(gone.mod_revision)
                log.info("finalized and deleted resource=%s name=%s", info.resource, t.name)
                return object_response(request, scope, new, now=now)
            rev = await ctx.store.update(key, encode_for_store(new), expected_mod_revision=kv.mod_revision)
        except Conflict:
            if expected_rv is not None:
                raise errors.conflict(info.resource, t.name, MODIFIED, info.group) from None
            continue
        except KeyNotFound:
            raise errors.not_found(info.resource, t.name, info.group) from None
        except StorageError as exc:
            raise to_api_error(exc, resource=info.resource, group=info.group, name=t.name) from None
        new["metadata"]["resourceVersion"] = str(rev)
        return object_response(request, scope, new, now=now)
    raise errors.conflict(info.resource, t.name, MODIFIED, info.group)


def _prepare(scope: Scope, subresource: str | None, new: dict[str, Any], old: dict[str, Any]) -> None:
    strategy = scope.strategy
    if subresource is None:
        om.call_strategy(scope, strategy.prepare_for_update, new, old)
    elif subresource == "status":
        status_hook = getattr(strategy, "prepare_for_status_update", None)
        if status_hook is None:
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        om.call_strategy(scope, status_hook, new, old)
    elif subresource == "finalize":
        spec = new.get("spec") if isinstance(new.get("spec"), dict) else {}
        finalizers = spec.get("finalizers") if isinstance(spec, dict) else None
        rv = meta.resource_version(new)
        new.clear()
        new.update(copy.deepcopy(old))
        new_spec = new.setdefault("spec", {})
        if finalizers:
            new_spec["finalizers"] = finalizers
        else:
            new_spec.pop("finalizers", None)
        if rv:
            new["metadata"]["resourceVersion"] = rv
    else:
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
