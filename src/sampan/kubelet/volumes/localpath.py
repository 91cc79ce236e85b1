"""The node side of the ``sampan.io/local-path`` provisioner.

The controller-manager's binder cannot reach a node's disk, so the split is: the kubelet publishes where
local-path volumes live (the Node annotation ``sampan.io/local-path-dir`` = ``<kubelet root>/local-path``);
the binder provisions a ``hostPath`` (``DirectoryOrCreate``) volume there with node affinity on this node;
the kubelet creates the directory when a pod mounts the claim; and for reclaim ``Delete`` this
:class:`LocalPathReclaimer` plays the external provisioner's deleter: every ``period`` it lists the
volumes, and for each ``Released`` local-path volume with policy ``Delete`` whose node affinity names this
node it removes the directory (only ever a path under its own local-path dir) and then deletes the
PersistentVolume object. ``Retain`` volumes keep their data and objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sampan._lib.clock import Clock
from sampan.api import errors
from sampan.client import ResourceClient

log = logging.getLogger(__name__)

LOCAL_PATH_DIR_ANNOTATION = "sampan.io/local-path-dir"
PROVISIONER = "sampan.io/local-path"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
HOSTNAME_LABEL = "kubernetes.io/hostname"


def node_of(pv: Mapping[str, Any]) -> str | None:
    """The hostname a local-path volume's required node affinity names."""
    terms = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms")
    for term in terms or []:
        for req in term.get("matchExpressions") or []:
            if req.get("key") == HOSTNAME_LABEL and req.get("operator") == "In" and req.get("values"):
                return str(req["values"][0])
    return None


def reclaimable(pv: Mapping[str, Any], *, hostname: str) -> bool:
    md, spec = pv.get("metadata") or {}, pv.get("spec") or {}
    return bool((md.get("annotations") or {}).get(PROVISIONED_BY) == PROVISIONER
                and (pv.get("status") or {}).get("phase") == "Released"
                and spec.get("persistentVolumeReclaimPolicy") == "Delete" and node_of(pv) == hostname
                and not md.get("deletionTimestamp"))


class LocalPathReclaimer:
    """Deletes this node's released local-path volumes (see the module docstring)."""

    def __init__(self, volumes: ResourceClient, *, base_dir: Path, hostname: str, clock: Clock,
                 period: float = 5.0) -> None:
        self.volumes = volumes
        self.base_dir = Path(base_dir)
        self.hostname = hostname
        self.clock = clock
        self.period = period
        self.removed = 0

    async def run(self) -> None:
        while True:
            try:
                await self.reclaim_once()
            except errors.APIError as err:
                log.warning("local-path reclaim failed err=%s", err)
            await self.clock.sleep(self.period)

    def _remove(self, path: Path) -> bool:
        """Remove ``path`` when it is a direct child of the local-path dir; whether it was one."""
        if not path.is_absolute() or path.resolve().parent != self.base_dir.resolve():
            return False
        shutil.rmtree(path, ignore_errors=True)
        return True

    async def reclaim_once(self) -> int:
        """One pass; how many volumes it deleted."""
        done = 0
        for pv in (await self.volumes.list())["items"]:
            if not reclaimable(pv, hostname=self.hostname):
                continue
            path = Path(((pv.get("spec") or {}).get("hostPath") or {}).get("path") or "")
            if await asyncio.to_thread(self._remove, path):
                log.info("local-path volume directory removed pv=%s path=%s", pv["metadata"]["name"], path)
            else:
                log.warning("local-path volume outside %s left alone pv=%s path=%s", self.base_dir,
                            pv["metadata"]["name"], path)
            with contextlib.suppress(errors.NotFound):
                await self.volumes.delete(pv["metadata"]["name"], uid=pv["metadata"].get("uid"))
            done += 1
        self.removed += done
        return done
