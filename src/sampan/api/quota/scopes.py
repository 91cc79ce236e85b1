"""Which quotas an object falls under (upstream's ``Matches`` with the pod evaluator's scope functions).

A quota matches an object when (1) its ``status.hard`` names at least one resource the object's evaluator
measures and (2) every scope selector matches: the ``spec.scopes`` (each as operator ``Exists``) and the
``spec.scopeSelector.matchExpressions``. Only pods match scopes:

* ``Terminating``: ``activeDeadlineSeconds`` set and >= 0; ``NotTerminating``: the opposite;
* ``BestEffort``/``NotBestEffort``: the pod's QoS class is / is not BestEffort;
* ``PriorityClass``: ``Exists`` = a class is named; ``In``/``NotIn``/``DoesNotExist`` compare the class
  name as a label value (``DoesNotExist`` never matches, the label always exists, as upstream);
* ``CrossNamespacePodAffinity``: an affinity term names ``namespaces`` or a ``namespaceSelector``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sampan.api.podstatus import qos_class
from sampan.api.quota.evaluators import Evaluator
from sampan.api.quota.resourcelist import parse


@dataclass(frozen=True)
class ScopeRequirement:
    scope: str
    operator: str = "Exists"
    values: tuple[str, ...] = ()


def requirements(quota: Mapping[str, Any]) -> list[ScopeRequirement]:
    spec = _d(quota.get("spec"))
    out = [ScopeRequirement(str(s)) for s in _l(spec.get("scopes"))]
    for expr in _l(_d(spec.get("scopeSelector")).get("matchExpressions")):
        expr = _d(expr)
        out.append(ScopeRequirement(str(expr.get("scopeName") or ""), str(expr.get("operator") or ""),
                                    tuple(str(v) for v in _l(expr.get("values")))))
    return out


def hard_names(quota: Mapping[str, Any]) -> list[str]:
    """The names of ``status.hard`` (what admission enforces: only what the controller has observed)."""
    return sorted(parse(_d(quota.get("status")).get("hard")))


def matches(quota: Mapping[str, Any], evaluator: Evaluator, obj: Mapping[str, Any], *,
            names: list[str] | None = None) -> bool:
    """Does ``obj`` fall under ``quota`` (``names``: the hard names to use, default ``status.hard``)?"""
    if not evaluator.matching_resources(hard_names(quota) if names is None else names):
        return False
    reqs = requirements(quota)
    if not reqs:
        return True
    if (evaluator.group, evaluator.resource) != ("", "pods"):
        return False
    return all(pod_matches(req, obj) for req in reqs)


def pod_matches(req: ScopeRequirement, pod: Mapping[str, Any]) -> bool:
    spec = _d(pod.get("spec"))
    if req.scope in ("Terminating", "NotTerminating"):
        deadline = spec.get("activeDeadlineSeconds")
        terminating = isinstance(deadline, int) and deadline >= 0
        return terminating if req.scope == "Terminating" else not terminating
    if req.scope in ("BestEffort", "NotBestEffort"):
        best_effort = qos_class(spec) == "BestEffort"
        return best_effort if req.scope == "BestEffort" else not best_effort
    if req.scope == "PriorityClass":
        name = str(spec.get("priorityClassName") or "")
        if req.operator == "Exists":
            return bool(name)
        if req.operator == "In":
            return name in req.values
        if req.operator == "NotIn":
            return name not in req.values
        return False
    if req.scope == "CrossNamespacePodAffinity":
        return _cross_namespace(spec)
    return False


def _cross_namespace(spec: Mapping[str, Any]) -> bool:
    affinity = _d(spec.get("affinity"))
    for kind in ("podAffinity", "podAntiAffinity"):
        section = _d(affinity.get(kind))
        terms = _l(section.get("requiredDuringSchedulingIgnoredDuringExecution"))
        preferred = _l(section.get("preferredDuringSchedulingIgnoredDuringExecution"))
        terms += [_d(w).get("podAffinityTerm") for w in preferred]
        for term in terms:
            term = _d(term)
            if _l(term.get("namespaces")) or term.get("namespaceSelector") is not None:
                return True
    return False


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
