"""A pod's effective resource requests and limits, as the scheduler and kubelet count them.

Upstream ``resource.PodRequests``: the sum over regular containers and sidecars (init containers with
``restartPolicy: Always``), raised to the largest single init container's need at the moment that
init container runs (the sidecars started before it still count), plus ``spec.overhead``. Unparsable
quantities are skipped (validation reports them). Values are :class:`~sampan.api.quantity.Quantity`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sampan.api.quantity import Quantity, parse_or_none

Resources = dict[str, Quantity]


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def container_resources(container: Mapping[str, Any], kind: str) -> Resources:
    """One container's ``requests`` or ``limits`` (``kind``), parsed."""
    out: Resources = {}
    for name, raw in _d(_d(container.get("resources")).get(kind)).items():
        q = parse_or_none(raw)
        if q is not None:
            out[str(name)] = q
    return out


def _add(total: Resources, more: Mapping[str, Quantity]) -> None:
    for name, q in more.items():
        total[name] = total[name] + q if name in total else q


def _max(total: Resources, other: Mapping[str, Quantity]) -> None:
    for name, q in other.items():
        if name not in total or q > total[name]:
            total[name] = q


def _effective(pod: Mapping[str, Any], kind: str) -> Resources:
    spec = _d(pod.get("spec"))
    total: Resources = {}
    for c in _l(spec.get("containers")):
        _add(total, container_resources(_d(c), kind))
    sidecars: Resources = {}
    init_peak: Resources = {}
    for c in _l(spec.get("initContainers")):
        c = _d(c)
        res = container_resources(c, kind)
        if c.get("restartPolicy") == "Always":
            _add(sidecars, res)
            _add(total, res)
            continue
        during: Resources = dict(sidecars)
        _add(during, res)
        _max(init_peak, during)
    _max(total, init_peak)
    overhead: Resources = {}
    for name, raw in _d(spec.get("overhead")).items():
        q = parse_or_none(raw)
        if q is not None:
            overhead[str(name)] = q
    _add(total, overhead)
    return total


def pod_requests(pod: Mapping[str, Any]) -> Resources:
    """Effective requests (what the scheduler fits onto a node)."""
    return _effective(pod, "requests")


def pod_limits(pod: Mapping[str, Any]) -> Resources:
    """Effective limits (resources without a limit on some container are still summed over those
    that set one, as upstream's ``PodLimits``)."""
    return _effective(pod, "limits")
