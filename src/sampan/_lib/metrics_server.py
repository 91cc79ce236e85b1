"""A small HTTP server for a component's ``GET /metrics`` (Prometheus text) and ``GET /healthz``, for the
components that serve nothing else (the controller-manager and the scheduler; upstream serves both on its secure port,
plain HTTP here). States: new -> started (``port`` is the bound one; 0 asked for any free port) -> stopped.
"""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


class RegistryServer:
    """Serves ``registry`` on ``bind_address:port``."""

    def __init__(self, registry: CollectorRegistry, *, name: str, bind_address: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.registry = registry
        self.name = name
        self.bind_address = bind_address
        self.port = port
        self._runner: web.AppRunner | None = None

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.bind_address, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("metrics serving component=%s address=%s port=%d", self.name, self.bind_address, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.bind_address}:{self.port}"
