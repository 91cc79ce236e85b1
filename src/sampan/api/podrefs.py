"""What a pod references in the API: the secrets, configmaps, PVCs and service account it uses.

One definition shared by the API server's Node authorizer (a kubelet may read only what its pods
reference) and the kubelet (which watches exactly those objects): volumes (secret, configMap,
persistentVolumeClaim, generic ephemeral claims ``<pod>-<volume>``, projected sources, CSI and the
in-tree plugins' ``secretRef``), ``env``/``envFrom`` of every container kind, ``imagePullSecrets`` and
the service account (``default`` when unset).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

Ref = tuple[str, str, str]
"""(kind, namespace, name); kind is ``secret``, ``configmap``, ``pvc`` or ``serviceaccount``."""


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (v for v in value if isinstance(v, dict))


def _at(obj: Any, *path: str) -> str:
    """The non-empty string at ``path`` inside nested dicts, "" otherwise."""
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if isinstance(obj, str) else ""


_SECRET_REF_VOLUMES = ("cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "storageos", "iscsi", "azureFile")


def pod_references(pod: Mapping[str, Any]) -> set[Ref]:
    """Every secret, configmap, PVC and service account ``pod`` uses."""
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    ns, pod_name = _at(pod, "metadata", "namespace"), _at(pod, "metadata", "name")
    found: list[tuple[str, str]] = [("serviceaccount", _at(spec, "serviceAccountName") or "default")]
    found += [("secret", _at(s, "name")) for s in _dicts(_d(spec).get("imagePullSecrets"))]
    for v in _dicts(_d(spec).get("volumes")):
        found += [("secret", _at(v, "secret", "secretName")), ("configmap", _at(v, "configMap", "name")),
                  ("pvc", _at(v, "persistentVolumeClaim", "claimName")),
                  ("secret", _at(v, "csi", "nodePublishSecretRef", "name"))]
        if isinstance(v.get("ephemeral"), dict):
            found.append(("pvc", f"{pod_name}-{_at(v, 'name')}"))
        for src in _dicts(_d(v.get("projected")).get("sources")):
            found += [("secret", _at(src, "secret", "name")), ("configmap", _at(src, "configMap", "name"))]
        found += [("secret", _at(v, key, "secretRef", "name")) for key in _SECRET_REF_VOLUMES]
    containers = [*_dicts(_d(spec).get("initContainers")), *_dicts(_d(spec).get("containers")),
                  *_dicts(_d(spec).get("ephemeralContainers"))]
    for c in containers:
        for e in _dicts(c.get("envFrom")):
            found += [("secret", _at(e, "secretRef", "name")), ("configmap", _at(e, "configMapRef", "name"))]
        for e in _dicts(c.get("env")):
            found += [("secret", _at(e, "valueFrom", "secretKeyRef", "name")),
                      ("configmap", _at(e, "valueFrom", "configMapKeyRef", "name"))]
    return {(kind, ns, name) for kind, name in found if name}


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
