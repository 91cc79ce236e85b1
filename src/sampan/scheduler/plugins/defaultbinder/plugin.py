"""DefaultBinder (see the package docstring)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import Handle
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import Status, error

NAME = "DefaultBinder"
log = logging.getLogger(__name__)


class DefaultBinder:
    name = NAME

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        binder = self._handle.binder
        if binder is None:
            return error("no binder is configured")
        try:
            await binder.bind(pod, node_name)
        except Exception as exc:
            log.debug("bind failed pod=%s node=%s err=%s", pod.key, node_name, exc)
            return error(f"binding rejected: {exc}")
        return None


def new(args: Mapping[str, Any], handle: Handle) -> DefaultBinder:
    return DefaultBinder(handle)
