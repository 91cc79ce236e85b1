"""``pods/proxy``, ``services/proxy`` and ``nodes/proxy``: plain HTTP proxying, as upstream.

The name segment is ``[scheme:]name[:port]``. A pod is reached at its ``status.podIP`` on ``port`` (default:
its first declared container port); a service through one ready address of its Endpoints, the port
chosen by service port name or number (default: its only or first port) and mapped to the endpoint
port of the same name; a node through its kubelet (``InternalIP`` and port, default the kubelet
port). The rest of the path after ``proxy/`` and the query go along; the answer (status, headers, body)
is streamed back. Errors are Statuses: 404 for the object, 503 ``no endpoints available for service``,
500 naming the address when it cannot be reached.
"""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
from aiohttp import web

from sampan.api import errors
from sampan.apiserver.context import ServerContext
from sampan.apiserver.handlers.log import _kubelet_address, _read
from sampan.apiserver.kubelet_client import kubelet_scheme, kubelet_tls
from sampan.apiserver.routes import Target

CONNECT_TIMEOUT = 5.0
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "authorization", "content-length"})


def split_scheme_name_port(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3 and parts[0] in ("http", "https"):
        return parts[0], parts[1], parts[2]
    raise errors.BadRequest(f"invalid resource name {raw!r}")


async def _object(ctx: ServerContext, t: Target, name: str) -> dict[str, Any]:
    obj = await _read(ctx, t.scope, t.namespace or "", name)
    if obj is None:
        raise errors.not_found(t.scope.info.resource, name)
    return obj


def _pod_target(pod: dict[str, Any], port: str) -> tuple[str, str]:
    ip = (pod.get("status") or {}).get("podIP") or ""
    if not ip:
        raise errors.BadRequest(f"address not allowed: pod {pod['metadata']['name']} has no IP yet")
    if not port:
        ports = [p.get("containerPort") for c in (pod.get("spec") or {}).get("containers") or []
                 for p in c.get("ports") or []]
        port = str(ports[0]) if ports else "80"
    return ip, port


def service_target(service: dict[str, Any], endpoints: dict[str, Any] | None, port: str) -> tuple[str, str]:
    name = service["metadata"]["name"]
    ports = (service.get("spec") or {}).get("ports") or []
    chosen = next((p for p in ports if port and (p.get("name") == port or str(p.get("port")) == port)), None)
    if chosen is None and not port and ports:
        chosen = ports[0]
    if chosen is None:
        raise errors.ServiceUnavailable(f'no endpoints available for service "{name}"')
    for subset in (endpoints or {}).get("subsets") or []:
        addresses = subset.get("addresses") or []
        match = next((p for p in subset.get("ports") or [] if (p.get("name") or "") == (chosen.get("name") or "")),
                     None)
        if addresses and match is not None:
            return str(addresses[0]["ip"]), str(match["port"])
    raise errors.ServiceUnavailable(f'no endpoints available for service "{name}"')


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    assert t.name is not None
    scheme, name, port = split_scheme_name_port(t.name)
    resource = t.scope.info.resource
    obj = await _object(ctx, t, name)
    tls: ssl.SSLContext | bool = False
    if resource == "pods":
        host, port = _pod_target(obj, port)
    elif resource == "services":
        eps_scope = ctx.scope("", "v1", "endpoints")
        eps = await _read(ctx, eps_scope, t.namespace or "", name) if eps_scope is not None else None
        host, port = service_target(obj, eps, port)
    else:
        host, kubelet_port = _kubelet_address(obj)
        port = port or str(kubelet_port)
        if not scheme and kubelet_scheme(ctx) == "https":
            scheme, tls = "https", kubelet_tls(ctx) or False
    url = f"{scheme or 'http'}://{host}:{port}/{t.proxy_path}"
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    try:
        return await relay(request, url, headers=headers, params=list(request.query.items()), tls=tls)
    except (aiohttp.ClientConnectorError, TimeoutError) as err:
        raise errors.InternalError(f'error trying to reach {resource[:-1]} "{name}": {err}') from None


async def relay(request: web.Request, url: str, *, headers: Any, params: Any = None,
                tls: ssl.SSLContext | bool = False) -> web.StreamResponse:
    """Send ``request`` (method and body) to ``url`` and stream the answer back unchanged apart from
    hop-by-hop headers (watches and long responses flow through). Connection errors propagate: the
    caller words them (``pods/proxy`` and the aggregation layer answer differently)."""
    body = await request.read() if request.can_read_body else None
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session, session.request(
            request.method, url, params=params, headers=headers, data=body, allow_redirects=False,
            ssl=tls) as upstream:
        resp = web.StreamResponse(status=upstream.status, headers={
            k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP})
        await resp.prepare(request)
        async for chunk in upstream.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp
