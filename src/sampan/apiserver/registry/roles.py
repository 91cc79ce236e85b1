"""rbac.authorization.k8s.io/v1 roles and clusterroles: sets of policy rules.

Validation, as upstream's ``ValidatePolicyRule``: every rule names at least one verb; a resource rule
names at least one apiGroup and one resource; a rule may not mix resources and nonResourceURLs, and a
(namespaced) Role may not name nonResourceURLs at all. Names follow the path-segment rule. Roles are
read by the RBAC authorizer (:mod:`sampan.apiserver.authz.rbac`); writes pass its escalation check.
The table is upstream's: Name and "Created At" (RFC 3339, UTC).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import humanize, meta, validation
from sampan.api.errors import Cause, invalid
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import NAME_COLUMN, BaseStrategy, as_dict, as_list
from sampan.apiserver.registry.strategy import Object, TableColumn

RBAC_GROUP = "rbac.authorization.k8s.io"
CREATED_AT_COLUMN = TableColumn(
    "Created At", format="date",
    description="CreationTimestamp is a timestamp representing the server time when this object was created.",
)


def required_because(field: str, detail: str) -> Cause:
    """A FieldValueRequired cause with upstream's explanation (``Required value: <detail>``)."""
    return Cause("FieldValueRequired", field, f"Required value: {detail}")


def _invalid_list(field: str, values: list[Any], detail: str) -> Cause:
    """An Invalid cause whose value is a string list, printed as Go's ``%#v`` (``[]string{"/x"}``)."""
    shown = ", ".join(f'"{v}"' for v in values)
    return Cause("FieldValueInvalid", field, f"Invalid value: []string{{{shown}}}: {detail}")


def created_at_cell(obj: Object) -> str:
    """Upstream prints the creation time itself (RFC 3339, UTC), not an age."""
    ts = humanize.parse_rfc3339(meta.creation_timestamp(obj))
    return humanize.format_rfc3339(ts) if ts is not None else "<unknown>"


def validate_rules(rules: Any, *, namespaced: bool, path: str = "rules") -> list[Cause]:
    """Upstream's ``ValidatePolicyRule`` for every rule of ``rules``."""
    causes: list[Cause] = []
    if rules is not None and not isinstance(rules, list):
        return [invalid(path, str(rules), "must be a list of policy rules")]
    for i, raw in enumerate(as_list(rules)):
        p = f"{path}[{i}]"
        if not isinstance(raw, dict):
            causes.append(invalid(p, str(raw), "must be a policy rule object"))
            continue
        if not as_list(raw.get("verbs")):
            causes.append(required_because(f"{p}.verbs", "verbs must contain at least one value"))
        urls = as_list(raw.get("nonResourceURLs"))
        if urls:
            if namespaced:
                causes.append(_invalid_list(f"{p}.nonResourceURLs", urls, "namespaced rules cannot apply to "
                                            "non-resource URLs"))
            if as_list(raw.get("apiGroups")) or as_list(raw.get("resources")):
                causes.append(_invalid_list(f"{p}.nonResourceURLs", urls, "rules cannot apply to both regular "
                                            "resources and non-resource URLs"))
            continue
        if not as_list(raw.get("apiGroups")):
            causes.append(required_because(f"{p}.apiGroups", "resource rules must supply at least one api group"))
        if not as_list(raw.get("resources")):
            causes.append(required_because(f"{p}.resources", "resource rules must supply at least one resource"))
    return causes


class _RoleBase(BaseStrategy):
    columns: ClassVar[tuple[TableColumn, ...]] = (NAME_COLUMN, CREATED_AT_COLUMN)

    def name_rule(self, name: str) -> list[str]:
        return validation.path_segment(name)

    def validate_spec(self, obj: Object) -> list[Cause]:
        return validate_rules(obj.get("rules"), namespaced=self.info.namespaced)

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [created_at_cell(obj)]


class RoleStrategy(_RoleBase):
    info = ResourceInfo(group=RBAC_GROUP, version="v1", resource="roles", kind="Role", singular="role",
                        namespaced=True)


class ClusterRoleStrategy(_RoleBase):
    info = ResourceInfo(group=RBAC_GROUP, version="v1", resource="clusterroles", kind="ClusterRole",
                        singular="clusterrole", namespaced=False)

    def validate_spec(self, obj: Object) -> list[Cause]:
        causes = super().validate_spec(obj)
        agg = obj.get("aggregationRule")
        if agg is not None:
            selectors = as_dict(agg).get("clusterRoleSelectors")
            if not isinstance(agg, dict) or not as_list(selectors):
                causes.append(required_because("aggregationRule.clusterRoleSelectors",
                                       "at least one clusterRoleSelector required if aggregationRule is non-nil"))
        return causes
