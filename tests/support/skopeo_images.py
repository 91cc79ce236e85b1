"""A real ImageService for kubelet tests without containerd: images are pulled with ``skopeo copy`` from
a real registry (with the CRI AuthConfig's credentials) into a local OCI image layout, one ref per
normalized image name (``127.0.0.1:PORT/web:1``, ``docker.io/library/busybox:latest``).

Image ids are config digests, repo digests ``<repo>@<manifest digest>``, sizes the sum of the manifest,
config and layer blobs, as containerd's CRI reports them. ``load(archive)`` is the offline path (what ``sampan image
load`` does for containerd). Removing an image drops its refs from the layout's index (blobs stay: the
test store is throw-away). One skopeo at a time writes the layout.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from sampan.kubelet.images.reference import ReferenceError, apply_default_tag, parse_normalized
from sampan.kubelet.runtime.images import ImageFsUsage, ImageInfo, ImagePullError, RegistryAuth

REF_NAME = "org.opencontainers.image.ref.name"


def normalize(image: str) -> str:
    try:
        return str(parse_normalized(apply_default_tag(image)))
    except ReferenceError:
        return image


class SkopeoImageService:
    def __init__(self, store: Path) -> None:
        self.store = store
        self.store.mkdir(parents=True, exist_ok=True)
        self._lock = asyncio.Lock()
        self.pulls = 0
        self._pulled: set[str] = set()
        """Names pulled from a registry: only they have a repo digest (a loaded image has none, as with
        containerd's ``ctr import``)."""

    async def _skopeo(self, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec("skopeo", *args, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
        return int(proc.returncode or 0), (lines[-1] if lines else "")

    async def pull_image(self, image: str, *, auth: RegistryAuth | None = None) -> str:
        name = normalize(image)
        args = ["copy", "--quiet", "--src-tls-verify=false"]
        if auth is not None and (auth.username or auth.password):
            args += ["--src-creds", f"{auth.username}:{auth.password}"]
        async with self._lock:
            self.pulls += 1
            code, err = await self._skopeo(*args, f"docker://{name}", f"oci:{self.store}:{name}")
        if code != 0:
            raise ImagePullError(f'failed to pull and unpack image "{name}": {err}')
        self._pulled.add(name)
        info = await self.image_status(name)
        assert info is not None
        return info.id

    async def load(self, archive: Path, name: str) -> None:
        async with self._lock:
            code, err = await self._skopeo("copy", "--quiet", f"oci-archive:{archive}", f"oci:{self.store}:{name}")
        if code != 0:
            raise RuntimeError(err)

    def _index(self) -> list[dict[str, Any]]:
        try:
            manifests = json.loads((self.store / "index.json").read_text()).get("manifests") or []
        except (OSError, ValueError):
            return []
        return [m for m in manifests if isinstance(m, dict)]

    def _blob(self, digest: str) -> Any:
        return json.loads((self.store / "blobs" / "sha256" / digest.split(":", 1)[1]).read_text())

    async def list_images(self) -> list[ImageInfo]:
        by_id: dict[str, dict[str, Any]] = {}
        for entry in self._index():
            manifest = self._blob(entry["digest"])
            config = manifest["config"]["digest"]
            ref = (entry.get("annotations") or {}).get(REF_NAME, "")
            size = entry["size"] + manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
            rec = by_id.setdefault(config, {"tags": [], "digests": [], "size": size})
            if ref:
                rec["tags"].append(ref)
            if ref in self._pulled:
                repo = f"{parse_normalized(ref).name}@{entry['digest']}"
                if repo not in rec["digests"]:
                    rec["digests"].append(repo)
        return [ImageInfo(id=i, repo_tags=tuple(r["tags"]), repo_digests=tuple(r["digests"]), size=r["size"])
                for i, r in by_id.items()]

    async def image_status(self, image: str) -> ImageInfo | None:
        name = normalize(image)
        return next((i for i in await self.list_images() if name in i.repo_tags or image == i.id), None)

    async def remove_image(self, image: str) -> None:
        info = await self.image_status(image)
        if info is None:
            return
        async with self._lock:
            index = json.loads((self.store / "index.json").read_text())
            index["manifests"] = [m for m in index.get("manifests") or []
                                  if (m.get("annotations") or {}).get(REF_NAME) not in info.repo_tags]
            (self.store / "index.json").write_text(json.dumps(index))

    async def image_fs_info(self) -> ImageFsUsage:
        usage = shutil.disk_usage(self.store)
        used = sum(p.stat().st_size for p in (self.store / "blobs").rglob("*") if p.is_file()) \
            if (self.store / "blobs").exists() else 0
        return ImageFsUsage(used_bytes=used, capacity_bytes=usage.total, available_bytes=usage.free)
