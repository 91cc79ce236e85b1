"""Remote group-versions: which APIService (and so which Service) answers ``/apis/<group>/<version>``.

Read from the APIService watch cache each time: no copy to keep in step, and an APIService written a
moment ago routes on the next request. Only APIServices with ``spec.service`` are remote.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from sampan.api import errors
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.handlers.proxy import service_target

GROUP = "apiregistration.k8s.io"


@dataclass(frozen=True, slots=True)
class RemoteAPI:
    """Where one remote group-version is served; ``ca_bundle`` is PEM (empty: none given)."""

    name: str
    group: str
    version: str
    namespace: str
    service: str
    port: int
    ca_bundle: bytes
    insecure_skip_tls_verify: bool
    version_priority: int
    group_priority: int


def apiservices(ctx: ServerContext) -> Scope | None:
    return ctx.scope(GROUP, "v1", "apiservices")


def _ca(spec: dict[str, Any]) -> bytes:
    raw = spec.get("caBundle")
    if not raw:
        return b""
    try:
        return base64.b64decode(raw)
    except (binascii.Error, ValueError):
        return b""


def remote_from(obj: dict[str, Any]) -> RemoteAPI | None:
    spec = obj.get("spec") or {}
    service = spec.get("service")
    if not isinstance(service, dict) or not spec.get("group"):
        return None
    return RemoteAPI(
        name=str(obj["metadata"]["name"]), group=str(spec["group"]), version=str(spec.get("version") or ""),
        namespace=str(service.get("namespace") or ""), service=str(service.get("name") or ""),
        port=int(service.get("port") or 443), ca_bundle=_ca(spec),
        insecure_skip_tls_verify=bool(spec.get("insecureSkipTLSVerify")),
        version_priority=int(spec.get("versionPriority") or 0),
        group_priority=int(spec.get("groupPriorityMinimum") or 0),
    )


def remotes(ctx: ServerContext) -> dict[tuple[str, str], RemoteAPI]:
    """Every remote group-version now in the cache, by (group, version)."""
    scope = apiservices(ctx)
    if scope is None:
        return {}
    out: dict[tuple[str, str], RemoteAPI] = {}
    for cached in scope.cache.objects.values():
        remote = remote_from(cached.obj)
        if remote is not None:
            out[(remote.group, remote.version)] = remote
    return out


_REMOTE_MEMO = "aggregator.remote-for-path"
"""``ctx.extras`` key of ``{APIService key: (its cached object, what it says)}``: every request under
``/apis/`` asks, and the answer changes only with the APIService (a new cached object per revision); one
entry per APIService key ever seen."""


def remote_for_path(ctx: ServerContext, path: str) -> RemoteAPI | None:
    """The remote group-version ``path`` (``/apis/<g>/<v>`` or below it) belongs to, if any."""
    if not path.startswith("/apis/"):
        return None
    parts = path.split("/", 4)  # ['', 'apis', g, v, rest]
    if len(parts) < 4 or not parts[2] or not parts[3]:
        return None
    scope = apiservices(ctx)
    if scope is None:
        return None
    key = scope.key("", f"{parts[3]}.{parts[2]}")
    cached = scope.cache.objects.get(key)
    if cached is None:
        return None
    memo: dict[str, tuple[object, RemoteAPI | None]] = ctx.extras.setdefault(_REMOTE_MEMO, {})
    hit = memo.get(key)
    if hit is not None and hit[0] is cached:
        return hit[1]
    remote = remote_from(cached.obj)
    memo[key] = (cached, remote)
    return remote


def endpoint_of(ctx: ServerContext, remote: RemoteAPI) -> tuple[str, str]:
    """(host, port) of one endpoint of the remote's Service; raises ServiceUnavailable (503) when
    the Service or its endpoints are missing, with upstream's messages."""
    svc_scope, eps_scope = ctx.scope("", "v1", "services"), ctx.scope("", "v1", "endpoints")
    assert svc_scope is not None
    assert eps_scope is not None
    svc = svc_scope.cache.objects.get(svc_scope.key(remote.namespace, remote.service))
    if svc is None:
        raise errors.ServiceUnavailable(f'service "{remote.namespace}/{remote.service}" not found')
    eps = eps_scope.cache.objects.get(eps_scope.key(remote.namespace, remote.service))
    return service_target(svc.obj, eps.obj if eps is not None else None, str(remote.port))
