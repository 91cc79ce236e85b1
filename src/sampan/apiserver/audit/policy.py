"""The audit policy (``audit.k8s.io/v1`` ``Policy``, ``--audit-policy-file``): which requests are recorded
and how much of each.

A policy is an ordered list of rules; the first rule that matches a request decides its level
(``None`` < ``Metadata`` < ``Request`` < ``RequestResponse``) and the stages left out; a request no rule
matches is not recorded (level ``None``), as upstream. Matching follows upstream's ``ruleMatches``:

* ``users`` / ``userGroups`` / ``verbs``: when given, the request's user, one of its groups, its verb
  must be listed;
* a resource request never matches a rule with ``nonResourceURLs``; ``namespaces`` must list its
  namespace ("" is cluster-scoped); ``resources`` entries match the API group, then ``resources``
  (``pods``, ``pods/log``, ``*``, ``pods/*``, ``*/status``) and, when given, ``resourceNames``;
* a non-resource request never matches a rule with ``resources`` or ``namespaces``; ``nonResourceURLs``
  are exact paths or prefixes ending in ``*``.

``omitStages`` of the policy and of the matching rule add up; a rule's ``omitManagedFields`` overrides
the policy's. Bad policies raise ValueError with one line naming the problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sampan.apiserver.authz.attributes import RequestInfo
from sampan.apiserver.userinfo import UserInfo

NONE, METADATA, REQUEST, REQUEST_RESPONSE = "None", "Metadata", "Request", "RequestResponse"
LEVELS = (NONE, METADATA, REQUEST, REQUEST_RESPONSE)
RECEIVED, STARTED, COMPLETE, PANIC = "RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"
STAGES = (RECEIVED, STARTED, COMPLETE, PANIC)
API_VERSIONS = ("audit.k8s.io/v1", "audit.k8s.io/v1beta1")


def at_least(level: str, floor: str) -> bool:
    """True when ``level`` records at least as much as ``floor``."""
    return LEVELS.index(level) >= LEVELS.index(floor)


@dataclass(frozen=True, slots=True)
class Decision:
    """How one request is audited."""

    level: str
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool = False

    @property
    def recorded(self) -> bool:
        return self.level != NONE


NOT_RECORDED = Decision(NONE)


@dataclass(frozen=True, slots=True)
class GroupResources:
    group: str = ""
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()

    def matches(self, info: RequestInfo) -> bool:
        if info.api_group != self.group:
            return False
        if not self.resources:
            return True
        if self.resource_names and info.name not in self.resource_names:
            return False
        combined = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
        for res in self.resources:
            if res in (combined, "*"):
                return True
            if info.subresource and res.startswith("*/") and res[2:] == info.subresource:
                return True
            if res.endswith("/*") and res[:-2] == info.resource:
                return True
        return False


@dataclass(frozen=True, slots=True)
class Rule:
    level: str
    users: frozenset[str] = frozenset()
    user_groups: frozenset[str] = frozenset()
    verbs: frozenset[str] = frozenset()
    resources: tuple[GroupResources, ...] = ()
    namespaces: frozenset[str] = frozenset()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool | None = None

    def matches(self, user: UserInfo, info: RequestInfo) -> bool:
        if self.users and user.username not in self.users:
            return False
        if self.user_groups and not self.user_groups.intersection(user.groups):
            return False
        if self.verbs and info.verb not in self.verbs:
            return False
        if info.is_resource_request:
            if self.non_resource_urls:
                return False
            if self.namespaces and info.namespace not in self.namespaces:
                return False
            return not self.resources or any(gr.matches(info) for gr in self.resources)
        if self.namespaces or self.resources:
            return False
        return not self.non_resource_urls or any(_path_matches(p, info.path) for p in self.non_resource_urls)


def _path_matches(pattern: str, path: str) -> bool:
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


@dataclass(frozen=True, slots=True)
class Policy:
    rules: tuple[Rule, ...]
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool = False

    def decide(self, user: UserInfo, info: RequestInfo) -> Decision:
        """The first matching rule's level and omissions; :data:`NOT_RECORDED` when none matches."""
        for rule in self.rules:
            if rule.matches(user, info):
                if rule.level == NONE:
                    return NOT_RECORDED
                omit_mf = self.omit_managed_fields if rule.omit_managed_fields is None else rule.omit_managed_fields
                return Decision(rule.level, self.omit_stages | rule.omit_stages, omit_mf)
        return NOT_RECORDED


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: must be a list of strings")
    return tuple(value)


def _stages(value: Any, where: str) -> frozenset[str]:
    stages = _strings(value, where)
    for s in stages:
        if s not in STAGES:
            raise ValueError(f"{where}: unknown stage {s!r} (one of {', '.join(STAGES)})")
    return frozenset(stages)


def _rule(raw: Any, where: str) -> Rule:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be an object")
    level = raw.get("level")
    if level not in LEVELS:
        raise ValueError(f"{where}.level: {level!r} is not one of {', '.join(LEVELS)}")
    resources: list[GroupResources] = []
    for i, gr in enumerate(raw.get("resources") or []):
        if not isinstance(gr, Mapping):
            raise ValueError(f"{where}.resources[{i}]: must be an object")
        names = _strings(gr.get("resourceNames"), f"{where}.resources[{i}].resourceNames")
        res = _strings(gr.get("resources"), f"{where}.resources[{i}].resources")
        resources.append(GroupResources(str(gr.get("group") or ""), res, names))
    urls = _strings(raw.get("nonResourceURLs"), f"{where}.nonResourceURLs")
    if urls and (resources or raw.get("namespaces")):
        raise ValueError(f"{where}: rules cannot apply to both regular and non-resource URLs")
    omf = raw.get("omitManagedFields")
    return Rule(level=str(level), users=frozenset(_strings(raw.get("users"), f"{where}.users")),
                user_groups=frozenset(_strings(raw.get("userGroups"), f"{where}.userGroups")),
                verbs=frozenset(_strings(raw.get("verbs"), f"{where}.verbs")), resources=tuple(resources),
                namespaces=frozenset(_strings(raw.get("namespaces"), f"{where}.namespaces")),
                non_resource_urls=urls, omit_stages=_stages(raw.get("omitStages"), f"{where}.omitStages"),
                omit_managed_fields=bool(omf) if omf is not None else None)


def parse(doc: Any) -> Policy:
    """A :class:`Policy` from its decoded YAML/JSON document."""
    if not isinstance(doc, Mapping) or doc.get("kind") != "Policy":
        raise ValueError("audit policy: expected kind Policy")
    if doc.get("apiVersion") not in API_VERSIONS:
        raise ValueError(f"audit policy: unsupported apiVersion {doc.get('apiVersion')!r} (audit.k8s.io/v1)")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, Sequence) or not raw_rules:
        raise ValueError("audit policy: at least one rule is required")
    return Policy(rules=tuple(_rule(r, f"rules[{i}]") for i, r in enumerate(raw_rules)),
                  omit_stages=_stages(doc.get("omitStages"), "omitStages"),
                  omit_managed_fields=bool(doc.get("omitManagedFields")))


def load(path: str | Path) -> Policy:
    """The policy in ``path`` (YAML or JSON); ValueError (one line) when unreadable or invalid."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read audit policy {path}: {exc}".splitlines()[0]) from None
    try:
        return parse(doc)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


DEFAULT_POLICY = """\
# sampan up's audit policy: who did what, never what secrets hold.
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
omitManagedFields: true
rules:
  # the noise of every heartbeat, probe and discovery
  - level: None
    resources:
      - group: coordination.k8s.io
        resources: [leases]
  - level: None
    resources:
      - group: ""
        resources: [events]
      - group: events.k8s.io
        resources: [events]
  - level: None
    nonResourceURLs: [/healthz*, /livez*, /readyz*, /version, /metrics, /openapi*, /api, /api/*, /apis, /apis/*]
  - level: None
    users: [system:kube-proxy]
    verbs: [watch]
  # secrets, configmaps and tokens: who touched them, never their content
  - level: Metadata
    resources:
      - group: ""
        resources: [secrets, configmaps, serviceaccounts/token]
      - group: authentication.k8s.io
        resources: [tokenreviews]
  # reads: metadata only
  - level: Metadata
    verbs: [get, list, watch]
  # everything else: metadata
  - level: Metadata
"""
"""The policy ``sampan up`` writes to ``<data-dir>/audit-policy.yaml`` (see README, issue 17)."""
