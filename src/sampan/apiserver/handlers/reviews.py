"""POST ``/apis/authorization.k8s.io/v1/selfsubjectaccessreviews``: ``kubectl auth can-i``.

sampan has no authorization yet: like upstream's AlwaysAllow authorizer, every review answers
``status.allowed: true`` (reason :data:`REASON`). Nothing is stored; the answer echoes the spec, as
upstream, with 201 Created, in JSON or protobuf as the client asks. The body is validated by the
resource's strategy (422 with upstream's causes); a body of another kind is 400.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from sampan.api import errors
from sampan.apiserver.bodies import read_object
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.responses import object_response
from sampan.apiserver.routes import CONTEXT_KEY

log = logging.getLogger(__name__)

GROUP = "authorization.k8s.io"
PATH = f"/apis/{GROUP}/v1/selfsubjectaccessreviews"
KIND = "SelfSubjectAccessReview"
REASON = "sampan has no authorization yet"


async def handle_self_subject_access_review(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT_KEY]
    scope = ctx.scope(GROUP, "v1", "selfsubjectaccessreviews")
    if scope is None:
        raise errors.NotFound("the server could not find the requested resource")
    om.dry_run(request)  # validates the parameter; a review has no side effects either way
    body = await read_object(request, max_bytes=ctx.config.max_body_bytes, expect=KIND)
    if body.get("kind") not in (None, "", KIND) or body.get("apiVersion") not in (None, "", f"{GROUP}/v1"):
        raise errors.BadRequest(f'{body.get("kind")} in version "{body.get("apiVersion")}" cannot be handled as a '
                                f"{KIND}")
    causes = scope.strategy.validate(body)
    if causes:
        raise errors.invalid_object(KIND, "", causes, group=GROUP)
    raw_spec = body.get("spec")
    spec: dict[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
    answer = {"kind": KIND, "apiVersion": f"{GROUP}/v1", "metadata": {"creationTimestamp": None}, "spec": spec,
              "status": {"allowed": True, "reason": REASON}}
    log.debug("access review allowed attributes=%s", spec)
    return object_response(request, scope, answer, now=ctx.clock.wall(), status=201)


def register(app: web.Application) -> None:
    """Add the review route; call before the catch-all resource routes so it takes precedence."""
    app.router.add_post(PATH, handle_self_subject_access_review)
