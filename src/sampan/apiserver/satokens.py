"""Service-account tokens: the signing key and the JWTs the TokenRequest API issues.

One key signs every token: ECDSA P-256 (``ES256``) by default, or the EC/RSA (``RS256``) key of
``--service-account-signing-key-file`` (:meth:`TokenSigner.from_file`). With a data directory the
default key lives in ``<data_dir>/service-account.key`` (PEM, mode 0600), created on first use and
reused across restarts so tokens stay verifiable; without one (memory or etcd storage) it lives only in
memory. The key id ``kid`` is upstream's: base64url (no padding) of the SHA-256 of the public key's
PKIX DER.

Claims, as upstream's bound tokens: ``iss``, ``sub`` (``system:serviceaccount:<ns>:<name>``), ``aud``,
``exp``/``iat``/``nbf``, ``jti`` and the private ``kubernetes.io`` claim (namespace, serviceaccount
name/uid, and the bound pod/secret/node when asked). :mod:`sampan.apiserver.authn.serviceaccount` checks
them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

log = logging.getLogger(__name__)

ISSUER = "https://kubernetes.default.svc.cluster.local"
"""Upstream's conventional ``--service-account-issuer``; also the default audience."""
KEY_FILE = "service-account.key"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class TokenSigner:
    """Signs JWTs with one EC P-256 (``ES256``) or RSA (``RS256``) key. Immutable after construction."""

    def __init__(self, key: SigningKey, *, issuer: str = ISSUER) -> None:
        if isinstance(key, ec.EllipticCurvePrivateKey) and not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("service account signing keys must be EC P-256 or RSA")
        self._key = key
        self.issuer = issuer or ISSUER
        der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        self.key_id = b64url(hashlib.sha256(der).digest())

    @classmethod
    def from_file(cls, path: Path, *, issuer: str = ISSUER) -> TokenSigner:
        """The signer of ``--service-account-signing-key-file``; ValueError (one line) when unusable."""
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot load service account signing key {path}: {exc}") from None
        if not isinstance(loaded, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{path}: service account signing keys must be EC P-256 or RSA")
        return cls(loaded, issuer=issuer)

    def with_issuer(self, issuer: str) -> TokenSigner:
        """The same key, another ``iss``."""
        return TokenSigner(self._key, issuer=issuer)

    def public_key(self) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
        return self._key.public_key()

    @classmethod
    def load_or_create(cls, directory: Path | None) -> TokenSigner:
        """The key from ``directory`` (created there when missing); an in-memory key without one."""
        if directory is None:
            return cls(ec.generate_private_key(ec.SECP256R1()))
        path = directory / KEY_FILE
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{path} does not hold an EC private key")
            return cls(loaded)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.replace(tmp, path)
        log.info("created service-account signing key path=%s", path)
        return cls(key)

    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS (``header.payload.signature``) of ``claims``."""
        rsa_key = isinstance(self._key, rsa.RSAPrivateKey)
        header = {"alg": "RS256" if rsa_key else "ES256", "kid": self.key_id}
        signing_input = f"{b64url(orjson.dumps(header))}.{b64url(orjson.dumps(claims))}"
        if isinstance(self._key, rsa.RSAPrivateKey):
            signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
            return f"{signing_input}.{b64url(signature)}"
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def service_account_claims(
    *, issuer: str, namespace: str, name: str, uid: str, audiences: list[str], now: int, expiration_seconds: int,
    bound: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Upstream's claims for a bound service-account token valid from ``now`` for ``expiration_seconds``."""
    private: dict[str, Any] = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
    private.update(bound or {})
    return {
        "aud": audiences, "exp": now + expiration_seconds, "iat": now, "iss": issuer,
        "jti": str(uuid.uuid4()), "kubernetes.io": private, "nbf": now,
        "sub": f"system:serviceaccount:{namespace}:{name}",
    }
