"""Wiring flow control into the server: :func:`install` adds, after authentication, either

* API Priority and Fairness (``--enable-priority-and-fairness``, the default): the :class:`~.controller.APF`
  middleware, its response-headers signal, its debug endpoints, its metrics, and its two background
  tasks (configuration from the watch cache, periodic borrowing); or
* upstream's plain max-in-flight limiter: at most ``--max-requests-inflight`` read-only and
  ``--max-mutating-requests-inflight`` mutating requests at once, more get ``429`` at once;
  long-running requests (watches, logs, exec, proxy) and ``system:masters`` are not limited.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from sampan.apiserver.context import ServerContext
from sampan.apiserver.flowcontrol import configwatch, debug
from sampan.apiserver.flowcontrol.bootstrap import SYSTEM_MASTERS
from sampan.apiserver.flowcontrol.controller import APF, Handler, on_response_prepare, too_many_requests
from sampan.apiserver.flowcontrol.metrics import APFMetrics
from sampan.apiserver.metrics import APIMetrics, request_info
from sampan.apiserver.userinfo import request_user

log = logging.getLogger(__name__)

APF_KEY = "sampan.apf"
"""``ctx.extras`` key of the :class:`APF` controller (absent when APF is off)."""
READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})


def apf_middleware(apf: APF) -> Middleware:
    @web.middleware
    async def flow_control(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await apf.serve(request, handler)

    return flow_control


def max_inflight_middleware(*, read_only: int, mutating: int) -> Middleware:
    """Upstream's ``WithMaxInFlightLimit`` (see the module docstring); a limit of 0 means unlimited."""
    in_flight = {"readOnly": 0, "mutating": 0}

    @web.middleware
    async def max_inflight(request: web.Request, handler: Handler) -> web.StreamResponse:
        info = request_info(request.method, request.path, request.query)
        if info.long_running or SYSTEM_MASTERS in request_user(request).groups:
            return await handler(request)
        kind = "readOnly" if request.method in READ_ONLY else "mutating"
        limit = read_only if kind == "readOnly" else mutating
        if limit and in_flight[kind] >= limit:
            return too_many_requests(1)
        in_flight[kind] += 1
        try:
            return await handler(request)
        finally:
            in_flight[kind] -= 1

    return max_inflight


def install(app: web.Application, ctx: ServerContext,
            metrics: APIMetrics) -> list[Callable[[], Coroutine[Any, Any, None]]]:
    """Add flow control to ``app`` (before it starts) as ``ctx.config`` says; returns the background
    coroutine functions the caller must run as owned tasks (empty when APF is off)."""
    config = ctx.config
    if not config.enable_priority_and_fairness:
        app.middlewares.append(max_inflight_middleware(read_only=config.max_requests_inflight,
                                                       mutating=config.max_mutating_requests_inflight))
        return []
    apf = APF(ctx, server_cl=config.max_requests_inflight + config.max_mutating_requests_inflight,
              queue_wait_limit=config.apf_queue_wait_limit, metrics=APFMetrics(metrics.registry))
    ctx.extras[APF_KEY] = apf
    app.middlewares.append(apf_middleware(apf))
    app.on_response_prepare.append(on_response_prepare)
    debug.register(app, apf)

    async def config_task() -> None:
        await configwatch.run_config(ctx, apf)

    async def borrowing_task() -> None:
        await configwatch.run_borrowing(apf, period=config.apf_borrowing_period)

    return [config_task, borrowing_task]


def controller(ctx: ServerContext) -> APF | None:
    found = ctx.extras.get(APF_KEY)
    return found if isinstance(found, APF) else None


async def wait_initialized(ctx: ServerContext, *, timeout: float) -> bool:
    """Until APF's first configuration round is done (True), or ``timeout`` (False); True when APF is off."""
    apf = controller(ctx)
    if apf is None:
        return True
    try:
        await asyncio.wait_for(apf.initialized.wait(), timeout)
    except TimeoutError:
        log.warning("flowcontrol configuration not in force yet; serving anyway timeout=%.1fs", timeout)
        return False
    return True


__all__ = ["APF_KEY", "controller", "install", "max_inflight_middleware", "wait_initialized"]
