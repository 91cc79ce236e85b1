"""Bootstrap tokens (``kubeadm token``): ``<id>.<secret>`` bearer tokens backed by Secrets of type
``bootstrap.kubernetes.io/token`` named ``bootstrap-token-<id>`` in ``kube-system``.

A token authenticates as ``system:bootstrap:<id>`` in ``system:bootstrappers`` (plus the Secret's
``auth-extra-groups``, each of which must start with ``system:bootstrappers:``) when the Secret exists,
is not being deleted, says ``usage-bootstrap-authentication: "true"``, holds the same ``token-secret``
and its ``expiration`` (RFC 3339), if any, has not passed. Anything else is a 401.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import logging
import re
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan.apiserver.authn.groups import AUTHENTICATED, BOOTSTRAP_USER_PREFIX, BOOTSTRAPPERS
from sampan.apiserver.authn.lookup import ObjectLookup
from sampan.apiserver.authn.rejected import CredentialsRejected
from sampan.apiserver.userinfo import UserInfo

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
SECRET_TYPE = "bootstrap.kubernetes.io/token"
NAMESPACE = "kube-system"
SECRET_PREFIX = "bootstrap-token-"


def _data(secret: dict[str, Any], key: str) -> str:
    raw = (secret.get("data") or {}).get(key)
    if not isinstance(raw, str):
        return ""
    try:
        return base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _expired(expiration: str, now: float) -> bool:
    if not expiration:
        return False
    try:
        when = datetime.datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    except ValueError:
        return True  # unreadable: treated as expired, as upstream
    return when.timestamp() <= now


def _rejected(token_id: str, why: str) -> CredentialsRejected:
    log.info("bootstrap token rejected id=%s reason=%s", token_id, why)
    return CredentialsRejected(f"bootstrap token {token_id}: {why}")


class BootstrapTokens:
    def __init__(self, lookup: ObjectLookup, *, clock: Clock | None = None) -> None:
        self._lookup = lookup
        self._clock = clock or RealClock()

    async def authenticate_token(self, token: str) -> UserInfo | None:
        m = TOKEN_RE.match(token)
        if m is None:
            return None
        token_id, token_secret = m.groups()
        secret = self._lookup.get("secrets", NAMESPACE, SECRET_PREFIX + token_id)
        if secret is None:
            raise _rejected(token_id, "no bootstrap token secret")
        if secret.get("type") != SECRET_TYPE or (secret.get("metadata") or {}).get("deletionTimestamp"):
            raise _rejected(token_id, "secret has the wrong type or is being deleted")
        held = _data(secret, "token-secret")
        if _data(secret, "token-id") != token_id or not hmac.compare_digest(held, token_secret):
            raise _rejected(token_id, "token secret does not match")
        if _data(secret, "usage-bootstrap-authentication") != "true":
            raise _rejected(token_id, "token is not usable for authentication")
        if _expired(_data(secret, "expiration"), self._clock.wall()):
            raise _rejected(token_id, "token has expired")
        extra = [g.strip() for g in _data(secret, "auth-extra-groups").split(",") if g.strip()]
        if any(not g.startswith(BOOTSTRAPPERS + ":") for g in extra):
            raise _rejected(token_id, "auth-extra-groups outside system:bootstrappers:")
        return UserInfo(BOOTSTRAP_USER_PREFIX + token_id, groups=(BOOTSTRAPPERS, *extra, AUTHENTICATED))
