"""The kubelet's streaming endpoints, added to its HTTP server (what the API server's ``pods/exec``,
``pods/attach`` and ``pods/portforward`` proxy to), as upstream's kubelet serves them::

    GET|POST /exec/{namespace}/{pod}[/{uid}]/{container}?command=..&stdin=..&stdout=..&stderr=..&tty=..
    GET|POST /attach/{namespace}/{pod}[/{uid}]/{container}?stdin=..&stdout=..&stderr=..&tty=..
    GET|POST /portForward/{namespace}/{pod}[/{uid}][?ports=..]

Each answers a WebSocket upgrade (channel protocols; port-forward also ``SPDY/3.1+portforward.k8s.io``)
or a SPDY/3.1 upgrade (``X-Stream-Protocol-Version`` negotiated). Refusals (unknown pod, container not
running, no protocol in common) are JSON ``Status`` bodies with the HTTP status in ``code``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from sampan.kubelet.streaming import portforward, remotecommand
from sampan.kubelet.streaming.interface import CommandIO, PortConnection, StreamingError, StreamingRuntime
from sampan.streaming import channels
from sampan.streaming.transport import StreamBytes, WebSocketBytes
from sampan.streaming.upgrade import hijack, is_upgrade

log = logging.getLogger(__name__)

FindContainer = Callable[[str, str, str], Awaitable[str | None]]
"""(namespace, pod, container) -> the id of that container's running instance (None: none running)."""
FindSandbox = Callable[[str, str], Awaitable[str | None]]
"""(namespace, pod) -> the id of the pod's ready sandbox (None: the pod runs nowhere here)."""

DEFAULT_IDLE_TIMEOUT = 4 * 3600.0


@dataclass(frozen=True, slots=True)
class StreamingOptions:
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    """``--streaming-connection-idle-timeout``: a connection without traffic this long is closed."""
    stream_creation_timeout: float = 30.0
    """How long a SPDY client may take to open the streams its request announced."""


def _refuse(message: str, code: int) -> web.Response:
    return web.Response(status=code, body=remotecommand.failure_body(message, code), content_type="application/json")


def _offered(request: web.Request) -> list[str]:
    return [p for value in request.headers.getall("X-Stream-Protocol-Version", [])
            for p in channels.split_header(value)]


class StreamingServer:
    """Routes streaming requests to a :class:`StreamingRuntime` for containers ``find_*`` resolves."""

    def __init__(self, runtime: StreamingRuntime, *, find_container: FindContainer, find_sandbox: FindSandbox,
                 options: StreamingOptions | None = None) -> None:
        self.runtime = runtime
        self._find_container = find_container
        self._find_sandbox = find_sandbox
        self.options = options or StreamingOptions()

    def register(self, app: web.Application) -> None:
        for verb, handler in (("exec", self._exec), ("attach", self._attach)):
            for path in (f"/{verb}/{{namespace}}/{{pod}}/{{container}}",
                         f"/{verb}/{{namespace}}/{{pod}}/{{uid}}/{{container}}"):
                app.router.add_route("GET", path, handler)
                app.router.add_route("POST", path, handler)
        for path in ("/portForward/{namespace}/{pod}", "/portForward/{namespace}/{pod}/{uid}"):
            app.router.add_route("GET", path, self._port_forward)
            app.router.add_route("POST", path, self._port_forward)

    async def _container(self, request: web.Request) -> str:
        ns, pod, name = (request.match_info[k] for k in ("namespace", "pod", "container"))
        cid = await self._find_container(ns, pod, name)
        if cid is None:
            raise StreamingError(f'container not found ("{name}")', code=400)
        return cid

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        opts = remotecommand.CommandOptions.from_query(request)
        if not opts.command:
            return _refuse("you must specify at least 1 command", 400)

        async def run(io: CommandIO, cid: str) -> int | None:
            return await self.runtime.exec(cid, list(opts.command), io)

        return await self._remote_command(request, opts, run)

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        opts = remotecommand.CommandOptions.from_query(request)

        async def run(io: CommandIO, cid: str) -> int | None:
            await self.runtime.attach(cid, io)
            return None

        return await self._remote_command(request, opts, run)

    async def _remote_command(self, request: web.Request, opts: remotecommand.CommandOptions,
                              run: Callable[[CommandIO, str], Awaitable[int | None]]) -> web.StreamResponse:
        if not (opts.stdin or opts.stdout or opts.stderr):
            return _refuse("you must specify at least 1 of stdin, stdout, stderr", 400)
        try:
            cid = await self._container(request)
        except StreamingError as err:
            return _refuse(err.message, err.code)

        async def bound(io: CommandIO) -> int | None:
            return await run(io, cid)

        idle = self.options.idle_timeout
        if is_upgrade(request, "websocket"):
            return await remotecommand.serve_websocket(request, opts, bound, idle_timeout=idle)
        if is_upgrade(request, "spdy/3.1"):
            protocol = channels.negotiate(_offered(request), channels.REMOTE_COMMAND_SPDY)
            if protocol is None:
                return _refuse(f"unable to upgrade: unable to negotiate protocol: client supports {_offered(request)}, "
                               f"server supports {list(channels.REMOTE_COMMAND_SPDY)}", 403)
            return await remotecommand.serve_spdy(request, opts, bound, protocol=protocol, idle_timeout=idle,
                                                  stream_creation_timeout=self.options.stream_creation_timeout)
        return _refuse("Upgrade request required", 400)

    async def _port_forward(self, request: web.Request) -> web.StreamResponse:
        ns, pod = request.match_info["namespace"], request.match_info["pod"]
        sandbox = await self._find_sandbox(ns, pod)
        if sandbox is None:
            return _refuse(f"pod {ns}/{pod} not found", 404)

        async def dial(port: int) -> PortConnection:
            return await self.runtime.port_forward(sandbox, port)

        idle = self.options.idle_timeout
        if is_upgrade(request, "websocket"):
            offered = channels.split_header(request.headers.get("Sec-WebSocket-Protocol"))
            if channels.PORT_FORWARD_SPDY_OVER_WEBSOCKET in offered:
                ws = web.WebSocketResponse(protocols=(channels.PORT_FORWARD_SPDY_OVER_WEBSOCKET,), max_msg_size=0)
                await ws.prepare(request)
                await portforward.serve_spdy(WebSocketBytes(ws), dial, idle_timeout=idle)
                return ws
            return await portforward.serve_websocket(request, dial, idle_timeout=idle)
        if is_upgrade(request, "spdy/3.1"):
            if channels.PORT_FORWARD not in _offered(request):
                return _refuse("unable to upgrade: unable to negotiate protocol", 403)
            resp, reader, writer = await hijack(request, {"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                                                          "X-Stream-Protocol-Version": channels.PORT_FORWARD})
            await portforward.serve_spdy(StreamBytes(reader, writer), dial, idle_timeout=idle)
            return resp
        return _refuse("Upgrade request required", 400)
