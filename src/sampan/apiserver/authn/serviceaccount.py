"""Service-account tokens: JWTs this cluster signed, bound (TokenRequest) or legacy (Secret-based).

A token is ours when its ``iss`` is one of the accepted issuers (bound tokens) or
``kubernetes/serviceaccount`` (legacy tokens); other JWTs are left to other authenticators. An own token
is accepted only when, in order:

1. one of the verification keys made its signature (``ES256``/``RS256``; :mod:`.jws`);
2. bound tokens: ``aud`` names one of the API audiences, ``nbf <= now < exp``;
3. the objects it depends on still exist with the same uid, read from the watch cache (:mod:`.lookup`):
   its ServiceAccount; the Pod, Secret or Node it is bound to (a Pod or Secret deleted more than
   :data:`DELETION_GRACE` seconds ago no longer counts); a legacy token's Secret, which must still hold
   exactly this token.

Anything else is a 401 (the body says only ``Unauthorized``; the log says why). The user is
``system:serviceaccount:<ns>:<name>`` with the ServiceAccount's uid, groups ``system:serviceaccounts``,
``system:serviceaccounts:<ns>`` and ``system:authenticated``, and upstream's extra attributes (the bound
pod's and node's name and uid, ``credential-id``).

Signature checks are remembered per token (a bounded map): a client reusing its token pays one check;
time and bound objects are re-checked on every request.
"""

from __future__ import annotations

import base64
import hmac
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan.api import humanize
from sampan.apiserver.authn import jws
from sampan.apiserver.authn.groups import AUTHENTICATED, SERVICE_ACCOUNT_PREFIX, SERVICE_ACCOUNTS
from sampan.apiserver.authn.lookup import ObjectLookup
from sampan.apiserver.authn.rejected import CredentialsRejected
from sampan.apiserver.userinfo import UserInfo

log = logging.getLogger(__name__)

LEGACY_ISSUER = "kubernetes/serviceaccount"
LEGACY_PREFIX = "kubernetes.io/serviceaccount/"
CACHE_SIZE = 4096
DELETION_GRACE = 60.0
"""Seconds a bound Pod/Secret being deleted keeps its tokens valid (upstream: 60 s)."""
EXTRA_PREFIX = "authentication.kubernetes.io/"


class _Rejected(Exception):
    """Internal: the token is ours but invalid (the message is logged, never sent)."""


@dataclass(frozen=True)
class _Verified:
    claims: dict[str, Any]
    legacy: bool


def _uid(obj: dict[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("uid") or "")


class ServiceAccountTokens:
    def __init__(self, keys: Sequence[jws.PublicKey], *, issuers: Sequence[str], audiences: Sequence[str],
                 lookup: ObjectLookup, lookup_service_accounts: bool = True, clock: Clock | None = None) -> None:
        self._keys = list(keys)
        self._issuers = frozenset(issuers)
        self._audiences = frozenset(audiences or issuers)
        self._lookup = lookup
        self._lookup_service_accounts = lookup_service_accounts
        self._clock = clock or RealClock()
        self._verified: OrderedDict[str, _Verified | None] = OrderedDict()

    @property
    def audiences(self) -> frozenset[str]:
        return self._audiences

    async def authenticate_token(self, token: str) -> UserInfo | None:
        user, _ = self.review(token)
        return user

    def review(self, token: str, audiences: Sequence[str] = ()) -> tuple[UserInfo | None, list[str]]:
        """(user, audiences the token was accepted for); (None, []) when the token is not ours; raises
        Unauthorized when it is ours and invalid. ``audiences``: check against these instead of the server's
        (a TokenReview's ``spec.audiences``)."""
        verified = self._verify(token)
        if verified is None:
            return None, []
        try:
            if verified.legacy:
                return self._legacy_user(token, verified.claims), list(audiences or self._audiences)
            return self._bound_user(verified.claims, frozenset(audiences) or self._audiences)
        except _Rejected as exc:
            log.info("service account token rejected reason=%s", exc)
            raise CredentialsRejected(str(exc)) from None

    def _verify(self, token: str) -> _Verified | None:
        if token in self._verified:
            self._verified.move_to_end(token)
            entry = self._verified[token]
            if entry is None:
                raise CredentialsRejected("invalid bearer token, signature does not verify")
            return entry
        try:
            header, claims, signing_input, signature = jws.parse(token)
        except jws.NotAJWT:
            return None
        iss = claims.get("iss")
        legacy = iss == LEGACY_ISSUER
        if not legacy and iss not in self._issuers:
            return None
        ok = jws.verify(header, signing_input, signature, self._keys)
        entry = _Verified(claims, legacy) if ok else None
        self._verified[token] = entry
        if len(self._verified) > CACHE_SIZE:
            self._verified.popitem(last=False)
        if entry is None:
            log.info("service account token rejected reason=%s", "signature does not verify")
            raise CredentialsRejected("invalid bearer token, signature does not verify")
        return entry

    # ---- bound tokens ---------------------------------------------------------------------------

    def _bound_user(self, claims: dict[str, Any], wanted: frozenset[str]) -> tuple[UserInfo, list[str]]:
        aud = claims.get("aud")
        token_audiences = [aud] if isinstance(aud, str) else [a for a in (aud or []) if isinstance(a, str)]
        matched = [a for a in token_audiences if a in wanted]
        if not matched:
            raise _Rejected(f"token audiences {token_audiences} is invalid for the target audiences {sorted(wanted)}")
        now = self._clock.wall()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or now >= exp:
            raise _Rejected("service account token has expired")
        if isinstance(nbf, int | float) and now < nbf:
            raise _Rejected("token is not valid yet")
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            raise _Rejected("token lacks the kubernetes.io claim")
        namespace = str(private.get("namespace") or "")
        sa = private.get("serviceaccount") or {}
        name, uid = str(sa.get("name") or ""), str(sa.get("uid") or "")
        if not namespace or not name or claims.get("sub") != f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}":
            raise _Rejected("token subject does not match its service account")
        self._check_service_account(namespace, name, uid)
        extra: dict[str, tuple[str, ...]] = {}
        for kind, resource in (("pod", "pods"), ("secret", "secrets"), ("node", "nodes")):
            ref = private.get(kind)
            if not isinstance(ref, dict):
                continue
            self._check_bound(resource, "" if kind == "node" else namespace, ref, now)
            if kind in ("pod", "node"):
                extra[f"{EXTRA_PREFIX}{kind}-name"] = (str(ref.get("name") or ""),)
                extra[f"{EXTRA_PREFIX}{kind}-uid"] = (str(ref.get("uid") or ""),)
        if claims.get("jti"):
            extra[f"{EXTRA_PREFIX}credential-id"] = (f"JTI={claims['jti']}",)
        return _user(namespace, name, uid, extra), matched

    def _check_service_account(self, namespace: str, name: str, uid: str) -> None:
        if not self._lookup_service_accounts:
            return
        sa = self._lookup.get("serviceaccounts", namespace, name)
        if sa is None:
            raise _Rejected(f"service account {namespace}/{name} has been deleted")
        if uid and _uid(sa) != uid:
            raise _Rejected(f"service account UID ({uid}) does not match claim ({_uid(sa)})")

    def _check_bound(self, resource: str, namespace: str, ref: dict[str, Any], now: float) -> None:
        name, uid = str(ref.get("name") or ""), str(ref.get("uid") or "")
        obj = self._lookup.get(resource, namespace, name)
        if obj is None:
            raise _Rejected(f"{resource} {namespace}/{name} the token is bound to has been deleted")
        if uid and _uid(obj) != uid:
            raise _Rejected(f"{resource} {namespace}/{name} UID ({_uid(obj)}) does not match claim ({uid})")
        deleting = (obj.get("metadata") or {}).get("deletionTimestamp")
        if deleting and resource != "nodes":
            since = humanize.parse_rfc3339(str(deleting)) or now
            if since + DELETION_GRACE < now:
                raise _Rejected(f"{resource} {namespace}/{name} the token is bound to is being deleted")

    # ---- legacy (Secret-based) tokens -----------------------------------------------------------

    def _legacy_user(self, token: str, claims: dict[str, Any]) -> UserInfo:
        namespace = str(claims.get(LEGACY_PREFIX + "namespace") or "")
        secret_name = str(claims.get(LEGACY_PREFIX + "secret.name") or "")
        name = str(claims.get(LEGACY_PREFIX + "service-account.name") or "")
        uid = str(claims.get(LEGACY_PREFIX + "service-account.uid") or "")
        subject = f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"
        if not namespace or not secret_name or not name or claims.get("sub") != subject:
            raise _Rejected("legacy token lacks its claims")
        if self._lookup_service_accounts:
            secret = self._lookup.get("secrets", namespace, secret_name)
            if secret is None:
                raise _Rejected(f"secret {namespace}/{secret_name} has been deleted")
            stored = (secret.get("data") or {}).get("token")
            try:
                held = base64.b64decode(str(stored or ""), validate=True).decode()
            except ValueError:
                held = ""
            if not hmac.compare_digest(held, token):
                raise _Rejected(f"token does not match the one in secret {namespace}/{secret_name}")
            if (secret.get("metadata") or {}).get("deletionTimestamp"):
                raise _Rejected(f"secret {namespace}/{secret_name} is being deleted")
        self._check_service_account(namespace, name, uid)
        extra: dict[str, tuple[str, ...]] = {}
        if claims.get("jti"):
            extra[f"{EXTRA_PREFIX}credential-id"] = (f"JTI={claims['jti']}",)
        return _user(namespace, name, uid, extra)


def _user(namespace: str, name: str, uid: str, extra: dict[str, tuple[str, ...]]) -> UserInfo:
    return UserInfo(f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}", uid=uid,
                    groups=(SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{namespace}", AUTHENTICATED), extra=extra)
