"""POST ``pods/<name>/eviction``: a ``policy/v1`` ``Eviction`` asks to delete a pod politely.

PodDisruptionBudgets do not exist yet, so every eviction is allowed and is a graceful delete of the pod
with the Eviction's ``deleteOptions`` (grace, preconditions, dry run). The answer is upstream's
``Status`` Success with code 201. A missing pod is 404.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web

from sampan.api import errors
from sampan.apiserver.bodies import read_object
from sampan.apiserver.context import ServerContext
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.handlers.delete import delete_object
from sampan.apiserver.handlers.deletion import POLICIES, DeleteOptions
from sampan.apiserver.responses import raw_response
from sampan.apiserver.routes import Target

log = logging.getLogger(__name__)

_API_VERSIONS = (None, "", "policy/v1", "policy/v1beta1")


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


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    scope = t.scope
    assert t.name is not None
    if (scope.info.group, scope.info.resource) != ("", "pods") or not t.namespace:
        raise errors.NotFound("the server could not find the requested resource")
    dry = om.dry_run(request)
    body = await read_object(request, max_bytes=ctx.config.max_body_bytes, expect="Eviction")
    opts = _options(body, name=t.name, dry=dry)
    await delete_object(ctx, scope, scope.key(t.namespace, t.name), t.name, opts, dry=opts.dry)
    log.info("evicted pod=%s/%s", t.namespace, t.name)
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    return raw_response(orjson.dumps(status), status=201)
