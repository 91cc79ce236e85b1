"""The last links of the chain: anonymous requests, and plain-HTTP requests on the insecure port."""

from __future__ import annotations

from aiohttp import web

from sampan.apiserver.authn import INSECURE_ADMIN
from sampan.apiserver.userinfo import ANONYMOUS, UserInfo


class Anonymous:
    """Every request that reaches it is ``system:anonymous`` in ``system:unauthenticated`` (upstream's
    anonymous authenticator; what it may do is authorization's business)."""

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        return ANONYMOUS


def is_tls(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class InsecurePort:
    """A request over plain HTTP is :data:`INSECURE_ADMIN`: with TLS serving on, plain HTTP is only served
    on the insecure port (127.0.0.1, ``--insecure-port``), as upstream's old insecure port was."""

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        return None if is_tls(request) else INSECURE_ADMIN
