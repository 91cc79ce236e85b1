"""admissionregistration.k8s.io/v1 validatingadmissionpolicies and validatingadmissionpolicybindings
(cluster-scoped), enforced by the ``ValidatingAdmissionPolicy`` admission plugin.

Defaults, as upstream: a policy's ``failurePolicy`` Fail, ``matchConstraints.matchPolicy`` Equivalent and
empty ``namespaceSelector``/``objectSelector``; a binding's ``matchResources`` likewise, and
``paramRef.parameterNotFoundAction`` Deny. Validation (upstream's rules, the common subset): a policy needs
``validations`` or ``auditAnnotations``, ``matchConstraints.resourceRules``, every expression compiles
(CEL via :mod:`sampan.api.structural.cel`), reasons and failure policies are upstream's enums; a binding
needs ``policyName`` and ``validationActions`` (unique, Deny/Warn/Audit, not Deny with Warn); a
``paramRef`` sets ``name`` or ``selector``, not both. Tables: upstream's Name, Validations, ParamKind,
Age and Name, PolicyName, ParamRef, Age. The policy has a ``status`` subresource; ``status.typeChecking``
is not computed (left empty).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api.errors import Cause, duplicate, forbidden, invalid, not_supported, required
from sampan.api.resources import ResourceInfo
from sampan.api.structural.cel import compile_error
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.labelselectors import validate_label_selector
from sampan.apiserver.registry.strategy import Object, TableColumn

GROUP = "admissionregistration.k8s.io"
FAILURE_POLICIES = ["Fail", "Ignore"]
MATCH_POLICIES = ["Equivalent", "Exact"]
REASONS = ["Forbidden", "Invalid", "RequestEntityTooLarge", "Unauthorized"]
ACTIONS = ["Audit", "Deny", "Warn"]
NOT_FOUND_ACTIONS = ["Allow", "Deny"]
OPERATIONS = ["*", "CONNECT", "CREATE", "DELETE", "UPDATE"]


def _default_match(match: Any) -> None:
    if isinstance(match, dict):
        match.setdefault("matchPolicy", "Equivalent")
        match.setdefault("namespaceSelector", {})
        match.setdefault("objectSelector", {})


def _expression(expr: Any, path: str) -> list[Cause]:
    if not isinstance(expr, str) or not expr.strip():
        return [required(path)]
    problem = compile_error(expr)
    return [invalid(path, expr, f"compilation failed: {problem}")] if problem else []


def _validate_match(match: Any, path: str, *, need_rules: bool) -> list[Cause]:
    if match is None:
        return [required(path)] if need_rules else []
    if not isinstance(match, dict):
        return [invalid(path, str(match), "must be an object")]
    causes: list[Cause] = []
    rules = match.get("resourceRules")
    if need_rules and not rules:
        causes.append(required(f"{path}.resourceRules"))
    for key in ("resourceRules", "excludeResourceRules"):
        for i, rule in enumerate(as_list(match.get(key))):
            rp = f"{path}.{key}[{i}]"
            rule = as_dict(rule)
            for field in ("apiGroups", "apiVersions", "resources", "operations"):
                if not rule.get(field):
                    causes.append(required(f"{rp}.{field}"))
            for j, op in enumerate(as_list(rule.get("operations"))):
                if op not in OPERATIONS:
                    causes.append(not_supported(f"{rp}.operations[{j}]", op, OPERATIONS))
    policy = match.get("matchPolicy")
    if policy is not None and policy not in MATCH_POLICIES:
        causes.append(not_supported(f"{path}.matchPolicy", policy, MATCH_POLICIES))
    for key in ("namespaceSelector", "objectSelector"):
        causes += validate_label_selector(match.get(key), f"{path}.{key}")
    return causes


class ValidatingAdmissionPolicyStrategy(BaseStrategy):
    info = ResourceInfo(
        group=GROUP, version="v1", resource="validatingadmissionpolicies", kind="ValidatingAdmissionPolicy",
        singular="validatingadmissionpolicy", namespaced=False, subresources=("status",),
        categories=("api-extensions",),
    )
    has_status = True
    tracks_generation = True
    defaults = (("spec.failurePolicy", "Fail"),)
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Validations", type="integer", description="Validations indicates the number of validation "
                    "rules defined in this configuration"),
        TableColumn("ParamKind", description="ParamKind specifies the kind of resources used to parameterize "
                    "this policy"),
        AGE_COLUMN,
    )

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {}

    def default(self, obj: Object) -> None:
        _default_match(as_dict(obj.get("spec")).get("matchConstraints"))

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [required("spec")]
        causes = _validate_match(spec.get("matchConstraints"), "spec.matchConstraints", need_rules=True)
        fp = spec.get("failurePolicy")
        if fp not in FAILURE_POLICIES:
            causes.append(not_supported("spec.failurePolicy", fp, FAILURE_POLICIES))
        validations = as_list(spec.get("validations"))
        if not validations and not spec.get("auditAnnotations"):
            causes.append(required_msg("spec.validations", "validations or auditAnnotations must contain at least "
                                       "one item"))
        for i, v in enumerate(validations):
            v = as_dict(v)
            causes += _expression(v.get("expression"), f"spec.validations[{i}].expression")
            if v.get("messageExpression"):
                causes += _expression(v["messageExpression"], f"spec.validations[{i}].messageExpression")
            reason = v.get("reason")
            if reason is not None and reason not in REASONS:
                causes.append(not_supported(f"spec.validations[{i}].reason", reason, REASONS))
        for i, c in enumerate(as_list(spec.get("matchConditions"))):
            c = as_dict(c)
            if not c.get("name"):
                causes.append(required(f"spec.matchConditions[{i}].name"))
            causes += _expression(c.get("expression"), f"spec.matchConditions[{i}].expression")
        for i, var in enumerate(as_list(spec.get("variables"))):
            var = as_dict(var)
            if not var.get("name"):
                causes.append(required(f"spec.variables[{i}].name"))
            causes += _expression(var.get("expression"), f"spec.variables[{i}].expression")
        param_kind = spec.get("paramKind")
        if param_kind is not None:
            pk = as_dict(param_kind)
            for field in ("apiVersion", "kind"):
                if not pk.get(field):
                    causes.append(required(f"spec.paramKind.{field}"))
        return causes

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec = as_dict(obj.get("spec"))
        pk = as_dict(spec.get("paramKind"))
        param_kind = f"{pk.get('apiVersion', '')}/{pk.get('kind', '')}" if pk else "<unset>"
        return [len(as_list(spec.get("validations"))), param_kind, age_cell(obj, now)]


def required_msg(field: str, detail: str) -> Cause:
    return Cause("FieldValueRequired", field, f"Required value: {detail}")


class ValidatingAdmissionPolicyBindingStrategy(BaseStrategy):
    info = ResourceInfo(
        group=GROUP, version="v1", resource="validatingadmissionpolicybindings",
        kind="ValidatingAdmissionPolicyBinding", singular="validatingadmissionpolicybinding", namespaced=False,
        categories=("api-extensions",),
    )
    tracks_generation = True
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("PolicyName", description="PolicyName references a ValidatingAdmissionPolicy name which the "
                    "ValidatingAdmissionPolicyBinding binds to."),
        TableColumn("ParamRef", description="ParamRef specifies the parameter resource used to configure the "
                    "admission control policy."),
        AGE_COLUMN,
    )

    def default(self, obj: Object) -> None:
        spec = as_dict(obj.get("spec"))
        _default_match(spec.get("matchResources"))
        ref = spec.get("paramRef")
        if isinstance(ref, dict):
            ref.setdefault("parameterNotFoundAction", "Deny")

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [required("spec")]
        causes: list[Cause] = []
        if not spec.get("policyName"):
            causes.append(required("spec.policyName"))
        actions = spec.get("validationActions")
        if not actions:
            causes.append(required("spec.validationActions"))
        seen: set[str] = set()
        for i, action in enumerate(as_list(actions)):
            if action not in ACTIONS:
                causes.append(not_supported(f"spec.validationActions[{i}]", action, ACTIONS))
            elif action in seen:
                causes.append(duplicate(f"spec.validationActions[{i}]", action))
            seen.add(str(action))
        if {"Deny", "Warn"} <= seen:
            causes.append(invalid("spec.validationActions", str(actions),
                                  "must not contain both Deny and Warn (repeating the same validation failure "
                                  "information in the API response and headers serves no purpose)"))
        causes += _validate_match(spec.get("matchResources"), "spec.matchResources", need_rules=False)
        ref = spec.get("paramRef")
        if ref is not None:
            ref = as_dict(ref)
            if ref.get("name") and ref.get("selector") is not None:
                causes.append(forbidden("spec.paramRef.name", "name and selector are mutually exclusive"))
            if not ref.get("name") and ref.get("selector") is None:
                causes.append(required_msg("spec.paramRef", "one of name or selector must be specified"))
            action = ref.get("parameterNotFoundAction")
            if action not in NOT_FOUND_ACTIONS:
                causes.append(not_supported("spec.paramRef.parameterNotFoundAction", action, NOT_FOUND_ACTIONS))
        return causes

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec = as_dict(obj.get("spec"))
        ref = as_dict(spec.get("paramRef"))
        if not ref:
            param_ref = "<unset>"
        else:
            ns = ref.get("namespace") or "*"
            param_ref = f"{ns}/{ref.get('name') or '*'}"
            if ref.get("selector") is not None:
                param_ref = f"{ns}/* (selector)"
        return [spec.get("policyName", ""), param_ref, age_cell(obj, now)]
