"""The ``csrapproving`` controller: approves kubelet client certificate requests whose requester may
have them, as upstream's ``sarapprove``.

Keys are CSR names. A request to ``kubernetes.io/kube-apiserver-client-kubelet`` that is neither approved
nor denied, and that passes that signer's restrictions, is matched by two recognizers, in order:

* ``selfnodeclient`` — the requester is the node the certificate names (``spec.username`` equals the
  subject's CN: a kubelet renewing its own certificate);
* ``nodeclient`` — anyone else (a bootstrap token asking for a new node's first certificate).

For the first one that matches, a SubjectAccessReview asks whether the requester may ``create``
``certificatesigningrequests/<recognizer>`` in ``certificates.k8s.io``; when allowed, an ``Approved``
condition (reason ``AutoApproved``) is written through ``/approval``. Nothing is ever denied: requests
this controller will not approve wait for a human (``kubectl certificate approve``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan.api import errors, humanize
from sampan.client import Client, EventHandlerFuncs, SharedIndexInformer, SharedInformerFactory
from sampan.controllers.certificates import requests as r
from sampan.controllers.certificates.signers import KUBELET_CLIENT, kubelet_client
from sampan.controllers.runner import Enqueuer

log = logging.getLogger(__name__)

MESSAGES = {
    "selfnodeclient": "Auto approving self kubelet client certificate after SubjectAccessReview.",
    "nodeclient": "Auto approving kubelet client certificate after SubjectAccessReview.",
}


def recognizer(obj: dict[str, Any]) -> str | None:
    """Which recognizer matches this pending kubelet-client request (None: not a kubelet client request)."""
    if r.signer_name(obj) != KUBELET_CLIENT:
        return None
    try:
        request = r.parse(obj)
    except ValueError:
        return None
    if kubelet_client(request, r.usages(obj)):
        return None
    return "selfnodeclient" if r.spec(obj).get("username") == request.common_name else "nodeclient"


class CSRApprovingController:
    name = "csrapproving"

    def __init__(self, client: Client, factory: SharedInformerFactory, *, clock: Clock | None = None) -> None:
        self._client = client
        self._clock = clock or RealClock()
        self._informer = factory.informer(r.CSR_API, "certificatesigningrequests")
        self.csrs = factory.lister(r.CSR_API, "certificatesigningrequests")

    def informers(self) -> Sequence[SharedIndexInformer]:
        return (self._informer,)

    def watch(self, queue: Enqueuer) -> None:
        self._informer.add_event_handler(EventHandlerFuncs(
            on_add_func=lambda o: queue.add(o["metadata"]["name"]),
            on_update_func=lambda _old, new: queue.add(new["metadata"]["name"])))

    async def _allowed(self, obj: dict[str, Any], subresource: str) -> bool:
        spec = r.spec(obj)
        review: dict[str, Any] = {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": spec.get("username") or "", "uid": spec.get("uid") or "",
                     "groups": list(spec.get("groups") or []), "extra": dict(spec.get("extra") or {}),
                     "resourceAttributes": {"group": "certificates.k8s.io", "resource": "certificatesigningrequests",
                                            "verb": "create", "subresource": subresource}}}
        reviews = await self._client.resource("authorization.k8s.io/v1", "subjectaccessreviews")
        answer = await reviews.create(review)
        return bool((answer.get("status") or {}).get("allowed"))

    async def reconcile(self, key: str) -> None:
        try:
            obj = self.csrs.get(key)
        except errors.NotFound:
            return
        if r.condition(obj, r.APPROVED) or r.condition(obj, r.DENIED) or r.certificate(obj):
            return
        which = recognizer(obj)
        if which is None or not await self._allowed(obj, which):
            return
        now = humanize.format_rfc3339(self._clock.wall())
        status = dict(obj.get("status") or {})
        status["conditions"] = [*r.conditions(obj), {
            "type": r.APPROVED, "status": "True", "reason": "AutoApproved", "message": MESSAGES[which],
            "lastUpdateTime": now, "lastTransitionTime": now}]
        csrs = await self._client.resource(r.CSR_API, "certificatesigningrequests")
        await csrs.update({**obj, "status": status}, subresource="approval")
        log.info("approved csr=%s recognizer=%s requester=%s", key, which, r.spec(obj).get("username"))
