"""Forwarding a remote group-version's requests to its extension API server.

Runs as a middleware after authentication: the request's user (never the client's credentials) goes
upstream as ``X-Remote-User``/``X-Remote-Group``/``X-Remote-Extra-*``, believed by the extension server
because the connection presents the front-proxy client certificate (``--proxy-client-cert-file``).
Responses are streamed through unchanged, so watches on aggregated resources work. Errors are upstream's:
no Service or endpoints -> 503 ``ServiceUnavailable``; the extension server unreachable -> 503 with the dial error.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict

from sampan.api import errors
from sampan.apiserver.aggregator.registry import RemoteAPI, endpoint_of, remote_for_path
from sampan.apiserver.context import ServerContext
from sampan.apiserver.handlers.proxy import HOP_BY_HOP, relay
from sampan.apiserver.userinfo import request_user

DROPPED = frozenset({"authorization", "impersonate-user", "impersonate-group", "impersonate-uid", "host"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def tls_for(remote: RemoteAPI, *, proxy_cert: Path | None = None, proxy_key: Path | None = None
            ) -> ssl.SSLContext | bool:
    """The client TLS settings for ``remote``: its CA bundle, no verification when asked, else the
    system's trust store (an extension server with a certificate nothing trusts is then refused); the
    front-proxy client certificate (``--proxy-client-cert-file``) presented when configured."""
    return _tls(remote.ca_bundle, remote.insecure_skip_tls_verify, proxy_cert, proxy_key)


@functools.lru_cache(maxsize=64)
def _tls(ca_bundle: bytes | None, insecure: bool, proxy_cert: Path | None, proxy_key: Path | None
         ) -> ssl.SSLContext | bool:
    """One context per distinct setting (contexts are immutable once made; loading one costs milliseconds)."""
    if insecure and proxy_cert is None:
        return False
    if insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context()
        if ca_bundle:
            context.load_verify_locations(cadata=ca_bundle.decode())
            context.check_hostname = False  # upstream verifies the service DNS name; we dial an endpoint IP
    if proxy_cert is not None:
        context.load_cert_chain(str(proxy_cert), str(proxy_key) if proxy_key else None)
    return context


def forwarded_headers(request: web.Request) -> CIMultiDict[str]:
    """The client's headers minus hop-by-hop ones and its credentials, plus who it authenticated as."""
    headers: CIMultiDict[str] = CIMultiDict(
        (k, v) for k, v in request.headers.items()
        if k.lower() not in HOP_BY_HOP and k.lower() not in DROPPED
        and not k.lower().startswith(("impersonate-extra-", "x-remote-")))
    user = request_user(request)
    headers.add("X-Remote-User", user.username)
    for group in user.groups:
        headers.add("X-Remote-Group", group)
    for key, values in user.extra.items():
        for value in values:
            headers.add(f"X-Remote-Extra-{key}", value)
    return headers


async def forward(request: web.Request, ctx: ServerContext, remote: RemoteAPI) -> web.StreamResponse:
    host, port = endpoint_of(ctx, remote)
    try:
        return await relay(request, f"https://{host}:{port}{request.rel_url.path_qs}",
                           headers=forwarded_headers(request),
                           tls=tls_for(remote, proxy_cert=ctx.config.proxy_client_cert_file,
                                       proxy_key=ctx.config.proxy_client_key_file))
    except (aiohttp.ClientConnectorError, aiohttp.ClientSSLError, TimeoutError) as err:
        raise errors.ServiceUnavailable(f"error trying to reach service: {err}") from None


def aggregation_middleware(ctx: ServerContext) -> Middleware:
    """Requests under a remote group-version go to its extension server; everything else passes on."""

    @web.middleware
    async def aggregate(request: web.Request, handler: Handler) -> web.StreamResponse:
        remote = remote_for_path(ctx, request.path)
        if remote is None:
            return await handler(request)
        return await forward(request, ctx, remote)

    return aggregate
