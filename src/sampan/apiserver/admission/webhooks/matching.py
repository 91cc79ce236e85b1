"""Which webhooks a request goes to: ``rules`` (operations, apiGroups, apiVersions, resources —
``*`` (no subresource), ``*/*``, ``pods/*`` (pods and every subresource), ``*/status`` — and scope),
``matchPolicy`` (Exact, or Equivalent: the same group-resource in another served version, whose form
the webhook then receives), ``namespaceSelector`` and ``objectSelector`` — as upstream's
``webhook/predicates``. Pure functions over the request's attributes, the webhook and the namespace's
labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sampan.api import meta
from sampan.api.selectors import LabelSelector
from sampan.apiserver.admission.interface import Attributes


def _in(value: str, allowed: Any) -> bool:
    return isinstance(allowed, list) and ("*" in allowed or value in allowed)


def resource_matches(resource: str, subresource: str, patterns: Any) -> bool:
    """Upstream ``resource`` rule semantics: ``*`` is every resource (no subresource), ``*/*`` everything,
    ``pods/*`` pods and any subresource, ``*/status`` any resource's status, ``pods/status`` exactly."""
    if not isinstance(patterns, list):
        return False
    for p in patterns:
        if not isinstance(p, str):
            continue
        res, _, sub = p.partition("/")
        if res not in ("*", resource):
            continue
        if "/" not in p:
            if subresource == "":
                return True
        elif sub == "*" or sub == subresource:
            return True
    return False


def rule_matches(rule: Any, attrs: Attributes, *, version: str, namespaced: bool) -> bool:
    """One rule against the request, taking ``version`` as the request's version."""
    if not isinstance(rule, dict):
        return False
    if not _in(attrs.operation, rule.get("operations")):
        return False
    if not _in(attrs.group, rule.get("apiGroups")) or not _in(version, rule.get("apiVersions")):
        return False
    if not resource_matches(attrs.resource, attrs.subresource, rule.get("resources")):
        return False
    scope = rule.get("scope") or "*"
    if scope == "Cluster":
        return not namespaced
    if scope == "Namespaced":
        return namespaced and attrs.resource != "namespaces"
    return True


def matching_version(hook: dict[str, Any], attrs: Attributes, *, namespaced: bool,
                     served_versions: list[str]) -> str | None:
    """The version the webhook gets the request in: the request's own when a rule matches it, else
    (``matchPolicy: Equivalent``) the first other served version of the group-resource a rule matches;
    None when the webhook does not apply."""
    raw = hook.get("rules")
    rules: list[Any] = raw if isinstance(raw, list) else []
    if any(rule_matches(r, attrs, version=attrs.version, namespaced=namespaced) for r in rules):
        return attrs.version
    if hook.get("matchPolicy", "Equivalent") != "Equivalent":
        return None
    for version in served_versions:
        if version != attrs.version and any(rule_matches(r, attrs, version=version, namespaced=namespaced)
                                            for r in rules):
            return version
    return None


def _selector(value: Any) -> LabelSelector:
    """A nil selector in a webhook means "everything" (upstream defaults it to ``{}``)."""
    if value is None:
        return LabelSelector.everything()
    return LabelSelector.from_dict(value)


def object_selector_matches(hook: dict[str, Any], attrs: Attributes) -> bool:
    """True when the new or the old object's labels match ``objectSelector``."""
    sel = _selector(hook.get("objectSelector"))
    if sel.empty:
        return True
    return any(obj is not None and sel.matches(meta.labels(obj)) for obj in (attrs.obj, attrs.old))


def namespace_selector_matches(hook: dict[str, Any], attrs: Attributes, *, namespaced: bool,
                               namespace_labels: Mapping[str, str] | None) -> bool:
    """Cluster-scoped resources other than namespaces always match; a namespace matches with its own
    labels; a namespaced object with its namespace's labels (``{}`` when unknown)."""
    sel = _selector(hook.get("namespaceSelector"))
    if sel.empty:
        return True
    if attrs.group == "" and attrs.resource == "namespaces" and attrs.subresource == "":
        obj = attrs.obj if attrs.obj is not None else attrs.old
        return sel.matches(meta.labels(obj) if obj is not None else {})
    if not namespaced:
        return True
    return sel.matches(namespace_labels or {})
