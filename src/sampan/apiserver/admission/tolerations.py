"""DefaultTolerationSeconds admission: every new pod tolerates the ``node.kubernetes.io/not-ready`` and
``node.kubernetes.io/unreachable`` NoExecute taints for a while (300 s by default), so the node
lifecycle controller's taint-based eviction waits that long before evicting it.

A pod that already tolerates a taint (a toleration with that key, or no key, and effect NoExecute or no
effect) keeps its own toleration; nothing is added for it (upstream's rule).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sampan.apiserver.admission.interface import Attributes, PluginBase

if TYPE_CHECKING:
    from sampan.apiserver.context import ServerContext

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


class DefaultTolerationSecondsPlugin(PluginBase):
    """``DefaultTolerationSeconds``: new pods tolerate not-ready/unreachable for a while."""

    name = "DefaultTolerationSeconds"

    def __init__(self, *, not_ready_seconds: int, unreachable_seconds: int) -> None:
        self.not_ready_seconds = not_ready_seconds
        self.unreachable_seconds = unreachable_seconds

    def handles(self, attrs: Attributes) -> bool:
        return attrs.operation == "CREATE" and attrs.is_resource("", "pods") and attrs.obj is not None

    async def admit(self, ctx: ServerContext, attrs: Attributes) -> None:
        assert attrs.obj is not None
        add_default_tolerations(attrs.obj, not_ready_seconds=self.not_ready_seconds,
                                unreachable_seconds=self.unreachable_seconds)
