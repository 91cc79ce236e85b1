"""ServiceAccount admission: every new pod runs as a service account and, unless it opts out, gets the
projected ``kube-api-access-<suffix>`` volume an in-cluster client reads (upstream's plugin).

On pod CREATE: ``spec.serviceAccountName`` defaults to ``default`` (``serviceAccount`` mirrors it); the
account must exist (else 403 ``error looking up service account <ns>/<name>: serviceaccount "<name>" not
found``, as upstream - the serviceaccount controller creates ``default`` in each namespace). Unless the
pod or the account sets ``automountServiceAccountToken: false``, or a container already mounts something
at the token path, the pod gets a projected volume of a bound token (``expirationSeconds`` 3607, the
API server's audience), the ``kube-root-ca.crt`` ConfigMap's ``ca.crt`` and the namespace, mounted
read-only at ``/var/run/secrets/kubernetes.io/serviceaccount`` in every container and init container.
Mirror pods (static pods) are left alone, as upstream. The kubelet requests and refreshes the token.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from sampan.api import errors
from sampan.apiserver.admission.interface import Attributes, PluginBase
from sampan.apiserver.cacher.objects import decode_stored
from sampan.storage import KeyNotFound

if TYPE_CHECKING:
    from sampan.apiserver.context import ServerContext

DEFAULT_SERVICE_ACCOUNT = "default"
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
TOKEN_EXPIRATION = 3607
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # upstream's utilrand alphabet (no vowels, no look-alikes)


def _suffix() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(5))


def api_access_volume(name: str) -> dict[str, Any]:
    return {"name": name, "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}}


def _mounts_token_path(container: dict[str, Any]) -> bool:
    return any(m.get("mountPath") == TOKEN_PATH for m in container.get("volumeMounts") or [])


def add_api_access(pod: dict[str, Any]) -> None:
    """Add the projected volume and its mounts (idempotent: an existing ``kube-api-access-`` volume is kept)."""
    spec = pod["spec"]
    containers = [c for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])
                  if isinstance(c, dict)]
    volumes = spec.get("volumes") or []
    existing = next((v.get("name") for v in volumes if str(v.get("name", "")).startswith(VOLUME_PREFIX)), None)
    name = existing or f"{VOLUME_PREFIX}{_suffix()}"
    if existing is None:
        spec["volumes"] = [*volumes, api_access_volume(name)]
    for c in containers:
        if not _mounts_token_path(c):
            c["volumeMounts"] = [*(c.get("volumeMounts") or []),
                                 {"name": name, "readOnly": True, "mountPath": TOKEN_PATH}]


class ServiceAccountPlugin(PluginBase):
    name = "ServiceAccount"

    def handles(self, attrs: Attributes) -> bool:
        return (attrs.operation == "CREATE" and attrs.subresource == "" and attrs.is_resource("", "pods")
                and isinstance(attrs.obj, dict) and isinstance(attrs.obj.get("spec"), dict))

    async def admit(self, ctx: ServerContext, attrs: Attributes) -> None:
        pod = attrs.obj
        assert pod is not None
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        if MIRROR_ANNOTATION in annotations:
            return
        spec = pod["spec"]
        name = spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT
        spec["serviceAccountName"] = name
        spec["serviceAccount"] = name
        account = await _lookup(ctx, attrs.namespace, name)
        if account is None:
            raise errors.Forbidden(f'pods "{attrs.name or (pod.get("metadata") or {}).get("generateName", "")}" is '
                                   f"forbidden: error looking up service account {attrs.namespace}/{name}: "
                                   f'serviceaccount "{name}" not found')
        automount = spec.get("automountServiceAccountToken")
        if automount is None:
            automount = account.get("automountServiceAccountToken")
        if automount is False:
            return
        add_api_access(pod)


async def _lookup(ctx: ServerContext, namespace: str, name: str) -> dict[str, Any] | None:
    """The account from the watch cache, or (created a moment ago, not cached yet) from the store."""
    scope = ctx.scope("", "v1", "serviceaccounts")
    if scope is None:
        return None
    key = scope.key(namespace, name)
    cached = scope.cache.objects.get(key)
    if cached is not None:
        return cached.obj
    try:
        kv = await ctx.store.get(key)
    except KeyNotFound:
        return None
    return decode_stored(kv.value, kv.mod_revision)
