"""POST ``pods/<name>/eviction``: a ``policy/v1`` ``Eviction`` asks to delete a pod politely.

The pod's PodDisruptionBudget decides first (:mod:`.evictionbudget`: 429 when it would be violated, 500
with several budgets); an allowed eviction is a graceful delete of the pod with the Eviction's
``deleteOptions`` (grace, preconditions, dry run), after the pod's status got the ``DisruptionTarget``
condition (reason ``EvictionByEvictionAPI``), re-tried from the start when the pod changed meanwhile
(unless the client gave a resourceVersion precondition). The answer is upstream's ``Status`` Success with
code 201. A missing pod is 404.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import orjson
from aiohttp import web

from sampan.api import errors, meta
from sampan.apiserver.bodies import read_object
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.handlers import writeopts
from sampan.apiserver.handlers.delete import delete_object
from sampan.apiserver.handlers.deletion import POLICIES, DeleteOptions
from sampan.apiserver.handlers.evictionbudget import admit_eviction, still_processing
from sampan.apiserver.handlers.guaranteed import UpdateRequest, update_object
from sampan.apiserver.handlers.writeopts import WriteOptions
from sampan.apiserver.responses import raw_response
from sampan.apiserver.routes import Target
from sampan.storage import KeyNotFound

log = logging.getLogger(__name__)

_API_VERSIONS = (None, "", "policy/v1", "policy/v1beta1")
MAX_ATTEMPTS = 5
DISRUPTION_TARGET = "DisruptionTarget"


def _options(body: dict[str, Any], *, name: str, dry: bool) -> DeleteOptions:
    if body.get("kind") not in (None, "", "Eviction") or body.get("apiVersion") not in _API_VERSIONS:
        raise errors.BadRequest(f'{body.get("kind")} in version "{body.get("apiVersion")}" cannot be handled as '
                                "an Eviction")
    md = body.get("metadata") or {}
    if not isinstance(md, dict) or md.get("name") not in (None, "", name):
        raise errors.BadRequest(f"name in URL does not match name in Eviction object: {name}")
    raw = body.get("deleteOptions") or {}
    if not isinstance(raw, dict):
        raise errors.BadRequest("Eviction.deleteOptions must be an object")
    opts = DeleteOptions(dry=dry or bool(raw.get("dryRun")))
    grace = raw.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise errors.BadRequest("deleteOptions.gracePeriodSeconds must be an integer")
    opts.grace = grace
    policy = raw.get("propagationPolicy")
    if policy is not None and policy not in POLICIES:
        raise errors.invalid_object("Eviction", name, [errors.not_supported("deleteOptions.propagationPolicy",
                                                                            policy, list(POLICIES))],
                                    group="policy")
    opts.policy = policy
    pre = raw.get("preconditions") or {}
    opts.preconditions = pre if isinstance(pre, dict) else {}
    return opts


async def mark_disruption_target(ctx: ServerContext, scope: Scope, namespace: str, name: str, opts: DeleteOptions, *,
                                 manager: str) -> DeleteOptions:
    """Upstream's ``addConditionAndDeletePod``: the pod's status gets condition ``DisruptionTarget``
    (``EvictionByEvictionAPI``) before it is deleted, under the delete's preconditions (409 otherwise);
    returns the options with a resourceVersion precondition moved to the pod's new version."""
    if opts.dry:
        return opts
    want_uid, want_rv = opts.preconditions.get("uid"), opts.preconditions.get("resourceVersion")

    def transform(pod: dict[str, Any]) -> dict[str, Any]:
        if want_uid and want_uid != meta.uid(pod):
            raise errors.conflict("pods", name, f"the UID in the precondition ({want_uid}) does not match the UID in "
                                  f"record ({meta.uid(pod)}). The object might have been deleted and then recreated")
        if want_rv and want_rv != meta.resource_version(pod):
            raise errors.conflict("pods", name, f"the ResourceVersion in the precondition ({want_rv}) does not match "
                                  f"the ResourceVersion in record ({meta.resource_version(pod)}). The object might "
                                  "have been modified")
        if meta.deletion_timestamp(pod):
            return pod
        status = pod.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
        old = next((c for c in conditions if c.get("type") == DISRUPTION_TARGET), None)
        stamp = om.timestamp(ctx.clock.wall())
        condition = {"type": DISRUPTION_TARGET, "status": "True", "lastProbeTime": None,
                     "lastTransitionTime": old.get("lastTransitionTime") if old and old.get("status") == "True"
                     else stamp, "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting"}
        status["conditions"] = [c for c in conditions if c is not old] + [condition]
        return pod

    write = WriteOptions(dry=False, manager=manager, field_validation="Ignore")
    updated, _ = await update_object(ctx, UpdateRequest(scope, namespace, name, "status", transform, write))
    if want_rv:
        return dataclasses.replace(opts, preconditions={**opts.preconditions,
                                                        "resourceVersion": meta.resource_version(updated)})
    return opts


async def evict(ctx: ServerContext, scope: Scope, namespace: str, name: str, opts: DeleteOptions, *,
                manager: str = "") -> None:
    key = scope.key(namespace, name)
    user_version = bool(opts.preconditions.get("resourceVersion"))
    for _ in range(MAX_ATTEMPTS):
        try:
            kv = await ctx.store.get(key)
        except KeyNotFound:
            raise errors.not_found("pods", name) from None
        pod = scope.decode(kv.value, kv.mod_revision)
        decision = await admit_eviction(ctx, pod, dry=opts.dry)
        attempt = opts
        if decision.enforce_resource_version and not user_version:
            attempt = dataclasses.replace(opts, preconditions={**opts.preconditions,
                                                               "resourceVersion": meta.resource_version(pod)})
        try:
            attempt = await mark_disruption_target(ctx, scope, namespace, name, attempt, manager=manager)
            await delete_object(ctx, scope, key, name, attempt, dry=opts.dry)
            return
        except errors.Conflict:
            if user_version:
                raise
            if decision.budget:  # the pod changed after its budget was judged: the client retries
                raise still_processing(decision.budget) from None
    raise errors.conflict("pods", name, "the object is being modified too often; try again")


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    scope = t.scope
    assert t.name is not None
    if (scope.info.group, scope.info.resource) != ("", "pods") or not t.namespace:
        raise errors.NotFound("the server could not find the requested resource")
    dry = om.dry_run(request)
    body = await read_object(request, max_bytes=ctx.config.max_body_bytes, expect="Eviction")
    opts = _options(body, name=t.name, dry=dry)
    await evict(ctx, scope, t.namespace, t.name, opts, manager=writeopts.manager_name(request))
    log.info("evicted pod=%s/%s", t.namespace, t.name)
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    return raw_response(orjson.dumps(status), status=201)
