"""The last links of the chain: anonymous requests, and plain-HTTP requests on the insecure port."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from sampan.apiserver.authn import INSECURE_ADMIN
from sampan.apiserver.userinfo import ANONYMOUS, UserInfo

HEALTH_PATHS = ("/healthz", "/livez", "/readyz", "/version")
"""The paths anonymous requests may reach by default (upstream's AuthenticationConfiguration
``anonymous.conditions``, as kubeadm's public-info-viewer role allows them), each with its sub-paths."""


class Anonymous:
    """A request without credentials is ``system:anonymous`` in ``system:unauthenticated`` (upstream's
    anonymous authenticator), when its path is one of ``paths`` (or a sub-path of one; ``None``: any
    path, upstream's plain ``--anonymous-auth``). Elsewhere it stays unauthenticated: 401."""

    def __init__(self, paths: Sequence[str] | None = HEALTH_PATHS) -> None:
        self._paths = None if paths is None else tuple(p.rstrip("/") for p in paths)

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        if self._paths is None:
            return ANONYMOUS
        path = request.path.rstrip("/")
        if any(path == p or path.startswith(p + "/") for p in self._paths):
            return ANONYMOUS
        return None


def is_tls(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class InsecurePort:
    """A request over plain HTTP is :data:`INSECURE_ADMIN`: with TLS serving on, plain HTTP is only served
    on the insecure port (127.0.0.1, ``--insecure-port``), as upstream's old insecure port was."""

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        return None if is_tls(request) else INSECURE_ADMIN
