"""Which requests a ValidatingAdmissionPolicy (``matchConstraints``) and its binding (``matchResources``)
apply to, as upstream's ``matching`` package: ``resourceRules`` (operations, apiGroups, apiVersions,
resources with ``*``, ``res/sub``, ``res/*``, ``*/sub``, and ``scope``) minus ``excludeResourceRules``,
``namespaceSelector`` (on the namespace's labels; cluster-scoped objects always match, a Namespace matches
on its own labels) and ``objectSelector`` (the new or the old object's labels).

``matchPolicy: Equivalent`` is taken as Exact: a rule matches the request's own group/version/resource.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sampan.api.selectors import LabelSelector
from sampan.apiserver.admission.interface import Attributes

if TYPE_CHECKING:
    from sampan.apiserver.context import ServerContext


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _resource_matches(patterns: list[Any], resource: str, subresource: str) -> bool:
    """``*/*`` anything; ``*`` any resource, ``res`` one, without subresource; ``res/*`` any subresource of
    res; ``*/sub`` that subresource of any resource; ``res/sub`` exactly."""
    for p in patterns:
        if not isinstance(p, str):
            continue
        res, slash, sub = p.partition("/")
        if not slash:
            if not subresource and res in ("*", resource):
                return True
        elif res in ("*", resource) and (sub == subresource or (sub == "*" and (subresource or res == "*"))):
            return True
    return False


def rule_matches(rule: dict[str, Any], attrs: Attributes) -> bool:
    ops = _l(rule.get("operations"))
    if "*" not in ops and attrs.operation not in ops:
        return False
    groups = _l(rule.get("apiGroups"))
    if "*" not in groups and attrs.group not in groups:
        return False
    versions = _l(rule.get("apiVersions"))
    if "*" not in versions and attrs.version not in versions:
        return False
    if not _resource_matches(_l(rule.get("resources")), attrs.resource, attrs.subresource):
        return False
    scope = rule.get("scope") or "*"
    cluster = not attrs.namespace or attrs.is_resource("", "namespaces", attrs.subresource)
    return scope == "*" or (scope == "Cluster") == cluster


def _labels(obj: Any) -> dict[str, str]:
    labels = _d(_d(obj).get("metadata")).get("labels")
    return dict(labels) if isinstance(labels, dict) else {}


def namespace_object(ctx: ServerContext, attrs: Attributes) -> dict[str, Any] | None:
    """The request's namespace from the watch cache (None for cluster-scoped requests or not cached)."""
    if not attrs.namespace:
        return None
    scope = ctx.namespaces()
    cached = scope.cache.objects.get(scope.key("", attrs.namespace))
    return cached.obj if cached is not None else None


def matches(match: dict[str, Any], attrs: Attributes, namespace: dict[str, Any] | None) -> bool:
    """Whether ``match`` (a policy's ``matchConstraints`` or a binding's ``matchResources``) selects the request.
    A ``match`` without ``resourceRules`` (a binding's) does not restrict by resource."""
    rules = _l(match.get("resourceRules"))
    if rules and not any(rule_matches(_d(r), attrs) for r in rules):
        return False
    if any(rule_matches(_d(r), attrs) for r in _l(match.get("excludeResourceRules"))):
        return False
    ns_selector = LabelSelector.from_dict(match.get("namespaceSelector") or {})
    if not ns_selector.empty:
        if attrs.is_resource("", "namespaces"):
            if not ns_selector.matches(_labels(attrs.obj or attrs.old)):
                return False
        elif attrs.namespace and not ns_selector.matches(_labels(namespace)):
            return False
    obj_selector = LabelSelector.from_dict(match.get("objectSelector") or {})
    return obj_selector.empty or any(o is not None and obj_selector.matches(_labels(o))
                                     for o in (attrs.obj, attrs.old))
