"""The ``csrsigning`` controller: issues certificates for approved requests to the built-in
``kubernetes.io/*`` signers with the cluster CA (``--cluster-signing-cert-file``/``-key-file``), as
upstream's csrsigning controllers.

Keys are CSR names. ``reconcile`` acts only on a request that is Approved, not Failed, without a
certificate and addressed to one of :data:`~.signers.CHECKS`: it checks the signer's restrictions and
writes either the certificate (valid for ``expirationSeconds``, at most ``--cluster-signing-duration``)
or a ``Failed`` condition (reason ``SignerValidationFailure``) through ``/status``. A Conflict is retried
by the runner from the fresh object, so a request is signed at most once (the API server refuses to
change an issued certificate anyway).
"""

from __future__ import annotations

import base64
import datetime
import logging
from collections.abc import Sequence
from typing import Any

from sampan._lib import csr
from sampan._lib.clock import Clock, RealClock
from sampan._lib.pki import CertificateAuthority, cert_pem
from sampan.api import errors, humanize
from sampan.client import Client, EventHandlerFuncs, SharedIndexInformer, SharedInformerFactory
from sampan.controllers.certificates import requests as r
from sampan.controllers.certificates.signers import CHECKS
from sampan.controllers.runner import Enqueuer

log = logging.getLogger(__name__)

MIN_DURATION = 600.0
"""Upstream never issues for less than ten minutes."""


def lifetime(obj: dict[str, Any], signing_duration: float) -> datetime.timedelta:
    """The issued certificate's lifetime: ``expirationSeconds`` when set, bounded by the signing duration."""
    requested = r.spec(obj).get("expirationSeconds")
    seconds = signing_duration
    if isinstance(requested, int) and not isinstance(requested, bool):
        seconds = min(max(float(requested), MIN_DURATION), signing_duration)
    return datetime.timedelta(seconds=seconds)


class CSRSigningController:
    name = "csrsigning"

    def __init__(self, client: Client, factory: SharedInformerFactory, *, ca: CertificateAuthority,
                 signing_duration: float, clock: Clock | None = None) -> None:
        self._client = client
        self._clock = clock or RealClock()
        self._ca = ca
        self._duration = signing_duration
        self._informer = factory.informer(r.CSR_API, "certificatesigningrequests")
        self.csrs = factory.lister(r.CSR_API, "certificatesigningrequests")

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._informer,)

    def watch(self, queue: Enqueuer) -> None:
        self._informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda o: queue.add(o["metadata"]["name"]),
            on_update_func=lambda _old, new: queue.add(new["metadata"]["name"])))

    async def reconcile(self, key: str) -> None:
        try:
            obj = self.csrs.get(key)
        except errors.NotFound:
            return
        check = CHECKS.get(r.signer_name(obj))
        if check is None or not r.condition(obj, r.APPROVED) or r.condition(obj, r.FAILED) or r.certificate(obj):
            return
        try:
            request = r.parse(obj)
            problem = check(request, r.usages(obj))
        except ValueError as exc:
            problem, request = f"unable to parse csr {key!r}: {exc}", None
        status = dict(obj.get("status") or {})
        if problem or request is None:
            now = humanize.format_rfc3339(self._clock.wall())
            status["conditions"] = [*r.conditions(obj), {
                "type": r.FAILED, "status": "True", "reason": "SignerValidationFailure", "message": problem,
                "lastUpdateTime": now, "lastTransitionTime": now}]
            log.info("refused csr=%s signer=%s reason=%s", key, r.signer_name(obj), problem)
        else:
            cert = csr.sign(self._ca, request, usages=r.usages(obj), lifetime=lifetime(obj, self._duration))
            status["certificate"] = base64.b64encode(cert_pem(cert)).decode()
            log.info("signed csr=%s signer=%s subject=%s", key, r.signer_name(obj), request.common_name)
        csrs = await self._client.resource(r.CSR_API, "certificatesigningrequests")
        await csrs.update({**obj, "status": status}, subresource="status")
