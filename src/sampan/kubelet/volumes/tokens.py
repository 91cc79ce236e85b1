"""Service-account tokens for projected volumes (upstream's kubelet token manager).

For each ``serviceAccountToken`` source of a pod the kubelet asks the API server for a token bound to the
pod (TokenRequest: the pod's service account, the source's ``audience`` or the API server's, its
``expirationSeconds``, ``boundObjectRef`` the pod with its uid) and writes it as the source's ``path``.

Invariants: a token is requested again once 80% of its life has passed (or a day, whichever is first),
as upstream's kubelet does, so the file never holds an expired token while the pod runs; tokens are
cached per (pod uid, account, audience, expiration) and dropped with the pod.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MAX_REFRESH = 24 * 3600.0
REFRESH_FRACTION = 0.8

RequestToken = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]
"""(namespace, service account, TokenRequest body) -> the TokenRequest answered."""

TokenKey = tuple[str, str, str, int]


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    issued_at: float
    expires_at: float

    def needs_refresh(self, now: float) -> bool:
        life = self.expires_at - self.issued_at
        return now >= self.issued_at + min(life * REFRESH_FRACTION, MAX_REFRESH)


def token_sources(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every ``serviceAccountToken`` projection of the pod's volumes."""
    out = []
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        for src in ((vol.get("projected") or {}).get("sources") or []):
            if isinstance(src, dict) and isinstance(src.get("serviceAccountToken"), dict):
                out.append(src["serviceAccountToken"])
    return out


def _key(pod: Mapping[str, Any], source: Mapping[str, Any]) -> TokenKey:
    md, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    return (str(md.get("uid", "")), str(account), str(source.get("audience") or ""),
            int(source.get("expirationSeconds") or 3600))


def _parse_time(text: str) -> float:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC).timestamp()


class ServiceAccountTokens:
    def __init__(self, request: RequestToken, *, wall: Callable[[], float]) -> None:
        self._request = request
        self._wall = wall
        self._tokens: dict[TokenKey, Token] = {}
        self.requests = 0

    async def refresh(self, pod: Mapping[str, Any]) -> None:
        """Request every token of ``pod`` that is missing or due; raises the API's error on failure."""
        md = pod.get("metadata") or {}
        for source in token_sources(pod):
            key = _key(pod, source)
            current = self._tokens.get(key)
            now = self._wall()
            if current is not None and not current.needs_refresh(now):
                continue
            spec: dict[str, Any] = {"expirationSeconds": key[3],
                                    "boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                                       "name": md.get("name", ""), "uid": key[0]}}
            if key[2]:
                spec["audiences"] = [key[2]]
            body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
            answer = await self._request(str(md.get("namespace") or "default"), key[1], body)
            status = answer.get("status") or {}
            self.requests += 1
            self._tokens[key] = Token(str(status.get("token", "")), now,
                                      _parse_time(str(status.get("expirationTimestamp"))))
            log.debug("service account token refreshed pod=%s/%s account=%s", md.get("namespace"),
                      md.get("name"), key[1])

    def token_for(self, pod: Mapping[str, Any], source: Mapping[str, Any]) -> str | None:
        token = self._tokens.get(_key(pod, source))
        return token.value if token is not None else None

    def forget(self, uid: str) -> None:
        for key in [k for k in self._tokens if k[0] == uid]:
            del self._tokens[key]
