"""Delegated authorization of metrics-server's callers (upstream's ``DelegatingAuthorizerOptions``): every
request an authenticated caller makes is put to the API server as a ``SubjectAccessReview``.

``/apis/metrics.k8s.io/v1beta1/nodes[/<name>]`` is ``list``/``get`` on ``nodes`` and
``…/namespaces/<ns>/pods[/<name>]`` (or ``…/pods``) on ``pods`` in group ``metrics.k8s.io``; any other path
is a non-resource ``get`` of the path (discovery: allowed to every authenticated user by
``system:discovery``). Answers are cached 10 s (upstream's default for allowed and denied); an API server
that cannot be asked means no. A refusal is a 403 ``Forbidden`` Status with upstream's message.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sampan.client import Client

log = logging.getLogger(__name__)

GROUP = "metrics.k8s.io"
PREFIX = f"/apis/{GROUP}/v1beta1/"
CACHE_TTL = 10.0
CACHE_SIZE = 4096


@dataclass(frozen=True)
class Caller:
    name: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Question:
    verb: str
    resource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    def describe(self, user: str) -> str:
        """Upstream's forbidden message."""
        if not self.resource:
            return f'forbidden: User "{user}" cannot {self.verb} path "{self.path}"'
        where = f'in the namespace "{self.namespace}"' if self.namespace else "at the cluster scope"
        named = f' "{self.name}"' if self.name else ""
        return (f'{self.resource}.{GROUP}{named} is forbidden: User "{user}" cannot {self.verb} resource '
                f'"{self.resource}" in API group "{GROUP}" {where}')


def question(path: str) -> Question:
    """What a request for ``path`` asks (see the module docstring)."""
    if not path.startswith(PREFIX):
        return Question("get", path=path)
    parts = [p for p in path[len(PREFIX):].split("/") if p]
    namespace = ""
    if len(parts) >= 2 and parts[0] == "namespaces":
        namespace, parts = parts[1], parts[2:]
    if not parts or parts[0] not in ("nodes", "pods") or len(parts) > 2:
        return Question("get", path=path)
    name = parts[1] if len(parts) == 2 else ""
    return Question("get" if name else "list", parts[0], namespace, name)


class DelegatedAuthorizer:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._cache: OrderedDict[tuple[Caller, Question], tuple[float, bool]] = OrderedDict()

    async def allowed(self, caller: Caller, q: Question) -> bool:
        key = (caller, q)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        spec: dict[str, Any] = {"user": caller.name, "groups": list(caller.groups)}
        if q.resource:
            fields = (("verb", q.verb), ("group", GROUP), ("resource", q.resource), ("namespace", q.namespace),
                      ("name", q.name))
            spec["resourceAttributes"] = {k: v for k, v in fields if v}
        else:
            spec["nonResourceAttributes"] = {"verb": q.verb, "path": q.path}
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        try:
            answer = await self._client.rest.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                                                     body=body)
        except Exception as exc:
            log.warning("subject access review failed err=%s", exc)
            return False
        allowed = bool(((answer or {}).get("status") or {}).get("allowed"))
        self._cache[key] = (time.monotonic() + CACHE_TTL, allowed)
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return allowed
