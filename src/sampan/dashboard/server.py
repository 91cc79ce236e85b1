"""The live view's HTTP face: ``GET /`` the page, ``GET /events`` a server-sent event stream with one
snapshot (:mod:`.snapshot`) every ``interval`` seconds, ``GET /api/snapshot`` one snapshot as JSON, and
``GET /api/trace?uid=U[&ip=IP]`` the object's timeline from the trace store (404 Status without a store).

One producer task gathers snapshots while at least one page listens; each listener has a bounded queue of
one (a slow browser gets the latest snapshot, never a backlog). States: new -> started -> stopped; ``stop``
ends every open event stream before the server shuts down (a stream waits on its queue, which nothing fills
once the producer is gone: left alone it would hold the shutdown for aiohttp's whole 60 s grace and outlive
its event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from importlib import resources
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from sampan.dashboard.snapshot import SnapshotSource
from sampan.tracestore.timeline import build

log = logging.getLogger(__name__)


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
            "code": code}
    return web.Response(status=code, body=orjson.dumps(body), content_type="application/json")


class LiveView:
    def __init__(self, source: SnapshotSource, *, trace_store: str = "", interval: float = 1.0,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.source = source
        self.trace_store = trace_store
        self.interval = interval
        self.host = host
        self.port = port
        self._listeners: set[asyncio.Queue[bytes]] = set()
        self._streams: set[asyncio.Task[Any]] = set()  # the handlers of open /events streams
        self._producer: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_get("/", self._page)
        self.app.router.add_get("/events", self._events)
        self.app.router.add_get("/api/snapshot", self._snapshot)
        self.app.router.add_get("/api/trace", self._trace)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._producer = asyncio.create_task(self._produce(), name="live-view-snapshots")
        log.info("live view serving url=%s", self.url)

    async def stop(self) -> None:
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
        streams = list(self._streams)
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _produce(self) -> None:
        while True:
            if self._listeners:
                try:
                    data = orjson.dumps(await self.source.snapshot())
                except Exception:  # a bad snapshot must not end the stream
                    log.warning("live view snapshot failed", exc_info=True)
                else:
                    for q in list(self._listeners):
                        if q.full():
                            q.get_nowait()  # keep only the latest
                        q.put_nowait(data)
            await asyncio.sleep(self.interval)

    async def _page(self, request: web.Request) -> web.Response:
        html = resources.files("sampan.dashboard").joinpath("static/index.html").read_text()
        return web.Response(text=html, content_type="text/html")

    async def _snapshot(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(await self.source.snapshot()), content_type="application/json")

    async def _events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        q: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1)
        self._listeners.add(q)
        handler = asyncio.current_task()
        assert handler is not None  # aiohttp runs every request's handler in a task of its own
        self._streams.add(handler)
        try:
            while True:
                data = await q.get()
                await resp.write(b"data: " + data + b"\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._listeners.discard(q)
            self._streams.discard(handler)
        return resp

    async def _trace(self, request: web.Request) -> web.Response:
        uid = request.query.get("uid", "")
        if not uid:
            return _status(400, "BadRequest", "give uid=")
        if not self.trace_store:
            return _status(404, "NotFound", "no trace store: start the cluster with `sampan up --trace`")
        query = urllib.parse.urlencode({"uid": uid, "ip": request.query.get("ip", "")})
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http, \
                    http.get(f"{self.trace_store}/v1/spans?{query}") as r:
                doc: dict[str, Any] = orjson.loads(await r.read())
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as e:
            return _status(503, "ServiceUnavailable", f"trace store unreachable: {e}")
        return web.Response(body=orjson.dumps(build(doc.get("spans") or []).to_json()),
                            content_type="application/json")
