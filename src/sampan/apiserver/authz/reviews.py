"""Answers of the authorization review APIs, from the server's authorizer chain.

* :func:`access_review_status` — a SubjectAccessReviewStatus: ``allowed``, ``denied`` (only an explicit
  DENY), ``reason`` — the same decision a real request with those attributes gets;
* :func:`rules_review_status` — a SubjectRulesReviewStatus: every rule the user holds in a namespace
  (``system:masters`` and AlwaysAllow: everything; RBAC: its bound roles' rules, cluster bindings
  first; the Node authorizer cannot enumerate, so a kubelet's list is ``incomplete``), as upstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sampan.apiserver.authz.attributes import Attributes
from sampan.apiserver.authz.decision import SYSTEM_MASTERS, AlwaysAllow, PrivilegedGroups
from sampan.apiserver.authz.node import node_name
from sampan.apiserver.userinfo import UserInfo

if TYPE_CHECKING:
    from sampan.apiserver.authz import Authorization

_ALL_RESOURCES = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}
_ALL_URLS = {"verbs": ["*"], "nonResourceURLs": ["*"]}


def _d(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def spec_user(spec: Mapping[str, Any]) -> UserInfo:
    """The user a SubjectAccessReview asks about."""
    raw = spec.get("groups")
    groups: list[Any] = raw if isinstance(raw, list) else []
    extra = {str(k): tuple(str(x) for x in v) for k, v in _d(spec.get("extra")).items() if isinstance(v, list)}
    return UserInfo(str(spec.get("user") or ""), uid=str(spec.get("uid") or ""),
                    groups=tuple(str(g) for g in groups), extra=extra)


def review_attributes(user: UserInfo, spec: Mapping[str, Any]) -> Attributes:
    resource = _d(spec.get("resourceAttributes"))
    if resource:
        return Attributes(user=user, verb=str(resource.get("verb") or ""), api_group=str(resource.get("group") or ""),
                          api_version=str(resource.get("version") or ""),
                          resource=str(resource.get("resource") or ""),
                          subresource=str(resource.get("subresource") or ""), name=str(resource.get("name") or ""),
                          namespace=str(resource.get("namespace") or ""))
    other = _d(spec.get("nonResourceAttributes"))
    return Attributes(user=user, verb=str(other.get("verb") or ""), is_resource_request=False,
                      path=str(other.get("path") or ""))


def access_review_status(authz: Authorization, user: UserInfo, spec: Mapping[str, Any]) -> dict[str, Any]:
    decision = authz.authorizer.authorize(review_attributes(user, spec))
    status: dict[str, Any] = {"allowed": decision.allowed}
    if decision.denied:
        status["denied"] = True
    if decision.reason:
        status["reason"] = decision.reason
    return status


def _resource_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"verbs": list(rule.get("verbs") or [])}
    for key in ("apiGroups", "resources", "resourceNames"):
        if rule.get(key):
            out[key] = list(rule[key])
    return out


def rules_review_status(authz: Authorization, user: UserInfo, namespace: str) -> dict[str, Any]:
    resource_rules: list[dict[str, Any]] = []
    url_rules: list[dict[str, Any]] = []
    incomplete = False
    errors: list[str] = []
    members = getattr(authz.authorizer, "members", ())
    for m in members:
        if (isinstance(m, PrivilegedGroups) and SYSTEM_MASTERS in user.groups) or isinstance(m, AlwaysAllow):
            resource_rules.append(dict(_ALL_RESOURCES))
            url_rules.append(dict(_ALL_URLS))
    if authz.node is not None and node_name(Attributes(user=user, verb="")) is not None:
        incomplete = True
        errors.append("node authorizer does not support user rule resolution")
    if authz.rbac is not None:
        for source in authz.rbac.rule_sources(user, namespace):
            if source.error:
                incomplete = True
                errors.append(source.error)
            for rule in source.rules:
                if rule.get("nonResourceURLs"):
                    url_rules.append({"verbs": list(rule.get("verbs") or []),
                                      "nonResourceURLs": list(rule["nonResourceURLs"])})
                else:
                    resource_rules.append(_resource_rule(rule))
    status: dict[str, Any] = {"resourceRules": resource_rules, "nonResourceRules": url_rules,
                              "incomplete": incomplete}
    if errors:
        status["evaluationError"] = ", ".join(errors)
    return status
