"""admissionregistration.k8s.io/v1 MutatingWebhookConfiguration and ValidatingWebhookConfiguration
(cluster-scoped): the admission webhooks the ``MutatingAdmissionWebhook`` / ``ValidatingAdmissionWebhook``
plugins call (``sampan.apiserver.admission.webhooks``).

Defaults, as upstream's v1 defaulters: ``failurePolicy: Fail``, ``matchPolicy: Equivalent``,
``namespaceSelector``/``objectSelector`` ``{}``, ``timeoutSeconds: 10``, ``rules[].scope: "*"``,
``clientConfig.service.port: 443`` and, for mutating webhooks, ``reinvocationPolicy: Never``.

Validation, as ``ValidateValidatingWebhookConfiguration``/``ValidateMutatingWebhookConfiguration``: webhook
names are unique, fully qualified (three dot-separated segments); ``admissionReviewVersions`` is
required and must include v1 or v1beta1; rules name operations, apiGroups, apiVersions and resources;
``sideEffects`` is ``None`` or ``NoneOnDryRun`` (``Unknown``/``Some`` survive an update that keeps
them, as upstream); ``timeoutSeconds`` is 1-30; ``clientConfig`` has exactly one of an https ``url``
(no query or fragment) or a ``service`` (name, namespace, ``/``-rooted path, port 1-65535);
``matchConditions`` have unique qualified names and compiling CEL expressions (at most 64).
Table: Name, Webhooks, Age.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause, duplicate, invalid, not_supported, required, too_long
from sampan.api.resources import ResourceInfo
from sampan.api.webhookclientconfig import validate_client_config
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict
from sampan.apiserver.registry.labelselectors import validate_label_selector
from sampan.apiserver.registry.strategy import Object, TableColumn

OPERATIONS = ["*", "CONNECT", "CREATE", "DELETE", "UPDATE"]
SCOPES = ["*", "Cluster", "Namespaced"]
FAILURE_POLICIES = ["Fail", "Ignore"]
MATCH_POLICIES = ["Equivalent", "Exact"]
SIDE_EFFECTS = ["None", "NoneOnDryRun"]
LEGACY_SIDE_EFFECTS = ["Some", "Unknown"]
REINVOCATION_POLICIES = ["IfNeeded", "Never"]
REVIEW_VERSIONS = ["v1", "v1beta1"]
MAX_MATCH_CONDITIONS = 64

WEBHOOKS_COLUMN = TableColumn("Webhooks", type="integer", description="Webhooks indicates the number of webhooks")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def default_webhook(hook: dict[str, Any], *, mutating: bool) -> None:
    """Upstream's v1 defaults of one webhook (in place)."""
    hook.setdefault("failurePolicy", "Fail")
    hook.setdefault("matchPolicy", "Equivalent")
    if hook.get("namespaceSelector") is None:
        hook["namespaceSelector"] = {}
    if hook.get("objectSelector") is None:
        hook["objectSelector"] = {}
    hook.setdefault("timeoutSeconds", 10)
    if mutating:
        hook.setdefault("reinvocationPolicy", "Never")
    for rule in _list(hook.get("rules")):
        if isinstance(rule, dict) and rule.get("scope") is None:
            rule["scope"] = "*"
    service = as_dict(as_dict(hook.get("clientConfig")).get("service"))
    if service and service.get("port") is None:
        service["port"] = 443


def validate_rule(rule: Any, path: str) -> list[Cause]:
    """Upstream ``validateRuleWithOperations``."""
    if not isinstance(rule, dict):
        return [invalid(path, str(rule), "must be an object")]
    causes: list[Cause] = []
    for key in ("operations", "apiGroups", "apiVersions", "resources"):
        values = rule.get(key)
        if not isinstance(values, list) or not values:
            causes.append(required(f"{path}.{key}"))
    ops = _list(rule.get("operations"))
    if "*" in ops and len(ops) > 1:
        causes.append(invalid(f"{path}.operations", ops, "if '*' is present, must not specify other operations"))
    for i, op in enumerate(ops):
        if op not in OPERATIONS:
            causes.append(not_supported(f"{path}.operations[{i}]", op, OPERATIONS))
    for key in ("apiGroups", "apiVersions"):
        values = _list(rule.get(key))
        if "*" in values and len(values) > 1:
            causes.append(invalid(f"{path}.{key}", values, "if '*' is present, must not specify other "
                                  + ("API groups" if key == "apiGroups" else "API versions")))
    if "" in _list(rule.get("apiVersions")):
        causes.append(required(f"{path}.apiVersions"))
    causes += _validate_resources(_list(rule.get("resources")), f"{path}.resources")
    scope = rule.get("scope")
    if scope is not None and scope not in SCOPES:
        causes.append(not_supported(f"{path}.scope", scope, SCOPES))
    return causes


def _validate_resources(resources: list[Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, res in enumerate(resources):
        if not isinstance(res, str) or not res:
            causes.append(required(f"{path}[{i}]"))
            continue
        if res in seen:
            causes.append(duplicate(f"{path}[{i}]", res))
        seen.add(res)
        parts = res.split("/", 1)
        if len(parts) == 2 and not parts[1]:
            causes.append(invalid(f"{path}[{i}]", res, "must not have an empty subresource"))
    if "*/*" in seen and len(seen) > 1:
        causes.append(invalid(path, resources, "if '*/*' is present, must not specify other resources"))
    return causes


def _validate_match_conditions(conds: Any, path: str) -> list[Cause]:
    from sampan.apiserver.admission.webhooks.conditions import compile_error

    if conds is None:
        return []
    if not isinstance(conds, list):
        return [invalid(path, str(conds), "must be a list")]
    causes: list[Cause] = []
    if len(conds) > MAX_MATCH_CONDITIONS:
        causes.append(too_long(path, MAX_MATCH_CONDITIONS))
    names: set[str] = set()
    for i, cond in enumerate(conds):
        cond = as_dict(cond)
        name, expr = cond.get("name"), cond.get("expression")
        if not name:
            causes.append(required(f"{path}[{i}].name"))
        else:
            causes += [invalid(f"{path}[{i}].name", name, m) for m in validation.qualified_name(str(name))]
            if name in names:
                causes.append(duplicate(f"{path}[{i}].name", name))
            names.add(str(name))
        if not expr:
            causes.append(required(f"{path}[{i}].expression"))
        elif (err := compile_error(str(expr))) is not None:
            causes.append(invalid(f"{path}[{i}].expression", expr, f"compilation failed: {err}"))
    return causes


def validate_webhook(hook: Any, path: str, *, mutating: bool, legacy_side_effects: bool) -> list[Cause]:
    if not isinstance(hook, dict):
        return [invalid(path, str(hook), "must be an object")]
    causes: list[Cause] = []
    name = hook.get("name")
    if not name:
        causes.append(required(f"{path}.name"))
    else:
        causes += [invalid(f"{path}.name", name, m) for m in validation.dns1123_subdomain(str(name))]
        if len(str(name).split(".")) < 3:
            causes.append(invalid(f"{path}.name", name, "should be a domain with at least three segments "
                                  "separated by dots"))
    versions = hook.get("admissionReviewVersions")
    if not versions:
        causes.append(Cause("FieldValueRequired", f"{path}.admissionReviewVersions",
                            f"Required value: must specify one of {', '.join(REVIEW_VERSIONS)}"))
    elif not any(v in REVIEW_VERSIONS for v in _list(versions)):
        causes.append(invalid(f"{path}.admissionReviewVersions", versions,
                              f"must include at least one of {', '.join(REVIEW_VERSIONS)}"))
    for i, rule in enumerate(_list(hook.get("rules"))):
        causes += validate_rule(rule, f"{path}.rules[{i}]")
    for key, allowed in (("failurePolicy", FAILURE_POLICIES), ("matchPolicy", MATCH_POLICIES)):
        if hook.get(key) is not None and hook[key] not in allowed:
            causes.append(not_supported(f"{path}.{key}", hook[key], allowed))
    side = hook.get("sideEffects")
    if side is None:
        causes.append(Cause("FieldValueRequired", f"{path}.sideEffects",
                            f"Required value: must specify one of {', '.join(SIDE_EFFECTS)}"))
    elif side not in SIDE_EFFECTS and not (legacy_side_effects and side in LEGACY_SIDE_EFFECTS):
        causes.append(not_supported(f"{path}.sideEffects", side, SIDE_EFFECTS))
    timeout = hook.get("timeoutSeconds")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= 30):
        causes.append(invalid(f"{path}.timeoutSeconds", timeout, "the timeout value must be between 1 and 30 seconds"))
    reinvocation = hook.get("reinvocationPolicy")
    if mutating and reinvocation is not None and reinvocation not in REINVOCATION_POLICIES:
        causes.append(not_supported(f"{path}.reinvocationPolicy", reinvocation, REINVOCATION_POLICIES))
    for key in ("namespaceSelector", "objectSelector"):
        if hook.get(key) is not None:
            causes += validate_label_selector(hook[key], f"{path}.{key}")
    causes += validate_client_config(hook.get("clientConfig"), f"{path}.clientConfig")
    causes += _validate_match_conditions(hook.get("matchConditions"), f"{path}.matchConditions")
    return causes


class _WebhookConfigurationStrategy(BaseStrategy):
    mutating: ClassVar[bool] = False
    columns: ClassVar[tuple[TableColumn, ...]] = (NAME_COLUMN, WEBHOOKS_COLUMN, AGE_COLUMN)

    def default(self, obj: Object) -> None:
        for hook in _list(obj.get("webhooks")):
            if isinstance(hook, dict):
                default_webhook(hook, mutating=self.mutating)

    def _validate(self, obj: Object, old: Object | None) -> list[Cause]:
        hooks = obj.get("webhooks")
        if hooks is not None and not isinstance(hooks, list):
            return [invalid("webhooks", str(hooks), "must be a list")]
        legacy = old is not None and any(isinstance(h, dict) and h.get("sideEffects") in LEGACY_SIDE_EFFECTS
                                         for h in _list(old.get("webhooks")))
        causes: list[Cause] = []
        names: set[str] = set()
        for i, hook in enumerate(_list(hooks)):
            causes += validate_webhook(hook, f"webhooks[{i}]", mutating=self.mutating, legacy_side_effects=legacy)
            name = as_dict(hook).get("name")
            if isinstance(name, str) and name:
                if name in names:
                    causes.append(duplicate(f"webhooks[{i}].name", name))
                names.add(name)
        return causes

    def validate_spec(self, obj: Object) -> list[Cause]:
        return self._validate(obj, None)

    def validate_update(self, obj: Object, old: Object) -> list[Cause]:
        causes = validation.validate_object_meta(obj, namespaced=False, name_rule=self.name_rule)
        causes += validation.validate_object_meta_update(obj, old)
        return causes + self._validate(obj, old)

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [len(_list(obj.get("webhooks"))), age_cell(obj, now)]


class MutatingWebhookConfigurationStrategy(_WebhookConfigurationStrategy):
    info = ResourceInfo(
        group="admissionregistration.k8s.io", version="v1", resource="mutatingwebhookconfigurations",
        kind="MutatingWebhookConfiguration", singular="mutatingwebhookconfiguration", namespaced=False,
        categories=("api-extensions",),
    )
    mutating = True


class ValidatingWebhookConfigurationStrategy(_WebhookConfigurationStrategy):
    info = ResourceInfo(
        group="admissionregistration.k8s.io", version="v1", resource="validatingwebhookconfigurations",
        kind="ValidatingWebhookConfiguration", singular="validatingwebhookconfiguration", namespaced=False,
        categories=("api-extensions",),
    )


__all__ = ["MutatingWebhookConfigurationStrategy", "ValidatingWebhookConfigurationStrategy"]
