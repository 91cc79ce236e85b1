"""The image seam: a CRI ``ImageService``-shaped :class:`ImageService` Protocol and its data.

The kubelet's image manager (pull policy, pull secrets, back-off, events, garbage collection,
``node.status.images``) talks only to this Protocol; the containerd runtime implements it over CRI's
``runtime.v1.ImageService``. A runtime without images (the process and simulated runtimes) has no
ImageService: its pods' ``image`` is a label, never pulled.

Everything here is data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sampan.kubelet.runtime.interface import RuntimeFailure


class ImagePullError(RuntimeFailure):
    """PullImage failed (unreachable registry, unknown image, refused credentials)."""

    reason = "ErrImagePull"


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    """CRI ``AuthConfig``: credentials for one registry (from a ``dockerconfigjson`` pull secret)."""

    username: str = ""
    password: str = ""
    auth: str = ""
    server_address: str = ""
    identity_token: str = ""
    registry_token: str = ""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """CRI ``Image``: ``id`` is the image's config digest (``sha256:…``), ``size`` in bytes."""

    id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    size: int = 0
    pinned: bool = False


@dataclass(frozen=True, slots=True)
class ImageFsUsage:
    """CRI ``FilesystemUsage`` of the image filesystem: bytes used by images, and the filesystem's
    capacity and free bytes (the garbage collector's thresholds are percentages of capacity)."""

    used_bytes: int
    capacity_bytes: int
    available_bytes: int


class ImageService(Protocol):
    """CRI's ImageService. ``image`` arguments are references as written in a pod spec
    (``127.0.0.1:5000/web:1``, ``busybox``); implementations normalise them as the runtime does."""

    async def pull_image(self, image: str, *, auth: RegistryAuth | None = None) -> str:
        """Pull ``image``; the image reference the runtime resolved (its id). Raises
        :class:`ImagePullError` with the runtime's message on failure."""
        ...

    async def image_status(self, image: str) -> ImageInfo | None:
        """The image if present on the node, else ``None``."""
        ...

    async def list_images(self) -> list[ImageInfo]: ...

    async def remove_image(self, image: str) -> None:
        """Remove the image (by id or reference); absent is not an error."""
        ...

    async def image_fs_info(self) -> ImageFsUsage: ...
