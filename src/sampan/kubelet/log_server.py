"""The kubelet's HTTP server: ``GET /containerLogs/{namespace}/{pod}/{container}`` (what the API server's
``pods/log`` proxies to) and ``/healthz``.

Query parameters as upstream's ``PodLogOptions``: ``follow``, ``tailLines``, ``timestamps``, ``previous``,
``limitBytes``, ``sinceSeconds``, ``sinceTime``. The log is the runtime's CRI log file of the container's
current attempt (``previous``: the attempt before it, kept by the pod worker). Errors are plain-text
messages with upstream's wording and status codes (404 unknown pod/container, 400 bad parameter or no
previous container). HTTPS when given a TLS context (``sampan up``: a serving certificate from the
cluster CA, clients must present one from it too), else plain HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from sampan._lib.clock import Clock
from sampan._lib.tasks import cancel_and_wait
from sampan.api.humanize import parse_rfc3339
from sampan.kubelet import logs
from sampan.kubelet.runtime.interface import ContainerState, ContainerStatus, RuntimeFailure

log = logging.getLogger(__name__)

FindContainers = Callable[[str, str, str], Awaitable[list[ContainerStatus] | None]]
"""(namespace, pod, container) -> that container's records newest first; None when the pod is unknown."""
ContainerState_ = Callable[[str], Awaitable[ContainerStatus]]
"""container id -> its current status (the runtime's ``container_status``)."""


class BadLogRequest(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class LogQuery:
    follow: bool = False
    tail: int | None = None
    timestamps: bool = False
    previous: bool = False
    limit_bytes: int | None = None
    since: float | None = None


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1", "yes")


def _int(query: dict[str, str], name: str, *, minimum: int) -> int | None:
    raw = query.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadLogRequest(f"invalid {name}: {raw!r} is not an integer") from None
    if value < minimum:
        raise BadLogRequest(f"{name} must be at least {minimum}")
    return value


def parse_query(query: dict[str, str], *, now: float) -> LogQuery:
    """The log options of a request; BadLogRequest (400) for malformed values."""
    since: float | None = None
    seconds = _int(query, "sinceSeconds", minimum=1)
    if seconds is not None:
        since = now - seconds
    if query.get("sinceTime"):
        since = parse_rfc3339(query["sinceTime"])
        if since is None:
            raise BadLogRequest(f"invalid sinceTime: {query['sinceTime']!r}")
    return LogQuery(follow=_flag(query.get("follow")), tail=_int(query, "tailLines", minimum=0),
                    timestamps=_flag(query.get("timestamps")), previous=_flag(query.get("previous")),
                    limit_bytes=_int(query, "limitBytes", minimum=1), since=since)


def _snapshot(path: str, q: LogQuery) -> tuple[int, bytes]:
    """(size when read, rendered log); (0, b"") when there is no log file (yet, or at all: simulated)."""
    if not path:
        return 0, b""
    try:
        offset = os.path.getsize(path)
        return offset, logs.render(path, tail=q.tail, since=q.since, timestamps=q.timestamps,
                                   limit_bytes=q.limit_bytes)
    except FileNotFoundError:
        return 0, b""


class LogServer:
    """Serves container logs found through ``find``; ``start`` binds, ``stop`` closes."""

    def __init__(self, find: FindContainers, *, status: ContainerState_, clock: Clock, host: str = "127.0.0.1",
                 port: int = 10250, follow_poll: float = 0.1, registry: CollectorRegistry | None = None,
                 extra_routes: Callable[[web.Application], None] | None = None,
                 ssl_context: ssl.SSLContext | None = None, middlewares: Sequence[Middleware] = ()) -> None:
        self._find = find
        self._middlewares = tuple(middlewares)
        self._ssl_context = ssl_context
        self.registry = registry
        self._extra_routes = extra_routes
        self._status = status
        self._clock = clock
        self.host = host
        self.port = port
        self._poll = follow_poll
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=self._middlewares)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        app.router.add_get("/healthz", self._healthz)
        if self.registry is not None:
            app.router.add_get("/metrics", self._metrics)
        if self._extra_routes is not None:
            self._extra_routes(app)
        return app

    async def _metrics(self, _request: web.Request) -> web.Response:
        assert self.registry is not None
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._ssl_context)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            if sockets:
                self.port = int(sockets[0].getsockname()[1])
        log.info("kubelet server listening address=%s:%d tls=%s", self.host, self.port, self._ssl_context is not None)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        ns, pod, name = (request.match_info[k] for k in ("namespace", "pod", "container"))
        try:
            q = parse_query(dict(request.query), now=self._clock.wall())
        except BadLogRequest as err:
            return web.Response(status=400, text=str(err))
        records = await self._find(ns, pod, name)
        if records is None:
            return web.Response(status=404, text=f"pod {ns}/{pod} not found")
        index = 1 if q.previous else 0
        if len(records) <= index:
            if q.previous:
                return web.Response(status=400, text=f'previous terminated container "{name}" in pod "{pod}" '
                                                     "not found")
            return web.Response(status=400, text=f'container "{name}" in pod "{pod}" is waiting to start')
        record = records[index]
        path = record.log_path
        follow = q.follow and not q.previous and record.state is ContainerState.RUNNING
        offset, body = await asyncio.to_thread(_snapshot, path, q)
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        await resp.write(body)
        if follow and (q.limit_bytes is None or len(body) < q.limit_bytes):
            waits = {asyncio.ensure_future(self._follow(resp, path, q, offset=offset, sent=len(body))),
                     asyncio.ensure_future(self._until_exited(record.id))}
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                await cancel_and_wait(waits)  # both: the exit poller must not outlive the request
        await resp.write_eof()
        return resp

    async def _until_exited(self, container_id: str) -> None:
        """Return once the container stopped (plus two polls, so its last lines are sent)."""
        while True:
            try:
                st = await self._status(container_id)
            except RuntimeFailure:
                break
            if st.state is not ContainerState.RUNNING:
                break
            await self._clock.sleep(self._poll)
        await self._clock.sleep(2 * self._poll)

    async def _follow(self, resp: web.StreamResponse, path: str, q: LogQuery, *, offset: int, sent: int) -> None:
        try:
            async for chunk in logs.follow(path, clock=self._clock, poll=self._poll, timestamps=q.timestamps,
                                           offset=offset):
                if q.limit_bytes is not None:
                    chunk = chunk[: q.limit_bytes - sent]
                await resp.write(chunk)
                sent += len(chunk)
                if q.limit_bytes is not None and sent >= q.limit_bytes:
                    return
        except (ConnectionResetError, FileNotFoundError):
            return
