"""Lay out a pod's volumes under its directory and turn volumeMounts into runtime mounts.

Directory layout, as upstream: ``<pods-dir>/<pod-uid>/volumes/kubernetes.io~<plugin>/<volume-name>``.
:meth:`VolumeManager.setup` is idempotent and re-run on every pod sync, so an updated configmap or secret
is republished (atomically) into the running pod's volume. ``emptyDir`` is a plain directory (``medium``
and ``sizeLimit`` are not enforced); ``hostPath`` is the host path itself.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sampan.kubelet.runtime.interface import Mount
from sampan.kubelet.volumes import sources
from sampan.kubelet.volumes.atomic_writer import write_atomic
from sampan.kubelet.volumes.objects import ObjectGetter, VolumeError

log = logging.getLogger(__name__)

_PLUGINS = {"emptyDir": "empty-dir", "configMap": "configmap", "secret": "secret", "downwardAPI": "downward-api",
            "projected": "projected", "hostPath": "host-path"}


def volume_plugin(volume: Mapping[str, Any]) -> str:
    for key in _PLUGINS:
        if key in volume:
            return key
    raise VolumeError(f"volume {volume.get('name')!r} has an unsupported source: {sorted(set(volume) - {'name'})}")


class VolumeManager:
    """Volumes of the pods of one node, under ``pods_dir``."""

    def __init__(self, pods_dir: Path, *, objects: ObjectGetter, node_allocatable: Mapping[str, str]) -> None:
        self.pods_dir = Path(pods_dir)
        self.objects = objects
        self.node_allocatable = node_allocatable

    def pod_dir(self, uid: str) -> Path:
        return self.pods_dir / uid

    def setup(self, pod: Mapping[str, Any]) -> dict[str, str]:
        """Create or refresh every volume; returns volume name -> host path. Raises VolumeError."""
        md = pod.get("metadata") or {}
        ns = md.get("namespace") or "default"
        out: dict[str, str] = {}
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            name = vol.get("name", "")
            plugin = volume_plugin(vol)
            src = vol[plugin] or {}
            if plugin == "hostPath":
                out[name] = sources.prepare_host_path(src)
                continue
            path = self.pod_dir(md.get("uid", "")) / "volumes" / f"kubernetes.io~{_PLUGINS[plugin]}" / name
            if plugin == "emptyDir":
                path.mkdir(parents=True, exist_ok=True)
                path.chmod(0o777)
            else:
                if plugin == "configMap":
                    payload = sources.configmap_payload(src, namespace=ns, objects=self.objects)
                elif plugin == "secret":
                    payload = sources.secret_payload(src, namespace=ns, objects=self.objects)
                elif plugin == "downwardAPI":
                    payload = sources.downward_payload(src, pod=pod, node_allocatable=self.node_allocatable)
                else:
                    payload = sources.projected_payload(src, pod=pod, objects=self.objects,
                                                        node_allocatable=self.node_allocatable)
                try:
                    if write_atomic(path, payload):
                        log.debug("volume updated pod=%s/%s volume=%s", ns, md.get("name"), name)
                except (OSError, ValueError) as err:
                    raise VolumeError(f"volume {name!r}: {err}") from err
            out[name] = str(path)
        return out

    def teardown(self, uid: str) -> None:
        """Remove the pod's directory (hostPath volumes are never touched)."""
        shutil.rmtree(self.pod_dir(uid), ignore_errors=True)


def container_mounts(container: Mapping[str, Any], volumes: Mapping[str, str]) -> tuple[Mount, ...]:
    """The runtime mounts of one container; raises VolumeError for a mount of an undeclared volume."""
    out = []
    for vm in container.get("volumeMounts") or []:
        name = vm.get("name", "")
        if name not in volumes:
            raise VolumeError(f"cannot find volume {name!r} to mount into container {container.get('name')!r}")
        host = volumes[name]
        sub = vm.get("subPath") or ""
        if sub:
            if sub.startswith("/") or ".." in sub.split("/"):
                raise VolumeError(f"invalid subPath {sub!r}: must be relative and may not contain '..'")
            host = os.path.join(host, sub)
            if not os.path.exists(host):
                os.makedirs(host, exist_ok=True)
        out.append(Mount(container_path=vm.get("mountPath", ""), host_path=host, read_only=bool(vm.get("readOnly"))))
    return tuple(out)
