"""DefaultTolerationSeconds admission: every new pod tolerates the ``node.kubernetes.io/not-ready`` and
``node.kubernetes.io/unreachable`` NoExecute taints for a while (300 s by default), so the node
lifecycle controller's taint-based eviction waits that long before evicting it.

A pod that already tolerates a taint (a toleration with that key, or no key, and effect NoExecute or no
effect) keeps its own toleration; nothing is added for it (upstream's rule).
"""

from __future__ import annotations

from typing import Any

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


def _tolerates(tolerations: list[Any], key: str) -> bool:
    for t in tolerations:
        if not isinstance(t, dict):
            continue
        if t.get("key") in (None, "", key) and t.get("effect") in (None, "", "NoExecute"):
            return True
    return False


def add_default_tolerations(pod: dict[str, Any], *, not_ready_seconds: int, unreachable_seconds: int) -> None:
    """Append the default NoExecute tolerations ``pod`` lacks. Leaves a malformed spec alone (validation
    reports it)."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return
    added = []
    for key, seconds in ((NOT_READY_TAINT, not_ready_seconds), (UNREACHABLE_TAINT, unreachable_seconds)):
        if not _tolerates(tolerations, key):
            added.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds})
    if added:
        spec["tolerations"] = [*tolerations, *added]
