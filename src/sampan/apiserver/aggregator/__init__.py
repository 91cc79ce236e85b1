"""The aggregation layer (upstream's kube-aggregator, in-process): APIServices route group-versions.

* :mod:`.autoregister` keeps one ``Local`` APIService per built-in group-version, as upstream does.
* :mod:`.registry` is the live map of *remote* group-versions (APIServices with ``spec.service``), read
  from the watch cache on every request - an APIService created or deleted takes effect at once.
* :mod:`.proxy` forwards ``/apis/<group>/<version>[/...]`` of a remote group-version to one endpoint
  of its Service over TLS (the APIService's ``caBundle``, or no verification when
  ``insecureSkipTLSVerify``), passing the authenticated user in ``X-Remote-User``/``X-Remote-Group``
  (upstream's request-header convention) and dropping the client's own credentials.
* :mod:`.availability` probes each remote group-version's discovery document, writes the ``Available``
  condition, and feeds the fetched resource lists into ``/apis`` discovery (legacy and aggregated), so
  clients (``kubectl top``) find the extension API exactly as they find built-in ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from sampan._lib.tasks import cancel_and_wait
from sampan.apiserver.aggregator.autoregister import ensure_local
from sampan.apiserver.aggregator.availability import AvailabilityController
from sampan.apiserver.aggregator.proxy import aggregation_middleware
from sampan.apiserver.context import ServerContext
from sampan.apiserver.discovery import Discovery

CONTROLLER_KEY = web.AppKey("sampan.aggregator", AvailabilityController)

__all__ = ["CONTROLLER_KEY", "aggregation_middleware", "install"]


def install(app: web.Application, ctx: ServerContext, discovery: Discovery,
            groups: list[tuple[str, list[str]]]) -> AvailabilityController:
    """Register the Local APIServices of ``groups`` at start and run the availability controller for the
    app's life. The proxy middleware is added separately (middlewares are fixed when the app is built)."""
    controller = AvailabilityController(ctx, discovery)
    app[CONTROLLER_KEY] = controller

    async def run(app: web.Application) -> AsyncIterator[None]:
        await ensure_local(ctx, groups)
        task = asyncio.create_task(controller.run(), name="apiservice-availability")
        try:
            yield
        finally:
            await cancel_and_wait([task])

    app.cleanup_ctx.append(run)
    return controller
