"""The metrics-server process: scrape loop, label caches, HTTPS API, registration.

Invariant: one scrape pass at a time, every ``metric_resolution`` seconds; a kubelet that fails to answer
keeps its previous points (its figures age, they do not vanish) until its Node is gone.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from sampan._lib.pki import client_ssl_context
from sampan._lib.tasks import cancel_and_wait
from sampan.client import Client
from sampan.metricsserver import registration
from sampan.metricsserver.api import MetricsAPI
from sampan.metricsserver.authn import authentication_middleware, load_authentication
from sampan.metricsserver.authz import DelegatedAuthorizer
from sampan.metricsserver.scrape import Store, kubelet_url, scrape
from sampan.metricsserver.tls import self_signed_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricsServerOptions:
    bind_address: str = "127.0.0.1"
    secure_port: int = 4443
    """0 picks a free port."""
    metric_resolution: float = 15.0
    """Seconds between scrapes (upstream's ``--metric-resolution``, 15 s)."""
    scrape_timeout: float = 10.0
    kubelet_scheme: str = "http"
    """How kubelets serve ``/metrics/resource`` here (``https`` once kubelets serve TLS)."""
    kubelet_client_certificate: Path | None = None
    """``--kubelet-client-certificate`` (with ``--kubelet-client-key``): presented to kubelets that serve TLS
    and require client certificates (``sampan up``)."""
    kubelet_client_key: Path | None = None
    kubelet_certificate_authority: Path | None = None
    """``--kubelet-certificate-authority``: verify kubelets' serving certificates (unset: not verified)."""
    cert_dir: Path = Path(".sampan/metrics-server")
    register: bool = True
    """Create/refresh the Service, Endpoints and APIService at start."""


class MetricsServer:
    def __init__(self, client: Client, options: MetricsServerOptions) -> None:
        self.client = client
        self.options = options
        self.store = Store()
        self.scrapes = 0
        self.port = 0
        self._node_labels: dict[str, Mapping[str, str]] = {}
        self._pod_labels: dict[str, Mapping[str, str]] = {}
        self.api = MetricsAPI(self.store, node_labels=lambda: self._node_labels, pod_labels=lambda: self._pod_labels)
        self.serving = asyncio.Event()

    async def scrape_once(self, session: aiohttp.ClientSession) -> None:
        nodes = (await (await self.client.resource("v1", "nodes")).list())["items"]
        pods = (await (await self.client.resource("v1", "pods")).list())["items"]
        self._node_labels = {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in nodes}
        self._pod_labels = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p["metadata"].get("labels") or {}
                            for p in pods}
        self.store.forget_nodes_except(set(self._node_labels))

        async def one(node: dict[str, object]) -> None:
            name = str(node["metadata"]["name"])  # type: ignore[index]
            url = kubelet_url(node, scheme=self.options.kubelet_scheme)
            if url is None:
                return
            try:
                text = await scrape(session, url, timeout=self.options.scrape_timeout)
            except (aiohttp.ClientError, TimeoutError, OSError) as err:
                log.warning("scrape failed node=%s url=%s err=%s", name, url, err)
                return
            self.store.ingest(name, text, scraped_at=time.time())

        await asyncio.gather(*(one(n) for n in nodes))
        self.scrapes += 1

    async def _scrape_loop(self) -> None:
        tls: ssl.SSLContext | bool = False  # https kubelets without a client certificate: not verified
        if self.options.kubelet_client_certificate is not None or self.options.kubelet_certificate_authority:
            tls = client_ssl_context(ca_file=self.options.kubelet_certificate_authority,
                                     cert_file=self.options.kubelet_client_certificate,
                                     key_file=self.options.kubelet_client_key)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as session:
            while True:
                try:
                    await self.scrape_once(session)
                except asyncio.CancelledError:
                    raise
                except Exception as err:  # the API server away: keep the last figures, try again
                    log.warning("scrape pass failed err=%s", err)
                await asyncio.sleep(self.options.metric_resolution)

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def run(self) -> None:
        settings = await load_authentication(self.client)  # who may call us: the front proxy (see authn)
        app = web.Application(middlewares=[authentication_middleware(settings, DelegatedAuthorizer(self.client))])
        self.api.register(app)
        for path in ("/healthz", "/livez", "/readyz"):
            app.router.add_get(path, self._healthz)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        context = self_signed_context(self.options.cert_dir, host=self.options.bind_address)
        settings.server_context(context)
        site = web.TCPSite(runner, self.options.bind_address, self.options.secure_port, ssl_context=context)
        await site.start()
        self.port = int(runner.addresses[0][1])
        log.info("metrics-server serving address=%s port=%d", self.options.bind_address, self.port)
        loop = asyncio.create_task(self._scrape_loop(), name="metrics-scrape")
        try:
            if self.options.register:
                await registration.register(self.client, host=self.options.bind_address, port=self.port)
            self.serving.set()
            await loop
        finally:
            await cancel_and_wait([loop])
            await runner.cleanup()
