"""Volume sources to files: configMap, secret, downwardAPI and projected payloads; hostPath checks.

Each ``*_payload`` returns ``{relative path: FileProjection}`` for the atomic writer, or raises
:class:`~sampan.kubelet.volumes.objects.VolumeError` with upstream's message. Without ``items`` every
key becomes a file; with ``items`` only the listed keys, at their ``path`` and ``mode``. Modes default to
``defaultMode`` (upstream default 0644).
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sampan.kubelet.runtime.interface import ContainerConfigError
from sampan.kubelet.volumes.atomic_writer import FileProjection
from sampan.kubelet.volumes.fieldpath import field_value, resource_value
from sampan.kubelet.volumes.objects import ObjectGetter, VolumeError

DEFAULT_MODE = 0o644
Payload = dict[str, FileProjection]


def _keyed(
    data: Mapping[str, bytes], source: Mapping[str, Any], *, kind: str, name: str, default_mode: int,
) -> Payload:
    out: Payload = {}
    mode = source.get("defaultMode", default_mode)
    items = source.get("items")
    if not items:
        return {k: FileProjection(v, mode) for k, v in data.items()}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if source.get("optional"):
                continue
            noun = "config key" if kind == "configmap" else "secret key"
            raise VolumeError(f"{kind} references non-existent {noun}: {key}")
        out[item.get("path") or key] = FileProjection(data[key], item.get("mode", mode))
    return out


def configmap_data(cm: Mapping[str, Any]) -> dict[str, bytes]:
    data = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
    for k, v in (cm.get("binaryData") or {}).items():
        data[k] = base64.b64decode(v)
    return data


def secret_data(secret: Mapping[str, Any]) -> dict[str, bytes]:
    data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    for k, v in (secret.get("stringData") or {}).items():
        data[k] = str(v).encode()
    return data


def configmap_payload(
    source: Mapping[str, Any], *, namespace: str, objects: ObjectGetter, default_mode: int = DEFAULT_MODE,
) -> Payload:
    name = source.get("name", "")
    cm = objects.get_configmap(namespace, name)
    if cm is None:
        if source.get("optional"):
            return {}
        raise VolumeError(f'configmap "{name}" not found')
    return _keyed(configmap_data(cm), source, kind="configmap", name=name, default_mode=default_mode)


def secret_payload(
    source: Mapping[str, Any], *, namespace: str, objects: ObjectGetter, default_mode: int = DEFAULT_MODE,
) -> Payload:
    name = source.get("secretName") or source.get("name") or ""
    secret = objects.get_secret(namespace, name)
    if secret is None:
        if source.get("optional"):
            return {}
        raise VolumeError(f'secret "{name}" not found')
    return _keyed(secret_data(secret), source, kind="secret", name=name, default_mode=default_mode)


def downward_payload(
    source: Mapping[str, Any], *, pod: Mapping[str, Any], node_allocatable: Mapping[str, str],
    default_mode: int = DEFAULT_MODE,
) -> Payload:
    out: Payload = {}
    mode = source.get("defaultMode", default_mode)
    for item in source.get("items") or []:
        try:
            if "fieldRef" in item:
                value = field_value(pod, item["fieldRef"].get("fieldPath", ""))
            else:
                ref = item.get("resourceFieldRef") or {}
                value = resource_value(pod, ref, default_container=ref.get("containerName", ""),
                                       node_allocatable=node_allocatable)
        except ContainerConfigError as err:
            raise VolumeError(f"downwardAPI item {item.get('path')!r}: {err.message}") from err
        out[item.get("path", "")] = FileProjection(value.encode(), item.get("mode", mode))
    return out


TokenGetter = Callable[[Mapping[str, Any], Mapping[str, Any]], str | None]
"""(pod, serviceAccountToken source) -> the token the kubelet holds for it, if any."""


def projected_payload(
    source: Mapping[str, Any], *, pod: Mapping[str, Any], objects: ObjectGetter,
    node_allocatable: Mapping[str, str], tokens: TokenGetter | None = None,
) -> Payload:
    """Merge every projected source; a serviceAccountToken source needs its token from ``tokens``
    (VolumeError while there is none)."""
    mode = source.get("defaultMode", DEFAULT_MODE)
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    out: Payload = {}
    for s in source.get("sources") or []:
        if "configMap" in s:
            out.update(configmap_payload(s["configMap"], namespace=ns, objects=objects, default_mode=mode))
        elif "secret" in s:
            out.update(secret_payload(s["secret"], namespace=ns, objects=objects, default_mode=mode))
        elif "downwardAPI" in s:
            out.update(downward_payload(s["downwardAPI"], pod=pod, node_allocatable=node_allocatable,
                                        default_mode=mode))
        elif "serviceAccountToken" in s:
            sat = s["serviceAccountToken"] or {}
            token = tokens(pod, sat) if tokens is not None else None
            if token is None:
                raise VolumeError("failed to fetch token: the service account token is not available yet")
            out[sat.get("path") or "token"] = FileProjection(token.encode(), mode)
    return out


_HOSTPATH_CHECKS = {
    "Directory": (stat.S_ISDIR, "is not a directory"),
    "File": (stat.S_ISREG, "is not a file"),
    "Socket": (stat.S_ISSOCK, "is not a socket file"),
    "CharDevice": (stat.S_ISCHR, "is not a character device"),
    "BlockDevice": (stat.S_ISBLK, "is not a block device"),
}


def prepare_host_path(source: Mapping[str, Any]) -> str:
    """Check (or create) a hostPath per its ``type``; returns the path."""
    path = source.get("path", "")
    htype = source.get("type") or ""
    if not path.startswith("/"):
        raise VolumeError(f"hostPath {path!r} must be absolute")
    if htype == "DirectoryOrCreate":
        os.makedirs(path, mode=0o755, exist_ok=True)
        htype = "Directory"
    elif htype == "FileOrCreate":
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Path(path).touch(mode=0o644)
        htype = "File"
    if htype in _HOSTPATH_CHECKS:
        check, what = _HOSTPATH_CHECKS[htype]
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise VolumeError(f"hostPath type check failed: {path} {what}") from None
        if not check(mode):
            raise VolumeError(f"hostPath type check failed: {path} {what}")
    elif htype:
        raise VolumeError(f"hostPath type {htype!r} is not supported")
    return path
