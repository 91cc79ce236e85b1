"""LimitRange semantics shared by the strategy (defaults, validation) and the ``LimitRanger`` admission
plugin (container defaults, min/max/ratio checks), as upstream's ``SetDefaults_LimitRangeItem`` and
``plugin/pkg/admission/limitranger``.

Invariant: every function here is pure (dicts in, new dicts or messages out), except
:func:`default_item`, which fills a ``Container`` item's ``default``/``defaultRequest`` in place.
Unparsable quantities are skipped: validation reports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sampan.api.quantity import Quantity, parse_or_none

CONTAINER, POD, PVC = "Container", "Pod", "PersistentVolumeClaim"

Resources = dict[str, Quantity]


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parsed(values: Any) -> Resources:
    """A ResourceList's parseable entries."""
    out: Resources = {}
    for name, raw in _d(values).items():
        q = parse_or_none(raw)
        if q is not None:
            out[str(name)] = q
    return out


def items(limit_range: Mapping[str, Any]) -> list[dict[str, Any]]:
    limits = _d(limit_range.get("spec")).get("limits")
    return [i for i in limits if isinstance(i, dict)] if isinstance(limits, list) else []


def default_item(item: dict[str, Any]) -> None:
    """``SetDefaults_LimitRangeItem``: for a Container item, ``default`` from ``max``, then
    ``defaultRequest`` from ``default``, then from ``min`` (only names still missing)."""
    if item.get("type") != CONTAINER:
        return
    default = item["default"] = dict(_d(item.get("default")))
    request = item["defaultRequest"] = dict(_d(item.get("defaultRequest")))
    for name, value in _d(item.get("max")).items():
        default.setdefault(name, value)
    for name, value in default.items():
        request.setdefault(name, value)
    for name, value in _d(item.get("min")).items():
        request.setdefault(name, value)
    if not default:
        del item["default"]
    if not request:
        del item["defaultRequest"]


def container_defaults(ranges: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (limits, requests) a container without them gets: every Container item's ``default`` and
    ``defaultRequest``, later items overriding earlier ones (upstream's ``defaultContainerResourceRequirements``)."""
    limits: dict[str, Any] = {}
    requests: dict[str, Any] = {}
    for lr in ranges:
        for item in items(lr):
            if item.get("type") == CONTAINER:
                limits.update(_d(item.get("default")))
                requests.update(_d(item.get("defaultRequest")))
    return limits, requests


def min_constraint(limit_type: str, name: str, enforced: Quantity, request: Resources,
                   limit: Resources) -> str | None:
    if name not in request:
        return f"minimum {name} usage per {limit_type} is {enforced}.  No request is specified"
    if request[name] < enforced:
        return f"minimum {name} usage per {limit_type} is {enforced}, but request is {request[name]}"
    if name in limit and limit[name] < enforced:
        return f"minimum {name} usage per {limit_type} is {enforced}, but limit is {limit[name]}"
    return None


def max_constraint(limit_type: str, name: str, enforced: Quantity, request: Resources,
                   limit: Resources) -> str | None:
    if name not in limit:
        return f"maximum {name} usage per {limit_type} is {enforced}.  No limit is specified"
    if enforced < limit[name]:
        return f"maximum {name} usage per {limit_type} is {enforced}, but limit is {limit[name]}"
    if name in request and enforced < request[name]:
        return f"maximum {name} usage per {limit_type} is {enforced}, but request is {request[name]}"
    return None


def ratio_constraint(limit_type: str, name: str, enforced: Quantity, request: Resources,
                     limit: Resources) -> str | None:
    if name not in request or request[name].is_zero():
        return (f"{name} max limit to request ratio per {limit_type} is {enforced}, but no request is specified "
                "or request is 0")
    if name not in limit or limit[name].is_zero():
        return (f"{name} max limit to request ratio per {limit_type} is {enforced}, but no limit is specified "
                "or limit is 0")
    observed = limit[name].value_exact / request[name].value_exact
    if observed > enforced.value_exact:
        return (f"{name} max limit to request ratio per {limit_type} is {enforced}, "
                f"but provided ratio is {float(observed):f}")
    return None


def check(limit_type: str, item: Mapping[str, Any], request: Resources, limit: Resources) -> list[str]:
    """Every violation of one item's ``min``, ``max`` and ``maxLimitRequestRatio`` (in that order)."""
    out: list[str] = []
    for key, fn in (("min", min_constraint), ("max", max_constraint), ("maxLimitRequestRatio", ratio_constraint)):
        for name, enforced in parsed(item.get(key)).items():
            problem = fn(limit_type, name, enforced, request, limit)
            if problem:
                out.append(problem)
    return out


def _containers(pod: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    spec = _d(pod.get("spec"))
    regular = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    init = [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]
    return regular, init


def _res(container: Mapping[str, Any], kind: str) -> Resources:
    return parsed(_d(container.get("resources")).get(kind))


def _pod_total(pod: Mapping[str, Any], kind: str) -> Resources:
    """Upstream's ``podRequests``/``podLimits``: the sum over containers, raised to the largest init container."""
    regular, init = _containers(pod)
    total: Resources = {}
    for c in regular:
        for name, q in _res(c, kind).items():
            total[name] = total[name] + q if name in total else q
    for c in init:
        for name, q in _res(c, kind).items():
            if name not in total or total[name] < q:
                total[name] = q
    return total


def pod_violations(pod: Mapping[str, Any], ranges: list[dict[str, Any]]) -> list[str]:
    """Every Container and Pod item's violations by ``pod``."""
    out: list[str] = []
    regular, init = _containers(pod)
    for lr in ranges:
        for item in items(lr):
            if item.get("type") == CONTAINER:
                for c in [*regular, *init]:
                    out += check(CONTAINER, item, _res(c, "requests"), _res(c, "limits"))
            elif item.get("type") == POD:
                out += check(POD, item, _pod_total(pod, "requests"), _pod_total(pod, "limits"))
    return out


def pvc_violations(pvc: Mapping[str, Any], ranges: list[dict[str, Any]]) -> list[str]:
    """PersistentVolumeClaim items: ``min``/``max`` on the claim's requests (as the limit for ``max``)."""
    requests = parsed(_d(_d(_d(pvc.get("spec")).get("resources"))).get("requests"))
    out: list[str] = []
    for lr in ranges:
        for item in items(lr):
            if item.get("type") != PVC:
                continue
            for name, enforced in parsed(item.get("min")).items():
                if problem := min_constraint(PVC, name, enforced, requests, {}):
                    out.append(problem)
            for name, enforced in parsed(item.get("max")).items():
                if problem := max_constraint(PVC, name, enforced, {}, requests):
                    out.append(problem)
    return out


def aggregate(messages: list[str]) -> str:
    """``utilerrors.NewAggregate(...).Error()``: one message as is, several as ``[a, b]``."""
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
