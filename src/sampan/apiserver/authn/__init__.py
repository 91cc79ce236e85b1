"""Authentication: who sent a request, decided once per request before anything else reads it.

Invariant: every request that reaches a handler carries a :class:`~sampan.apiserver.userinfo.UserInfo`
under :data:`~sampan.apiserver.userinfo.REQUEST_KEY`, attached by :func:`authentication_middleware`.
A request no authenticator accepts and that anonymous access does not cover is answered ``401
Unauthorized`` here and never reaches a handler.

The chain is a list of :class:`Authenticator` tried in order (upstream's union authenticator): the first
that recognises the request's credentials decides. An authenticator that finds credentials it owns but
rejects them (a forged or expired token) raises :class:`~sampan.api.errors.Unauthorized`; one that finds
no credentials of its kind returns ``None`` so the next one runs.

Without a configured chain (the embedded and insecure-port case: tests, ``sampan.testing``) every request
is :data:`INSECURE_ADMIN`, as upstream's old insecure port treated every request as a cluster admin.

The links (one module each): :mod:`.anonymous` (anonymous requests; plain HTTP on the insecure port),
:mod:`.x509` (client certificates), :mod:`.tokens` (bearer tokens: finding them, the token union) over
:mod:`.static_token`, :mod:`.serviceaccount` (with :mod:`.jws`) and :mod:`.bootstrap`; :mod:`.chain`
assembles them from :mod:`.options`; :mod:`.lookup` is how token checks see objects (the watch cache).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware

from sampan.api import errors
from sampan.apiserver.userinfo import REQUEST_KEY, UserInfo

INSECURE_ADMIN = UserInfo("system:admin", groups=("system:masters", "system:authenticated"))
"""The user of every request on the insecure port (``--insecure-port``) and of embedded servers."""


class Authenticator(Protocol):
    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        """The request's user, ``None`` when it carries no credentials of this kind; raises
        :class:`~sampan.api.errors.Unauthorized` for credentials of this kind that do not verify."""
        ...


class InsecureAdmin:
    """Every request is :data:`INSECURE_ADMIN` (the insecure port; embedded servers)."""

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        return INSECURE_ADMIN


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def authentication_middleware(chain: Sequence[Authenticator]) -> Middleware:
    """An aiohttp middleware attaching the first user ``chain`` yields; 401 when none does."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        for authenticator in chain:
            user = await authenticator.authenticate(request)
            if user is not None:
                request[REQUEST_KEY] = user
                return await handler(request)
        raise errors.Unauthorized("Unauthorized")

    return authenticate
