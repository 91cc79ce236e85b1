"""Wiring audit into an API server app: the filters, the response hook, the writer tasks."""


from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry

from sampan.apiserver.audit.backend import AuditMetrics, Backend, LogBackend
from sampan.apiserver.audit.middleware import Auditor, audit_middleware, received_middleware, response_prepare
from sampan.apiserver.audit.options import AuditOptions
from sampan.apiserver.audit.policy import load
from sampan.apiserver.audit.rotation import RotatingFile

log = logging.getLogger(__name__)

FLUSH_TIMEOUT = 5.0
"""Seconds a stopping server gives each backend to deliver what is still queued."""


class Installed:
    """What :func:`install` adds: the outer filter, the after-authentication filter, the writer tasks."""

    def __init__(self, auditor: Auditor) -> None:
        self.auditor = auditor
        self.outer: list[Middleware] = [audit_middleware(auditor)]
        self.after_authentication: list[Middleware] = [received_middleware(auditor)]

    def cleanup_ctx(self) -> Callable[[web.Application], Any]:
        backends = self.auditor.backends

        async def run(app: web.Application) -> AsyncIterator[None]:
            tasks = [asyncio.create_task(b.run(), name=f"audit-{b.name}") for b in backends]
            try:
                yield
            finally:
                for t in tasks:
                    t.cancel()
                for t in tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await t
                for b in backends:
                    try:
                        await asyncio.wait_for(b.flush(), FLUSH_TIMEOUT)
                    except Exception as exc:
                        log.error("audit flush failed plugin=%s err=%s", b.name, exc)

        return run


def install(app: web.Application, options: AuditOptions, registry: CollectorRegistry | None) -> Installed | None:
    """Audit ``app``'s requests as ``options`` say; None (nothing installed) when auditing is off."""
    if not options.enabled or options.policy_file is None:
        return None
    policy = load(options.policy_file)
    metrics = AuditMetrics(registry)
    backends: list[Backend] = []
    if options.log_path:
        backends.append(LogBackend(RotatingFile(options.log_path, max_size=options.log_max_size_bytes,
                                                max_backups=options.log_max_backups,
                                                max_age_days=options.log_max_age_days),
                                   metrics=metrics, buffer_size=options.log_buffer_size,
                                   batch_size=options.log_batch_size))
    if options.webhook_config_file is not None:
        from sampan.apiserver.audit.webhook import WebhookBackend

        backends.append(WebhookBackend.from_kubeconfig(options.webhook_config_file, metrics=metrics,
                                                       buffer_size=options.log_buffer_size,
                                                       batch_size=options.log_batch_size,
                                                       max_wait=options.webhook_batch_max_wait,
                                                       initial_backoff=options.webhook_initial_backoff))
    installed = Installed(Auditor(policy, backends, metrics))
    app.on_response_prepare.append(response_prepare(installed.auditor))
    app.cleanup_ctx.append(installed.cleanup_ctx())
    log.info("audit on policy=%s log=%s webhook=%s", options.policy_file, options.log_path or "-",
             options.webhook_config_file or "-")
    return installed

