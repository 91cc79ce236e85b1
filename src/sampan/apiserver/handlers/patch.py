"""PATCH an object, its ``status`` or its ``scale``: JSON patch, merge patch, strategic merge patch, and
server-side apply (``application/apply-patch+yaml``).

* The ``Content-Type`` picks the algorithm (``sampan.api.patches.patch_type``: 415 for anything else;
  kinds without a built-in schema, i.e. custom resources, do not accept strategic merge patch).
* JSON / merge / strategic patches are applied to the stored object (or its Scale view) inside the
  update loop (:mod:`.guaranteed`), so a concurrent write re-applies the patch to the newer object, and
  the result goes through the same defaults, validation (422, nothing stored), generation,
  managedFields and resourceVersion precondition (a ``metadata.resourceVersion`` in the result that is
  not the stored one is 409) as a PUT. Patching a missing object is 404.
* Apply needs ``fieldManager`` (422 otherwise) and takes ``force``; ``force`` on another patch type is
  422 (upstream's ``PatchOptions`` validation). Applying to a missing object creates it (201). A
  conflict with other managers is 409 naming them and the fields (``sampan.api.apply``).
* ``fieldValidation``: the apply configuration, or the patched object, is checked for unknown fields
  (and the patch body for duplicate keys).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web

from sampan.api import apply as ssa
from sampan.api import errors, patches, typed
from sampan.api.crd import scale as crdscale
from sampan.api.schema import type_for_kind
from sampan.apiserver.bodies import decode, read_raw
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.fieldvalidation import add_warning_headers
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.handlers import scale as scale_view
from sampan.apiserver.handlers import writeopts
from sampan.apiserver.handlers.create import create_object
from sampan.apiserver.handlers.guaranteed import Transform, UpdateRequest, update_object
from sampan.apiserver.handlers.writeopts import WriteOptions
from sampan.apiserver.listoptions import parse_bool
from sampan.apiserver.responses import object_response, raw_response
from sampan.apiserver.routes import Target

log = logging.getLogger(__name__)

SCALE_PATCH_TYPES = (patches.JSON_PATCH, patches.MERGE_PATCH, patches.STRATEGIC_MERGE_PATCH, patches.APPLY_PATCH)


def _patch_options(request: web.Request, kind: str) -> bool:
    """``force`` (apply only); 422 as upstream's PatchOptions validation for misuse."""
    causes = []
    force_given = "force" in request.query
    if kind != patches.APPLY_PATCH and force_given:
        causes.append(errors.forbidden("force", "may not be specified for non-apply patch"))
    if kind == patches.APPLY_PATCH and not request.query.get("fieldManager"):
        causes.append(errors.Cause("FieldValueRequired", "fieldManager", "Required value: is required for apply "
                                   "patch"))
    if causes:
        raise errors.invalid_object("PatchOptions", "", causes, group="meta.k8s.io")
    return bool(parse_bool(request.query, "force")) if force_given else False


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    scope = t.scope
    info = scope.info
    assert t.name is not None
    if info.namespaced and not t.namespace:
        raise errors.NotFound("the server could not find the requested resource")
    accepted: tuple[str, ...]
    if t.subresource == "scale":
        accepted = SCALE_PATCH_TYPES
    elif writeopts.type_node(scope) is None:  # no built-in schema (custom resources): no strategic merge
        accepted = patches.CUSTOM_PATCH_TYPES
    else:
        accepted = patches.BUILTIN_PATCH_TYPES
    kind = patches.patch_type(request.headers.get("Content-Type"), accepted)
    force = _patch_options(request, kind)
    opts = writeopts.parse(request)
    raw = await read_raw(request, max_bytes=ctx.config.max_body_bytes)
    if kind == patches.APPLY_PATCH and t.subresource == "scale":
        obj = await _apply_scale(ctx, scope, t, raw, opts, force=force)
        return raw_response(orjson.dumps(scale_view.to_scale(obj, scale_view.custom_paths(scope))))
    if kind == patches.APPLY_PATCH:
        obj, created = await _apply(ctx, scope, t, raw, opts, force=force)
        response = object_response(request, scope, obj, now=ctx.clock.wall(), status=201 if created else 200)
        return add_warning_headers(response, opts.warnings)
    if not raw.strip():
        raise errors.BadRequest("the body of the request is empty; expected a patch document")
    if t.subresource == "scale":
        transform = _scale_transform(kind, raw, name=t.name, paths=scale_view.custom_paths(scope))
    else:
        transform = _object_transform(scope, kind, raw, opts)
    req = UpdateRequest(scope, t.namespace or "", t.name, t.subresource, transform, opts)
    obj, _ = await update_object(ctx, req)
    if t.subresource == "scale":
        return raw_response(orjson.dumps(scale_view.to_scale(obj, scale_view.custom_paths(scope))))
    return add_warning_headers(object_response(request, scope, obj, now=ctx.clock.wall()), opts.warnings)


def _object_transform(scope: Scope, kind: str, raw: bytes, opts: WriteOptions) -> Transform:
    node = writeopts.type_node(scope)
    checked = False

    def transform(old: dict[str, Any]) -> dict[str, Any]:
        nonlocal checked
        new = patches.apply_patch(kind, old, raw, type_node=node, owned=True)  # a fresh decode: patched in place
        if not checked:  # warn once, not once per retry
            writeopts.check_fields(scope, new, opts=opts, raw=raw if kind != patches.JSON_PATCH else None,
                                   patched=True)
            checked = True
        else:
            writeopts.check_fields(scope, new, opts=WriteOptions(dry=opts.dry, manager=opts.manager,
                                                            field_validation="Ignore"), patched=True)
        return new

    return transform


def _scale_transform(kind: str, raw: bytes, *, name: str, paths: dict[str, str] | None) -> Transform:
    node = type_for_kind("autoscaling", "v1", "Scale")

    def transform(old: dict[str, Any]) -> dict[str, Any]:
        patched = patches.apply_patch(kind, scale_view.to_scale(old, paths), raw, type_node=node)
        return scale_view.from_scale(old, patched, name=name, paths=paths)

    return transform


async def _apply(ctx: ServerContext, scope: Scope, t: Target, raw: bytes, opts: WriteOptions, *,
                 force: bool) -> tuple[dict[str, Any], bool]:
    """Server-side apply; returns (object, created)."""
    info = scope.info
    assert t.name is not None
    if not raw.strip():
        raise errors.BadRequest("the body of the request is empty; expected an apply configuration")
    applied = decode(raw, yaml_body=True, expect=info.kind)
    ssa.check_applied_kind(applied, api_version=info.group_version, kind=info.kind)
    om.check_body(applied, scope, namespace=t.namespace, name=t.name)
    writeopts.check_fields(scope, applied, opts=opts, raw=raw, decoded=False)
    node = writeopts.apply_type(scope)
    sub = t.subresource or ""
    ignored = writeopts.ignored_paths(scope, t.subresource)
    now = ctx.clock.wall()

    def transform(old: dict[str, Any]) -> dict[str, Any]:
        return ssa.apply(old, applied, manager=opts.manager, force=force, type_node=node, now=now,
                         subresource=sub, ignored=ignored)

    req = UpdateRequest(scope, t.namespace or "", t.name, t.subresource, transform, opts, managed_by_transform=True)
    for _ in range(2):
        try:
            obj, _ = await update_object(ctx, req)
            return obj, False
        except errors.NotFound:
            if t.subresource is not None:
                raise
        new = ssa.apply(None, applied, manager=opts.manager, force=force, type_node=node, now=now, ignored=ignored)
        om.check_body(new, scope, namespace=t.namespace, name=t.name)
        try:
            return await create_object(ctx, scope, new, opts=opts, managed_by_caller=True), True
        except errors.AlreadyExists:
            log.debug("apply raced with a create, applying again name=%s", t.name)
    raise errors.conflict(info.resource, t.name, "the object is being modified too often; try again", info.group)


async def _apply_scale(ctx: ServerContext, scope: Scope, t: Target, raw: bytes, opts: WriteOptions, *,
                       force: bool) -> dict[str, Any]:
    """Server-side apply of an ``autoscaling/v1`` Scale: its ``spec.replicas`` is applied to the object's
    replicas field (``specReplicasPath`` for custom resources) as the manager's ``scale`` subresource
    operation, so ownership and conflicts are those of the object's field, as upstream converts them.
    A missing object is 404 (a scale is never created)."""
    info = scope.info
    assert t.name is not None
    if not raw.strip():
        raise errors.BadRequest("the body of the request is empty; expected an apply configuration")
    applied = decode(raw, yaml_body=True, expect="Scale")
    ssa.check_applied_kind(applied, api_version=scale_view.SCALE_API_VERSION, kind="Scale")
    md = applied.get("metadata")
    if md is not None and not isinstance(md, dict):
        raise errors.BadRequest("Scale in version \"v1\" cannot be handled as a Scale: metadata must be an object")
    if isinstance(md, dict) and md.get("name") not in (None, "", t.name):
        raise errors.BadRequest(f"the name of the object ({md.get('name')}) does not match the name on the URL "
                                f"({t.name})")
    spec = applied.get("spec")
    replicas = spec.get("replicas") if isinstance(spec, dict) else None
    if replicas is not None and (not isinstance(replicas, int) or isinstance(replicas, bool)):
        raise errors.BadRequest("Scale in version \"v1\" cannot be handled as a Scale: json: cannot unmarshal "
                                f"{typed.json_kind(replicas)} into Go struct field ScaleSpec.spec.replicas of type "
                                "int32")
    if isinstance(replicas, int) and replicas < 0:
        raise errors.invalid_object("Scale", t.name, [errors.invalid("spec.replicas", replicas,
                                                                     "must be greater than or equal to 0")],
                                    group="autoscaling")
    config: dict[str, Any] = {"apiVersion": info.group_version, "kind": info.kind, "metadata": {"name": t.name}}
    if info.namespaced:
        config["metadata"]["namespace"] = t.namespace
    if replicas is not None:
        paths = scale_view.custom_paths(scope)
        crdscale.set_replicas(config, (paths or {}).get("specReplicasPath", ".spec.replicas"), replicas)
    node = writeopts.apply_type(scope)
    ignored = writeopts.ignored_paths(scope, "scale")
    now = ctx.clock.wall()

    def transform(old: dict[str, Any]) -> dict[str, Any]:
        return ssa.apply(old, config, manager=opts.manager, force=force, type_node=node, now=now,
                         subresource="scale", ignored=ignored)

    req = UpdateRequest(scope, t.namespace or "", t.name, "scale", transform, opts, managed_by_transform=True)
    obj, _ = await update_object(ctx, req)
    return obj
