"""The embedded trace store's HTTP face (aiohttp), served by ``sampan up --trace``:

- ``POST /v1/spans`` ``{"spans": [...]}``: ingest (the components' :class:`~sampan._lib.trace_export.StoreSink`);
  a body that is not JSON or too large is a 400/413 with a Status, never stored;
- ``GET /v1/spans?uid=U[&after=SEQ]``: the spans about object ``U`` (see
  :meth:`~sampan.tracestore.store.SpanStore.for_uid`), plus ``last_seq`` for ``--follow``;
- ``GET /v1/spans?recent=N``: the latest N spans;
- ``GET /v1/informer-lag``: per component and informer, the write → handler lag of the latest deliveries
  (:meth:`~sampan.tracestore.store.SpanStore.informer_lag`); ``GET /healthz``.

States: new -> started (``port`` bound; 0 asked for any free port) -> stopped.
"""

from __future__ import annotations

import logging

import orjson
from aiohttp import web

from sampan.tracestore.store import SpanStore

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024 * 1024


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
            "code": code}
    return web.Response(status=code, body=orjson.dumps(body), content_type="application/json")


def add_routes(app: web.Application, store: SpanStore) -> None:
    async def ingest(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _status(400, "BadRequest", "body is not JSON")
        spans = doc.get("spans") if isinstance(doc, dict) else None
        if not isinstance(spans, list):
            return _status(400, "BadRequest", 'body must be {"spans": [...]}')
        n = store.add(spans)
        return web.json_response({"stored": n}, dumps=lambda o: orjson.dumps(o).decode())

    async def query(request: web.Request) -> web.Response:
        q = request.query
        try:
            after = int(q.get("after", "0"))
            recent = int(q.get("recent", "0"))
        except ValueError:
            return _status(400, "BadRequest", "after and recent must be integers")
        uid = q.get("uid", "")
        if uid:
            spans = store.for_uid(uid, after=after, ip=q.get("ip", ""))
        elif recent > 0:
            spans = store.recent(min(recent, 10_000))
        else:
            return _status(400, "BadRequest", "give uid= or recent=")
        return web.Response(body=orjson.dumps({"spans": spans, "last_seq": store.last_seq}),
                            content_type="application/json")

    async def informer_lag(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps({"informers": store.informer_lag()}), content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_post("/v1/spans", ingest)
    app.router.add_get("/v1/spans", query)
    app.router.add_get("/v1/informer-lag", informer_lag)
    app.router.add_get("/healthz", healthz)


class TraceStoreServer:
    def __init__(self, store: SpanStore | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = store or SpanStore()
        self.host = host
        self.port = port
        self.app = web.Application(client_max_size=MAX_BODY)
        add_routes(self.app, self.store)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("trace store serving address=%s port=%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
