"""Pure pieces of the Job controller: conditions, completed-index sets written as upstream writes them
(``"0-2,5"``), pod failure policy matching, and the back-off before re-creating failed pods."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sampan.controllers.pods import format_time

COMPLETE = "Complete"
FAILED = "Failed"
SUSPENDED = "Suspended"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


def condition_true(job: Mapping[str, Any], ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


def is_finished(job: Mapping[str, Any]) -> bool:
    return condition_true(job, COMPLETE) or condition_true(job, FAILED)


def set_condition(status: dict[str, Any], ctype: str, value: str, reason: str, message: str, now: float) -> None:
    """Set a condition; the transition time moves only when the value changes."""
    stamp = format_time(now)
    conds = list(status.get("conditions") or [])
    for i, c in enumerate(conds):
        if c.get("type") == ctype:
            if c.get("status") == value:
                conds[i] = {**c, "reason": reason, "message": message}
            else:
                conds[i] = {"type": ctype, "status": value, "lastProbeTime": stamp, "lastTransitionTime": stamp,
                            "reason": reason, "message": message}
            status["conditions"] = conds
            return
    conds.append({"type": ctype, "status": value, "lastProbeTime": stamp, "lastTransitionTime": stamp,
                  "reason": reason, "message": message})
    status["conditions"] = conds


def format_indexes(indexes: Iterable[int]) -> str:
    """``{0,1,2,5}`` -> ``"0-2,5"``."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(set(indexes)):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def parse_indexes(text: str | None) -> set[int]:
    """``"0-2,5"`` -> ``{0,1,2,5}``; malformed parts are ignored."""
    out: set[int] = set()
    for part in (text or "").split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            out.update(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            continue
    return out


def pod_index(pod: Mapping[str, Any]) -> int | None:
    md = pod.get("metadata") or {}
    value = (md.get("annotations") or {}).get(COMPLETION_INDEX) or (md.get("labels") or {}).get(COMPLETION_INDEX)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _exit_codes(pod: Mapping[str, Any], container: str | None) -> list[int]:
    codes = []
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if container and cs.get("name") != container:
            continue
        term = (cs.get("state") or {}).get("terminated")
        if term is not None:
            codes.append(int(term.get("exitCode") or 0))
    return codes


def failure_policy_action(job: Mapping[str, Any], pod: Mapping[str, Any]) -> str | None:
    """The action of the first podFailurePolicy rule a failed pod matches (FailJob, FailIndex, Ignore,
    Count), or None when no rule matches (the failure counts)."""
    rules = ((job.get("spec") or {}).get("podFailurePolicy") or {}).get("rules") or []
    for rule in rules:
        on_codes = rule.get("onExitCodes")
        if on_codes:
            values = {int(v) for v in on_codes.get("values") or []}
            codes = _exit_codes(pod, on_codes.get("containerName"))
            if on_codes.get("operator") == "In":
                hit = any(c in values for c in codes)
            else:
                hit = any(c not in values and c != 0 for c in codes)
            if hit:
                return str(rule.get("action"))
        for pc in rule.get("onPodConditions") or []:
            want = pc.get("status", "True")
            if any(c.get("type") == pc.get("type") and c.get("status") == want
                   for c in (pod.get("status") or {}).get("conditions") or []):
                return str(rule.get("action"))
    return None


def backoff_delay(failures: int, *, base: float, maximum: float) -> float:
    """Delay before the next pod after ``failures`` failures: base, 2*base, 4*base… capped."""
    if failures <= 0:
        return 0.0
    return float(min(maximum, base * (2 ** (failures - 1))))
