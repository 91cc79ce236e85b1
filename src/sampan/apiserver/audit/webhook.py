"""The audit webhook backend (``--audit-webhook-config-file``, upstream's batch mode).

Events are queued (bounded, dropped when full, as :mod:`.backend` documents) and POSTed as an
``audit.k8s.io/v1`` ``EventList`` to the server the kubeconfig names, in batches of up to
``batch_size`` events; a batch is sent once full or ``max_wait`` seconds after its first event. A failed
POST (connection error or a non-2xx answer) is retried after ``initial_backoff`` seconds, doubling, three
tries in all; then the batch is dropped and counted in ``apiserver_audit_error_total{plugin="webhook"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from sampan.apiserver.audit.backend import DEFAULT_BATCH_SIZE, DEFAULT_BUFFER_SIZE, AuditMetrics, BufferedBackend

log = logging.getLogger(__name__)

TRIES = 3
POST_TIMEOUT = 30.0


class WebhookBackend(BufferedBackend):
    name = "webhook"

    def __init__(self, url: str, *, tls: ssl.SSLContext | None, token: str | None, metrics: AuditMetrics,
                 buffer_size: int = DEFAULT_BUFFER_SIZE, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_wait: float = 30.0, initial_backoff: float = 10.0) -> None:
        super().__init__(metrics=metrics, buffer_size=buffer_size, batch_size=batch_size)
        self.url = url
        self.tls = tls
        self.token = token
        self.max_wait = max_wait
        self.initial_backoff = initial_backoff
        self.sent_batches = 0

    @classmethod
    def from_kubeconfig(cls, path: Path, **kwargs: Any) -> WebhookBackend:
        """The backend for the server (and credentials) of ``path``'s current context."""
        from sampan.client.kubeconfig import load_config

        cfg = load_config(str(path))
        return cls(cfg.host, tls=cfg.ssl_context(), token=cfg.token(), **kwargs)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.batch_size:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), remaining))
                except TimeoutError:
                    break
            await self._deliver_counting(batch)

    async def deliver(self, batch: list[dict[str, Any]]) -> None:
        body = orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": batch})
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        delay = self.initial_backoff
        for attempt in range(1, TRIES + 1):
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT)) as session, \
                        session.post(self.url, data=body, headers=headers, ssl=self.tls or False) as resp:
                    if 200 <= resp.status < 300:
                        self.sent_batches += 1
                        return
                    problem = f"status {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = str(exc) or type(exc).__name__
            if attempt == TRIES:
                raise RuntimeError(f"audit webhook {self.url}: {problem}")
            log.warning("audit webhook failed, retrying url=%s attempt=%d err=%s", self.url, attempt, problem)
            await asyncio.sleep(delay)
            delay *= 2

    async def flush(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await super().flush()
