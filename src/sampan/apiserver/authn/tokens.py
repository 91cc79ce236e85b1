"""Bearer tokens: find the token a request carries and let the token authenticators judge it.

The token comes from ``Authorization: Bearer <token>`` or, for WebSocket upgrades that cannot set
headers (browsers), the ``base64url.bearer.authorization.k8s.io.<token>`` sub-protocol. A request with
a token that no :class:`TokenAuthenticator` accepts is a 401 (upstream's "invalid bearer token"): a bad
token never falls through to anonymous.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from typing import Protocol

from aiohttp import web

from sampan.apiserver.authn.rejected import CredentialsRejected
from sampan.apiserver.userinfo import UserInfo

log = logging.getLogger(__name__)

WEBSOCKET_PREFIX = "base64url.bearer.authorization.k8s.io."


class TokenAuthenticator(Protocol):
    async def authenticate_token(self, token: str) -> UserInfo | None:
        """The token's user; None when the token is not of this kind; Unauthorized when it is but does not
        verify (forged, expired, wrong audience, bound object gone)."""
        ...


def bearer_token(request: web.BaseRequest) -> str | None:
    """The bearer token of ``request``, if it carries one."""
    header = request.headers.get("Authorization", "")
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "bearer":
        token = rest.strip()
        return token or None
    for proto in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        proto = proto.strip()
        if proto.startswith(WEBSOCKET_PREFIX):
            encoded = proto[len(WEBSOCKET_PREFIX):]
            try:
                return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode() or None
            except (binascii.Error, UnicodeDecodeError):
                return None
    return None


async def authenticate_token(authenticators: Sequence[TokenAuthenticator], token: str) -> UserInfo | None:
    """The first user one of ``authenticators`` finds for ``token``; None when none recognises it.
    Every authenticator is tried (upstream's union): one's rejection does not stop another's acceptance."""
    failure: CredentialsRejected | None = None
    for authenticator in authenticators:
        try:
            user = await authenticator.authenticate_token(token)
        except CredentialsRejected as exc:
            failure = exc
            continue
        if user is not None:
            return user
    if failure is not None:
        raise failure
    return None


class BearerToken:
    """The chain link for bearer tokens: no token, no opinion; a token nobody accepts, 401."""

    def __init__(self, authenticators: Sequence[TokenAuthenticator]) -> None:
        self.authenticators = list(authenticators)

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        token = bearer_token(request)
        if token is None:
            return None
        user = await authenticate_token(self.authenticators, token)
        if user is None:
            log.debug("bearer token not recognised path=%s", request.path)
            raise CredentialsRejected("invalid bearer token")
        return user
