"""The audit filters: where a request's audit stages are decided and emitted.

* :func:`audit_middleware` runs outside the error filter (it sees the final status of every response,
  a 401 included): it starts the :class:`AuditContext`, makes it current for admission
  (:mod:`.context`), and emits ``ResponseComplete`` — or ``Panic`` when an exception escapes;
* :func:`received_middleware` runs right after authentication: it evaluates the policy for the
  authenticated user (before impersonation, as upstream) and emits ``RequestReceived``;
* :func:`on_response_prepare` adds the ``Audit-Id`` header to every response and emits
  ``ResponseStarted`` when a long-running request (watch, proxy, exec, attach, port-forward, log)
  sends its headers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from sampan.apiserver.audit.backend import AuditMetrics, Backend
from sampan.apiserver.audit.context import CURRENT
from sampan.apiserver.audit.event import AUDIT_ID_HEADER, AuditContext, new_audit_id
from sampan.apiserver.audit.policy import COMPLETE, PANIC, RECEIVED, REQUEST, REQUEST_RESPONSE, STARTED, Policy
from sampan.apiserver.authz.filters import request_attributes
from sampan.apiserver.bodies import BODY_KEY, decode_quietly, media_type
from sampan.apiserver.userinfo import UserInfo, request_user

log = logging.getLogger(__name__)

AUDIT_KEY = "sampan.audit"
LONG_RUNNING_VERBS = frozenset({"watch", "proxy"})
LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "proxy", "log", "portforward"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Auditor:
    """The policy and the backends; :meth:`emit` hands an event to each (never blocking)."""

    def __init__(self, policy: Policy, backends: Sequence[Backend], metrics: AuditMetrics) -> None:
        self.policy = policy
        self.backends = tuple(backends)
        self.metrics = metrics

    def emit(self, event: dict[str, Any] | None) -> None:
        if event is None:
            return
        self.metrics.events.inc()
        for backend in self.backends:
            backend.process(event)

    def decide(self, ac: AuditContext, request: web.BaseRequest, user: UserInfo) -> None:
        info = request_attributes(request)
        ac.set_request(user, info, self.policy.decide(user, info))


def source_ips(request: web.BaseRequest) -> list[str]:
    """``X-Forwarded-For``'s addresses, ``X-Real-Ip``, then the peer (upstream's ``SourceIPs``)."""
    ips = [ip.strip() for ip in request.headers.get("X-Forwarded-For", "").split(",") if ip.strip()]
    real = request.headers.get("X-Real-Ip", "").strip()
    if real and real not in ips:
        ips.append(real)
    if request.remote and request.remote not in ips:
        ips.append(request.remote)
    return ips


def _is_long_running(ac: AuditContext) -> bool:
    info = ac.info
    return info is not None and (info.verb in LONG_RUNNING_VERBS or info.subresource in LONG_RUNNING_SUBRESOURCES)


def audit_middleware(auditor: Auditor) -> Middleware:
    @web.middleware
    async def audit(request: web.Request, handler: Handler) -> web.StreamResponse:
        ac = AuditContext(new_audit_id(request.headers.get("Audit-ID")), request.path_qs, source_ips(request),
                          request.headers.get("User-Agent", ""))
        request[AUDIT_KEY] = ac
        token = CURRENT.set(ac)
        try:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                _complete(auditor, ac, request, exc.status, None)
                raise
            except asyncio.CancelledError:  # the client left a long-running request (an exec, a log follow)
                if ac.started_code is not None:
                    _complete(auditor, ac, request, ac.started_code, None)
                raise
            except Exception:
                if ac.info is None:
                    auditor.decide(ac, request, UserInfo(""))
                auditor.emit(ac.event(PANIC, code=500))
                raise
            _complete(auditor, ac, request, response.status, response)
            return response
        finally:
            CURRENT.reset(token)

    return audit


def _complete(auditor: Auditor, ac: AuditContext, request: web.Request, code: int,
              response: web.StreamResponse | None) -> None:
    if ac.info is None:  # authentication failed: judged as the user nobody is
        auditor.decide(ac, request, UserInfo(""))
    if not ac.decision.recorded or COMPLETE in ac.decision.omit_stages:
        return
    user = request_user(request)
    if ac.user.username and user != ac.user:
        ac.impersonated = user
    level = ac.decision.level
    request_body = None
    if ac.info is not None and ac.info.verb in ("create", "update", "patch"):
        raw = request.get(BODY_KEY)
        if isinstance(raw, bytes | bytearray):
            body = decode_quietly(bytes(raw), ctype=media_type(request))
            if ac.info.verb == "create":
                ac.fill_object_ref(body)
            request_body = body if level in (REQUEST, REQUEST_RESPONSE) else None
    response_body = None
    wanted = code >= 300 or level == REQUEST_RESPONSE
    if wanted and isinstance(response, web.Response) and not response.prepared \
            and isinstance(response.body, bytes | bytearray):
        response_body = decode_quietly(bytes(response.body), ctype=response.content_type or "")
    auditor.emit(ac.event(COMPLETE, code=code, response_body=response_body, request_body=request_body))


def received_middleware(auditor: Auditor) -> Middleware:
    @web.middleware
    async def received(request: web.Request, handler: Handler) -> web.StreamResponse:
        ac = request.get(AUDIT_KEY)
        if isinstance(ac, AuditContext):
            auditor.decide(ac, request, request_user(request))
            auditor.emit(ac.event(RECEIVED))
        return await handler(request)

    return received


def response_prepare(auditor: Auditor | None) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
        ac = request.get(AUDIT_KEY)
        if not isinstance(ac, AuditContext):
            return
        response.headers[AUDIT_ID_HEADER] = ac.audit_id
        ac.started_code = response.status
        if auditor is not None and _is_long_running(ac) and ac.decision.recorded:
            user = request_user(request)
            if ac.user.username and user != ac.user:
                ac.impersonated = user
            auditor.emit(ac.event(STARTED, code=response.status))

    return on_response_prepare
