"""Node taints derived from conditions, and pod tolerations against taints (upstream semantics).

Taint keys are upstream's well-known ones. NoSchedule taints follow the conditions directly; NoExecute
taints exist only for Ready False (``not-ready``) and Ready Unknown (``unreachable``), and carry
``timeAdded``, from which a pod's ``tolerationSeconds`` count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
PID_PRESSURE = "node.kubernetes.io/pid-pressure"
NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"

MANAGED_NO_SCHEDULE = frozenset({NOT_READY, UNREACHABLE, UNSCHEDULABLE, MEMORY_PRESSURE, DISK_PRESSURE,
                                 PID_PRESSURE, NETWORK_UNAVAILABLE})
MANAGED_NO_EXECUTE = frozenset({NOT_READY, UNREACHABLE})

_CONDITION_TAINTS: dict[tuple[str, str], str] = {
    ("Ready", "False"): NOT_READY,
    ("Ready", "Unknown"): UNREACHABLE,
    ("MemoryPressure", "True"): MEMORY_PRESSURE,
    ("DiskPressure", "True"): DISK_PRESSURE,
    ("PIDPressure", "True"): PID_PRESSURE,
    ("NetworkUnavailable", "True"): NETWORK_UNAVAILABLE,
}


def condition(node: Mapping[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return cond
    return None


def ready_status(node: Mapping[str, Any]) -> str:
    """``True``, ``False`` or ``Unknown`` (also when the kubelet never posted a Ready condition)."""
    cond = condition(node, "Ready")
    return str(cond.get("status") or "Unknown") if cond else "Unknown"


def desired_no_schedule(node: Mapping[str, Any]) -> set[str]:
    """The managed NoSchedule taint keys the node's conditions and ``spec.unschedulable`` call for."""
    keys = {key for (ctype, status), key in _CONDITION_TAINTS.items()
            if (cond := condition(node, ctype)) is not None and cond.get("status") == status}
    if condition(node, "Ready") is None:
        keys.add(UNREACHABLE)
    if (node.get("spec") or {}).get("unschedulable"):
        keys.add(UNSCHEDULABLE)
    return keys


def desired_no_execute(node: Mapping[str, Any]) -> str | None:
    """The managed NoExecute taint key for the node's Ready status (None when Ready is True)."""
    status = ready_status(node)
    if status == "True":
        return None
    return NOT_READY if status == "False" else UNREACHABLE


def taints(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]


def with_managed_taints(current: Sequence[Mapping[str, Any]], *, no_schedule: Iterable[str],
                        no_execute: str | None, now: str) -> list[dict[str, Any]]:
    """``current`` with the managed taints replaced by the wanted ones; unmanaged taints and managed ones
    already present (with their ``timeAdded``) are kept as they are, in order."""
    wanted = {(k, NO_SCHEDULE) for k in no_schedule}
    if no_execute is not None:
        wanted.add((no_execute, NO_EXECUTE))
    out: list[dict[str, Any]] = []
    present: set[tuple[str, str]] = set()
    for t in current:
        ident = (str(t.get("key")), str(t.get("effect")))
        managed = (ident[1] == NO_SCHEDULE and ident[0] in MANAGED_NO_SCHEDULE) or \
                  (ident[1] == NO_EXECUTE and ident[0] in MANAGED_NO_EXECUTE)
        if managed and ident not in wanted:
            continue
        present.add(ident)
        out.append(dict(t))
    for key, effect in sorted(wanted - present):
        taint: dict[str, Any] = {"key": key, "effect": effect}
        if effect == NO_EXECUTE:
            taint["timeAdded"] = now
        out.append(taint)
    return out


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Upstream ``Toleration.ToleratesTaint``: effect empty or equal; operator Exists with an empty key
    matches every key; otherwise keys equal and, for Equal (the default), values equal."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    operator = toleration.get("operator") or "Equal"
    key = toleration.get("key") or ""
    if not key:
        return operator == "Exists"
    if key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def eviction_delay(pod: Mapping[str, Any], no_execute: Sequence[Mapping[str, Any]]) -> float | None:
    """Seconds after the taints were added at which ``pod`` must go: 0 when some taint is not tolerated,
    the smallest ``tolerationSeconds`` of the tolerations used (negative counts as 0), None when every
    taint is tolerated forever."""
    tolerations = [t for t in (pod.get("spec") or {}).get("tolerations") or [] if isinstance(t, dict)]
    smallest: float | None = None
    for taint in no_execute:
        used = [t for t in tolerations if tolerates(t, taint)]
        if not used:
            return 0.0
        for tol in used:
            seconds = tol.get("tolerationSeconds")
            if isinstance(seconds, int | float):
                value = max(0.0, float(seconds))
                smallest = value if smallest is None else min(smallest, value)
    return smallest
