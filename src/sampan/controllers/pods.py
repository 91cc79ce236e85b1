"""Facts about pods that several controllers share: active/terminal, ready, available, and the order in
which a controller deletes its least valuable pods first (upstream's ``ActivePodsWithRanks``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sampan.api.humanize import format_rfc3339, parse_rfc3339

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


# The controllers' names for the API's timestamp helpers (metav1.Time: UTC, whole seconds).
parse_time = parse_rfc3339
format_time = format_rfc3339


def phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_terminating(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def is_active(pod: Mapping[str, Any]) -> bool:
    """Counts toward a controller's replicas: not finished and not being deleted."""
    return phase(pod) not in TERMINAL_PHASES and not is_terminating(pod)


def condition(obj: Mapping[str, Any], ctype: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == ctype:
            return c
    return None


def is_ready(pod: Mapping[str, Any]) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def ready_since(pod: Mapping[str, Any]) -> float | None:
    """When the pod last became Ready (None when not ready)."""
    c = condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return None
    return parse_time(c.get("lastTransitionTime"))


def is_available(pod: Mapping[str, Any], min_ready_seconds: int, now: float) -> bool:
    """Ready for at least ``min_ready_seconds`` (upstream's ``IsPodAvailable``)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + min_ready_seconds <= now


def _restarts(pod: Mapping[str, Any]) -> int:
    return sum(int(c.get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or [])


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_rank(pod: Mapping[str, Any], *, colocated: int = 0) -> tuple[Any, ...]:
    """Sort key: pods that sort first are deleted first. Unscheduled < scheduled; Pending < Unknown <
    Running; not ready < ready; more pods of the same owner on its node first; ready for less time first;
    more restarts first; newer first."""
    scheduled = bool((pod.get("spec") or {}).get("nodeName"))
    ready = is_ready(pod)
    since = ready_since(pod) or 0.0
    created = parse_time((pod.get("metadata") or {}).get("creationTimestamp")) or 0.0
    return (scheduled, _PHASE_RANK.get(phase(pod), 2), ready, -colocated, -since if ready else 0.0,
            -_restarts(pod), -created)
