"""A cluster's public-key infrastructure, the way kubeadm lays it out: one CA, certificates it signs.

:class:`CertificateAuthority` creates (or loads) a self-signed CA and issues leaf certificates: serving
certificates (``serverAuth``, with DNS and IP subject alternative names) and client certificates
(``clientAuth``; the common name is the user, each organization a group, as the API server's x509
authenticator reads them). Keys are EC P-256 (fast to make: a whole cluster's PKI takes milliseconds).

Files are PEM, written atomically, private keys with mode 0600. :func:`issue_once` keeps an existing
certificate (so a restarted cluster keeps its identities) unless it was signed by another CA or lacks
a name it must carry now, in which case it is issued again.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = datetime.timedelta(days=3650)
"""kubeadm's CA lifetime (ten years)."""
LEAF_VALIDITY = datetime.timedelta(days=365)
"""kubeadm's leaf lifetime (one year)."""
CLOCK_SKEW = datetime.timedelta(minutes=5)
"""Certificates are valid from this long before their creation, for clocks slightly behind ours."""

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class CertSpec:
    """What a leaf certificate says: who (``common_name``, ``organizations``) and where (SANs)."""

    common_name: str
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    server: bool = False
    """``serverAuth`` usage (with the SANs); otherwise a client certificate."""
    client: bool = True
    validity: datetime.timedelta = field(default=LEAF_VALIDITY)


def new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def load_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an EC private key")
    return key


def write_atomic(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file (mode 0600 for private material)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class CertificateAuthority:
    """A CA key and its self-signed certificate. Immutable after construction."""

    def __init__(self, cert: x509.Certificate, key: PrivateKey) -> None:
        self.cert = cert
        self.key = key

    @classmethod
    def create(cls, common_name: str = "kubernetes") -> CertificateAuthority:
        """A new CA (kubeadm names its CA ``kubernetes``)."""
        key = new_key()
        name = _name(common_name)
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + CA_VALIDITY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                             crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(ski, critical=False)
                .sign(key, hashes.SHA256()))
        return cls(cert, key)

    @classmethod
    def load_or_create(cls, cert_path: Path, key_path: Path, *, common_name: str = "kubernetes"
                       ) -> CertificateAuthority:
        """The CA stored at the two paths, created (and written) when either is missing."""
        if cert_path.exists() and key_path.exists():
            return cls(load_cert(cert_path), load_key(key_path))
        ca = cls.create(common_name)
        write_atomic(key_path, key_pem(ca.key), private=True)
        write_atomic(cert_path, cert_pem(ca.cert))
        return ca

    @property
    def pem(self) -> bytes:
        return cert_pem(self.cert)

    def issue(self, spec: CertSpec, key: PrivateKey | None = None) -> tuple[x509.Certificate, PrivateKey]:
        """A leaf certificate for ``spec`` signed by this CA (with a new key unless ``key`` is given)."""
        key = key or new_key()
        now = _now()
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if spec.server else []) + (
            [ExtendedKeyUsageOID.CLIENT_AUTH] if spec.client else [])
        builder = (x509.CertificateBuilder().subject_name(_name(spec.common_name, spec.organizations))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + spec.validity)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                key_encipherment=True, data_encipherment=False, key_agreement=False,
                                                key_cert_sign=False, crl_sign=False, encipher_only=False,
                                                decipher_only=False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                                  critical=False))
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in spec.ip_addresses]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key

    def signed(self, cert: x509.Certificate) -> bool:
        """True when ``cert`` was issued (and signed) by this CA."""
        if cert.issuer != self.cert.subject:
            return False
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, Exception):  # InvalidSignature has no common base but Exception
            return False
        return True


def _covers(cert: x509.Certificate, spec: CertSpec) -> bool:
    """The certificate names what ``spec`` asks for (subject and every SAN) and is not about to expire."""
    if cert.subject != _name(spec.common_name, spec.organizations):
        return False
    if cert.not_valid_after_utc - _now() < datetime.timedelta(days=1):
        return False
    wanted_dns, wanted_ips = set(spec.dns_names), {ipaddress.ip_address(a) for a in spec.ip_addresses}
    if not wanted_dns and not wanted_ips:
        return True
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return wanted_dns <= set(san.get_values_for_type(x509.DNSName)) and wanted_ips <= set(
        san.get_values_for_type(x509.IPAddress))


def issue_once(ca: CertificateAuthority, spec: CertSpec, *, cert_path: Path, key_path: Path) -> None:
    """Make sure ``cert_path``/``key_path`` hold a certificate for ``spec`` signed by ``ca``."""
    if cert_path.exists() and key_path.exists():
        try:
            existing = load_cert(cert_path)
            if ca.signed(existing) and _covers(existing, spec):
                return
        except ValueError:
            pass
    cert, key = ca.issue(spec)
    write_atomic(key_path, key_pem(key), private=True)
    write_atomic(cert_path, cert_pem(cert))


def self_signed_serving(spec: CertSpec, *, cert_path: Path, key_path: Path) -> None:
    """A serving certificate signed by a throw-away CA of its own (kube-apiserver's ``--cert-dir`` case,
    when no ``--tls-cert-file`` is given); kept when it already covers ``spec``."""
    if cert_path.exists() and key_path.exists():
        try:
            if _covers(load_cert(cert_path), spec):
                return
        except ValueError:
            pass
    ca = CertificateAuthority.create(f"{spec.common_name}-ca@{int(_now().timestamp())}")
    cert, key = ca.issue(spec)
    write_atomic(key_path, key_pem(key), private=True)
    write_atomic(cert_path, cert_pem(cert) + ca.pem)


_SERVER_CONTEXTS: dict[tuple[str, str], weakref.WeakSet[ssl.SSLContext]] = {}
"""(cert file, key file) -> live server contexts loaded from them (:func:`reload_server_certificates`)."""


def reload_server_certificates(cert_file: str) -> int:
    """Load ``cert_file`` (and its key) again into every live server context of this process built from it,
    so new TLS handshakes present the renewed certificate (a kubelet rotating its serving certificate)."""
    count = 0
    for (cert, key), contexts in list(_SERVER_CONTEXTS.items()):
        if cert == cert_file:
            for ctx in list(contexts):
                ctx.load_cert_chain(cert, key)
                count += 1
    return count


def server_ssl_context(cert_file: Path, key_file: Path, *, client_ca_file: Path | None = None,
                       require_client_certificate: bool = False) -> ssl.SSLContext:
    """A TLS 1.2+ server context serving ``cert_file``; with ``client_ca_file`` it asks for client
    certificates signed by those CAs (and insists on one with ``require_client_certificate``). ValueError
    (one line) when a file cannot be loaded."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        ctx.load_cert_chain(str(cert_file), str(key_file))
        if client_ca_file is not None:
            ctx.load_verify_locations(cafile=str(client_ca_file))
            ctx.verify_mode = ssl.CERT_REQUIRED if require_client_certificate else ssl.CERT_OPTIONAL
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load TLS files ({cert_file}, {key_file}, {client_ca_file}): {exc}") from None
    _SERVER_CONTEXTS.setdefault((str(cert_file), str(key_file)), weakref.WeakSet()).add(ctx)
    return ctx


def client_ssl_context(*, ca_file: Path | None, cert_file: Path | None = None, key_file: Path | None = None
                       ) -> ssl.SSLContext:
    """A TLS client context presenting ``cert_file`` (when given) and verifying the server against
    ``ca_file`` (without one the server is not verified, as upstream's kubelet client without
    ``--kubelet-certificate-authority``)."""
    if ca_file is not None:
        ctx = ssl.create_default_context(cafile=str(ca_file))
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert_file is not None:
        ctx.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    return ctx
