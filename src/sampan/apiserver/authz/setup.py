"""Wiring authorization into a server: the chain for the configured modes, the middlewares, the
escalation guard and the bootstrap policy at start.

The modes are ``config.authorization_modes``; when empty, :data:`SECURE_DEFAULT` (``Node,RBAC``) if the
server authenticates requests, else :data:`INSECURE_DEFAULT` (``AlwaysAllow``). With RBAC on, the
bootstrap policy is reconciled at every start and role/binding writes are checked for escalation.
"""

from __future__ import annotations

from aiohttp.typedefs import Middleware

from sampan.apiserver.admission import REGISTRY_GUARD_KEY
from sampan.apiserver.authz import INSECURE_DEFAULT, SECURE_DEFAULT, Authorization, authorization_of, build
from sampan.apiserver.authz.escalation import check_write
from sampan.apiserver.authz.filters import authorization_middleware, impersonation_middleware
from sampan.apiserver.authz.reconcile import ensure_bootstrap_policy
from sampan.apiserver.context import ServerContext


def install(ctx: ServerContext, *, secure: bool) -> Authorization:
    modes = ctx.config.authorization_modes or (SECURE_DEFAULT if secure else INSECURE_DEFAULT)
    authz = build(ctx, modes)
    if authz.rbac is not None:
        ctx.extras[REGISTRY_GUARD_KEY] = check_write
    return authz


def middlewares(authz: Authorization) -> list[Middleware]:
    """Impersonation, then authorization (they run after authentication, in this order). A chain that
    allows everything (``AlwaysAllow`` alone: the insecure / embedded server) skips the per-request
    check, whose answer is known; impersonation still applies, so ``--as`` works there too."""
    if authz.modes == ("AlwaysAllow",):
        return [impersonation_middleware(authz.authorizer)]
    return [impersonation_middleware(authz.authorizer), authorization_middleware(authz.authorizer)]


async def at_start(ctx: ServerContext) -> None:
    """Reconcile the bootstrap policy (RBAC on) and wait, bounded, until the watch cache holds it, so the
    first request the server answers is already judged by the default policy."""
    authz = authorization_of(ctx)
    if authz is not None and authz.rbac is not None:
        await ensure_bootstrap_policy(ctx)
        await ctx.watch_cache.wait_fresh(timeout=ctx.config.consistent_read_timeout)
