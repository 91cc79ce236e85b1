"""RBAC's pure matching: does a PolicyRule cover a request, does a subject name a user?

Rules, as upstream's ``rbac/v1`` helpers:
* verbs, apiGroups and resources match exactly or by ``*``; a resource ``*/<sub>`` matches that
  subresource of every resource, ``pods/log`` only the ``log`` subresource of pods, plain ``pods``
  never a subresource;
* ``resourceNames`` (when non-empty) limits a rule to requests naming one of them (a list without a
  name is not covered);
* ``nonResourceURLs`` match the path exactly, or by prefix when the rule ends in ``*`` (``*`` is all);
* a ServiceAccount subject is the user ``system:serviceaccount:<ns>:<name>`` (ns defaulting to the
  binding's namespace); User and Group subjects match the user's name or one of its groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sampan.apiserver.authz.attributes import Attributes
from sampan.apiserver.userinfo import UserInfo

ALL = "*"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def verb_matches(rule: Mapping[str, Any], verb: str) -> bool:
    verbs = _strings(rule.get("verbs"))
    return ALL in verbs or verb in verbs


def group_matches(rule: Mapping[str, Any], group: str) -> bool:
    groups = _strings(rule.get("apiGroups"))
    return ALL in groups or group in groups


def resource_matches(rule: Mapping[str, Any], combined: str, subresource: str) -> bool:
    for r in _strings(rule.get("resources")):
        if r in (ALL, combined):
            return True
        if subresource and r.startswith("*/") and r[2:] == subresource:
            return True
    return False


def name_matches(rule: Mapping[str, Any], name: str) -> bool:
    names = _strings(rule.get("resourceNames"))
    return not names or (bool(name) and name in names)


def url_matches(rule: Mapping[str, Any], path: str) -> bool:
    for url in _strings(rule.get("nonResourceURLs")):
        if url in (ALL, path):
            return True
        if url.endswith("*") and path.startswith(url[:-1]):
            return True
    return False


def rule_allows(rule: Mapping[str, Any], attrs: Attributes) -> bool:
    """Whether ``rule`` covers the request ``attrs``."""
    if not verb_matches(rule, attrs.verb):
        return False
    if attrs.is_resource_request:
        return (group_matches(rule, attrs.api_group)
                and resource_matches(rule, attrs.combined_resource, attrs.subresource)
                and name_matches(rule, attrs.name))
    return url_matches(rule, attrs.path)


def rules_allow(rules: Iterable[Mapping[str, Any]], attrs: Attributes) -> bool:
    return any(rule_allows(r, attrs) for r in rules)


def service_account_user(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def subject_user_keys(subject: Mapping[str, Any], binding_namespace: str) -> tuple[str, str] | None:
    """``("user", name)`` or ``("group", name)`` a subject names (ServiceAccounts as their user); None for
    a malformed subject."""
    kind, name = subject.get("kind"), subject.get("name")
    if not isinstance(name, str) or not name:
        return None
    if kind == "User":
        return ("user", name)
    if kind == "Group":
        return ("group", name)
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_namespace
        return ("user", service_account_user(str(ns), name)) if ns else None
    return None


def subject_matches(subject: Mapping[str, Any], user: UserInfo, binding_namespace: str) -> bool:
    keys = subject_user_keys(subject, binding_namespace)
    if keys is None:
        return False
    what, name = keys
    return name == user.username if what == "user" else name in user.groups


def policy_rules(role: Mapping[str, Any] | None) -> Sequence[Mapping[str, Any]]:
    """A role's rules (malformed entries dropped)."""
    if role is None:
        return ()
    rules = role.get("rules")
    return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else ()


class CompiledRule:
    """A PolicyRule as sets, for repeated matching (same semantics as :func:`rule_allows`)."""

    __slots__ = ("all_groups", "all_resources", "all_verbs", "groups", "names", "resources", "sub_wildcards",
                 "urls", "verbs")

    def __init__(self, rule: Mapping[str, Any]) -> None:
        self.verbs = frozenset(_strings(rule.get("verbs")))
        self.groups = frozenset(_strings(rule.get("apiGroups")))
        self.resources = frozenset(_strings(rule.get("resources")))
        self.names = frozenset(_strings(rule.get("resourceNames")))
        self.urls = tuple(_strings(rule.get("nonResourceURLs")))
        self.all_verbs = ALL in self.verbs
        self.all_groups = ALL in self.groups
        self.all_resources = ALL in self.resources
        self.sub_wildcards = frozenset(r[2:] for r in self.resources if r.startswith("*/"))

    def allows(self, attrs: Attributes) -> bool:
        if not (self.all_verbs or attrs.verb in self.verbs):
            return False
        if not attrs.is_resource_request:
            return url_matches({"nonResourceURLs": list(self.urls)}, attrs.path) if self.urls else False
        if not (self.all_groups or attrs.api_group in self.groups):
            return False
        if not (self.all_resources or attrs.combined_resource in self.resources
                or (attrs.subresource and attrs.subresource in self.sub_wildcards)):
            return False
        return not self.names or (bool(attrs.name) and attrs.name in self.names)


def compile_rules(rules: Iterable[Mapping[str, Any]]) -> tuple[CompiledRule, ...]:
    return tuple(CompiledRule(r) for r in rules)
