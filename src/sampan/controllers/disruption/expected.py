"""How many pods the controllers of a budget's pods want (upstream's ``getExpectedScale``).

Each pod's controller (its ``ownerReferences`` entry with ``controller: true``) is resolved to the
object whose scale counts: a ReplicaSet owned by a Deployment counts as that Deployment; a ReplicaSet or
ReplicationController on its own counts itself (both from the informer caches); any other kind
(StatefulSet, a custom resource) is read through its ``scale`` subresource, when the server serves it.
Every controller counts once (by uid); the sum of their ``spec.replicas`` is the expected count.
A pod without a controller, or whose controller cannot be found, is an error (the budget's status then
fails safe: no disruption allowed).
"""

from __future__ import annotations

from typing import Any

from sampan.api import errors
from sampan.client import Client, Lister


class ExpectedScaleError(Exception):
    """The expected pod count cannot be computed; the message is upstream's."""


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def controller_ref(obj: dict[str, Any]) -> dict[str, Any] | None:
    for ref in _d(obj.get("metadata")).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


def _replicas(obj: dict[str, Any]) -> int:
    value = _d(obj.get("spec")).get("replicas")
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


class ScaleFinder:
    def __init__(self, client: Client, *, replicasets: Lister, deployments: Lister, rcs: Lister) -> None:
        self._client = client
        self._replicasets = replicasets
        self._deployments = deployments
        self._rcs = rcs

    def _cached(self, lister: Lister, namespace: str, ref: dict[str, Any]) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = lister.namespaced(namespace).get(str(ref.get("name") or ""))
        except errors.NotFound:
            return None
        return obj if _d(obj.get("metadata")).get("uid") == ref.get("uid") else None

    async def _controller(self, namespace: str, ref: dict[str, Any]) -> tuple[str, int] | None:
        kind, api_version = ref.get("kind"), str(ref.get("apiVersion") or "")
        group = api_version.split("/", 1)[0] if "/" in api_version else ""
        if (group, kind) == ("apps", "ReplicaSet"):
            rs = self._cached(self._replicasets, namespace, ref)
            if rs is None:
                return None
            owner = controller_ref(rs)
            if owner is not None and owner.get("kind") == "Deployment" and str(owner.get("apiVersion", "")).startswith(
                    "apps/"):
                dep = self._cached(self._deployments, namespace, owner)
                return (str(dep["metadata"]["uid"]), _replicas(dep)) if dep is not None else None
            return str(rs["metadata"]["uid"]), _replicas(rs)
        if (group, kind) == ("", "ReplicationController"):
            rc = self._cached(self._rcs, namespace, ref)
            return (str(rc["metadata"]["uid"]), _replicas(rc)) if rc is not None else None
        return await self._scale(namespace, ref, api_version, str(kind or ""))

    async def _scale(self, namespace: str, ref: dict[str, Any], api_version: str,
                     kind: str) -> tuple[str, int] | None:
        try:
            info = await self._client.discovery.resolve(api_version, kind)
            if "scale" not in info.subresources:
                return None
            scale = await self._client.resource_for(info).get(str(ref.get("name") or ""), namespace=namespace,
                                                               subresource="scale")
        except (errors.APIError, OSError):
            return None
        if _d(scale.get("metadata")).get("uid") not in (None, ref.get("uid")):
            return None
        return str(ref.get("uid")), _replicas(scale)

    async def expected(self, pods: list[dict[str, Any]]) -> int:
        resolved: set[str] = set()
        scales: dict[str, int] = {}  # controller uid -> replicas (a Deployment is reached via each ReplicaSet)
        for pod in pods:
            md = _d(pod.get("metadata"))
            name = md.get("name")
            ref = controller_ref(pod)
            if ref is None:
                raise ExpectedScaleError(f'found no controller ref for pod "{name}"')
            if str(ref.get("uid")) in resolved:
                continue
            found = await self._controller(str(md.get("namespace") or ""), ref)
            if found is None:
                raise ExpectedScaleError(f'found no controllers for pod "{name}"')
            resolved.add(str(ref.get("uid")))
            scales[found[0]] = found[1]
        return sum(scales.values())
