"""Lay out a pod's volumes under its directory and turn volumeMounts into runtime mounts.

Directory layout, as upstream: ``<pods-dir>/<pod-uid>/volumes/kubernetes.io~<plugin>/<volume-name>``.
:meth:`VolumeManager.setup` is idempotent and re-run on every pod sync, so an updated configmap or secret
is republished (atomically) into the running pod's volume. ``emptyDir`` is a plain directory (``medium``
and ``sizeLimit`` are not enforced); ``hostPath`` is the host path itself. A ``persistentVolumeClaim`` is
resolved claim -> bound PersistentVolume -> its ``hostPath`` (created per its ``type``, e.g. the
local-path provisioner's ``DirectoryOrCreate``) or ``local`` path; an unbound claim is a VolumeError the
pod worker retries, so the containers start once the binder has bound it.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sampan.api.errors import APIError
from sampan.kubelet.runtime.interface import Mount
from sampan.kubelet.volumes import sources
from sampan.kubelet.volumes.atomic_writer import write_atomic
from sampan.kubelet.volumes.objects import ObjectGetter, VolumeError
from sampan.kubelet.volumes.tokens import ServiceAccountTokens

log = logging.getLogger(__name__)

_PLUGINS = {"emptyDir": "empty-dir", "configMap": "configmap", "secret": "secret", "downwardAPI": "downward-api",
            "projected": "projected", "hostPath": "host-path",
            "persistentVolumeClaim": "persistent-volume-claim"}


def volume_plugin(volume: Mapping[str, Any]) -> str:
    for key in _PLUGINS:
        if key in volume:
            return key
    raise VolumeError(f"volume {volume.get('name')!r} has an unsupported source: {sorted(set(volume) - {'name'})}")


class VolumeManager:
    """Volumes of the pods of one node, under ``pods_dir``."""

    def __init__(self, pods_dir: Path, *, objects: ObjectGetter, node_allocatable: Mapping[str, str],
                 tokens: ServiceAccountTokens | None = None) -> None:
        self.pods_dir = Path(pods_dir)
        self.objects = objects
        self.node_allocatable = node_allocatable
        self.tokens = tokens
        """Service-account tokens for projected volumes (None: such volumes fail to mount)."""

    async def refresh_tokens(self, pod: Mapping[str, Any]) -> None:
        """Request the pod's missing or due service-account tokens; VolumeError when the API refuses."""
        if self.tokens is None:
            return
        try:
            await self.tokens.refresh(pod)
        except (APIError, OSError) as err:
            raise VolumeError(f"failed to fetch token: {err}") from err

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
            if plugin == "persistentVolumeClaim":
                out[name] = self._claim_path(ns, src)
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
                    payload = sources.projected_payload(
                        src, pod=pod, objects=self.objects, node_allocatable=self.node_allocatable,
                        tokens=self.tokens.token_for if self.tokens is not None else None)
                try:
                    if write_atomic(path, payload):
                        log.debug("volume updated pod=%s/%s volume=%s", ns, md.get("name"), name)
                except (OSError, ValueError) as err:
                    raise VolumeError(f"volume {name!r}: {err}") from err
            out[name] = str(path)
        return out

    def _claim_path(self, namespace: str, source: Mapping[str, Any]) -> str:
        claim_name = source.get("claimName") or ""
        claim = self.objects.get_claim(namespace, claim_name)
        if claim is None:
            raise VolumeError(f'persistentvolumeclaim "{claim_name}" not found')
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if not volume_name or (claim.get("status") or {}).get("phase") != "Bound":
            raise VolumeError(f'persistentvolumeclaim "{claim_name}" is not bound')
        pv = self.objects.get_volume(volume_name)
        if pv is None:
            raise VolumeError(f'persistentvolume "{volume_name}" not found')
        spec = pv.get("spec") or {}
        if spec.get("hostPath"):
            return sources.prepare_host_path(spec["hostPath"])
        if (spec.get("local") or {}).get("path"):
            return sources.prepare_host_path({"path": spec["local"]["path"], "type": "Directory"})
        raise VolumeError(f'persistentvolume "{volume_name}" has a volume type this kubelet cannot mount '
                          "(hostPath and local only)")

    def teardown(self, uid: str) -> None:
        """Remove the pod's directory (hostPath volumes are never touched) and forget its tokens."""
        if self.tokens is not None:
            self.tokens.forget(uid)
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
