"""An in-memory ImageService for unit tests: a "remote" set of images (optionally behind credentials per
registry host) and the node's local store."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

from sampan.kubelet.images.reference import apply_default_tag, parse_normalized
from sampan.kubelet.runtime.images import ImageFsUsage, ImageInfo, ImagePullError, RegistryAuth


def normalize(image: str) -> str:
    return str(parse_normalized(apply_default_tag(image)))


def image_id(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


@dataclass
class FakeImageService:
    remote: dict[str, int] = field(default_factory=dict)
    """normalized reference -> size of images a pull can fetch."""
    credentials: dict[str, tuple[str, str]] = field(default_factory=dict)
    """registry domain -> (username, password) it requires."""
    local: dict[str, ImageInfo] = field(default_factory=dict)
    fs: ImageFsUsage = field(default_factory=lambda: ImageFsUsage(used_bytes=0, capacity_bytes=1000,
                                                                   available_bytes=1000))
    pulls: list[tuple[str, RegistryAuth | None]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None
    active: int = 0
    max_active: int = 0

    def add_local(self, image: str, size: int = 100, *, pinned: bool = False) -> ImageInfo:
        name = normalize(image)
        repo = parse_normalized(name)
        info = ImageInfo(id=image_id(name), repo_tags=(name,), repo_digests=(f"{repo.name}@{image_id(name + '@')}",),
                         size=size, pinned=pinned)
        self.local[info.id] = info
        return info

    def _find(self, image: str) -> ImageInfo | None:
        if image in self.local:
            return self.local[image]
        name = normalize(image)
        return next((i for i in self.local.values() if name in i.repo_tags), None)

    async def pull_image(self, image: str, *, auth: RegistryAuth | None = None) -> str:
        self.pulls.append((image, auth))
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.gate is not None:
                await self.gate.wait()
            name = normalize(image)
            domain = parse_normalized(name).domain
            need = self.credentials.get(domain)
            if need is not None and (auth is None or (auth.username, auth.password) != need):
                raise ImagePullError(f'failed to pull and unpack image "{name}": 401 Unauthorized')
            if name not in self.remote:
                raise ImagePullError(f'failed to pull and unpack image "{name}": {name}: not found')
            return self.add_local(image, self.remote[name]).id
        finally:
            self.active -= 1

    async def image_status(self, image: str) -> ImageInfo | None:
        return self._find(image)

    async def list_images(self) -> list[ImageInfo]:
        return list(self.local.values())

    async def remove_image(self, image: str) -> None:
        found = self._find(image)
        if found is not None:
            del self.local[found.id]
            self.removed.append(found.id)

    async def image_fs_info(self) -> ImageFsUsage:
        return self.fs


class RecordingEvents:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.field_paths: list[str] = []

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str, *, field_path: str = "") -> None:
        self.events.append((type_, reason, message))
        self.field_paths.append(field_path)

    def reasons(self) -> list[str]:
        return [r for _, r, _ in self.events]
