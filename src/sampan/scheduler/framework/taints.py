"""Taints and tolerations, parsed once. ``Toleration.tolerates`` follows upstream's ToleratesTaint:
an empty effect or key in the toleration matches any; operator ``Exists`` ignores the value, ``Equal``
(or empty) compares it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"
_EFFECTS = frozenset({NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE})
UNSCHEDULABLE_TAINT_KEY = "node.kubernetes.io/unschedulable"


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str
    operator: str
    value: str
    effect: str

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        return self.operator in ("", "Equal") and self.value == taint.value


def parse_taints(raw: Any, *, where: str = "spec.taints") -> tuple[Taint, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"{where}: must be a list")
    out = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict) or not isinstance(t.get("key"), str):
            raise ValueError(f"{where}[{i}].key: Required value")
        effect = t.get("effect", "")
        if effect not in _EFFECTS:
            raise ValueError(f"{where}[{i}].effect: Unsupported value: {effect!r}")
        out.append(Taint(t["key"], str(t.get("value", "") or ""), effect))
    return tuple(out)


def parse_tolerations(raw: Any, *, where: str = "spec.tolerations") -> tuple[Toleration, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"{where}: must be a list")
    out = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict):
            raise ValueError(f"{where}[{i}]: must be an object")
        op = t.get("operator", "") or ""
        if op not in ("", "Equal", "Exists"):
            raise ValueError(f"{where}[{i}].operator: Unsupported value: {op!r}")
        out.append(Toleration(str(t.get("key", "") or ""), op, str(t.get("value", "") or ""),
                              str(t.get("effect", "") or "")))
    return tuple(out)


def tolerated(taint: Taint, tolerations: tuple[Toleration, ...]) -> bool:
    return any(t.tolerates(taint) for t in tolerations)


def first_untolerated(
    taints: tuple[Taint, ...], tolerations: tuple[Toleration, ...], *, effects: frozenset[str]
) -> Taint | None:
    """The first taint with one of ``effects`` that no toleration tolerates."""
    for taint in taints:
        if taint.effect in effects and not tolerated(taint, tolerations):
            return taint
    return None
