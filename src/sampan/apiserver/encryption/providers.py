"""Value transformers: each turns plaintext into its stored form and back, bound to the store key.

Invariant: ``decrypt(encrypt(v, key), key) == v``; a value written under one key does not decrypt
under another (aesgcm and secretbox authenticate the key; aescbc, like upstream's, does not).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sampan.storage.errors import StorageError


class DecryptError(StorageError):
    """Stored bytes no configured key can read."""


class Transformer(Protocol):
    @property
    def prefix(self) -> bytes:
        """``k8s:enc:<provider>:v1:<key name>:`` (empty for identity)."""
        ...

    def encrypt(self, plaintext: bytes, key: str) -> bytes: ...

    def decrypt(self, stored: bytes, key: str) -> bytes:
        """``stored`` without :attr:`prefix`."""
        ...


@dataclass(frozen=True)
class Identity:
    prefix: bytes = b""

    def encrypt(self, plaintext: bytes, key: str) -> bytes:
        return plaintext

    def decrypt(self, stored: bytes, key: str) -> bytes:
        return stored


class AESGCMTransformer:
    """AES-GCM, a random 12-byte nonce per write, the store key as associated data."""

    def __init__(self, name: str, secret: bytes) -> None:
        if len(secret) not in (16, 24, 32):
            raise ValueError(f"aesgcm key {name!r} must be 16, 24 or 32 bytes, got {len(secret)}")
        self.prefix = f"k8s:enc:aesgcm:v1:{name}:".encode()
        self._aead = AESGCM(secret)

    def encrypt(self, plaintext: bytes, key: str) -> bytes:
        nonce = os.urandom(12)
        return self.prefix + nonce + self._aead.encrypt(nonce, plaintext, key.encode())

    def decrypt(self, stored: bytes, key: str) -> bytes:
        try:
            return self._aead.decrypt(stored[:12], stored[12:], key.encode())
        except Exception as err:
            raise DecryptError(f"aesgcm: {err.__class__.__name__}") from None


class AESCBCTransformer:
    """AES-CBC with PKCS#7 padding and a random IV per write (upstream's aescbc)."""

    def __init__(self, name: str, secret: bytes) -> None:
        if len(secret) not in (16, 24, 32):
            raise ValueError(f"aescbc key {name!r} must be 16, 24 or 32 bytes, got {len(secret)}")
        self.prefix = f"k8s:enc:aescbc:v1:{name}:".encode()
        self._secret = secret

    def encrypt(self, plaintext: bytes, key: str) -> bytes:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        enc = Cipher(algorithms.AES(self._secret), modes.CBC(iv)).encryptor()
        return self.prefix + iv + enc.update(padded) + enc.finalize()

    def decrypt(self, stored: bytes, key: str) -> bytes:
        if len(stored) < 32 or len(stored) % 16:
            raise DecryptError("aescbc: stored value has the wrong length")
        dec = Cipher(algorithms.AES(self._secret), modes.CBC(stored[:16])).decryptor()
        padded = dec.update(stored[16:]) + dec.finalize()
        try:
            unpadder = padding.PKCS7(128).unpadder()
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise DecryptError("aescbc: invalid padding (wrong key?)") from None


class SecretboxTransformer:
    """XSalsa20-Poly1305 (NaCl secretbox) with a random 24-byte nonce; the key is not authenticated
    (as upstream's secretbox)."""

    def __init__(self, name: str, secret: bytes) -> None:
        from nacl.secret import SecretBox

        if len(secret) != 32:
            raise ValueError(f"secretbox key {name!r} must be 32 bytes, got {len(secret)}")
        self.prefix = f"k8s:enc:secretbox:v1:{name}:".encode()
        self._box = SecretBox(secret)

    def encrypt(self, plaintext: bytes, key: str) -> bytes:
        return self.prefix + bytes(self._box.encrypt(plaintext))

    def decrypt(self, stored: bytes, key: str) -> bytes:
        from nacl.exceptions import CryptoError

        try:
            return bytes(self._box.decrypt(stored))
        except CryptoError:
            raise DecryptError("secretbox: decryption failed (wrong key?)") from None
