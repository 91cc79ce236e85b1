"""The RBAC authorizer: rules of the Roles and ClusterRoles bound to a user, read from the watch cache.

Bindings are indexed by subject (:class:`BindingIndex`, kept current by a
:class:`~sampan.apiserver.authz.cachefollow.CacheFollower`), so a request costs one dict lookup per
user name and group plus the rule checks of the roles actually bound to it; roles themselves are read
by key from the cache at decision time (a changed Role takes effect at once, like a new binding).

Evaluation, as upstream: ClusterRoleBindings first, then the RoleBindings of the request's namespace;
the first rule that allows decides. RBAC never denies: without a rule it has no opinion, and its reason
names what could not be resolved (``RBAC: clusterrole.rbac.authorization.k8s.io "x" not found``) —
empty when nothing was missing, as upstream.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sampan.apiserver.authz.attributes import Attributes
from sampan.apiserver.authz.cachefollow import CacheFollower
from sampan.apiserver.authz.decision import ALLOW, NO_OPINION, Decision
from sampan.apiserver.authz.rules import CompiledRule, compile_rules, policy_rules, subject_user_keys
from sampan.apiserver.cacher.objects import CachedObject
from sampan.apiserver.context import ServerContext
from sampan.apiserver.userinfo import UserInfo

RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True, slots=True)
class Binding:
    namespace: str
    """"" for a ClusterRoleBinding."""
    name: str
    role_kind: str
    role_name: str


def _describe(subject: Mapping[str, Any], namespace: str) -> str:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        return f'ServiceAccount "{name}/{subject.get("namespace") or namespace}"'
    return f'{kind} "{name}"'


class BindingIndex:
    """Bindings by subject. Invariant: ``_by_subject[(ns, what, name)]`` holds the key of every binding
    (of namespace ``ns``; "" for cluster bindings) with that subject; ``_subjects[key]`` lists the
    subject keys a binding was filed under, so an update or delete can unfile it."""

    def __init__(self) -> None:
        self._bindings: dict[str, Binding] = {}
        self._subjects: dict[str, list[tuple[str, str, str]]] = {}
        self._by_subject: dict[tuple[str, str, str], dict[str, str]] = {}
        """subject key -> binding key -> how upstream describes the subject (``Group "x"``)."""

    def clear(self) -> None:
        self._bindings.clear()
        self._subjects.clear()
        self._by_subject.clear()

    def upsert(self, key: str, obj: dict[str, Any]) -> None:
        self.remove(key)
        md = obj.get("metadata") or {}
        ref = obj.get("roleRef") or {}
        if not isinstance(ref, dict) or not isinstance(md, dict):
            return
        namespace = str(md.get("namespace") or "")
        self._bindings[key] = Binding(namespace, str(md.get("name") or ""), str(ref.get("kind") or ""),
                                      str(ref.get("name") or ""))
        filed: list[tuple[str, str, str]] = []
        subjects = obj.get("subjects")
        for subject in subjects if isinstance(subjects, list) else ():
            keys = subject_user_keys(subject, namespace) if isinstance(subject, dict) else None
            if keys is None:
                continue
            sk = (namespace, keys[0], keys[1])
            self._by_subject.setdefault(sk, {})[key] = _describe(subject, namespace)
            filed.append(sk)
        self._subjects[key] = filed

    def remove(self, key: str) -> None:
        self._bindings.pop(key, None)
        for sk in self._subjects.pop(key, ()):
            keys = self._by_subject.get(sk)
            if keys is not None:
                keys.pop(key, None)
                if not keys:
                    del self._by_subject[sk]

    def for_user(self, user: UserInfo, namespace: str) -> Iterator[tuple[Binding, str]]:
        """The bindings of ``namespace`` ("" for cluster bindings) naming ``user`` or one of its groups,
        each once, with the subject that matched."""
        seen: set[str] = set()
        candidates = [(namespace, "user", user.username)] + [(namespace, "group", g) for g in user.groups]
        for sk in candidates:
            for key, subject in self._by_subject.get(sk, {}).items():
                if key not in seen:
                    seen.add(key)
                    yield self._bindings[key], subject

    def __len__(self) -> int:
        return len(self._bindings)


@dataclass(frozen=True, slots=True)
class RuleSource:
    """Rules from one binding, or the error resolving its role."""

    binding: Binding
    rules: Sequence[Mapping[str, Any]]
    error: str = ""
    subject: str = ""
    compiled: Sequence[CompiledRule] = ()

    def describe(self) -> str:
        """Upstream's ``ClusterRoleBinding "x" of ClusterRole "y" to Group "z"``."""
        b = self.binding
        if b.namespace:
            return f'RoleBinding "{b.name}/{b.namespace}" of {b.role_kind} "{b.role_name}" to {self.subject}'
        return f'ClusterRoleBinding "{b.name}" of {b.role_kind} "{b.role_name}" to {self.subject}'


class RBACAuthorizer:
    """Decides from the RBAC objects in ``ctx``'s watch cache."""

    name = "RBAC"

    def __init__(self, ctx: ServerContext) -> None:
        def cache(resource: str) -> Any:
            scope = ctx.scope(RBAC_GROUP, "v1", resource)
            assert scope is not None, f"{resource} are always served"
            return scope

        self._roles = cache("roles")
        self._cluster_roles = cache("clusterroles")
        self._compiled: dict[int, tuple[CachedObject, tuple[CompiledRule, ...]]] = {}
        """id(the watch cache's entry of a role) -> (the entry, its compiled rules). Entries are immutable
        (a changed role is a new entry), so an entry's identity pins its rules; the entry is kept so its id
        cannot be reused. Keyed by the entry, not its decoded dict: a compacted entry decodes a fresh dict
        on every use, and a cache keyed by that dict missed on every request (issue 21: rules compiled per
        request took ~5% of the API server's loop at 1,000 hollow nodes)."""
        self._cluster_index = BindingIndex()
        self._namespace_index = BindingIndex()
        self._followers = (CacheFollower(cache("clusterrolebindings").cache, self._cluster_index),
                           CacheFollower(cache("rolebindings").cache, self._namespace_index))

    def _sync(self) -> None:
        for f in self._followers:
            f.sync()

    def role(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A Role (``namespace`` set) or ClusterRole from the cache, None when absent."""
        co = self._role_entry(kind, namespace, name)
        return None if co is None else co.obj

    def _role_entry(self, kind: str, namespace: str, name: str) -> CachedObject | None:
        """The watch cache's entry of a Role or ClusterRole, None when absent."""
        if kind == "ClusterRole":
            return self._cluster_roles.cache.objects.get(self._cluster_roles.key("", name))
        if kind == "Role" and namespace:
            return self._roles.cache.objects.get(self._roles.key(namespace, name))
        return None

    def rule_sources(self, user: UserInfo, namespace: str) -> Iterator[RuleSource]:
        """Every binding that applies to ``user`` in ``namespace`` ("" : cluster bindings only), with
        its role's rules: ClusterRoleBindings first, then the namespace's RoleBindings."""
        self._sync()
        groups: list[Iterator[tuple[Binding, str]]] = [self._cluster_index.for_user(user, "")]
        if namespace:
            groups.append(self._namespace_index.for_user(user, namespace))
        for bindings in groups:
            for b, subject in bindings:
                entry = self._role_entry(b.role_kind, b.namespace, b.role_name)
                if entry is None:
                    resource = "clusterrole" if b.role_kind == "ClusterRole" else "role"
                    yield RuleSource(b, (), f'{resource}.{RBAC_GROUP} "{b.role_name}" not found', subject)
                else:
                    yield RuleSource(b, policy_rules(entry.obj), subject=subject, compiled=self._compile(entry))

    def _compile(self, entry: CachedObject) -> tuple[CompiledRule, ...]:
        hit = self._compiled.get(id(entry))
        if hit is not None and hit[0] is entry:
            return hit[1]
        if len(self._compiled) > 4096:  # roles replaced over time: start over rather than grow
            self._compiled.clear()
        compiled = compile_rules(policy_rules(entry.obj))
        self._compiled[id(entry)] = (entry, compiled)
        return compiled

    def authorize(self, attrs: Attributes) -> Decision:
        """The hot path: the same walk as :meth:`rule_sources`, without building a RuleSource per binding."""
        self._sync()
        errors: list[str] = []
        indexes = [(self._cluster_index, "")]
        if attrs.namespace:
            indexes.append((self._namespace_index, attrs.namespace))
        for index, namespace in indexes:
            for b, subject in index.for_user(attrs.user, namespace):
                entry = self._role_entry(b.role_kind, b.namespace, b.role_name)
                if entry is None:
                    resource = "clusterrole" if b.role_kind == "ClusterRole" else "role"
                    errors.append(f'{resource}.{RBAC_GROUP} "{b.role_name}" not found')
                    continue
                for rule in self._compile(entry):
                    if rule.allows(attrs):
                        return Decision(ALLOW, f"RBAC: allowed by {RuleSource(b, (), subject=subject).describe()}")
        reason = ""
        if errors:
            reason = "RBAC: " + (errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
        return Decision(NO_OPINION, reason)
