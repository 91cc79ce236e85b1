"""Compact JWS verification for service-account tokens: ``ES256`` (EC P-256, what sampan signs with)
and ``RS256`` (RSA, what kubeadm's ``sa.key`` signs with). Only the algorithms a key can verify are
accepted, so a token cannot choose a weaker one (no ``none``, no HMAC with a public key).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class NotAJWT(ValueError):
    """The string is not a compact JWS with a JSON header and payload."""


def b64url_decode(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise NotAJWT("bad base64url") from exc


def parse(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, claims, signing input, signature) of a compact JWS; NotAJWT when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        raise NotAJWT("not three dot-separated parts")
    try:
        header, claims = orjson.loads(b64url_decode(parts[0])), orjson.loads(b64url_decode(parts[1]))
    except orjson.JSONDecodeError as exc:
        raise NotAJWT("header or payload is not JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise NotAJWT("header or payload is not an object")
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), b64url_decode(parts[2])


def verify(header: dict[str, Any], signing_input: bytes, signature: bytes, keys: Sequence[PublicKey]) -> bool:
    """True when one of ``keys`` made ``signature`` with the header's algorithm."""
    alg = header.get("alg")
    for key in keys:
        try:
            if alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
                if len(signature) != 64:
                    return False
                der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
                key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
                return True
            if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
                return True
        except InvalidSignature:
            continue
    return False


def load_public_keys(path: Path) -> list[PublicKey]:
    """The public keys in a PEM file holding public keys, private keys or certificates (as upstream's
    ``--service-account-key-file`` accepts); ValueError (one line) when it holds none."""
    from cryptography import x509

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read service account key file {path}: {exc.strerror}") from None
    keys: list[PublicKey] = []
    for block in data.split(b"-----END ")[:-1]:
        start = block.rfind(b"-----BEGIN ")
        if start < 0:
            continue
        label = block[start + 11:block.index(b"-----", start + 11)]
        pem = block[start:] + b"-----END " + label + b"-----\n"
        loaded: Any
        if label == b"CERTIFICATE":
            loaded = x509.load_pem_x509_certificate(pem).public_key()
        elif b"PRIVATE KEY" in label:
            loaded = serialization.load_pem_private_key(pem, password=None).public_key()
        else:
            loaded = serialization.load_pem_public_key(pem)
        if isinstance(loaded, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            keys.append(loaded)
    if not keys:
        raise ValueError(f"service account key file {path} holds no EC or RSA key")
    return keys
