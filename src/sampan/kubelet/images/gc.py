"""Image garbage collection and the node's image list (upstream ``realImageGCManager`` and the
``node.status.images`` setter).

Every ``list_period`` the collector lists the runtime's images and containers: an image first seen now is
stamped ``first_detected``; an image some container uses (matched by id, tag, digest or the reference
the container was created with) is stamped ``last_used``; records of vanished images are dropped. The
list, largest first, is what :func:`node_images` turns into ``node.status.images``.

Every ``gc_period`` it reads the image filesystem (CRI ``ImageFsInfo``). When usage reaches
``high_threshold`` percent of capacity it frees ``capacity * (100 - low_threshold) / 100 - available``
bytes by removing unused images, least recently used first (then oldest detected), never an image in
use, pinned, used during the current detection, or detected less than ``min_age`` ago. Freeing less than
needed logs and records upstream's ``FreeDiskSpaceFailed`` node event; a second failure in a row also
``ImageGCFailed``. ``high_threshold`` 100 turns collection off.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan.kubelet.api_status import EventSink
from sampan.kubelet.images.reference import ReferenceError, apply_default_tag, parse_normalized
from sampan.kubelet.runtime.images import ImageInfo, ImageService
from sampan.kubelet.runtime.interface import ContainerStatus, RuntimeFailure

log = logging.getLogger(__name__)

MAX_NAMES_PER_IMAGE = 5
DEFAULT_MAX_IMAGES = 50


@dataclass(frozen=True, slots=True)
class ImageGCOptions:
    high_threshold: int = 85
    """``--image-gc-high-threshold``: percent of the image filesystem's capacity that triggers collection."""
    low_threshold: int = 80
    """``--image-gc-low-threshold``: collection frees space down to this percent."""
    min_age: float = 120.0
    """``--minimum-image-ttl-duration``: an image detected more recently is never removed."""
    gc_period: float = 300.0
    list_period: float = 30.0
    max_images: int = DEFAULT_MAX_IMAGES
    """``--node-status-max-images`` (-1: all)."""
    pinned_images: tuple[str, ...] = ()
    """References never collected although no container uses them: the sandbox (pause) image
    (``--pod-infra-container-image``), for runtimes that do not report it pinned."""

    def __post_init__(self) -> None:
        for name in ("high_threshold", "low_threshold"):
            value = getattr(self, name)
            if not 0 <= value <= 100:
                raise ValueError(f"image-gc-{name.split('_')[0]}-threshold must be in [0, 100], got {value}")
        if self.low_threshold >= self.high_threshold and self.high_threshold != 100:
            raise ValueError(f"image-gc-low-threshold ({self.low_threshold}) must be less than "
                             f"image-gc-high-threshold ({self.high_threshold})")
        if self.gc_period <= 0 or self.list_period <= 0 or self.min_age < 0:
            raise ValueError("image gc periods must be positive and min-age non-negative")


@dataclass(slots=True)
class _Record:
    first_detected: float
    last_used: float
    size: int


def node_images(images: list[ImageInfo], *, max_images: int = DEFAULT_MAX_IMAGES) -> list[dict[str, Any]]:
    """``node.status.images``: largest first, at most ``max_images`` (-1: all), each with up to five
    names (repo digests, then repo tags) and ``sizeBytes``."""
    ordered = sorted(images, key=lambda i: i.size, reverse=True)
    if max_images >= 0:
        ordered = ordered[:max_images]
    return [{"names": [*i.repo_digests, *i.repo_tags][:MAX_NAMES_PER_IMAGE], "sizeBytes": i.size} for i in ordered]


def _spellings(image: str) -> set[str]:
    out = {image}
    try:
        out.add(str(parse_normalized(apply_default_tag(image))))
    except ReferenceError:
        pass
    return out


def images_in_use(images: list[ImageInfo], containers: list[ContainerStatus], *,
                  also: tuple[str, ...] = ()) -> set[str]:
    """Ids of the images some container (in any state) was created from, and of the ``also`` references."""
    wanted: set[str] = set()
    for image in [c.image for c in containers if c.image] + list(also):
        wanted |= _spellings(image)
    return {i.id for i in images if i.id in wanted or wanted & set(i.repo_tags) or wanted & set(i.repo_digests)}


class ImageGC:
    """Owns the image records and the node's image list. ``list_containers``: every container the
    runtime has (all pods); ``events``/``node_ref`` may be set once the API is known."""

    def __init__(self, service: ImageService, *, list_containers: Callable[[], Awaitable[list[ContainerStatus]]],
                 clock: Clock | None = None, options: ImageGCOptions | None = None,
                 events: EventSink | None = None, node_ref: Mapping[str, Any] | None = None) -> None:
        self.service = service
        self.list_containers = list_containers
        self.clock = clock or RealClock()
        self.options = options or ImageGCOptions()
        self.events = events
        self.node_ref = dict(node_ref or {})
        self.records: dict[str, _Record] = {}
        self.images: list[ImageInfo] = []
        """The last image list, largest first (read by the node status, possibly from another thread)."""
        self._failed_before = False

    def node_images(self) -> list[dict[str, Any]]:
        return node_images(self.images, max_images=self.options.max_images)

    async def detect(self) -> tuple[float, set[str]]:
        """Refresh the image list and records; (detection time, ids in use)."""
        now = self.clock.wall()
        images = await self.service.list_images()
        in_use = images_in_use(images, await self.list_containers(), also=self.options.pinned_images)
        for image in images:
            record = self.records.get(image.id)
            if record is None:
                record = self.records[image.id] = _Record(first_detected=now, last_used=0.0, size=image.size)
            record.size = image.size
            if image.id in in_use:
                record.last_used = now
        present = {i.id for i in images}
        for gone in [i for i in self.records if i not in present]:
            del self.records[gone]
        self.images = sorted(images, key=lambda i: i.size, reverse=True)
        return now, in_use

    async def garbage_collect(self) -> int:
        """One collection; the bytes freed. Raises RuntimeError when less than needed could be freed."""
        if self.options.high_threshold >= 100:
            return 0
        usage = await self.service.image_fs_info()
        capacity, available = usage.capacity_bytes, min(usage.available_bytes, usage.capacity_bytes)
        if capacity <= 0:
            self._node_event("Warning", "InvalidDiskCapacity", "invalid capacity 0 on image filesystem")
            raise RuntimeError("invalid capacity 0 on image filesystem")
        percent = 100 - available * 100 // capacity
        if percent < self.options.high_threshold:
            return 0
        to_free = capacity * (100 - self.options.low_threshold) // 100 - available
        log.info("Disk usage on image filesystem is over the high threshold, trying to free bytes down to the low "
                 "threshold usage=%d highThreshold=%d amountToFree=%d lowThreshold=%d",
                 percent, self.options.high_threshold, to_free, self.options.low_threshold)
        freed = await self.free_space(to_free)
        if freed < to_free:
            msg = (f"Failed to garbage collect required amount of images. Attempted to free {to_free} bytes, "
                   f"but only found {freed} bytes eligible to free.")
            self._node_event("Warning", "FreeDiskSpaceFailed", msg)
            raise RuntimeError(msg)
        return freed

    async def free_space(self, to_free: int) -> int:
        """Remove unused images, least recently used first, until ``to_free`` bytes are gone."""
        detected_at, in_use = await self.detect()
        pinned = {i.id for i in self.images if i.pinned}
        candidates = [(image_id, r) for image_id, r in self.records.items()
                      if image_id not in in_use and image_id not in pinned]
        candidates.sort(key=lambda item: (item[1].last_used, item[1].first_detected))
        freed = 0
        for image_id, record in candidates:
            if freed >= to_free:
                break
            if record.last_used == detected_at or detected_at - record.first_detected < self.options.min_age:
                continue
            log.info("Removing image to free bytes imageID=%s size=%d", image_id, record.size)
            try:
                await self.service.remove_image(image_id)
            except RuntimeFailure as err:
                log.warning("image removal failed imageID=%s err=%s", image_id, err.message)
                continue
            self.records.pop(image_id, None)
            freed += record.size
        return freed

    async def run_once(self) -> None:
        """One collection with upstream's logging and events (a repeated failure is an ``ImageGCFailed``)."""
        try:
            await self.garbage_collect()
        except (RuntimeError, RuntimeFailure, OSError) as err:
            text = getattr(err, "message", None) or str(err)
            if self._failed_before:
                log.error("Image garbage collection failed multiple times in a row err=%s", text)
                self._node_event("Warning", "ImageGCFailed", text)
            else:
                log.warning("Image garbage collection failed once. Stats initialization may not have completed yet "
                            "err=%s", text)
            self._failed_before = True
            return
        self._failed_before = False
        log.debug("Image garbage collection succeeded")

    async def run(self) -> None:
        """Refresh the list every ``list_period`` and collect every ``gc_period``, until cancelled."""
        next_gc = self.clock.monotonic() + self.options.gc_period
        while True:
            try:
                await self.detect()
            except (RuntimeFailure, OSError) as err:
                log.warning("image list failed err=%s", getattr(err, "message", None) or err)
            if self.clock.monotonic() >= next_gc:
                await self.run_once()
                next_gc = self.clock.monotonic() + self.options.gc_period
            await self.clock.sleep(min(self.options.list_period, max(0.0, next_gc - self.clock.monotonic())))

    def _node_event(self, type_: str, reason: str, message: str) -> None:
        if self.events is not None and self.node_ref:
            self.events.event(dict(self.node_ref), type_, reason, message)
