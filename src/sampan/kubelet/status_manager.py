"""Where pod statuses go: the :class:`PodStatusSink` seam (the API-backed sink that PATCHes
``pods/status`` comes with the client library) and an in-memory sink for tests and API-less use.

The pod worker calls :meth:`PodStatusSink.update_status` only when the computed status differs from the
last one it reported, and :meth:`PodStatusSink.terminated` once a deleted pod's containers are all
stopped (the API sink then issues the final delete with grace period 0).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Protocol


class PodStatusSink(Protocol):
    async def update_status(self, pod: Mapping[str, Any], status: dict[str, Any]) -> None: ...

    async def terminated(self, pod: Mapping[str, Any]) -> None: ...


def pod_key(pod: Mapping[str, Any]) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('namespace') or 'default'}/{md.get('name', '')}"


class MemoryStatusSink:
    """Keeps every reported status per ``ns/name``; ``history`` is the sequence of updates."""

    def __init__(self) -> None:
        self.statuses: dict[str, dict[str, Any]] = {}
        self.history: list[tuple[str, dict[str, Any]]] = []
        self.terminated_pods: list[str] = []

    async def update_status(self, pod: Mapping[str, Any], status: dict[str, Any]) -> None:
        key = pod_key(pod)
        self.statuses[key] = copy.deepcopy(status)
        self.history.append((key, self.statuses[key]))

    async def terminated(self, pod: Mapping[str, Any]) -> None:
        self.terminated_pods.append(pod_key(pod))
