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
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from aiohttp import web

from sampan._lib import urgent as urgent_lane
from sampan._lib.clock import Clock, RealClock
from sampan._lib.loopstall import LoopStallMonitor
from sampan.apiserver import aggregator, discovery, health, routes
from sampan.apiserver.admission import priority
from sampan.apiserver.admission.chain import close_chain
from sampan.apiserver.audit import setup as audit
from sampan.apiserver.authn import Authenticator, InsecureAdmin, authentication_middleware, clusterinfo
from sampan.apiserver.authz import setup as authz_setup
from sampan.apiserver.cacher.resource_cache import ResourceCache
from sampan.apiserver.cacher.watch_cache import WatchCache
from sampan.apiserver.config import APIServerConfig
from sampan.apiserver.context import Scope, ServerContext, storage_prefixes
from sampan.apiserver.customresources import manager as customresources
from sampan.apiserver.flowcontrol import filter as flowcontrol
from sampan.apiserver.handlers import (
    authn_reviews,
    binding,
    componentstatuses,
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
APF_BOOTSTRAP_TIMEOUT = 30.0
"""Seconds start waits for API Priority and Fairness's objects and statuses to be stored (a loaded
machine can take several seconds; a store that is down is waited for by the watch cache anyway)."""
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


def encrypted(storage: Storage, path: str, catalog: Catalog) -> Storage:
    """``storage`` with the EncryptionConfiguration at ``path`` applied (every built-in resource it names,
    and the store root for a ``*.*`` rule)."""
    from sampan.apiserver.encryption.config import load, prefix_rules
    from sampan.apiserver.encryption.storage import EncryptingStorage

    rules = prefix_rules(load(path), storage_prefixes(catalog.strategies(), storage.root), storage.root)
    return EncryptingStorage(storage, rules)


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
    if config.encryption_provider_config:
        storage = encrypted(storage, config.encryption_provider_config, catalog)
    store = metrics.instrument(storage)
    ctx = build_context(config, store, clock=clock, catalog=catalog, metrics=metrics)
    service_hooks.install(ctx, ServiceAllocators.build(store, service_cidr=config.service_cluster_ip_range,
                                                       node_port_range=config.service_node_port_range))
    chain = list(authenticators) if authenticators is not None else _default_chain(config, ctx)
    traced_chain = [TracedAuthenticator(chain)]  # one step per request, only while tracing is on
    # a real authentication chain (TLS serving, or one given) means Node,RBAC by default
    authorization = authz_setup.install(ctx, secure=authenticators is not None or config.tls is not None)
    app = web.Application(client_max_size=config.max_body_bytes + 1024)
    audited = audit.install(app, config.audit, metrics.registry)  # outside the error filter: sees every status
    app.middlewares.extend([tracing_middleware, *(audited.outer if audited else ()), error_middleware,
                            authentication_middleware(traced_chain),
                            *(audited.after_authentication if audited else ()),
                            *authz_setup.middlewares(authorization)])
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
    componentstatuses.register(app)
    authn_reviews.register(app)
    routes.register(app, HANDLERS)
    if config.custom_resources:
        customresources.install(app, ctx, health_checks=checks)
    flow_control = flowcontrol.install(app, ctx, metrics)  # after authentication (and metrics) middlewares
    app.middlewares.append(aggregator.aggregation_middleware(ctx))  # last: aggregated requests are flow-controlled too
    stall_monitor = LoopStallMonitor("kube-apiserver")  # sampan_event_loop_stall_seconds* on /metrics
    stall_monitor.register(metrics.registry)
    app.cleanup_ctx.append(_background(ctx, stall_monitor, flow_control))

    async def end_watches(app: web.Application) -> None:
        # on_shutdown runs before aiohttp waits for in-flight handlers: end every watch stream now
        for cache in ctx.watch_cache.caches:
            for w in list(cache.watchers):
                cache.remove_watcher(w)

    app.on_shutdown.append(end_watches)
    return app


def _default_chain(config: APIServerConfig, ctx: ServerContext) -> list[Authenticator]:
    """Plain HTTP only (no ``tls``): the insecure admin — or, with a static token file, a request carrying
    one of its tokens is that token's user (so API Priority and Fairness classifies it as in a cluster)
    and a request without credentials is the insecure admin; with TLS: the configured chain."""
    if config.tls is None:
        token_file = config.authentication.token_auth_file if config.authentication is not None else None
        if token_file is None:
            return [InsecureAdmin()]
        from sampan.apiserver.authn.static_token import StaticTokens
        from sampan.apiserver.authn.tokens import BearerToken

        return [BearerToken([StaticTokens.from_file(token_file)]), InsecureAdmin()]
    from sampan.apiserver.authn.chain import build_chain
    from sampan.apiserver.authn.options import AuthenticationOptions

    options = config.authentication or AuthenticationOptions(client_ca_file=config.tls.client_ca_file)
    signer = token_handler.signer(ctx)
    return build_chain(options, ctx, signing_keys=[signer.public_key()], signing_issuer=signer.issuer)


def _background(ctx: ServerContext, stall_monitor: LoopStallMonitor,
                extra: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()) -> Any:
    async def run(app: web.Application) -> AsyncIterator[None]:
        config = ctx.config
        urgent_lane.install(asyncio.get_running_loop())  # heartbeats' requests run first (flowcontrol)
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
            await authz_setup.at_start(ctx)
            await clusterinfo.publish(ctx)  # kube-system/extension-apiserver-authentication
            tasks.extend(_service_tasks(ctx))
            tasks.extend(_guarded(f"flowcontrol-{i}", start()) for i, start in enumerate(extra))
            await flowcontrol.wait_initialized(ctx, timeout=APF_BOOTSTRAP_TIMEOUT)  # its objects stored: a still store
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
    return "127.0.0.1" if address in ("localhost", "0.0.0.0", "", "::") else address


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


async def _listen(runner: web.AppRunner, host: str, port: int, ssl_context: ssl.SSLContext | None, *,
                  reuse_port: bool = False) -> int:
    """Start one listener of ``runner``; the bound port."""
    site = web.TCPSite(runner, host, port, reuse_address=True, reuse_port=reuse_port or None,
                       ssl_context=ssl_context)
    await site.start()
    server = site._server
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else port


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
        self.insecure_port = 0
        """The bound ``--insecure-port`` (0 when none is served)."""

    @property
    def url(self) -> str:
        """The main listener's URL (``https://`` with TLS)."""
        host = self.config.bind_address
        host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.config.tls else 'http'}://{host}:{self.port}"

    @property
    def insecure_url(self) -> str:
        """``http://127.0.0.1:<insecure port>``, or "" when no insecure port is served."""
        return f"http://127.0.0.1:{self.insecure_port}" if self.insecure_port else ""

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
        ssl_context = None
        if self.config.tls is not None:
            from sampan.apiserver.serving_tls import server_context

            ssl_context = server_context(self.config.tls)
        reuse = self.config.reuse_port
        self.port = await _listen(self._runner, self.config.bind_address, self.config.port, ssl_context,
                                  reuse_port=reuse)
        if self.config.tls is not None and self.config.insecure_port is not None:
            self.insecure_port = await _listen(self._runner, "127.0.0.1", self.config.insecure_port, None,
                                               reuse_port=reuse)
        serving = self.context.extras.get(SERVING_PORT_KEY)
        if isinstance(serving, asyncio.Future) and not serving.done():
            serving.set_result(self.port)
            await self._wait_bootstrap()
        await self.context.watch_cache.ready.wait()
        log.info("apiserver serving url=%s insecure_url=%s storage=%s", self.url, self.insecure_url or "-",
                 self.config.storage.backend)

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
