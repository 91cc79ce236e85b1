"""POST ``pods/<name>/binding``: the scheduler's write. Sets ``spec.nodeName`` once, as upstream:

* the body is a ``Binding`` (``target.name`` required: 422 otherwise);
* a pod already assigned to a node, or being deleted, is 409 Conflict;
* the Binding's ``metadata.uid`` / ``metadata.resourceVersion``, when set, are preconditions on the pod
  (409 ``Precondition failed: ...`` when the pod of that name is another one, or has changed), as upstream's
  ``assignPod``: the scheduler sends the uid, so a pod deleted and re-created under the same name while its
  binding was in flight is never bound to a node chosen for its predecessor;
* the pod gets condition ``PodScheduled=True`` and the Binding's annotations;
* the answer is a ``Status`` Success with code 201.

Cost (issue 21: one binding per scheduled pod): the pod is decoded once from the watch cache's bytes (a
fresh dict, changed in place; no second copy) and encoded once for the store.

``POST namespaces/<ns>/bindings`` (the collection form) does the same for the pod the Binding's
``metadata.name`` names (required: 422 otherwise).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from sampan.api import errors, meta
from sampan.apiserver.bodies import read_object
from sampan.apiserver.cacher.objects import decode_stored, encode_for_store
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.handlers.guaranteed import cached_state
from sampan.apiserver.responses import raw_response
from sampan.apiserver.routes import Target
from sampan.apiserver.storage_errors import to_api_error
from sampan.storage import Conflict, KeyNotFound, StorageError

MAX_ATTEMPTS = 16


def _check_binding(body: dict[str, Any], *, name: str, namespace: str) -> str:
    """The target node name; 400/422 for a malformed Binding."""
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind not in (None, "", "Binding") or api_version not in (None, "", "v1"):
        raise errors.BadRequest(f'{kind} in version "{api_version}" cannot be handled as a Binding')
    md = body.get("metadata") or {}
    if not isinstance(md, dict):
        raise errors.BadRequest("Binding metadata must be an object")
    if md.get("name") not in (None, "", name):
        raise errors.BadRequest(f"the name of the object ({md.get('name')}) does not match the name on the URL "
                                f"({name})")
    if md.get("namespace") not in (None, "", namespace):
        raise errors.BadRequest("the namespace of the provided object does not match the namespace sent on the "
                                "request")
    target = body.get("target")
    node = target.get("name") if isinstance(target, dict) else None
    if not isinstance(node, str) or not node:
        raise errors.invalid_object("Binding", name, [errors.required("target.name")])
    return node


def _schedule(pod: dict[str, Any], node: str, annotations: Any, now: str) -> dict[str, Any]:
    """``pod`` (a freshly decoded dict: changed in place) assigned to ``node``."""
    out = pod
    spec = out.setdefault("spec", {})
    spec["nodeName"] = node
    if isinstance(annotations, dict) and annotations:
        md = out["metadata"]
        merged = dict(md.get("annotations") or {})
        merged.update({k: v for k, v in annotations.items() if isinstance(k, str) and isinstance(v, str)})
        md["annotations"] = merged
    status = out.setdefault("status", {})
    conditions = [
        c for c in (status.get("conditions") or []) if isinstance(c, dict) and c.get("type") != "PodScheduled"
    ]
    conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now})
    status["conditions"] = conditions
    return out


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    resource = (t.scope.info.group, t.scope.info.resource)
    collection = resource == ("", "bindings") and t.name is None and t.subresource is None
    if not t.namespace or not (collection or (resource == ("", "pods") and t.name is not None)):
        raise errors.NotFound("the server could not find the requested resource")
    body = await read_object(request, max_bytes=ctx.config.max_body_bytes, expect="Binding")
    name = t.name
    if collection:
        name = _named_pod(body)
    assert name is not None
    scope = ctx.scope("", "v1", "pods") if collection else t.scope
    if scope is None:
        raise errors.NotFound("the server could not find the requested resource")
    node = _check_binding(body, name=name, namespace=t.namespace)
    await _bind(ctx, scope, body, namespace=t.namespace, name=name, node=node, dry=om.dry_run(request))
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    return raw_response(orjson.dumps(status), status=201)


def _named_pod(body: dict[str, Any]) -> str:
    """The pod a collection-form Binding names (its ``metadata.name``); 422 when it names none."""
    md = body.get("metadata")
    name = md.get("name") if isinstance(md, dict) else None
    if not isinstance(name, str) or not name:
        raise errors.invalid_object("Binding", "", [errors.required("metadata.name")])
    return name


def _unmet_precondition(pod: dict[str, Any], *, uid: str, resource_version: str) -> str:
    """Upstream's storage preconditions of a Binding, as the message of the failed one ("" when met)."""
    if uid and uid != meta.uid(pod):
        return f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta.uid(pod)}"
    current = (pod.get("metadata") or {}).get("resourceVersion") or ""
    if resource_version and resource_version != current:
        return (f"Precondition failed: ResourceVersion in precondition: {resource_version}, "
                f"ResourceVersion in object meta: {current}")
    return ""


async def _bind(ctx: ServerContext, scope: Scope, body: dict[str, Any], *, namespace: str, name: str,
                node: str, dry: bool) -> None:
    """Set ``spec.nodeName`` of pod ``namespace/name`` to ``node`` (409 if assigned or being deleted)."""
    md = body.get("metadata") or {}
    annotations = md.get("annotations")
    want_uid, want_rv = str(md.get("uid") or ""), str(md.get("resourceVersion") or "")
    key = scope.key(namespace, name)
    fresh = dry  # first guess from the watch cache (as GuaranteedUpdate); judged again on the store's state
    for _ in range(MAX_ATTEMPTS):
        kv = None if fresh else cached_state(scope, key)
        if kv is None:
            fresh = True
            try:
                kv = await ctx.store.get(key)
            except KeyNotFound:
                raise errors.not_found("pods", name) from None
            except StorageError as exc:
                raise to_api_error(exc, resource="pods", group="", name=name) from None
        pod = decode_stored(kv.value, kv.mod_revision)
        unmet = _unmet_precondition(pod, uid=want_uid, resource_version=want_rv)
        if unmet:
            if not fresh:
                fresh = True
                continue
            raise errors.conflict("pods", name, unmet)
        current = (pod.get("spec") or {}).get("nodeName")
        refused = (f'pod {name} is already assigned to node "{current}"' if current else
                   f"pod {name} is being deleted, cannot be assigned to a host" if meta.deletion_timestamp(pod)
                   else "")
        if refused:
            if not fresh:
                fresh = True
                continue
            raise errors.conflict("pods/binding", name, refused)
        if dry:
            break
        bound = _schedule(pod, node, annotations, om.timestamp(ctx.clock.wall()))
        try:
            await ctx.store.update(key, encode_for_store(bound), expected_mod_revision=kv.mod_revision)
            break
        except Conflict:
            fresh = True
            continue
        except StorageError as exc:
            raise to_api_error(exc, resource="pods", group="", name=name) from None
    else:
        raise errors.conflict("pods/binding", name, "the pod is being modified too often; try again")
