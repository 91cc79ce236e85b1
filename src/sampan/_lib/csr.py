"""PKCS#10 certificate requests as the certificates.k8s.io API carries them: making one (a kubelet
asking for its identity), reading one (validation, signers' restrictions) and signing one with a CA
(the controller-manager's signers), plus the mapping between the API's usage names (``client auth``,
``digital signature``…) and X.509 key usages.

Shared by the API server, the controller-manager and the kubelet, so it sits in ``_lib``.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sampan._lib.pki import CLOCK_SKEW, CertificateAuthority, PrivateKey

_KEY_USAGES = {
    "digital signature": "digital_signature", "content commitment": "content_commitment",
    "key encipherment": "key_encipherment", "key agreement": "key_agreement",
    "data encipherment": "data_encipherment", "cert sign": "key_cert_sign", "crl sign": "crl_sign",
    "encipher only": "encipher_only", "decipher only": "decipher_only",
}
_EXT_USAGES = {
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE, "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH, "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION, "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec end system": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec tunnel": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec user": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING, "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft sgc": x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape sgc": x509.ObjectIdentifier("2.16.840.1.113730.4.1"),
}


@dataclass(frozen=True)
class Request:
    """What a certificate request asks for."""

    common_name: str
    organizations: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    emails: tuple[str, ...]
    uris: tuple[str, ...]
    csr: x509.CertificateSigningRequest


def make_request(key: PrivateKey, *, common_name: str, organizations: Sequence[str] = (),
                 dns_names: Sequence[str] = (), ip_addresses: Sequence[str] = ()) -> bytes:
    """A PEM certificate request for ``common_name`` in ``organizations`` (with SANs when given)."""
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def parse_request(pem: bytes) -> Request:
    """The request in ``pem``; ValueError when it is not a valid, correctly signed PKCS#10 request."""
    csr = x509.load_pem_x509_csr(pem)
    if not csr.is_signature_valid:
        raise ValueError("the request's signature does not verify")
    subject = csr.subject
    cns = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = tuple(str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
        emails = tuple(san.get_values_for_type(x509.RFC822Name))
        uris = tuple(san.get_values_for_type(x509.UniformResourceIdentifier))
    except x509.ExtensionNotFound:
        dns = ips = emails = uris = ()
    return Request(cns[0] if cns else "", orgs, dns, ips, emails, uris, csr)


def request_from_b64(value: str) -> Request:
    """The request of a CSR object's ``spec.request`` (base64 of PEM, as JSON carries ``[]byte``)."""
    return parse_request(base64.b64decode(value))


def _key_usage(names: Iterable[str]) -> x509.KeyUsage:
    flags = {attr: False for attr in _KEY_USAGES.values()}
    for n in names:
        if n in _KEY_USAGES:
            flags[_KEY_USAGES[n]] = True
    return x509.KeyUsage(**flags)


def sign(ca: CertificateAuthority, request: Request, *, usages: Sequence[str], lifetime: datetime.timedelta,
         now: datetime.datetime | None = None) -> x509.Certificate:
    """A certificate for ``request`` from ``ca``: the request's subject and SANs, ``usages`` as key usages
    and extended key usages, valid for ``lifetime`` (never past the CA's own expiry), backdated by the
    allowed clock skew as upstream's signer does."""
    now = now or datetime.datetime.now(datetime.UTC)
    not_after = min(now + lifetime, ca.cert.not_valid_after_utc)
    builder = (x509.CertificateBuilder().subject_name(request.csr.subject).issuer_name(ca.cert.subject)
               .public_key(request.csr.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - CLOCK_SKEW).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                              critical=False))
    if any(u in _KEY_USAGES for u in usages):
        builder = builder.add_extension(_key_usage(usages), critical=True)
    ext = [_EXT_USAGES[u] for u in usages if u in _EXT_USAGES]
    if ext:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(dict.fromkeys(ext))), critical=False)
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in request.dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in request.ip_addresses]
    sans += [x509.RFC822Name(e) for e in request.emails]
    sans += [x509.UniformResourceIdentifier(u) for u in request.uris]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca.key, hashes.SHA256())
