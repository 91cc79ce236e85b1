"""PrioritySort (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sampan.scheduler.framework.interface import Handle, QueuedPodInfo

NAME = "PrioritySort"


class PrioritySort:
    name = NAME

    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
        pa, pb = a.pod_info.priority, b.pod_info.priority
        return pa > pb or (pa == pb and a.timestamp < b.timestamp)


def new(args: Mapping[str, Any], handle: Handle) -> PrioritySort:
    return PrioritySort()
