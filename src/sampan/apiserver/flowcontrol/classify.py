"""Classification: which FlowSchema a request matches and which flow inside it (upstream's rule matching).

A request is described by a :class:`Digest` (who sent it and what it is about). FlowSchemas are tried in
order of ``matchingPrecedence`` then name (:func:`sort_schemas`); the first one with a rule that matches
wins. A rule matches when one of its subjects matches the user **and** (for a resource request) one of
its ``resourceRules`` matches, or (for a non-resource request) one of its ``nonResourceRules`` does:

* subjects: ``User`` by name, ``Group`` by membership, ``ServiceAccount`` by the user name
  ``system:serviceaccount:<namespace>:<name>``; ``*`` matches any name;
* resource rules: verb, API group and resource (``nodes/status`` for a subresource) each listed or ``*``;
  a namespaced request needs its namespace (or ``*``) in ``namespaces``, a cluster-scoped one needs
  ``clusterScope: true``;
* non-resource rules: verb listed or ``*``, and a URL listed exactly, or ``*``, or a ``/prefix/*`` entry.

The flow distinguisher is the user name (``ByUser``), the namespace (``ByNamespace``) or nothing.
Parsing happens once per configuration change (:func:`compile_schema`); matching allocates nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sampan.apiserver.metrics import RequestInfo
from sampan.apiserver.userinfo import UserInfo

SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True, slots=True)
class Digest:
    """What classification looks at: the user, the parsed request and its path."""

    user: UserInfo
    info: RequestInfo
    path: str


def _names(values: Any) -> frozenset[str]:
    return frozenset(str(v) for v in values) if isinstance(values, list) else frozenset()


@dataclass(frozen=True, slots=True)
class _Subjects:
    users: frozenset[str]
    groups: frozenset[str]
    service_accounts: frozenset[tuple[str, str]]
    """(namespace, name); name may be ``*``."""

    def match(self, user: UserInfo) -> bool:
        if "*" in self.users or user.username in self.users:
            return True
        if self.groups and ("*" in self.groups or not self.groups.isdisjoint(user.groups)):
            return True
        if self.service_accounts and user.username.startswith(SA_PREFIX):
            ns, _, name = user.username[len(SA_PREFIX):].partition(":")
            return (ns, name) in self.service_accounts or (ns, "*") in self.service_accounts
        return False


@dataclass(frozen=True, slots=True)
class _ResourceRule:
    verbs: frozenset[str]
    groups: frozenset[str]
    resources: frozenset[str]
    namespaces: frozenset[str]
    cluster_scope: bool

    def match(self, info: RequestInfo) -> bool:
        if "*" not in self.verbs and info.verb not in self.verbs:
            return False
        if "*" not in self.groups and info.group not in self.groups:
            return False
        resource = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
        if "*" not in self.resources and resource not in self.resources:
            return False
        if not info.namespace:
            return self.cluster_scope
        return "*" in self.namespaces or info.namespace in self.namespaces


@dataclass(frozen=True, slots=True)
class _NonResourceRule:
    verbs: frozenset[str]
    urls: frozenset[str]
    prefixes: tuple[str, ...]

    def match(self, verb: str, path: str) -> bool:
        if "*" not in self.verbs and verb not in self.verbs:
            return False
        return "*" in self.urls or path in self.urls or any(path.startswith(p) for p in self.prefixes)


@dataclass(frozen=True, slots=True)
class _Rule:
    subjects: _Subjects
    resource_rules: tuple[_ResourceRule, ...]
    non_resource_rules: tuple[_NonResourceRule, ...]

    def match(self, d: Digest) -> bool:
        if not self.subjects.match(d.user):
            return False
        if d.info.is_resource:
            return any(r.match(d.info) for r in self.resource_rules)
        verb = d.info.verb
        return any(r.match(verb, d.path) for r in self.non_resource_rules)


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    """A FlowSchema ready for matching."""

    name: str
    uid: str
    level: str
    precedence: int
    distinguisher: str
    """``ByUser``, ``ByNamespace`` or "" (every request of the schema is one flow)."""
    rules: tuple[_Rule, ...]

    def match(self, d: Digest) -> bool:
        return any(r.match(d) for r in self.rules)

    def flow(self, d: Digest) -> str:
        if self.distinguisher == "ByUser":
            return d.user.username
        if self.distinguisher == "ByNamespace":
            return d.info.namespace
        return ""


def _subjects(items: Iterable[Any]) -> _Subjects:
    users: set[str] = set()
    groups: set[str] = set()
    sas: set[tuple[str, str]] = set()
    for s in items:
        if not isinstance(s, dict):
            continue
        kind = s.get("kind")
        if kind == "User" and isinstance(s.get("user"), dict):
            users.add(str(s["user"].get("name", "")))
        elif kind == "Group" and isinstance(s.get("group"), dict):
            groups.add(str(s["group"].get("name", "")))
        elif kind == "ServiceAccount" and isinstance(s.get("serviceAccount"), dict):
            sa = s["serviceAccount"]
            sas.add((str(sa.get("namespace", "")), str(sa.get("name", ""))))
    return _Subjects(frozenset(users), frozenset(groups), frozenset(sas))


def compile_schema(obj: dict[str, Any]) -> CompiledSchema:
    """A stored FlowSchema (validated by its strategy) in matching form."""
    md = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    rules: list[_Rule] = []
    for rule in spec.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        rrs = tuple(
            _ResourceRule(_names(r.get("verbs")), _names(r.get("apiGroups")), _names(r.get("resources")),
                          _names(r.get("namespaces")), bool(r.get("clusterScope")))
            for r in rule.get("resourceRules") or [] if isinstance(r, dict))
        nrs = []
        for r in rule.get("nonResourceRules") or []:
            if isinstance(r, dict):
                urls = _names(r.get("nonResourceURLs"))
                prefixes = tuple(u[:-1] for u in urls if u.endswith("/*"))
                nrs.append(_NonResourceRule(_names(r.get("verbs")), urls, prefixes))
        rules.append(_Rule(_subjects(rule.get("subjects") or []), rrs, tuple(nrs)))
    method = spec.get("distinguisherMethod")
    distinguisher = str(method.get("type") or "") if isinstance(method, dict) else ""
    return CompiledSchema(name=str(md.get("name", "")), uid=str(md.get("uid", "")),
                          level=str((spec.get("priorityLevelConfiguration") or {}).get("name", "")),
                          precedence=int(spec.get("matchingPrecedence") or 1000), distinguisher=distinguisher,
                          rules=tuple(rules))


def sort_schemas(schemas: Iterable[CompiledSchema]) -> list[CompiledSchema]:
    """Matching order: lower ``matchingPrecedence`` first, then name."""
    return sorted(schemas, key=lambda s: (s.precedence, s.name))


def classify(schemas: Sequence[CompiledSchema], d: Digest) -> CompiledSchema | None:
    """The first schema (in :func:`sort_schemas` order) matching ``d``; None when none does."""
    for s in schemas:
        if s.match(d):
            return s
    return None
