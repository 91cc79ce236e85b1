"""Stale ``DisruptionTarget`` conditions (upstream's stale-pod-disruption worker).

The eviction subresource marks a pod ``DisruptionTarget=True`` just before deleting it. A pod that still
is not being deleted :data:`STALE_TIMEOUT` seconds after that mark was not disrupted after all (the delete
failed): the controller sets the condition back to ``False``. Keys of this work are ``stale:<ns>/<name>``
in the disruption controller's queue, queued for when the mark turns stale.
"""

from __future__ import annotations

import calendar
import time
from typing import Any

from sampan.api import errors
from sampan.client import Client

DISRUPTION_TARGET = "DisruptionTarget"
STALE_TIMEOUT = 120.0
KEY_PREFIX = "stale:"


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _condition(pod: dict[str, Any]) -> dict[str, Any] | None:
    for cond in _d(pod.get("status")).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == DISRUPTION_TARGET:
            return cond
    return None


def stale_at(pod: dict[str, Any], *, timeout: float) -> float | None:
    """When the pod's ``DisruptionTarget=True`` mark turns stale (None: no such mark, or being deleted)."""
    cond = _condition(pod)
    if cond is None or cond.get("status") != "True" or _d(pod.get("metadata")).get("deletionTimestamp"):
        return None
    stamp = cond.get("lastTransitionTime")
    try:
        marked = float(calendar.timegm(time.strptime(str(stamp)[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return 0.0
    return marked + timeout


async def clear(client: Client, pod: dict[str, Any], *, now: float) -> None:
    """Set the mark back to False (a Conflict is retried by the runner)."""
    status = _d(pod.get("status"))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    conditions = [c for c in status.get("conditions") or []
                  if isinstance(c, dict) and c.get("type") != DISRUPTION_TARGET]
    conditions.append({"type": DISRUPTION_TARGET, "status": "False", "lastProbeTime": None,
                       "lastTransitionTime": stamp})
    pods = await client.resource("v1", "pods")
    try:
        await pods.update_status({**pod, "status": {**status, "conditions": conditions}},
                                 namespace=_d(pod.get("metadata")).get("namespace"))
    except errors.NotFound:
        pass
