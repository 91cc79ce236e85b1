"""Helpers for kubelet tests: a pod factory, a condition poller, cgroup cleanup."""

from __future__ import annotations

import asyncio
import copy
import os
import uuid
from collections.abc import Callable
from typing import Any


def make_pod(name: str = "web", *, containers: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    annotations = spec.pop("annotations", {})
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns", "uid": str(uuid.uuid4()), "annotations": annotations},
        "spec": {"nodeName": "n1", "containers": containers or [{"name": "c", "image": "img"}], **spec},
    }


def with_deletion(pod: dict[str, Any], grace: int) -> dict[str, Any]:
    out = copy.deepcopy(pod)
    out["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    out["metadata"]["deletionGracePeriodSeconds"] = grace
    return out


async def until(pred: Callable[[], bool], *, timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``pred`` (yielding to the loop) until it holds; fail after ``timeout`` real seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


def remove_empty_cgroup_parents(parent: str) -> None:
    """Remove the per-test cgroup parent directories once no container cgroup is left in them."""
    for controller in ("memory", "cpu", "pids"):
        try:
            os.rmdir(f"/sys/fs/cgroup/{controller}/{parent}")
        except OSError:
            pass
    for controller in ("cpu", "cpuacct"):  # the runtime cgroup (spawn helper, shims), once they are gone
        try:
            os.rmdir(f"/sys/fs/cgroup/{controller}/{parent}-runtime")
        except OSError:
            pass
