"""The ``csrcleaner`` controller: deletes requests nobody needs any more, with upstream's ages:
a pending request after 24 h, an approved, denied or failed one an hour after that condition, and an
issued one once its certificate has expired.

Keys are CSR names; ``reconcile`` is level-based and asks to be called again when the request's
deadline comes (:func:`deadline`), so nothing polls.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from typing import Any

from cryptography import x509

from sampan._lib.clock import Clock
from sampan.api import errors, humanize
from sampan.client import Client, EventHandlerFuncs, SharedIndexInformer, SharedInformerFactory
from sampan.controllers.certificates import requests as r
from sampan.controllers.runner import Enqueuer, Result

log = logging.getLogger(__name__)

PENDING_EXPIRATION = 24 * 3600.0
APPROVED_EXPIRATION = 3600.0
DENIED_EXPIRATION = 3600.0
FAILED_EXPIRATION = 3600.0


def _since(c: dict[str, Any] | None, created: float) -> float:
    if c is None:
        return created
    return humanize.parse_rfc3339(c.get("lastUpdateTime")) or created


def _not_after(obj: dict[str, Any]) -> float | None:
    try:
        cert = x509.load_pem_x509_certificate(base64.b64decode(r.certificate(obj)))
    except (ValueError, binascii.Error):
        return None
    return cert.not_valid_after_utc.timestamp()


def deadline(obj: dict[str, Any]) -> float:
    """When ``obj`` is to be deleted (epoch seconds): the earliest of the rules that apply to it."""
    created = humanize.parse_rfc3339((obj.get("metadata") or {}).get("creationTimestamp")) or 0.0
    times: list[float] = []
    if r.certificate(obj):
        expiry = _not_after(obj)
        if expiry is not None:
            times.append(expiry)
    for ctype, after in ((r.APPROVED, APPROVED_EXPIRATION), (r.DENIED, DENIED_EXPIRATION),
                         (r.FAILED, FAILED_EXPIRATION)):
        c = r.condition(obj, ctype)
        if c is not None:
            times.append(_since(c, created) + after)
    if not r.condition(obj, r.APPROVED) and not r.condition(obj, r.DENIED):
        times.append(created + PENDING_EXPIRATION)
    return min(times)


class CSRCleaner:
    name = "csrcleaner"

    def __init__(self, client: Client, factory: SharedInformerFactory, *, clock: Clock) -> None:
        self._client = client
        self._clock = clock
        self._informer = factory.informer(r.CSR_API, "certificatesigningrequests")
        self.csrs = factory.lister(r.CSR_API, "certificatesigningrequests")

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._informer,)

    def watch(self, queue: Enqueuer) -> None:
        self._informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda o: queue.add(o["metadata"]["name"]),
            on_update_func=lambda _old, new: queue.add(new["metadata"]["name"])))

    async def reconcile(self, key: str) -> Result | None:
        try:
            obj = self.csrs.get(key)
        except errors.NotFound:
            return None
        wait = deadline(obj) - self._clock.wall()
        if wait > 0:
            return Result(requeue_after=wait)
        csrs = await self._client.resource(r.CSR_API, "certificatesigningrequests")
        try:
            await csrs.delete(key)
        except errors.NotFound:
            return None
        log.info("cleaned up csr=%s", key)
        return None
