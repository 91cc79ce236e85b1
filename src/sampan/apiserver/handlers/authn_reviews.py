"""POST ``tokenreviews`` and ``selfsubjectreviews`` (authentication.k8s.io): nothing stored, 201 Created.

* **TokenReview** judges ``spec.token`` exactly as a request carrying it would be judged (the chain's
  token authenticators, :data:`~sampan.apiserver.authn.chain.TOKEN_AUTHENTICATORS_KEY`): ``status``
  holds ``authenticated``, ``user`` and ``audiences``, or ``error`` with the reason. A service-account
  token is checked against ``spec.audiences`` when given, else the server's API audiences. An empty
  token is a 400, as upstream.
* **SelfSubjectReview** (``kubectl auth whoami``) answers the caller's own user in ``status.userInfo``.
  Served in v1 and, for kubectl 1.27 (which asks v1beta1, then v1alpha1), in those versions too.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from sampan.api import errors
from sampan.apiserver.authn.bootstrap import BootstrapTokens
from sampan.apiserver.authn.chain import SERVICE_ACCOUNT_TOKENS_KEY, TOKEN_AUTHENTICATORS_KEY
from sampan.apiserver.authn.lookup import WatchCacheLookup
from sampan.apiserver.authn.rejected import CredentialsRejected
from sampan.apiserver.authn.serviceaccount import ServiceAccountTokens
from sampan.apiserver.authn.tokens import TokenAuthenticator, authenticate_token
from sampan.apiserver.bodies import read_object
from sampan.apiserver.context import ServerContext
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.handlers import token as token_handler
from sampan.apiserver.responses import object_response
from sampan.apiserver.routes import CONTEXT_KEY
from sampan.apiserver.userinfo import request_user

log = logging.getLogger(__name__)

GROUP = "authentication.k8s.io"
SELF_REVIEW_VERSIONS = ("v1", "v1beta1", "v1alpha1")


def _token_authenticators(ctx: ServerContext) -> tuple[list[TokenAuthenticator], ServiceAccountTokens]:
    """The chain's token authenticators; a server without a chain (plain HTTP) still reviews its own
    service-account and bootstrap tokens."""
    tokens = ctx.extras.get(TOKEN_AUTHENTICATORS_KEY)
    sa = ctx.extras.get(SERVICE_ACCOUNT_TOKENS_KEY)
    if isinstance(tokens, list) and isinstance(sa, ServiceAccountTokens):
        return tokens, sa
    signer = token_handler.signer(ctx)
    lookup = WatchCacheLookup(ctx)
    sa = ServiceAccountTokens([signer.public_key()], issuers=[signer.issuer], audiences=[signer.issuer],
                              lookup=lookup, clock=ctx.clock)
    made: list[TokenAuthenticator] = [sa, BootstrapTokens(lookup, clock=ctx.clock)]
    ctx.extras[TOKEN_AUTHENTICATORS_KEY], ctx.extras[SERVICE_ACCOUNT_TOKENS_KEY] = made, sa
    return made, sa


def _check_kind(body: dict[str, Any], kind: str, version: str) -> None:
    if body.get("kind") not in (None, "", kind) or body.get("apiVersion") not in (None, "", f"{GROUP}/{version}"):
        raise errors.BadRequest(f'{body.get("kind")} in version "{body.get("apiVersion")}" cannot be handled as a '
                                f"{kind}")


async def handle_token_review(request: web.Request) -> web.StreamResponse:
    ctx: ServerContext = request.app[CONTEXT_KEY]
    scope = ctx.scope(GROUP, "v1", "tokenreviews")
    if scope is None:
        raise errors.NotFound("the server could not find the requested resource")
    om.dry_run(request)
    body = await read_object(request, max_bytes=ctx.config.max_body_bytes, expect="TokenReview")
    _check_kind(body, "TokenReview", "v1")
    raw_spec = body.get("spec")
    spec: dict[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise errors.BadRequest("token is required for TokenReview in authentication")
    wanted = [a for a in spec.get("audiences") or [] if isinstance(a, str)]
    authenticators, sa_tokens = _token_authenticators(ctx)
    status: dict[str, Any]
    try:
        user, audiences = sa_tokens.review(token, wanted)
        if user is None:
            others = [a for a in authenticators if a is not sa_tokens]
            user = await authenticate_token(others, token)
            audiences = wanted or sorted(sa_tokens.audiences)
        if user is None:
            status = {"user": {}, "error": "invalid bearer token"}
        else:
            status = {"authenticated": True, "user": user.to_wire(), "audiences": audiences}
    except CredentialsRejected as exc:
        status = {"user": {}, "error": exc.why}
    answer = {"kind": "TokenReview", "apiVersion": f"{GROUP}/v1", "metadata": {"creationTimestamp": None},
              "spec": spec, "status": status}
    log.debug("token review authenticated=%s", status.get("authenticated", False))
    return object_response(request, scope, answer, now=ctx.clock.wall(), status=201)


async def handle_self_subject_review(request: web.Request) -> web.StreamResponse:
    ctx: ServerContext = request.app[CONTEXT_KEY]
    version = request.match_info["version"]
    scope = ctx.scope(GROUP, "v1", "selfsubjectreviews")
    if scope is None or version not in SELF_REVIEW_VERSIONS:
        raise errors.NotFound("the server could not find the requested resource")
    om.dry_run(request)
    if request.can_read_body and version == "v1":
        _check_kind(await read_object(request, max_bytes=ctx.config.max_body_bytes, expect="SelfSubjectReview"),
                    "SelfSubjectReview", version)
    answer = {"kind": "SelfSubjectReview", "apiVersion": f"{GROUP}/{version}",
              "metadata": {"creationTimestamp": None}, "status": {"userInfo": request_user(request).to_wire()}}
    return object_response(request, scope, answer, now=ctx.clock.wall(), status=201)


def register(app: web.Application) -> None:
    """Add the review routes; call before the catch-all resource routes so they take precedence."""
    app.router.add_post(f"/apis/{GROUP}/v1/tokenreviews", handle_token_review)
    app.router.add_post(f"/apis/{GROUP}/{{version}}/selfsubjectreviews", handle_self_subject_review)
