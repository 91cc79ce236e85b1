"""rbac.authorization.k8s.io/v1 rolebindings and clusterrolebindings: subjects bound to a role.

Defaults, as upstream: ``roleRef.apiGroup`` and a User/Group subject's ``apiGroup`` become
``rbac.authorization.k8s.io``. Validation: ``roleRef`` names a Role or ClusterRole (a
ClusterRoleBinding only a ClusterRole) of that group and cannot change; subjects are ServiceAccounts
(apiGroup "", a namespace required in cluster bindings), Users or Groups. The RBAC authorizer
(:mod:`sampan.apiserver.authz.rbac`) reads them from the watch cache. Table: Name, Role, Age, and
(wide) Users, Groups, ServiceAccounts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause, invalid, not_supported, required
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.roles import RBAC_GROUP
from sampan.apiserver.registry.strategy import Object, TableColumn

SUBJECT_KINDS = ["ServiceAccount", "User", "Group"]


class _BindingBase(BaseStrategy):
    role_kinds: ClassVar[tuple[str, ...]] = ("Role", "ClusterRole")
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Role", description="RoleRef can reference a Role in the current namespace or a ClusterRole "
                    "in the global namespace."),
        AGE_COLUMN,
        TableColumn("Users", priority=1, description="Users in the roleBinding"),
        TableColumn("Groups", priority=1, description="Groups in the roleBinding"),
        TableColumn("ServiceAccounts", priority=1, description="ServiceAccounts in the roleBinding"),
    )

    def name_rule(self, name: str) -> list[str]:
        return validation.path_segment(name)

    def default(self, obj: Object) -> None:
        ref = obj.get("roleRef")
        if isinstance(ref, dict) and not ref.get("apiGroup"):
            ref["apiGroup"] = RBAC_GROUP
        for subject in as_list(obj.get("subjects")):
            if isinstance(subject, dict) and not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = RBAC_GROUP

    def validate_spec(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        ref = obj.get("roleRef")
        if not isinstance(ref, dict):
            causes.append(required("roleRef"))
            ref = {}
        if ref.get("apiGroup") != RBAC_GROUP:
            causes.append(not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", [RBAC_GROUP]))
        if ref.get("kind") not in self.role_kinds:
            causes.append(not_supported("roleRef.kind", ref.get("kind") or "", list(self.role_kinds)))
        name = ref.get("name")
        if not name:
            causes.append(required("roleRef.name"))
        elif not isinstance(name, str):
            causes.append(invalid("roleRef.name", str(name), "must be a string"))
        else:
            causes += validation.validate_name(name, "roleRef.name", validation.path_segment)
        subjects = obj.get("subjects")
        if subjects is not None and not isinstance(subjects, list):
            return [*causes, invalid("subjects", str(subjects), "must be a list of subjects")]
        for i, subject in enumerate(as_list(subjects)):
            causes += self._validate_subject(subject, f"subjects[{i}]")
        return causes

    def _validate_subject(self, subject: Any, path: str) -> list[Cause]:
        if not isinstance(subject, dict):
            return [invalid(path, str(subject), "must be a subject object")]
        causes: list[Cause] = []
        name, kind, group = subject.get("name"), subject.get("kind"), subject.get("apiGroup") or ""
        if not name:
            causes.append(required(f"{path}.name"))
        if kind == "ServiceAccount":
            if isinstance(name, str) and name:
                causes += validation.validate_name(name, f"{path}.name", validation.dns1123_subdomain)
            if group != "":
                causes.append(not_supported(f"{path}.apiGroup", group, [""]))
            if not self.info.namespaced and not subject.get("namespace"):
                causes.append(required(f"{path}.namespace"))
        elif kind in ("User", "Group"):
            if group != RBAC_GROUP:
                causes.append(not_supported(f"{path}.apiGroup", group, [RBAC_GROUP]))
        else:
            causes.append(not_supported(f"{path}.kind", kind or "", SUBJECT_KINDS))
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        if obj.get("roleRef") != old.get("roleRef"):
            return [invalid("roleRef", str(obj.get("roleRef")), "cannot change roleRef")]
        return []

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        ref = as_dict(obj.get("roleRef"))
        users, groups, sas = subject_strings(obj.get("subjects"))
        return [f"{ref.get('kind', '')}/{ref.get('name', '')}", age_cell(obj, now),
                ", ".join(users), ", ".join(groups), ", ".join(sas)]


def subject_strings(subjects: Any) -> tuple[list[str], list[str], list[str]]:
    """Users, groups and ``namespace/name`` service accounts, as upstream's ``SubjectsStrings``."""
    users: list[str] = []
    groups: list[str] = []
    sas: list[str] = []
    for s in as_list(subjects):
        s = as_dict(s)
        name = str(s.get("name") or "")
        if s.get("kind") == "User":
            users.append(name)
        elif s.get("kind") == "Group":
            groups.append(name)
        elif s.get("kind") == "ServiceAccount":
            sas.append(f"{s.get('namespace') or ''}/{name}")
    return users, groups, sas


class RoleBindingStrategy(_BindingBase):
    info = ResourceInfo(group=RBAC_GROUP, version="v1", resource="rolebindings", kind="RoleBinding",
                        singular="rolebinding", namespaced=True)


class ClusterRoleBindingStrategy(_BindingBase):
    info = ResourceInfo(group=RBAC_GROUP, version="v1", resource="clusterrolebindings", kind="ClusterRoleBinding",
                        singular="clusterrolebinding", namespaced=False)
    role_kinds = ("ClusterRole",)
