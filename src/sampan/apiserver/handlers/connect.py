"""``pods/exec``, ``pods/attach`` and ``pods/portforward`` (connect verbs, GET or POST with an upgrade):
checked here as upstream's pod strategy does, then spliced byte for byte to the kubelet of the pod's node.

Checks, in upstream's order and words: the pod exists (404), the container is one of the pod's (400
``container x is not valid for pod y``; none named and several: 400 ``a container name must be
specified…``), the pod is bound (400 ``pod x does not have a host assigned``). The kubelet is found
as for ``pods/log`` (node ``InternalIP`` + ``daemonEndpoints.kubeletEndpoint.Port``) and sent the same
upgrade request at ``/exec|attach/<ns>/<pod>/<container>`` or ``/portForward/<ns>/<pod>``. A ``101``
answer is relayed to the client and from then on both connections are copied into each other until
either side closes (the API server never looks inside: WebSocket, SPDY and SPDY-in-WebSocket all pass);
any other answer is returned as it came (the kubelet's Status). The API server runs no command itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import urllib.parse

from aiohttp import web

from sampan.api import errors
from sampan.apiserver.context import ServerContext
from sampan.apiserver.handlers.log import _container, _kubelet_address, _read
from sampan.apiserver.kubelet_client import kubelet_tls
from sampan.apiserver.routes import Target
from sampan.streaming.upgrade import TransportWriter, hijack

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
HEAD_LIMIT = 64 * 1024
CHUNK = 64 * 1024
FORWARDED_HEADERS = ("Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol",
                     "Sec-WebSocket-Extensions", "X-Stream-Protocol-Version", "User-Agent")
DROPPED_RESPONSE_HEADERS = frozenset({"content-length", "transfer-encoding", "date", "server"})


async def _kubelet_of(ctx: ServerContext, t: Target) -> tuple[dict[str, object], str, int]:
    assert t.name is not None
    if not t.namespace:
        raise errors.NotFound("the server could not find the requested resource")
    pod = await _read(ctx, t.scope, t.namespace, t.name)
    if pod is None:
        raise errors.not_found("pods", t.name)
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise errors.BadRequest(f"pod {t.name} does not have a host assigned")
    nodes = ctx.scope("", "v1", "nodes")
    node = await _read(ctx, nodes, "", node_name) if nodes is not None else None
    if node is None:
        raise errors.NotFound(f'nodes "{node_name}" not found')
    host, port = _kubelet_address(node)
    return pod, host, port


def _query_with(request: web.Request, **replace: str) -> str:
    items = [(k, v) for k, v in request.query.items() if k not in replace]
    items += list(replace.items())
    return urllib.parse.urlencode(items)


async def handle_exec(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    return await _command(request, ctx, t, "exec")


async def handle_attach(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    return await _command(request, ctx, t, "attach")


async def _command(request: web.Request, ctx: ServerContext, t: Target, verb: str) -> web.StreamResponse:
    pod, host, port = await _kubelet_of(ctx, t)
    container = _container(pod, request.query.get("container", ""))
    path = f"/{verb}/{urllib.parse.quote(t.namespace or '')}/{urllib.parse.quote(t.name or '')}/" \
           f"{urllib.parse.quote(container)}?{_query_with(request, container=container)}"
    return await splice(request, host=host, port=port, path=path, tls=kubelet_tls(ctx))


async def handle_portforward(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    _pod, host, port = await _kubelet_of(ctx, t)
    query = request.query_string
    path = f"/portForward/{urllib.parse.quote(t.namespace or '')}/{urllib.parse.quote(t.name or '')}" + \
           (f"?{query}" if query else "")
    return await splice(request, host=host, port=port, path=path, tls=kubelet_tls(ctx))


def _request_head(request: web.Request, *, host: str, port: int, path: str) -> bytes:
    lines = [f"{request.method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    for name in FORWARDED_HEADERS:
        for value in request.headers.getall(name, []):
            lines.append(f"{name}: {value}")
    if request.method not in ("GET", "HEAD"):
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise errors.InternalError(f"the kubelet sent a malformed response: {lines[0]!r}") from None
    headers = []
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers.append((name.strip(), value.strip()))
    return status, headers


async def splice(request: web.Request, *, host: str, port: int, path: str, tls: ssl.SSLContext | None = None
                 ) -> web.StreamResponse:
    """Send the upgrade request to ``host:port`` at ``path`` (over ``tls`` when given); relay a 101 and
    copy both ways."""
    try:
        upstream_reader, upstream_writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=HEAD_LIMIT, ssl=tls), CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as err:
        raise errors.InternalError(f"error dialing backend: dial tcp {host}:{port}: {err}") from None
    try:
        upstream_writer.write(_request_head(request, host=host, port=port, path=path))
        try:
            head = await upstream_reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as err:
            raise errors.InternalError(f"the kubelet at {host}:{port} did not answer: {err!r}") from None
        status, headers = _parse_head(head)
        if status != 101:
            length = next((int(v) for k, v in headers if k.lower() == "content-length" and v.isdigit()), None)
            body = await (upstream_reader.readexactly(length) if length is not None else upstream_reader.read(1 << 20))
            content_type = next((v for k, v in headers if k.lower() == "content-type"), "text/plain")
            return web.Response(status=status, body=body, headers={"Content-Type": content_type})
        reply = {k: v for k, v in headers if k.lower() not in DROPPED_RESPONSE_HEADERS}
        resp, client_reader, client_writer = await hijack(request, reply)
        await _copy_both(client_reader, client_writer, upstream_reader, upstream_writer)
        return resp
    finally:
        upstream_writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await upstream_writer.wait_closed()


async def _copy_both(client_reader: asyncio.StreamReader, client_writer: TransportWriter,
                     upstream_reader: asyncio.StreamReader, upstream_writer: asyncio.StreamWriter) -> None:
    """Copy until either side closes; then close both (buffered bytes are still delivered)."""

    async def up() -> None:
        while chunk := await client_reader.read(CHUNK):
            upstream_writer.write(chunk)
            await upstream_writer.drain()

    async def down() -> None:
        while chunk := await upstream_reader.read(CHUNK):
            await client_writer.write(chunk)

    tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await task
        client_writer.close()
