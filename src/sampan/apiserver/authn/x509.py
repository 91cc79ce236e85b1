"""Client-certificate authentication: the peer certificate of a TLS connection names the user.

As upstream's x509 authenticator: the certificate must chain to a CA in ``--client-ca-file`` (here: be
signed directly by one, as every certificate kubeadm's and sampan's CAs issue is), be within its validity
period and allow ``clientAuth`` when it lists extended key usages. The common name is the user name, each
organization a group, and ``system:authenticated`` is added. A certificate that fails any check is a
401, never a fall-through to anonymous.

Verification results are remembered per certificate (a bounded map keyed by its DER bytes), so a
keep-alive connection's requests pay one signature check; validity is re-checked on every request.
"""

from __future__ import annotations

import datetime
import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sampan._lib.clock import Clock, RealClock
from sampan.apiserver.authn.groups import AUTHENTICATED
from sampan.apiserver.authn.rejected import CredentialsRejected
from sampan.apiserver.userinfo import UserInfo

log = logging.getLogger(__name__)

CACHE_SIZE = 1024
"""Certificates whose verification outcome is remembered."""


def load_ca_bundle(path: Path) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle; ValueError (one line) for a file without any."""
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read client CA file {path}: {exc}") from None
    return certs


def peer_certificate(request: web.BaseRequest) -> bytes | None:
    """The DER of the client certificate the TLS connection presented, if any."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return bytes(der) if der else None


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except Exception:  # InvalidSignature, or a key type mismatch (ValueError/TypeError)
        return False
    return True


class ClientCertificate:
    """Authenticates requests whose TLS connection carried a client certificate."""

    def __init__(self, cas: Sequence[x509.Certificate], *, clock: Clock | None = None) -> None:
        self._cas = list(cas)
        self._clock = clock or RealClock()
        self._verified: OrderedDict[bytes, tuple[UserInfo | None, x509.Certificate]] = OrderedDict()

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        der = peer_certificate(request)
        if der is None:
            return None
        return self.user_of(der)

    def user_of(self, der: bytes) -> UserInfo:
        """The user the certificate names; raises Unauthorized when it does not verify."""
        entry = self._verified.get(der)
        if entry is None:
            entry = self._verify(der)
            self._verified[der] = entry
            if len(self._verified) > CACHE_SIZE:
                self._verified.popitem(last=False)
        user, cert = entry
        if user is None:
            raise CredentialsRejected("x509: certificate signed by unknown authority or not for client use")
        now = datetime.datetime.fromtimestamp(self._clock.wall(), datetime.UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            log.info("client certificate outside its validity period subject=%s", cert.subject.rfc4514_string())
            raise CredentialsRejected("x509: certificate has expired or is not yet valid")
        return user

    def _verify(self, der: bytes) -> tuple[UserInfo | None, x509.Certificate]:
        cert = x509.load_der_x509_certificate(der)
        if not any(_signed_by(cert, ca) for ca in self._cas):
            log.info("client certificate not signed by a trusted CA subject=%s issuer=%s",
                     cert.subject.rfc4514_string(), cert.issuer.rfc4514_string())
            return None, cert
        try:
            usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            allowed = (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)
            if not any(u in usages for u in allowed):
                log.info("client certificate lacks clientAuth usage subject=%s", cert.subject.rfc4514_string())
                return None, cert
        except x509.ExtensionNotFound:
            pass
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        user = str(names[0].value) if names else ""
        if not user:
            return None, cert
        groups = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        return UserInfo(user, groups=(*groups, AUTHENTICATED)), cert
