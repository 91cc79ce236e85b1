"""Request-header authentication: an authenticating proxy (the aggregation layer's front proxy) names the
user in headers, and is itself recognised by its client certificate.

As upstream's ``--requestheader-*`` flags: a request is authenticated from ``X-Remote-User`` (the first
non-empty of ``username_headers``), ``X-Remote-Group`` (every value of ``group_headers``) and
``X-Remote-Extra-<key>`` (``extra_prefixes``; the key lower-cased and %-unescaped) only when its TLS
client certificate is signed by a CA of ``--requestheader-client-ca-file``, is valid, allows
``clientAuth`` and — when ``--requestheader-allowed-names`` is given — has one of those common names.
Anything else gets no opinion here (a certificate of another CA goes on to the x509 authenticator,
which refuses a front-proxy certificate: the headers of an unverified caller are never believed).
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID
from multidict import CIMultiDictProxy

from sampan._lib.clock import Clock
from sampan.apiserver.authn.groups import AUTHENTICATED
from sampan.apiserver.authn.rejected import CredentialsRejected
from sampan.apiserver.authn.x509 import ClientCertificate, peer_certificate
from sampan.apiserver.userinfo import UserInfo

log = logging.getLogger(__name__)

USERNAME_HEADERS = ("X-Remote-User",)
GROUP_HEADERS = ("X-Remote-Group",)
EXTRA_PREFIXES = ("X-Remote-Extra-",)
"""kubeadm's values (upstream's flags have no default)."""


@dataclass(frozen=True)
class RequestHeaderOptions:
    client_ca_file: Path
    """``--requestheader-client-ca-file``: CAs of the proxies allowed to name users."""
    allowed_names: tuple[str, ...] = ()
    """``--requestheader-allowed-names``: common names such a proxy's certificate may have (empty: any)."""
    username_headers: tuple[str, ...] = USERNAME_HEADERS
    group_headers: tuple[str, ...] = GROUP_HEADERS
    extra_headers_prefix: tuple[str, ...] = EXTRA_PREFIXES


def common_name(der: bytes) -> str:
    names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def user_from_headers(headers: CIMultiDictProxy[str], options: RequestHeaderOptions) -> UserInfo | None:
    """The user the headers name (None without a user name)."""
    name = next((v for h in options.username_headers for v in headers.getall(h, []) if v), "")
    if not name:
        return None
    groups = [v for h in options.group_headers for v in headers.getall(h, [])]
    extra: dict[str, list[str]] = {}
    for header, value in headers.items():
        for prefix in options.extra_headers_prefix:
            if header.lower().startswith(prefix.lower()):
                key = urllib.parse.unquote(header[len(prefix):].lower())
                extra.setdefault(key, []).append(value)
    if AUTHENTICATED not in groups:
        groups.append(AUTHENTICATED)
    return UserInfo(name, groups=tuple(groups), extra={k: tuple(v) for k, v in extra.items()})


class RequestHeader:
    """The request-header authenticator (see the module docstring)."""

    def __init__(self, options: RequestHeaderOptions, cas: Sequence[x509.Certificate], *,
                 clock: Clock | None = None) -> None:
        self.options = options
        self._proxies = ClientCertificate(cas, clock=clock)  # verification and its cache
        self._allowed = frozenset(options.allowed_names)

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        der = peer_certificate(request)
        if der is None:
            return None
        try:
            self._proxies.user_of(der)
        except CredentialsRejected:
            return None  # not a front proxy: the x509 authenticator judges the certificate
        if self._allowed and common_name(der) not in self._allowed:
            log.info("request-header proxy not in allowed names cn=%s", common_name(der))
            return None
        return user_from_headers(request.headers, self.options)
