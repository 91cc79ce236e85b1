"""Who may use the kubelet's API (logs, exec/attach/port-forward, stats, metrics), as upstream's kubelet
decides (``pkg/kubelet/server/auth.go``): authentication, then authorization, on every request.

Authentication (in order):
* a TLS client certificate verified against ``--client-ca-file`` (by the TLS layer): CN the user, O groups;
* a bearer token, with ``--authentication-token-webhook``: a ``TokenReview`` to the API server;
* otherwise ``system:anonymous`` when ``--anonymous-auth`` (upstream's default), else ``401 Unauthorized``.

Authorization, with ``--authorization-mode=Webhook``: a ``SubjectAccessReview`` asks the API server
whether the user may ``<verb>`` the ``nodes/<subresource>`` of this node. The verb is the HTTP method's
(GET get, POST create, PUT update, PATCH patch, DELETE delete); the subresource comes from the path as
upstream maps it: ``/stats/*`` stats, ``/metrics/*`` metrics, ``/logs/*`` log, ``/spec/*`` spec, anything
else (``/containerLogs``, ``/exec``, ``/attach``, ``/portForward``, ``/healthz``, ``/pods`` …) proxy.
A refusal is ``403 Forbidden (user=…, verb=…, resource=nodes, subresource=…)``. ``AlwaysAllow`` (the
default, as upstream's flag) skips the check.

Answers are cached (upstream's ``--authentication-token-webhook-cache-ttl`` 2m,
``--authorization-webhook-cache-authorized-ttl`` 5m and ``-unauthorized-ttl`` 30s), in bounded maps; an
API server that cannot be asked answers 401/403 (never allows by default).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware
from cryptography import x509
from cryptography.x509.oid import NameOID

log = logging.getLogger(__name__)

ANONYMOUS = ("system:anonymous", ("system:unauthenticated",))
AUTHENTICATED = "system:authenticated"
CACHE_SIZE = 4096
_METHOD_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_SUBRESOURCE_PATHS = (("/stats", "stats"), ("/metrics", "metrics"), ("/logs", "log"), ("/spec", "spec"))

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Review = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
"""POST ``body`` to the API path and return the answer (the kubelet's client)."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class KubeletAuthOptions:
    anonymous_auth: bool = True
    """``--anonymous-auth``: requests without credentials are ``system:anonymous`` (else 401)."""
    token_webhook: bool = False
    """``--authentication-token-webhook``: bearer tokens are checked with TokenReview."""
    authorization_mode: str = "AlwaysAllow"
    """``--authorization-mode``: ``AlwaysAllow`` or ``Webhook`` (SubjectAccessReview)."""
    token_cache_ttl: float = 120.0
    authorized_ttl: float = 300.0
    unauthorized_ttl: float = 30.0

    def __post_init__(self) -> None:
        if self.authorization_mode not in ("AlwaysAllow", "Webhook"):
            raise ValueError(f"--authorization-mode {self.authorization_mode!r}: AlwaysAllow or Webhook")

    @property
    def default(self) -> bool:
        """Nothing to check (anonymous allowed, no webhook): no middleware is needed."""
        return self.anonymous_auth and not self.token_webhook and self.authorization_mode == "AlwaysAllow"


@dataclass(frozen=True)
class Caller:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


class TTLCache(Generic[K, V]):
    """A bounded map whose entries expire; the oldest insertion is evicted first."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._size = size

    def get(self, key: K) -> V | None:
        entry = self._items.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: K, value: V, ttl: float) -> None:
        self._items[key] = (time.monotonic() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


def request_attributes(method: str, path: str) -> tuple[str, str]:
    """(verb, subresource) of a kubelet request, as upstream's ``GetRequestAttributes``."""
    verb = _METHOD_VERBS.get(method.upper(), method.lower())
    for prefix, subresource in _SUBRESOURCE_PATHS:
        if path == prefix or path.startswith(prefix + "/"):
            return verb, subresource
    return verb, "proxy"


def certificate_caller(request: web.BaseRequest) -> Caller | None:
    """The caller named by the verified TLS client certificate, if one was presented."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return None
    subject = x509.load_der_x509_certificate(der).subject
    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    groups = tuple(str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    return Caller(str(names[0].value) if names else "", (*groups, AUTHENTICATED))


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n")


class KubeletAuth:
    def __init__(self, options: KubeletAuthOptions, *, node_name: str, review: Review) -> None:
        self.options = options
        self.node_name = node_name
        self._review = review
        self._tokens: TTLCache[str, Caller | None] = TTLCache()
        self._decisions: TTLCache[tuple[Caller, str, str], bool] = TTLCache()
        self.reviews = 0
        """SubjectAccessReviews and TokenReviews sent (the caches' effect is visible here)."""

    async def authenticate(self, request: web.BaseRequest) -> Caller | None:
        caller = certificate_caller(request)
        if caller is not None:
            return caller
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer ") and self.options.token_webhook:
            return await self._token_caller(header[7:].strip())
        if header:
            return None  # credentials we cannot check are not anonymous
        return Caller(*ANONYMOUS) if self.options.anonymous_auth else None

    async def _token_caller(self, token: str) -> Caller | None:
        cached = self._tokens.get(token)
        if cached is not None:
            return cached
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        try:
            self.reviews += 1
            answer = await self._review("/apis/authentication.k8s.io/v1/tokenreviews", body)
        except Exception as exc:
            log.warning("token review failed err=%s", exc)
            return None
        status = answer.get("status") or {}
        if not status.get("authenticated"):
            self._tokens.put(token, None, self.options.unauthorized_ttl)
            return None
        user = status.get("user") or {}
        extra = tuple(sorted((k, tuple(v)) for k, v in (user.get("extra") or {}).items()))
        caller = Caller(str(user.get("username", "")), tuple(user.get("groups") or ()), str(user.get("uid", "")),
                        extra)
        self._tokens.put(token, caller, self.options.token_cache_ttl)
        return caller

    async def authorize(self, caller: Caller, verb: str, subresource: str) -> bool:
        if self.options.authorization_mode == "AlwaysAllow":
            return True
        key = (caller, verb, subresource)
        cached = self._decisions.get(key)
        if cached is not None:
            return cached
        spec: dict[str, Any] = {"user": caller.name, "groups": list(caller.groups), "resourceAttributes": {
            "verb": verb, "resource": "nodes", "subresource": subresource, "name": self.node_name}}
        if caller.uid:
            spec["uid"] = caller.uid
        if caller.extra:
            spec["extra"] = {k: list(v) for k, v in caller.extra}
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        try:
            self.reviews += 1
            answer = await self._review("/apis/authorization.k8s.io/v1/subjectaccessreviews", body)
        except Exception as exc:
            log.warning("subject access review failed err=%s", exc)
            return False
        allowed = bool((answer.get("status") or {}).get("allowed"))
        self._decisions.put(key, allowed, self.options.authorized_ttl if allowed else self.options.unauthorized_ttl)
        return allowed

    def middleware(self) -> Middleware:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            caller = await self.authenticate(request)
            if caller is None:
                return _text(401, "Unauthorized")
            verb, subresource = request_attributes(request.method, request.path)
            if not await self.authorize(caller, verb, subresource):
                log.info("kubelet api forbidden user=%s verb=%s subresource=%s", caller.name, verb, subresource)
                return _text(403, f"Forbidden (user={caller.name}, verb={verb}, resource=nodes, "
                                  f"subresource={subresource})")
            return await handler(request)

        return guard
