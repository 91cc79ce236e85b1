"""Assembling the API server: the aiohttp application and the :class:`APIServer` that serves it.

``build_app(config, storage)`` wires everything (context, watch cache, routes, discovery, health,
metrics) into an ``aiohttp.web.Application``; its cleanup context owns the background tasks (watch
cache feed, bookmarks, compaction) and creates the system namespaces, so the app is complete wherever
it runs. :class:`APIServer` adds the listening socket: ``await server.start()`` (port 0 picks a free
port; ``server.url`` tells which), ``await server.stop()``, or ``await server.run()`` until cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any

from aiohttp import web

from sampan._lib.clock import Clock, RealClock
from sampan._lib.loopstall import LoopStallMonitor
from sampan.apiserver import aggregator, discovery, health, routes
from sampan.apiserver.admission import priority
from sampan.apiserver.admission.chain import close_chain
from sampan.apiserver.authn import Authenticator, InsecureAdmin, authentication_middleware
from sampan.apiserver.cacher.resource_cache import ResourceCache
from sampan.apiserver.cacher.watch_cache import WatchCache
from sampan.apiserver.config import APIServerConfig
from sampan.apiserver.context import Scope, ServerContext, storage_prefixes
from sampan.apiserver.customresources import manager as customresources
from sampan.apiserver.handlers import (
    binding,
    connect,
    create,
    delete,
    deletecollection,
    eviction,
    get,
    patch,
    proxy,
    reviews,
    scale,
    update,
    watch,
)
from sampan.apiserver.handlers import list as list_handler
from sampan.apiserver.handlers import log as log_handler
from sampan.apiserver.handlers import token as token_handler
from sampan.apiserver.lifecycle import ensure_system_namespaces
from sampan.apiserver.metrics import APIMetrics
from sampan.apiserver.registry.catalog import Catalog
from sampan.apiserver.registry.conversion import storage_gv, view_for
from sampan.apiserver.request_tracing import TracedAuthenticator, tracing_middleware
from sampan.apiserver.responses import error_middleware
from sampan.apiserver.services import hooks as service_hooks
from sampan.apiserver.services.allocators import ServiceAllocators
from sampan.apiserver.services.kubernetes_service import KubernetesService
from sampan.apiserver.services.repair import Repair
from sampan.storage import Storage
from sampan.storage.compactor import Compactor, CompactorOptions
from sampan.storage.factory import open_storage

log = logging.getLogger(__name__)

SERVING_PORT_KEY = "serving-port"
"""``ctx.extras`` key of a future resolved with the bound port once the server listens."""
KUBERNETES_SERVICE_KEY = "kubernetes-service"
"""``ctx.extras`` key of the :class:`KubernetesService` keeping ``default/kubernetes``."""
BOOTSTRAP_TIMEOUT = 5.0
"""Seconds ``APIServer.start`` waits for the ``kubernetes`` Service's first round."""
SHUTDOWN_TIMEOUT = 5.0
MAX_LINE = 64 * 1024
"""Seconds a stopping server waits for in-flight requests (watches are ended at once)."""

HANDLERS: dict[str, routes.Handler] = {
    "get": get.handle,
    "list": list_handler.handle,
    "watch": watch.handle,
    "create": create.handle,
    "update": update.handle,
    "delete": delete.handle,
    "deletecollection": deletecollection.handle,
    "bind": binding.handle,
    "patch": patch.handle,
    "getscale": scale.handle_get,
    "updatescale": scale.handle_update,
    "evict": eviction.handle,
    "getlog": log_handler.handle,
    "connectexec": connect.handle_exec,
    "connectattach": connect.handle_attach,
    "connectportforward": connect.handle_portforward,
    "proxy": proxy.handle,
    "createtoken": token_handler.handle,
}


def build_context(
    config: APIServerConfig, storage: Storage, *, clock: Clock, catalog: Catalog, metrics: APIMetrics | None
) -> ServerContext:
    strategies = catalog.strategies()
    prefixes = storage_prefixes(strategies, storage.root)
    caches: dict[str, ResourceCache] = {}
    scopes: dict[tuple[str, str, str], Scope] = {}
    for s in sorted(strategies, key=lambda st: storage_gv(st) is not None):  # storage forms make the caches
        prefix = prefixes[(s.info.group, s.info.resource)]
        cache = caches.get(prefix)
        if cache is None:
            cache = caches[prefix] = ResourceCache(
                prefix, kind=s.info.kind, api_version=s.info.group_version, field_values_of=s.field_values,
                window_size=config.default_watch_cache_size, watcher_capacity=config.watcher_queue_size,
            )
        scopes[(s.info.group, s.info.version, s.info.resource)] = Scope(s, prefix, cache, view_for(s))
    watch_cache = WatchCache(storage, caches.values(), clock=clock, bookmark_interval=config.bookmark_interval,
                             page_size=config.list_page_size)
    return ServerContext(config=config, store=storage, clock=clock, watch_cache=watch_cache, scopes=scopes,
                         catalog=catalog, metrics=metrics)


def _guarded(name: str, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A background task that logs if it ever dies (its owner cancels it at shutdown)."""
    task = asyncio.create_task(coro, name=name)

    def done(t: asyncio.Task[None]) -> None:
        if not t.cancelled() and t.exception() is not None:
            log.error("background task died task=%s", name, exc_info=t.exception())

    task.add_done_callback(done)
    return task


def build_app(
    config: APIServerConfig,
    storage: Storage,
    *,
    clock: Clock | None = None,
    catalog: Catalog | None = None,
    metrics: APIMetrics | None = None,
    authenticators: Sequence[Authenticator] | None = None,
) -> web.Application:
    """The complete API server application over ``storage`` (which the caller owns and closes).

    ``authenticators`` is the authentication chain; without one every request is the insecure admin."""
    clock = clock or RealClock()
    catalog = catalog or Catalog.builtin()
    if metrics is None:
        metrics = APIMetrics(kind_of=lambda g, v, r: (s.info.kind if (s := catalog.lookup(g, v, r)) else None))
    store = metrics.instrument(storage)
    ctx = build_context(config, store, clock=clock, catalog=catalog, metrics=metrics)
    service_hooks.install(ctx, ServiceAllocators.build(store, service_cidr=config.service_cluster_ip_range,
                                                       node_port_range=config.service_node_port_range))
    chain = list(authenticators) if authenticators is not None else [InsecureAdmin()]
    traced_chain = [TracedAuthenticator(a) for a in chain]  # spans only while tracing is on
    app = web.Application(middlewares=[tracing_middleware, error_middleware, authentication_middleware(traced_chain),
                                       aggregator.aggregation_middleware(ctx)],
                          client_max_size=config.max_body_bytes + 1024)
    app[routes.CONTEXT_KEY] = ctx

    checks = health.HealthChecks()

    async def store_check() -> str | None:
        try:
            await store.current_revision()
        except Exception as exc:
            return f"storage unavailable: {exc}"
        return None

    def cache_check() -> str | None:
        return None if ctx.watch_cache.ready.is_set() else "watch cache not loaded"

    checks.add("etcd", store_check)
    checks.add("informer-sync", cache_check, readiness_only=True)
    disc = discovery.register(app, catalog, health_checks=checks, metrics=metrics,
                              serves=routes.served_subresources(HANDLERS))
    aggregator.install(app, ctx, disc, catalog.groups())
    reviews.register(app)
    routes.register(app, HANDLERS)
    if config.custom_resources:
        customresources.install(app, ctx, health_checks=checks)
    stall_monitor = LoopStallMonitor("kube-apiserver")  # sampan_event_loop_stall_seconds* on /metrics
    stall_monitor.register(metrics.registry)
    app.cleanup_ctx.append(_background(ctx, stall_monitor))

    async def end_watches(app: web.Application) -> None:
        # on_shutdown runs before aiohttp waits for in-flight handlers: end every watch stream now
        for cache in ctx.watch_cache.caches:
            for w in list(cache.watchers):
                cache.remove_watcher(w)

    app.on_shutdown.append(end_watches)
    return app


def _background(ctx: ServerContext, stall_monitor: LoopStallMonitor) -> Any:
    async def run(app: web.Application) -> AsyncIterator[None]:
        config = ctx.config
        tasks = [
            _guarded("loop-stall", stall_monitor.run()),
            _guarded("watch-cache", ctx.watch_cache.run()),
            _guarded("bookmarks", ctx.watch_cache.run_bookmarks()),
            _guarded("compactor", Compactor(ctx.store, CompactorOptions(interval=config.compaction_interval),
                                            ctx.clock).run()),
        ]
        try:
            await ensure_system_namespaces(ctx, config.system_namespaces)
            await priority.ensure_builtin(ctx)
            tasks.extend(_service_tasks(ctx))
            yield
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            await close_chain(ctx)

    return run


def _ip_of(address: str) -> str:
    return "127.0.0.1" if address == "localhost" else address


def _service_tasks(ctx: ServerContext) -> list[asyncio.Task[None]]:
    """The repair loop of the service ranges and (once the port is known) the ``kubernetes`` Service."""
    config = ctx.config
    allocators = service_hooks.allocators(ctx)
    services = ctx.scope("", "v1", "services")
    if allocators is None or services is None:
        return []
    repair = Repair(ctx.store, services, allocators, clock=ctx.clock, interval=config.service_repair_interval,
                    leak_repairs=config.service_leak_repairs)
    tasks = [_guarded("service-repair", repair.run())]
    if config.kubernetes_service:
        port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        ctx.extras[SERVING_PORT_KEY] = port

        async def kubernetes_service() -> None:
            bound = await port
            keeper = KubernetesService(ctx, cluster_ip=allocators.ip_range.nth(1),
                                       address=config.advertise_address or _ip_of(config.bind_address), port=bound,
                                       interval=config.endpoint_reconciler_interval, ttl=config.master_lease_ttl)
            ctx.extras[KUBERNETES_SERVICE_KEY] = keeper
            await keeper.run()

        tasks.append(_guarded("kubernetes-service", kubernetes_service()))
    return tasks


class APIServer:
    """A listening API server. States: new -> started (``url`` valid) -> stopped.

    With ``storage`` given, the caller owns it; otherwise the server opens ``config.storage`` and closes
    it on stop.
    """

    def __init__(
        self,
        config: APIServerConfig,
        *,
        storage: Storage | None = None,
        clock: Clock | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.config = config
        self._storage = storage
        self._owns_storage = storage is None
        self._clock = clock
        self._catalog = catalog
        self._runner: web.AppRunner | None = None
        self.app: web.Application | None = None
        self.port = 0

    @property
    def url(self) -> str:
        host = self.config.bind_address
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def context(self) -> ServerContext:
        assert self.app is not None, "server not started"
        return self.app[routes.CONTEXT_KEY]

    async def start(self) -> None:
        """Open the store (if needed), bind, start background work and wait until the cache is loaded."""
        if self._storage is None:
            self._storage = await open_storage(self.config.storage)
        self.app = build_app(self.config, self._storage, clock=self._clock, catalog=self._catalog)
        # long label/field selectors make long request lines; upstream (Go) accepts up to 1 MiB of headers
        self._runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None,
                                     shutdown_timeout=SHUTDOWN_TIMEOUT, max_line_size=MAX_LINE,
                                     max_field_size=MAX_LINE)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.bind_address, self.config.port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.config.port
        serving = self.context.extras.get(SERVING_PORT_KEY)
        if isinstance(serving, asyncio.Future) and not serving.done():
            serving.set_result(self.port)
            await self._wait_bootstrap()
        await self.context.watch_cache.ready.wait()
        log.info("apiserver serving url=%s storage=%s", self.url, self.config.storage.backend)

    async def _wait_bootstrap(self) -> None:
        """Until the ``kubernetes`` Service exists and this server is in its endpoints (bounded)."""
        deadline = asyncio.get_running_loop().time() + BOOTSTRAP_TIMEOUT
        while asyncio.get_running_loop().time() < deadline:
            keeper = self.context.extras.get(KUBERNETES_SERVICE_KEY)
            if isinstance(keeper, KubernetesService):
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(keeper.initialized.wait(), deadline - asyncio.get_running_loop().time())
                return
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._owns_storage and self._storage is not None:
            await self._storage.close()
            self._storage = None

    async def run(self) -> None:
        """Serve until cancelled (also while still starting: whatever started is stopped)."""
        try:
            await self.start()
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> APIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
