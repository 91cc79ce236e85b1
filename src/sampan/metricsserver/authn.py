"""Who may call metrics-server: the aggregation layer's front proxy, as upstream's delegated
authentication (k8s.io/apiserver's ``DelegatingAuthenticationOptions``) decides.

At start :func:`load_authentication` reads ``kube-system/extension-apiserver-authentication`` (published
by the API server): the front-proxy CA (``requestheader-client-ca-file``), the proxy names allowed
(``requestheader-allowed-names``), the user/group/extra headers, and the cluster's ``client-ca-file``.
:func:`authentication_middleware` then serves a request only when its TLS client certificate is

* a front-proxy certificate (signed by the request-header CA, within its validity, a common name the
  ConfigMap allows) whose ``X-Remote-User`` names the user — the aggregator authenticated and
  authorized the caller and forwards who it is; or
* a client certificate of the cluster CA (a direct, authenticated caller: its common name is the user).

Anything else — no certificate, a certificate of another CA, ``X-Remote-User`` from anyone but the front
proxy — is a 401 ``Unauthorized`` Status. The caller is then authorized by the API server
(:mod:`.authz`, a SubjectAccessReview; 403 ``Forbidden`` when refused). ``/healthz``, ``/livez`` and
``/readyz`` stay open (upstream's ``--authorization-always-allow-paths``). When the cluster publishes no
request-header CA at all (an ``--insecure`` cluster, whose API server itself treats every caller as the
admin), callers are not checked and a warning says so.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sampan.api.errors import NotFound
from sampan.client import Client
from sampan.metricsserver.authz import Caller, DelegatedAuthorizer, question

log = logging.getLogger(__name__)

NAMESPACE, NAME = "kube-system", "extension-apiserver-authentication"
OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
USER_KEY = "sampan.metrics-server.user"
AUTHENTICATED = "system:authenticated"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class DelegatedAuthentication:
    """What the ConfigMap says (PEM bundles as text; empty tuples where it says nothing)."""

    requestheader_ca: str = ""
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = ()
    group_headers: tuple[str, ...] = ()
    client_ca: str = ""

    @property
    def enforced(self) -> bool:
        return bool(self.requestheader_ca)

    def server_context(self, context: ssl.SSLContext) -> None:
        """Make the serving ``context`` ask for client certificates of either CA."""
        bundle = self.requestheader_ca + self.client_ca
        if bundle:
            context.load_verify_locations(cadata=bundle)
            context.verify_mode = ssl.CERT_OPTIONAL


def _json_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    parsed = json.loads(value)
    return tuple(str(v) for v in parsed) if isinstance(parsed, list) else ()


async def load_authentication(client: Client, *, attempts: int = 30, delay: float = 1.0) -> DelegatedAuthentication:
    """The ConfigMap's settings (an empty :class:`DelegatedAuthentication` when it does not exist); the
    API server unreachable is retried ``attempts`` times, then the error propagates (start fails)."""
    for attempt in range(attempts):
        try:
            configmaps = await client.resource("v1", "configmaps")
            cm = await configmaps.get(NAME, namespace=NAMESPACE)
            break
        except NotFound:
            log.warning("no %s/%s configmap: callers are not authenticated (an insecure cluster)", NAMESPACE, NAME)
            return DelegatedAuthentication()
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(delay)
    data = cm.get("data") or {}
    return DelegatedAuthentication(
        requestheader_ca=data.get("requestheader-client-ca-file", ""),
        allowed_names=_json_list(data.get("requestheader-allowed-names")),
        username_headers=_json_list(data.get("requestheader-username-headers")) or ("X-Remote-User",),
        group_headers=_json_list(data.get("requestheader-group-headers")) or ("X-Remote-Group",),
        client_ca=data.get("client-ca-file", ""))


def _cas(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode()) if pem.strip() else []


def _issued_by_one_of(cert: x509.Certificate, cas: list[x509.Certificate]) -> bool:
    for ca in cas:
        if cert.issuer != ca.subject:
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except Exception:
            continue
        return True
    return False


def _usable_for_clients(cert: x509.Certificate) -> bool:
    now = datetime.datetime.now(datetime.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return False
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.CLIENT_AUTH in usages or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _forbidden(message: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": message, "reason": "Forbidden", "code": 403}, status=403)


def _unauthorized() -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": "Unauthorized", "reason": "Unauthorized", "code": 401}, status=401)


class Authenticator:
    def __init__(self, settings: DelegatedAuthentication) -> None:
        self.settings = settings
        self._proxies = _cas(settings.requestheader_ca)
        self._clients = _cas(settings.client_ca)

    def user_of(self, request: web.BaseRequest) -> Caller | None:
        """The authenticated caller (``system:authenticated`` added), or None (see the module docstring)."""
        transport = request.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return None
        cert = x509.load_der_x509_certificate(der)
        if not _usable_for_clients(cert):
            return None
        if _issued_by_one_of(cert, self._proxies):
            if self.settings.allowed_names and _common_name(cert) not in self.settings.allowed_names:
                return None
            name = next((v for h in self.settings.username_headers for v in request.headers.getall(h, []) if v), "")
            groups = [v for h in self.settings.group_headers for v in request.headers.getall(h, [])]
        elif _issued_by_one_of(cert, self._clients):
            name = _common_name(cert)
            groups = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        else:
            return None
        if not name:
            return None
        return Caller(name, tuple(dict.fromkeys([*groups, AUTHENTICATED])))


def authentication_middleware(settings: DelegatedAuthentication, authorizer: DelegatedAuthorizer) -> Middleware:
    """Authentication, then delegated authorization (:mod:`.authz`), of every request but health checks."""
    authenticator = Authenticator(settings)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not settings.enforced or request.path in OPEN_PATHS:
            return await handler(request)
        caller = authenticator.user_of(request)
        if caller is None:
            log.info("unauthenticated request refused path=%s remote=%s", request.path, request.remote)
            return _unauthorized()
        q = question(request.path)
        if not await authorizer.allowed(caller, q):
            log.info("forbidden user=%s verb=%s resource=%s path=%s", caller.name, q.verb, q.resource, request.path)
            return _forbidden(q.describe(caller.name))
        request[USER_KEY] = caller
        return await handler(request)

    return authenticate
