"""A Deployment's status and its conditions (upstream's ``progress.go`` and ``calculateStatus``).

Progressing, by reason:
  ``NewReplicaSetCreated`` / ``FoundNewReplicaSet`` / ``ReplicaSetUpdated`` (True)   the rollout moved;
  ``NewReplicaSetAvailable`` (True)                                                  the rollout completed;
  ``ProgressDeadlineExceeded`` (False)     no progress for ``progressDeadlineSeconds`` since the last one;
  ``DeploymentPaused`` / ``DeploymentResumed`` (Unknown)                             pause and resume.
Available is True (MinimumReplicasAvailable) when at least ``replicas - maxUnavailable`` pods are available.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sampan.api.omitempty import DEPLOYMENT_STATUS, drop_zero
from sampan.controllers.deployment.revisions import replicas, status_int
from sampan.controllers.deployment.scaling import desired, fenceposts
from sampan.controllers.pods import format_time, parse_time

PROGRESSING = "Progressing"
AVAILABLE = "Available"
TIMED_OUT = "ProgressDeadlineExceeded"
COMPLETE = "NewReplicaSetAvailable"
UPDATED = "ReplicaSetUpdated"
CREATED = "NewReplicaSetCreated"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"


def get_condition(status: Mapping[str, Any], ctype: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == ctype), None)


def set_condition(status: dict[str, Any], ctype: str, value: str, reason: str, message: str, now: float) -> None:
    """Set a condition; lastTransitionTime moves only when the status value changes, lastUpdateTime
    only when something changed."""
    old = get_condition(status, ctype)
    stamp = format_time(now)
    if old is not None and old.get("status") == value and old.get("reason") == reason \
            and old.get("message") == message:
        return
    cond = {"type": ctype, "status": value, "lastUpdateTime": stamp,
            "lastTransitionTime": old.get("lastTransitionTime", stamp) if old and old.get("status") == value
            else stamp, "reason": reason, "message": message}
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != ctype] + [cond]


def calculate_status(d: Mapping[str, Any], all_rss: Sequence[Mapping[str, Any]],
                     new_rs: Mapping[str, Any] | None, *, now: float) -> dict[str, Any]:
    """Replica counts, observedGeneration and the Available condition (Progressing is added later)."""
    old = dict(d.get("status") or {})
    available = sum(status_int(rs, "availableReplicas") for rs in all_rss)
    total = sum(status_int(rs, "replicas") for rs in all_rss)
    status: dict[str, Any] = {
        "observedGeneration": int((d.get("metadata") or {}).get("generation") or 0),
        "replicas": total,
        "updatedReplicas": status_int(new_rs, "replicas") if new_rs is not None else 0,
        "readyReplicas": sum(status_int(rs, "readyReplicas") for rs in all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(0, sum(replicas(rs) for rs in all_rss) - available),
        "conditions": list(old.get("conditions") or []),
    }
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    _, max_unavailable = fenceposts(d)
    if available >= desired(d) - max_unavailable:
        set_condition(status, AVAILABLE, "True", "MinimumReplicasAvailable", "Deployment has minimum availability.",
                      now)
    else:
        set_condition(status, AVAILABLE, "False", "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability.", now)
    return drop_zero(status, DEPLOYMENT_STATUS)


def is_complete(d: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    n = desired(d)
    return bool(int(status.get("updatedReplicas") or 0) == n and int(status.get("replicas") or 0) == n
                and int(status.get("availableReplicas") or 0) == n
                and int(status.get("observedGeneration") or 0) >= int((d.get("metadata") or {}).get("generation") or 0))


def _progressed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return bool(int(new.get("updatedReplicas") or 0) > int(old.get("updatedReplicas") or 0)
                or int(new.get("readyReplicas") or 0) > int(old.get("readyReplicas") or 0)
                or int(new.get("availableReplicas") or 0) > int(old.get("availableReplicas") or 0)
                or int(new.get("replicas") or 0) < int(old.get("replicas") or 0))


def update_progressing(d: Mapping[str, Any], status: dict[str, Any], new_rs: Mapping[str, Any] | None, *,
                       now: float, created_new: bool) -> float | None:
    """Set Progressing in ``status``; seconds until the deadline should be checked again (or None)."""
    spec = d.get("spec") or {}
    deadline = spec.get("progressDeadlineSeconds")
    if spec.get("paused"):
        return None
    if deadline is None:
        status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != PROGRESSING]
        return None
    rs_name = (new_rs or {}).get("metadata", {}).get("name", "")
    old_status = d.get("status") or {}
    current = get_condition(status, PROGRESSING)
    if is_complete(d, status):
        set_condition(status, PROGRESSING, "True", COMPLETE, f'ReplicaSet "{rs_name}" has successfully progressed.',
                      now)
        return None
    if created_new:
        set_condition(status, PROGRESSING, "True", CREATED, f'Created new replica set "{rs_name}"', now)
    elif current is None or current.get("reason") in (RESUMED, PAUSED) or _progressed(old_status, status) \
            or (current.get("reason") == COMPLETE):
        _touch(status, rs_name, now)
    current = get_condition(status, PROGRESSING)
    if current is None or current.get("reason") == TIMED_OUT:
        return None
    last = parse_time(current.get("lastUpdateTime")) or now
    if last + int(deadline) <= now:
        set_condition(status, PROGRESSING, "False", TIMED_OUT, f'ReplicaSet "{rs_name}" has timed out progressing.',
                      now)
        return None
    return last + int(deadline) - now + 0.05


def _touch(status: dict[str, Any], rs_name: str, now: float) -> None:
    """Progress seen: a fresh lastUpdateTime even if reason and message are unchanged."""
    message = f'ReplicaSet "{rs_name}" is progressing.'
    old = get_condition(status, PROGRESSING)
    stamp = format_time(now)
    since = old.get("lastTransitionTime", stamp) if old and old.get("status") == "True" else stamp
    cond = {"type": PROGRESSING, "status": "True", "lastUpdateTime": stamp, "lastTransitionTime": since,
            "reason": UPDATED, "message": message}
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != PROGRESSING] + [cond]


def paused_condition(d: Mapping[str, Any], status: dict[str, Any], now: float) -> None:
    """DeploymentPaused while paused; DeploymentResumed once when unpaused after a pause."""
    if (d.get("spec") or {}).get("progressDeadlineSeconds") is None:
        return
    current = get_condition(status, PROGRESSING)
    paused = bool((d.get("spec") or {}).get("paused"))
    if paused and (current is None or current.get("reason") != PAUSED):
        set_condition(status, PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now)
    elif not paused and current is not None and current.get("reason") == PAUSED:
        set_condition(status, PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", now)
