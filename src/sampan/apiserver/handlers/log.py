"""GET ``pods/<name>/log``: proxy to the kubelet of the pod's node and stream its answer back.

As upstream's ``LogREST``: the pod is read (404 when missing), the container defaults to the only one
(400 with the list of names otherwise; 400 for a container the pod does not have), the pod must be bound
(400 ``pod x does not have a host assigned``), and the node's ``InternalIP`` and
``status.daemonEndpoints.kubeletEndpoint.Port`` locate the kubelet. ``follow``, ``tailLines``,
``timestamps``, ``previous``, ``limitBytes``, ``sinceSeconds`` and ``sinceTime`` are passed through to
``/containerLogs/<ns>/<pod>/<container>``; the kubelet's body is streamed as ``text/plain`` while it
writes (``-f``). A kubelet error becomes a Status with its message (400 for the kubelet's 400/404, 500
otherwise); an unreachable kubelet is a 500 naming the address.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiohttp import web

from sampan.api import errors
from sampan.apiserver.cacher.objects import decode_stored
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.kubelet_client import kubelet_scheme, kubelet_tls
from sampan.apiserver.routes import Target
from sampan.storage import KeyNotFound

log = logging.getLogger(__name__)

PASSED_PARAMS = ("follow", "tailLines", "timestamps", "previous", "limitBytes", "sinceSeconds", "sinceTime")
CONNECT_TIMEOUT = 5.0


async def _read(ctx: ServerContext, scope: Scope, namespace: str, name: str) -> dict[str, Any] | None:
    key = scope.key(namespace, name)
    cached = scope.cache.objects.get(key)
    if cached is not None:
        return cached.obj
    try:
        kv = await ctx.store.get(key)
    except KeyNotFound:
        return None
    obj: dict[str, Any] = decode_stored(kv.value, kv.mod_revision)
    return obj


def _container(pod: dict[str, Any], wanted: str) -> str:
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    names = [c.get("name", "") for key in ("initContainers", "containers", "ephemeralContainers")
             for c in spec.get(key) or []]
    if not wanted:
        regular = [c.get("name", "") for c in spec.get("containers") or []]
        if len(regular) == 1:
            return regular[0]
        raise errors.BadRequest(f"a container name must be specified for pod {name}, "
                                f"choose one of: [{' '.join(regular)}]")
    if wanted not in names:
        raise errors.BadRequest(f"container {wanted} is not valid for pod {name}")
    return wanted


def _kubelet_address(node: dict[str, Any]) -> tuple[str, int]:
    status = node.get("status") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP") or addresses.get("Hostname") or ""
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 0
    if not host or not port:
        raise errors.InternalError(f"node {node['metadata']['name']} does not report a kubelet endpoint")
    return str(host), int(port)


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    assert t.name is not None
    if not t.namespace:
        raise errors.NotFound("the server could not find the requested resource")
    pod = await _read(ctx, t.scope, t.namespace, t.name)
    if pod is None:
        raise errors.not_found("pods", t.name)
    container = _container(pod, request.query.get("container", ""))
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise errors.BadRequest(f"pod {t.name} does not have a host assigned")
    nodes = ctx.scope("", "v1", "nodes")
    node = await _read(ctx, nodes, "", node_name) if nodes is not None else None
    if node is None:
        raise errors.NotFound(f'nodes "{node_name}" not found')
    host, port = _kubelet_address(node)
    params = {k: request.query[k] for k in PASSED_PARAMS if k in request.query}
    url = f"{kubelet_scheme(ctx)}://{host}:{port}/containerLogs/{t.namespace}/{t.name}/{container}"
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
    tls = kubelet_tls(ctx)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.get(url, params=params, ssl=tls if tls is not None else True) as upstream:
            if upstream.status != 200:
                message = (await upstream.text()).strip() or f"kubelet answered {upstream.status}"
                if upstream.status in (400, 404):
                    raise errors.BadRequest(message)
                raise errors.InternalError(message)
            resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await resp.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)
            except (aiohttp.ClientError, ConnectionResetError) as err:
                log.debug("log stream ended pod=%s/%s err=%r", t.namespace, t.name, err)
            await resp.write_eof()
            return resp
    except (aiohttp.ClientConnectorError, TimeoutError) as err:
        raise errors.InternalError(f"Get \"{url}\": cannot reach the kubelet: {err}") from None
