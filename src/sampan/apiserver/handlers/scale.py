"""The ``scale`` subresource of deployments, replicasets and replicationcontrollers: an ``autoscaling/v1``
``Scale`` view.

``GET .../scale`` answers the view of the stored object (``spec.replicas``; ``status.replicas`` and the
label selector as a string). ``PUT`` takes a Scale and ``PATCH`` (in :mod:`.patch`) patches the view;
either way only ``spec.replicas`` of the object changes, through the usual update loop (so generation,
managedFields and resourceVersion preconditions behave as for the object). A Scale's
``metadata.resourceVersion``, when set, is the precondition.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
from aiohttp import web

from sampan.api import errors, meta, typed
from sampan.api.crd import scale as crdscale
from sampan.api.selectors import format_label_selector
from sampan.apiserver.bodies import read_object
from sampan.apiserver.cacher.objects import decode_stored
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.handlers import writeopts
from sampan.apiserver.handlers.guaranteed import UpdateRequest, update_object
from sampan.apiserver.responses import raw_response
from sampan.apiserver.routes import Target
from sampan.apiserver.storage_errors import to_api_error
from sampan.storage import KeyNotFound, StorageError

SCALE_API_VERSION = "autoscaling/v1"
_KEPT_META = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")


def custom_paths(scope: Scope) -> dict[str, str] | None:
    """A custom resource's scale paths (``specReplicasPath`` …); None for built-ins."""
    paths = getattr(scope.strategy, "scale", None)
    return paths if isinstance(paths, dict) else None


def to_scale(obj: dict[str, Any], paths: dict[str, str] | None = None) -> dict[str, Any]:
    """The Scale view of a deployment, replicaset or replicationcontroller (or, with ``paths``, of a custom
    resource)."""
    if paths is not None:
        return crdscale.to_scale(obj, paths)
    md = meta.metadata(obj)
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    assert isinstance(spec, dict)
    assert isinstance(status, dict)
    replicas = spec.get("replicas")
    selector = spec.get("selector")
    if obj.get("kind") == "ReplicationController" and isinstance(selector, dict):
        selector = {"matchLabels": selector}  # a core/v1 RC's selector is a plain label map
    return {
        "kind": "Scale",
        "apiVersion": SCALE_API_VERSION,
        "metadata": {k: md[k] for k in _KEPT_META if k in md},
        "spec": {"replicas": replicas if isinstance(replicas, int) else 0},
        "status": {
            "replicas": status.get("replicas") if isinstance(status.get("replicas"), int) else 0,
            "selector": format_label_selector(selector) if isinstance(selector, dict) else "",
        },
    }


def from_scale(old: dict[str, Any], scale: Any, *, name: str, paths: dict[str, str] | None = None) -> dict[str, Any]:
    """``old`` with the replicas of ``scale`` (400/422 for a malformed or invalid Scale)."""
    if not isinstance(scale, dict):
        raise errors.BadRequest("the body of the request must be a Scale object")
    kind, api_version = scale.get("kind"), scale.get("apiVersion")
    if kind not in (None, "", "Scale") or api_version not in (None, "", SCALE_API_VERSION):
        raise errors.BadRequest(f'{kind} in version "{api_version}" cannot be handled as a Scale')
    md = scale.get("metadata") or {}
    if not isinstance(md, dict):
        raise errors.BadRequest("Scale metadata must be an object")
    if md.get("name") not in (None, "", name):
        raise errors.BadRequest(f"the name of the object ({md.get('name')}) does not match the name on the URL "
                                f"({name})")
    spec = scale.get("spec") or {}
    replicas = spec.get("replicas", 0) if isinstance(spec, dict) else None
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise errors.BadRequest("Scale in version \"v1\" cannot be handled as a Scale: spec.replicas must be an "
                                "integer")
    if replicas < 0:
        raise errors.invalid_object("Scale", name, [errors.invalid("spec.replicas", replicas,
                                                                   "must be greater than or equal to 0")],
                                    group="autoscaling")
    new = copy.deepcopy(old)
    if paths is not None:
        crdscale.set_replicas(new, paths.get("specReplicasPath", ".spec.replicas"), replicas)
    else:
        new.setdefault("spec", {})["replicas"] = replicas
    rv = md.get("resourceVersion")
    if isinstance(rv, str) and rv:
        new["metadata"]["resourceVersion"] = rv
    return new


async def _read(ctx: ServerContext, scope: Scope, t: Target) -> dict[str, Any]:
    assert t.name is not None
    info = scope.info
    try:
        kv = await ctx.store.get(scope.key(t.namespace or "", t.name))
    except KeyNotFound:
        raise errors.not_found(info.resource, t.name, info.group) from None
    except StorageError as exc:
        raise to_api_error(exc, resource=info.resource, group=info.group, name=t.name) from None
    return decode_stored(kv.value, kv.mod_revision)


async def handle_get(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    if not t.namespace and t.scope.info.namespaced:
        raise errors.NotFound("the server could not find the requested resource")
    return raw_response(orjson.dumps(to_scale(await _read(ctx, t.scope, t), custom_paths(t.scope))))


async def handle_update(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    assert t.name is not None
    if not t.namespace and t.scope.info.namespaced:
        raise errors.NotFound("the server could not find the requested resource")
    paths = custom_paths(t.scope)
    opts = writeopts.parse(request)
    body = await read_object(request, max_bytes=ctx.config.max_body_bytes, expect="Scale")
    checker = typed.checker_for("autoscaling", "v1", "Scale")
    try:
        if checker is not None:
            checker.check(body)
    except typed.DecodeError as err:
        raise errors.BadRequest(f'Scale in version "v1" cannot be handled as a Scale: {err}') from None
    name = t.name
    req = UpdateRequest(t.scope, t.namespace or "", name, "scale",
                        lambda old: from_scale(old, body, name=name, paths=paths), opts)
    obj, _ = await update_object(ctx, req)
    return raw_response(orjson.dumps(to_scale(obj, paths)))
