"""ImageLocality (see the package docstring). PreScore SKIPs when no node holds any of the images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import MAX_NODE_SCORE, Handle
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import SKIP, Status

NAME = "ImageLocality"
MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


def calculate_priority(sum_scores: int, num_containers: int) -> int:
    """Clamp the summed image score into [23 MB, 1000 MB * containers] and map it onto 0..100."""
    max_threshold = MAX_CONTAINER_THRESHOLD * num_containers
    s = min(max(sum_scores, MIN_THRESHOLD), max_threshold)
    return MAX_NODE_SCORE * (s - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


class ImageLocality:
    name = NAME

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        counts = self._handle.snapshot.image_num_nodes
        if not any(img in counts for img in pod.images):
            return SKIP
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        snap = self._handle.snapshot
        total = len(snap) or 1
        counts = snap.image_num_nodes
        s = 0
        for img in pod.images:
            size = node.images.get(img)
            if size is not None:
                s += int(size * (counts[img] / total))
        return calculate_priority(s, len(pod.images))


def new(args: Mapping[str, Any], handle: Handle) -> ImageLocality:
    return ImageLocality(handle)
