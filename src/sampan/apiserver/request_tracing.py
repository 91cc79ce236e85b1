"""OpenTelemetry spans of the API server's request chain (through :mod:`sampan._lib.tracing`, free when
tracing is off): one ``apiserver.request`` span per write (and per read made inside a caller's traced work,
i.e. with a ``traceparent``; reads outside any are no hop of anyone's trace), parented by the caller, with
timed steps (span events, far cheaper than spans) for ``authentication``, ``admission.mutate``/
``admission.validate`` (in :mod:`sampan.apiserver.admission`) and ``storage.<op>`` with the revision and the
object's uid, which the request span carries too (in :mod:`sampan.apiserver.storage_metrics`); and one
``watchcache.dispatch`` span per event offered to at least one watcher (in the watch cache).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from sampan._lib import tracing
from sampan.apiserver.authn import Authenticator
from sampan.apiserver.userinfo import UserInfo

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Requests not worth a span (probes and scrapes).
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/livez", "/metrics", "/version"})
#: Methods traced only as part of a caller's trace (a ``traceparent``): reads change nothing to follow.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@web.middleware
async def tracing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not tracing.STATE.on or request.path in UNTRACED_PATHS:
        return await handler(request)
    watch = request.query.get("watch") in ("1", "true")
    if watch:  # a watch lasts minutes: its dispatches are traced instead
        return await handler(request)
    parent = tracing.extract_context(request.headers)
    if parent is None and request.method in READ_METHODS:
        return await handler(request)  # a read outside any traced work (kubectl get, a relist) is no hop
    with tracing.span("apiserver.request", {"http.method": request.method, "http.target": request.path},
                      context=parent) as span:
        response = await handler(request)
        span.set_attribute("http.status_code", response.status)
        return response


class TracedAuthenticator:
    """The whole authentication ``chain`` as one :class:`Authenticator` (the first user any of them yields),
    timed as one ``authentication`` step naming the authenticator that answered (when tracing is on)."""

    def __init__(self, chain: Sequence[Authenticator]) -> None:
        self.chain = list(chain)

    async def _first(self, request: web.BaseRequest) -> tuple[UserInfo | None, str]:
        for authenticator in self.chain:
            user = await authenticator.authenticate(request)
            if user is not None:
                return user, type(authenticator).__name__
        return None, ""

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        if not tracing.STATE.on:
            return (await self._first(request))[0]
        with tracing.step("authentication") as span:
            user, by = await self._first(request)
            span.set_attributes({"user": user.username if user is not None else "", "authenticator": by})
            return user
