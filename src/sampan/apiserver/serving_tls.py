"""The API server's TLS: its server-side ``ssl.SSLContext``.

Client certificates are *requested*, not required (a request without one goes on to bearer tokens and
anonymous). Upstream asks for any client certificate at the TLS layer (Go's ``RequestClientCert``) and
lets the x509 authenticator verify it, so a certificate from another CA gets a ``401 Unauthorized``
rather than a broken handshake. Python's ``ssl`` module verifies whatever it requests; to get upstream's
behaviour :func:`request_any_client_certificate` installs an OpenSSL verify callback that accepts every
chain (through ctypes, on the context's own ``SSL_CTX``, after checking it found the right one), and
:class:`sampan.apiserver.authn.x509.ClientCertificate` does the verification. Where that is not possible
the TLS layer verifies (a foreign certificate then fails the handshake instead: still refused).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import ssl
from typing import Any

from sampan._lib.pki import server_ssl_context
from sampan.apiserver.config import SecureServing

log = logging.getLogger(__name__)

_VERIFY_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


def _accept_any(preverify_ok: int, store_ctx: int | None) -> int:
    return 1


_ACCEPT_ANY = _VERIFY_CALLBACK(_accept_any)  # module-level: must outlive every context using it
_SSL_VERIFY_PEER = 1
_SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 2


def _libssl() -> Any:
    name = ctypes.util.find_library("ssl")
    if name is None:
        raise OSError("libssl not found")
    lib = ctypes.CDLL(name)
    lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
    lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
    lib.SSL_CTX_set_verify.restype = None
    lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY_CALLBACK]
    return lib


def request_any_client_certificate(ctx: ssl.SSLContext) -> bool:
    """Make ``ctx`` accept any client certificate chain (verification is left to the authenticator);
    True when done. ``ctx`` must be in ``CERT_OPTIONAL`` mode."""
    try:
        lib = _libssl()
        # CPython's SSLContext object starts with PyObject_HEAD, then its SSL_CTX pointer.
        pointer = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
        if not pointer:
            return False
        # Make sure the pointer is this context's SSL_CTX: flipping verify_mode must show through it.
        ctx.verify_mode = ssl.CERT_REQUIRED
        required = lib.SSL_CTX_get_verify_mode(pointer)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        optional = lib.SSL_CTX_get_verify_mode(pointer)
        if required != _SSL_VERIFY_PEER | _SSL_VERIFY_FAIL_IF_NO_PEER_CERT or optional != _SSL_VERIFY_PEER:
            log.warning("cannot reach the TLS context's SSL_CTX; client certificates are verified by TLS")
            return False
        lib.SSL_CTX_set_verify(pointer, _SSL_VERIFY_PEER, _ACCEPT_ANY)
        return True
    except (OSError, AttributeError, ValueError) as exc:
        log.warning("cannot install the client certificate callback err=%s; verified by TLS instead", exc)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return False


def server_context(tls: SecureServing) -> ssl.SSLContext:
    """The HTTPS context for ``tls``; ValueError (one line) when a file cannot be loaded."""
    ctx = server_ssl_context(tls.cert_file, tls.key_file, client_ca_file=tls.client_ca_file)
    if tls.client_ca_file is not None:
        request_any_client_certificate(ctx)
    return ctx
