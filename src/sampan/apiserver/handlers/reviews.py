"""POST the authorization.k8s.io/v1 reviews: ``kubectl auth can-i`` (``--list``, ``--as``) and webhooks.

* ``selfsubjectaccessreviews`` — may *I* (the request's user, after impersonation) do this?
* ``subjectaccessreviews`` — may ``spec.user``/``spec.groups`` do this?
* ``namespaces/<ns>/localsubjectaccessreviews`` — the same, limited to one namespace;
* ``selfsubjectrulesreviews`` — what may I do in ``spec.namespace``?

Each is answered by the server's authorizer chain (:mod:`sampan.apiserver.authz`) exactly as a real
request of those attributes would be; nothing is stored. The answer echoes the spec, as upstream, with
201 Created, in JSON or protobuf as the client asks. The body is validated by the resource's strategy
(422 with upstream's causes); a body of another kind is 400.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from sampan.api import errors
from sampan.apiserver.authz import authorization_of
from sampan.apiserver.authz.reviews import access_review_status, rules_review_status, spec_user
from sampan.apiserver.bodies import read_object
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.registry.base import as_dict
from sampan.apiserver.responses import object_response
from sampan.apiserver.routes import CONTEXT_KEY
from sampan.apiserver.userinfo import request_user

log = logging.getLogger(__name__)

GROUP = "authorization.k8s.io"
BASE = f"/apis/{GROUP}/v1"


async def _read(request: web.Request, resource: str, kind: str, *, namespace: str = "") -> tuple[Any, dict[str, Any]]:
    ctx = request.app[CONTEXT_KEY]
    scope = ctx.scope(GROUP, "v1", resource)
    if scope is None:
        raise errors.NotFound("the server could not find the requested resource")
    om.dry_run(request)  # validates the parameter; a review has no side effects either way
    body = await read_object(request, max_bytes=ctx.config.max_body_bytes, expect=kind)
    if body.get("kind") not in (None, "", kind) or body.get("apiVersion") not in (None, "", f"{GROUP}/v1"):
        raise errors.BadRequest(f'{body.get("kind")} in version "{body.get("apiVersion")}" cannot be handled as a '
                                f"{kind}")
    if namespace:
        md = as_dict(body.get("metadata"))
        if md.get("namespace") not in (None, "", namespace):
            raise errors.BadRequest("the namespace of the provided object does not match the namespace sent on "
                                    "the request")
        body["metadata"] = {**md, "namespace": namespace}
    causes = scope.strategy.validate(body)
    if causes:
        raise errors.invalid_object(kind, "", causes, group=GROUP)
    return scope, body


def _answer(request: web.Request, scope: Any, kind: str, body: dict[str, Any], status: dict[str, Any]) -> web.Response:
    ctx = request.app[CONTEXT_KEY]
    md = as_dict(body.get("metadata"))
    answer = {"kind": kind, "apiVersion": f"{GROUP}/v1", "metadata": {**md, "creationTimestamp": None},
              "spec": as_dict(body.get("spec")), "status": status}
    return object_response(request, scope, answer, now=ctx.clock.wall(), status=201)


def _authorization(request: web.Request) -> Any:
    authz = authorization_of(request.app[CONTEXT_KEY])
    if authz is None:
        raise errors.InternalError("no authorizer configured")
    return authz


async def handle_self_subject_access_review(request: web.Request) -> web.StreamResponse:
    kind = "SelfSubjectAccessReview"
    scope, body = await _read(request, "selfsubjectaccessreviews", kind)
    status = access_review_status(_authorization(request), request_user(request), body["spec"])
    log.debug("self access review user=%s allowed=%s", request_user(request).username, status["allowed"])
    return _answer(request, scope, kind, body, status)


async def handle_subject_access_review(request: web.Request) -> web.StreamResponse:
    kind = "SubjectAccessReview"
    scope, body = await _read(request, "subjectaccessreviews", kind)
    status = access_review_status(_authorization(request), spec_user(body["spec"]), body["spec"])
    return _answer(request, scope, kind, body, status)


async def handle_local_subject_access_review(request: web.Request) -> web.StreamResponse:
    kind = "LocalSubjectAccessReview"
    namespace = request.match_info["namespace"]
    scope, body = await _read(request, "localsubjectaccessreviews", kind, namespace=namespace)
    status = access_review_status(_authorization(request), spec_user(body["spec"]), body["spec"])
    return _answer(request, scope, kind, body, status)


async def handle_self_subject_rules_review(request: web.Request) -> web.StreamResponse:
    kind = "SelfSubjectRulesReview"
    scope, body = await _read(request, "selfsubjectrulesreviews", kind)
    spec = as_dict(body.get("spec"))
    status = rules_review_status(_authorization(request), request_user(request), str(spec.get("namespace") or ""))
    return _answer(request, scope, kind, body, status)


def register(app: web.Application) -> None:
    """Add the review routes; call before the catch-all resource routes so they take precedence."""
    app.router.add_post(f"{BASE}/selfsubjectaccessreviews", handle_self_subject_access_review)
    app.router.add_post(f"{BASE}/subjectaccessreviews", handle_subject_access_review)
    app.router.add_post(f"{BASE}/namespaces/{{namespace}}/localsubjectaccessreviews",
                        handle_local_subject_access_review)
    app.router.add_post(f"{BASE}/selfsubjectrulesreviews", handle_self_subject_rules_review)
