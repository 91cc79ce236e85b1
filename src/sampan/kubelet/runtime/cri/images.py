"""The node's :class:`~sampan.kubelet.runtime.images.ImageService` over CRI's ``runtime.v1.ImageService``.

Image references are passed to the runtime as written in the pod spec; the runtime normalises them
(``busybox`` → ``docker.io/library/busybox:latest``). With ``serialize`` (upstream's
``--serialize-image-pulls``, default true) one pull runs at a time; otherwise pulls run concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sampan.kubelet.runtime.cri import convert
from sampan.kubelet.runtime.cri.client import CRIClient, CRIError, CRINotFound
from sampan.kubelet.runtime.images import ImageFsUsage, ImageInfo, ImagePullError, RegistryAuth
from sampan.kubelet.runtime.interface import RuntimeFailure


class CRIImageService:
    """CRI images. Failures other than a refused pull raise :class:`RuntimeFailure` with the runtime's words."""

    def __init__(self, client: CRIClient, *, serialize: bool = True) -> None:
        self._client = client
        self._serialize = serialize
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _pull_slot(self) -> AsyncIterator[None]:
        if not self._serialize:
            yield
            return
        async with self._lock:
            yield

    async def pull_image(self, image: str, *, auth: RegistryAuth | None = None) -> str:
        async with self._pull_slot():
            try:
                return await self._client.pull_image(image, auth=convert.auth(auth))
            except CRIError as err:
                raise ImagePullError(err.message) from None

    async def image_status(self, image: str) -> ImageInfo | None:
        try:
            img = await self._client.image_status(image)
        except CRINotFound:
            return None
        except CRIError as err:
            raise RuntimeFailure(err.message) from None
        return convert.image_info(img) if img is not None and img.id else None

    async def list_images(self) -> list[ImageInfo]:
        try:
            return [convert.image_info(img) for img in await self._client.list_images()]
        except CRIError as err:
            raise RuntimeFailure(err.message) from None

    async def remove_image(self, image: str) -> None:
        try:
            await self._client.remove_image(image)
        except CRINotFound:
            return
        except CRIError as err:
            raise RuntimeFailure(err.message) from None

    async def image_fs_info(self) -> ImageFsUsage:
        """Bytes the runtime says images use, with the capacity and free space of the filesystem holding
        them (CRI reports only usage and the mountpoint; the rest comes from statvfs). Before the runtime's
        first usage sample, the images' own sizes stand in for the usage."""
        try:
            resp = await self._client.image_fs_info()
        except CRIError as err:
            raise RuntimeFailure(err.message) from None
        used, mount = 0, "/"
        for fs in resp.image_filesystems:
            used += int(fs.used_bytes.value)
            mount = fs.fs_id.mountpoint or mount
        if used == 0:  # containerd samples snapshot usage periodically: none yet right after start
            used = sum(img.size for img in await self.list_images())
        st = await asyncio.to_thread(_statvfs, mount)
        return ImageFsUsage(used_bytes=used, capacity_bytes=st[0], available_bytes=st[1])


def _statvfs(path: str) -> tuple[int, int]:
    import os

    try:
        st = os.statvfs(path)
    except OSError:
        return 0, 0
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
