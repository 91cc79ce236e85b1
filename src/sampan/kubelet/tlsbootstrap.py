"""Kubelet TLS bootstrap and client-certificate rotation, as upstream's kubelet
(``--bootstrap-kubeconfig``, ``--cert-dir``, ``--rotate-certificates``).

Bootstrap (:func:`bootstrap_kubeconfig`): when ``--kubeconfig`` is missing or holds an expired
certificate, the kubelet uses the bootstrap kubeconfig (a bootstrap token) to create a
CertificateSigningRequest to ``kubernetes.io/kube-apiserver-client-kubelet`` for ``CN=system:node:<name>,
O=system:nodes``, waits until a signer issued it (the controller-manager's csrapproving controller
approves it when the token may create ``certificatesigningrequests/nodeclient``), and writes:

* ``<cert-dir>/kubelet-client-<UTC timestamp>.pem`` — certificate and key in one file (mode 0600), and
  the symlink ``kubelet-client-current.pem`` pointing at the newest;
* ``--kubeconfig`` — the bootstrap kubeconfig's server and CA, with ``client-certificate`` and
  ``client-key`` both naming ``kubelet-client-current.pem``.

The key is made once per attempt and kept in ``kubelet-client.key.tmp`` until a certificate for it
arrives, so a restarted kubelet resumes with the same key. A Denied or Failed request is an error.

Rotation (:class:`ClientCertificateRotator`): a task that sleeps until a random point between 70% and
90% of the current certificate's lifetime, then requests a new certificate with the same subject through
the kubelet's own identity (approved via ``selfnodeclient``), installs it as above, and reloads every TLS
context of this process that uses the file (:func:`sampan.client.config.reload_client_certificates`), so
new connections present the new certificate without a restart.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import logging
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sampan._lib import csr, pki
from sampan._lib.pki import reload_server_certificates
from sampan.api import errors
from sampan.client import Client, RESTConfig, load_kubeconfig
from sampan.client.config import reload_client_certificates

log = logging.getLogger(__name__)

KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving"
CLIENT_USAGES = ["digital signature", "client auth"]
CURRENT = "kubelet-client-current.pem"
PENDING_KEY = "kubelet-client.key.tmp"


class BootstrapError(RuntimeError):
    """The certificate could not be obtained (denied, failed, or not issued in time)."""


@dataclass(frozen=True)
class Kind:
    """Which of the kubelet's certificates: its client identity or its serving certificate."""

    prefix: str
    """File names: ``<prefix>-<timestamp>.pem``, ``<prefix>-current.pem``, ``<prefix>.key.tmp``."""
    signer: str
    usages: tuple[str, ...]
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    reload: Callable[[str], int] = reload_client_certificates
    """Reloads the live TLS contexts built from the current file; answers how many."""


CLIENT = Kind("kubelet-client", KUBELET_CLIENT_SIGNER, tuple(CLIENT_USAGES))


def serving_kind(node_name: str, addresses: Sequence[str]) -> Kind:
    """The kubelet-serving certificate of ``node_name`` for ``addresses`` (IPs; names become DNS SANs)."""
    ips, names = [], [node_name]
    for a in addresses:
        try:
            ipaddress.ip_address(a)
            ips.append(a)
        except ValueError:
            names.append(a)
    return Kind("kubelet-server", KUBELET_SERVING_SIGNER, ("digital signature", "server auth"),
                tuple(dict.fromkeys(names)), tuple(dict.fromkeys(ips)), reload_server_certificates)


def current_certificate(cert_dir: Path, kind: Kind = CLIENT) -> x509.Certificate | None:
    path = cert_dir / f"{kind.prefix}-current.pem"
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _valid(cert: x509.Certificate | None, now: datetime.datetime) -> bool:
    return cert is not None and cert.not_valid_before_utc <= now < cert.not_valid_after_utc


def _pending_key(cert_dir: Path, kind: Kind = CLIENT) -> pki.PrivateKey:
    path = cert_dir / f"{kind.prefix}.key.tmp"
    try:
        return pki.load_key(path)
    except (OSError, ValueError):
        key = pki.new_key()
        pki.write_atomic(path, pki.key_pem(key), private=True)
        return key


async def request_certificate(client: Client, key: pki.PrivateKey, *, node_name: str, kind: Kind = CLIENT,
                              poll: float = 0.5, timeout: float = 300.0) -> bytes:
    """Create a CSR of ``kind`` for ``node_name`` with ``key`` and wait for its certificate (PEM)."""
    request = csr.make_request(key, common_name=f"system:node:{node_name}", organizations=["system:nodes"],
                               dns_names=kind.dns_names, ip_addresses=kind.ip_addresses)
    body: dict[str, Any] = {
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"generateName": "csr-"},
        "spec": {"request": base64.b64encode(request).decode(), "signerName": kind.signer,
                 "usages": list(kind.usages)}}
    csrs = await client.resource("certificates.k8s.io/v1", "certificatesigningrequests")
    created = await csrs.create(body)
    name = created["metadata"]["name"]
    log.info("requested certificate csr=%s signer=%s node=%s", name, kind.signer, node_name)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            obj = await csrs.get(name)
        except errors.NotFound:
            raise BootstrapError(f"certificate signing request {name} was deleted") from None
        status = obj.get("status") or {}
        for c in status.get("conditions") or []:
            if c.get("type") in ("Denied", "Failed"):
                raise BootstrapError(f"certificate signing request {name} is {c['type'].lower()}: "
                                     f"{c.get('reason', '')} {c.get('message', '')}".rstrip())
        if status.get("certificate"):
            return base64.b64decode(status["certificate"])
        if loop.time() > deadline:
            raise BootstrapError(f"timed out waiting for certificate signing request {name} to be issued")
        await asyncio.sleep(poll)


def install_certificate(cert_dir: Path, cert_pem: bytes, key: pki.PrivateKey, kind: Kind = CLIENT) -> Path:
    """Write ``<prefix>-<ts>.pem`` (certificate + key) and point ``<prefix>-current.pem`` at it."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d-%H-%M-%S-%f")
    path = cert_dir / f"{kind.prefix}-{stamp}.pem"
    pki.write_atomic(path, cert_pem + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()), private=True)
    current = cert_dir / f"{kind.prefix}-current.pem"
    link = cert_dir / f".{current.name}.tmp"
    link.unlink(missing_ok=True)
    link.symlink_to(path.name)
    os.replace(link, current)
    (cert_dir / f"{kind.prefix}.key.tmp").unlink(missing_ok=True)
    return current


def is_placeholder(cert_dir: Path, kind: Kind) -> bool:
    """True when the current serving certificate is the self-signed placeholder (replace it at once)."""
    cert = current_certificate(cert_dir, kind)
    return cert is None or cert.issuer.rfc4514_string() == f"CN={kind.dns_names[0]}-ca"


def ensure_serving_placeholder(cert_dir: Path, kind: Kind) -> Path:
    """``<cert-dir>/kubelet-server-current.pem``; a self-signed one (as upstream's kubelet makes when it has
    no serving certificate) until a kubelet-serving CSR is issued."""
    current = cert_dir / f"{kind.prefix}-current.pem"
    if current_certificate(cert_dir, kind) is None:
        ca = pki.CertificateAuthority.create(f"{kind.dns_names[0]}-ca")
        cert, key = ca.issue(pki.CertSpec(kind.dns_names[0], dns_names=kind.dns_names,
                                          ip_addresses=kind.ip_addresses, server=True, client=False))
        install_certificate(cert_dir, pki.cert_pem(cert), key, kind)
    return current


def write_kubeconfig(path: Path, *, config: RESTConfig, client_pem: Path) -> None:
    """A kubeconfig for ``config``'s server and CA with the client certificate/key file ``client_pem``."""
    cluster: dict[str, Any] = {"server": config.host}
    if config.ca_data:
        cluster["certificate-authority-data"] = base64.b64encode(config.ca_data).decode()
    elif config.ca_file:
        cluster["certificate-authority"] = str(Path(config.ca_file).resolve())
    if config.insecure:
        cluster["insecure-skip-tls-verify"] = True
    doc = {"apiVersion": "v1", "kind": "Config", "preferences": {},
           "clusters": [{"name": "default-cluster", "cluster": cluster}],
           "users": [{"name": "default-auth", "user": {"client-certificate": str(client_pem.resolve().parent / CURRENT),
                                                       "client-key": str(client_pem.resolve().parent / CURRENT)}}],
           "contexts": [{"name": "default-context", "context": {"cluster": "default-cluster", "user": "default-auth",
                                                                "namespace": "default"}}],
           "current-context": "default-context"}
    pki.write_atomic(path, yaml.safe_dump(doc, sort_keys=False).encode(), private=True)


def needs_bootstrap(kubeconfig: Path) -> bool:
    """True when ``kubeconfig`` is missing, or names a client certificate file that is expired or unreadable
    (a kubeconfig with embedded credentials or a token is used as it is)."""
    if not kubeconfig.exists():
        return True
    existing = load_kubeconfig(str(kubeconfig))
    if existing.cert_data or existing.bearer_token:
        return False
    try:
        cert = x509.load_pem_x509_certificate(Path(existing.cert_file).read_bytes()) if existing.cert_file else None
    except (OSError, ValueError):
        cert = None
    if _valid(cert, datetime.datetime.now(datetime.UTC)):
        return False
    log.info("kubeconfig certificate is expired or unreadable; bootstrapping kubeconfig=%s", kubeconfig)
    return True


async def bootstrap_kubeconfig(*, kubeconfig: Path, bootstrap: Path, cert_dir: Path, node_name: str,
                               poll: float = 0.5, timeout: float = 300.0) -> bool:
    """Make sure ``kubeconfig`` holds a valid client certificate, bootstrapping one if needed; True when
    a new certificate was obtained. BootstrapError (or an API error) when that fails."""
    if not needs_bootstrap(kubeconfig):
        return False
    boot = load_kubeconfig(str(bootstrap))
    key = _pending_key(cert_dir)
    async with Client(boot) as client:
        pem = await request_certificate(client, key, node_name=node_name, poll=poll, timeout=timeout)
    current = install_certificate(cert_dir, pem, key)
    write_kubeconfig(kubeconfig, config=boot, client_pem=current)
    log.info("bootstrapped client certificate node=%s kubeconfig=%s", node_name, kubeconfig)
    return True


def rotation_deadline(cert: x509.Certificate, *, jitter: Callable[[], float] = random.random) -> datetime.datetime:
    """When to renew: a random point in [70%, 90%] of the certificate's lifetime (upstream's jitter)."""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return start + (end - start) * (0.7 + 0.2 * jitter())


class CertificateRotator:
    """Renews one of the kubelet's certificates before it expires (see the module docstring).

    States: *waiting* (until the rotation deadline of the current certificate; a serving placeholder that
    no cluster CA signed is replaced at once) → *requesting* (a CSR is pending; failures retry after
    ``retry`` seconds) → *waiting* with the new certificate."""

    def __init__(self, client: Client, *, cert_dir: Path, node_name: str, kind: Kind = CLIENT, poll: float = 0.5,
                 retry: float = 10.0, timeout: float = 900.0, replace_first: bool = False) -> None:
        self._client = client
        self._cert_dir = cert_dir
        self._node = node_name
        self._kind = kind
        self._replace_first = replace_first
        self._poll = poll
        self._retry = retry
        self._timeout = timeout
        self.rotations = 0
        self.contexts_reloaded = 0
        """TLS contexts reloaded by the last rotation."""

    async def run(self) -> None:
        while True:
            cert = current_certificate(self._cert_dir, self._kind)
            if cert is None:
                log.warning("no certificate to rotate cert_dir=%s kind=%s", self._cert_dir, self._kind.prefix)
                await asyncio.sleep(self._retry)
                continue
            wait = 0.0 if self._replace_first else (rotation_deadline(cert) - datetime.datetime.now(datetime.UTC)
                                                    ).total_seconds()
            if wait > 0:
                log.info("certificate rotation scheduled kind=%s in_seconds=%.0f node=%s", self._kind.prefix, wait,
                         self._node)
                await asyncio.sleep(wait)
            try:
                await self.rotate()
                self._replace_first = False
            except (BootstrapError, errors.APIError, OSError) as exc:
                log.warning("certificate rotation failed kind=%s node=%s error=%s", self._kind.prefix, self._node,
                            exc)
                await asyncio.sleep(self._retry)

    async def rotate(self) -> None:
        key = _pending_key(self._cert_dir, self._kind)
        pem = await request_certificate(self._client, key, node_name=self._node, kind=self._kind, poll=self._poll,
                                        timeout=self._timeout)
        current = install_certificate(self._cert_dir, pem, key, self._kind)
        reloaded = self.contexts_reloaded = self._kind.reload(str(current))
        self.rotations += 1
        log.info("rotated certificate kind=%s node=%s contexts_reloaded=%d", self._kind.prefix, self._node, reloaded)


ClientCertificateRotator = CertificateRotator
"""The client rotator (``kind=CLIENT``, the default)."""
