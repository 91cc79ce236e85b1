"""``ValidatingAdmissionPolicy``: every ValidatingAdmissionPolicyBinding whose policy and match select the
request runs the policy's CEL ``validations`` in the validating phase, as upstream's plugin.

Policies and bindings are read from the API server's watch caches on every request (a new or changed
policy applies to the next request, no restart). For each binding (sorted by name) whose policy exists:

1. ``matchConstraints`` and the binding's ``matchResources`` select the request (:mod:`.policymatch`);
2. params: ``paramKind`` + ``paramRef`` (``name`` or ``selector``, in ``namespace`` or the request's
   namespace for a namespaced kind) from that resource's watch cache; none found: ``parameterNotFoundAction``
   Deny is an error (``no params found for policy binding with `Deny` parameterNotFoundAction``), Allow
   skips; the policy runs once per param;
3. ``matchConditions`` all true (an error follows ``failurePolicy``);
4. ``variables`` in order, then each of ``validations``: CEL over ``object``, ``oldObject``, ``request``,
   ``params``, ``namespaceObject``, ``variables``. A false one yields its ``message`` (or the string its
   ``messageExpression`` gives, or ``failed expression: <expr>``), an error ``expression '<expr>' resulted
   in error: <err>`` unless ``failurePolicy: Ignore``;
5. each failure goes to the binding's ``validationActions``: Deny — the request is refused with the
   validation's ``reason`` (Invalid, 422, by default): ``deployments.apps "x" is forbidden:
   ValidatingAdmissionPolicy 'p' with binding 'b' denied request: <message>``; Warn — a ``Warning``
   ``Validation failed for ValidatingAdmissionPolicy 'p' with binding 'b': <message>``; Audit — the audit
   annotation ``validation.policy.admission.k8s.io/validation_failure``.

The policy objects themselves (admissionregistration.k8s.io) are never subject to policies. CEL is
cel-python: Kubernetes' CEL extension libraries are absent (see :mod:`sampan.api.structural.cel`);
no cost budget; ``authorizer`` is not offered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sampan.api import errors
from sampan.api.selectors import LabelSelector
from sampan.api.structural.cel import evaluation_error, program
from sampan.apiserver.admission.interface import Attributes, PluginBase
from sampan.apiserver.admission.policymatch import matches, namespace_object
from sampan.apiserver.cacher.watcher import Filter

if TYPE_CHECKING:
    from sampan.apiserver.context import Scope, ServerContext

GROUP = "admissionregistration.k8s.io"
AUDIT_KEY = "validation.policy.admission.k8s.io/validation_failure"
_CODES: dict[str, type[errors.APIError]] = {
    "Invalid": errors.Invalid, "Forbidden": errors.Forbidden, "Unauthorized": errors.Unauthorized,
    "RequestEntityTooLarge": errors.RequestEntityTooLarge,
}


class PolicyError(Exception):
    """A policy that could not be evaluated (bad param, CEL error): handled by its ``failurePolicy``."""


@dataclass(frozen=True)
class Failure:
    policy: str
    binding: str
    message: str
    reason: str
    actions: tuple[str, ...]
    index: int


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _objects(ctx: ServerContext, resource: str) -> list[dict[str, Any]]:
    scope = ctx.scope(GROUP, "v1", resource)
    return [] if scope is None else [co.obj for co in scope.cache.sorted_objects(Filter())]


class ValidatingAdmissionPolicyPlugin(PluginBase):
    name = "ValidatingAdmissionPolicy"

    def handles(self, attrs: Attributes) -> bool:
        return attrs.group != GROUP

    async def validate(self, ctx: ServerContext, attrs: Attributes) -> None:
        bindings = _objects(ctx, "validatingadmissionpolicybindings")
        if not bindings:
            return
        policies = {p["metadata"]["name"]: p for p in _objects(ctx, "validatingadmissionpolicies")}
        await _convert_params(ctx, bindings, policies)
        namespace = namespace_object(ctx, attrs)
        failures: list[Failure] = []
        for binding in bindings:
            spec = _d(binding.get("spec"))
            policy = policies.get(spec.get("policyName", ""))
            if policy is None:
                continue
            failures += _run_binding(ctx, attrs, policy, binding, namespace)
        for f in failures:
            if "Warn" in f.actions:
                attrs.warnings.append(f"Validation failed for ValidatingAdmissionPolicy '{f.policy}' with binding "
                                      f"'{f.binding}': {f.message}")
        audited = [f for f in failures if "Audit" in f.actions]
        if audited:
            attrs.annotations[AUDIT_KEY] = json.dumps(
                [{"message": f.message, "policy": f.policy, "binding": f.binding, "expressionIndex": f.index,
                  "validationActions": list(f.actions)} for f in audited], separators=(",", ":"))
        denied = [f for f in failures if "Deny" in f.actions]
        if denied:
            raise _denial(attrs, denied[0])


async def _convert_params(ctx: ServerContext, bindings: list[dict[str, Any]], policies: dict[str, Any]) -> None:
    """Params of a kind served through a conversion webhook, converted ahead (awaited, memoized per stored
    object version) so that reading them below never blocks the loop; a failure is the webhook's 500."""
    for binding in bindings:
        policy = policies.get(_d(binding.get("spec")).get("policyName", ""))
        kind = _d(_d(policy.get("spec")).get("paramKind")) if policy is not None else {}
        if not kind:
            continue
        scope = _scope_of(ctx, str(kind.get("apiVersion", "")), str(kind.get("kind", "")))
        if scope is not None and scope.view is not None and scope.view.remote is not None:
            await scope.prepare(scope.cache.sorted_objects(Filter()))


def _denial(attrs: Attributes, f: Failure) -> errors.APIError:
    message = f"ValidatingAdmissionPolicy '{f.policy}' with binding '{f.binding}' denied request: {f.message}"
    details: dict[str, Any] = {"name": attrs.name, "kind": attrs.resource}
    if attrs.group:
        details["group"] = attrs.group
    details["causes"] = [{"message": message}]
    cls = _CODES.get(f.reason, errors.Invalid)
    return cls(f'{errors.qualified(attrs.resource, attrs.group)} "{attrs.name}" is forbidden: {message}',
               details=details)


def _run_binding(ctx: ServerContext, attrs: Attributes, policy: dict[str, Any], binding: dict[str, Any],
                 namespace: dict[str, Any] | None) -> list[Failure]:
    pspec, bspec = _d(policy.get("spec")), _d(binding.get("spec"))
    pname, bname = policy["metadata"]["name"], binding["metadata"]["name"]
    actions = tuple(str(a) for a in _l(bspec.get("validationActions")))
    if not matches(_d(pspec.get("matchConstraints")), attrs, namespace):
        return []
    if bspec.get("matchResources") is not None and not matches(_d(bspec.get("matchResources")), attrs, namespace):
        return []
    ignore = pspec.get("failurePolicy") == "Ignore"
    try:
        params = _params(ctx, attrs, pspec, bspec)
    except PolicyError as err:
        return [] if ignore else [Failure(pname, bname, str(err), "Invalid", actions, 0)]
    out: list[Failure] = []
    for param in params:
        activation = _activation(attrs, param, namespace)
        try:
            if not _conditions_hold(pspec, activation):
                continue
            _bind_variables(pspec, activation)
        except PolicyError as err:
            if not ignore:
                out.append(Failure(pname, bname, str(err), "Invalid", actions, 0))
            continue
        for index, validation in enumerate(_l(pspec.get("validations"))):
            problem = _validate(_d(validation), activation, ignore=ignore)
            if problem is not None:
                out.append(Failure(pname, bname, problem[0], problem[1], actions, index))
    return out


def _params(ctx: ServerContext, attrs: Attributes, pspec: dict[str, Any], bspec: dict[str, Any]) -> list[Any]:
    """The params the policy runs with ([None] without ``paramKind``)."""
    kind = _d(pspec.get("paramKind"))
    if not kind:
        return [None]
    ref = _d(bspec.get("paramRef"))
    if not ref:
        raise PolicyError("failed to configure binding: paramRef is required when paramKind is set")
    scope = _scope_of(ctx, str(kind.get("apiVersion", "")), str(kind.get("kind", "")))
    if scope is None:
        raise PolicyError(f"failed to configure policy: failed to find resource referenced by paramKind: "
                          f"'{kind.get('apiVersion', '')}, Kind={kind.get('kind', '')}'")
    namespace: str | None = None
    if scope.info.namespaced:
        namespace = ref.get("namespace") or attrs.namespace
        if not namespace:
            raise PolicyError("failed to configure binding: cannot use namespaced paramRef in policy binding that "
                              "matches cluster-scoped resources")
    found = [scope.shown(co).obj for co in scope.cache.sorted_objects(Filter(namespace=namespace))]
    if ref.get("name"):
        found = [o for o in found if _d(o.get("metadata")).get("name") == ref["name"]]
    else:
        selector = LabelSelector.from_dict(ref.get("selector") or {})
        found = [o for o in found if selector.matches(_d(_d(o.get("metadata")).get("labels")))]
    if found:
        return found
    if ref.get("parameterNotFoundAction") == "Allow":
        return []
    raise PolicyError("failed to configure binding: no params found for policy binding with `Deny` "
                      "parameterNotFoundAction")


def _scope_of(ctx: ServerContext, api_version: str, kind: str) -> Scope | None:
    group, _, version = api_version.rpartition("/")
    for (g, v, _r), scope in ctx.scopes.items():
        if g == group and v == version and scope.info.kind == kind:
            return scope
    return None


def _request(attrs: Attributes) -> dict[str, Any]:
    gvk = {"group": attrs.group, "version": attrs.version, "kind": attrs.kind}
    gvr = {"group": attrs.group, "version": attrs.version, "resource": attrs.resource}
    out: dict[str, Any] = {
        "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr, "name": attrs.name,
        "namespace": attrs.namespace, "operation": attrs.operation, "dryRun": attrs.dry_run,
        "userInfo": {"username": attrs.user.username, "uid": attrs.user.uid, "groups": list(attrs.user.groups)},
    }
    if attrs.subresource:
        out["subResource"] = attrs.subresource
        out["requestSubResource"] = attrs.subresource
    if attrs.options is not None:
        out["options"] = attrs.options
    return out


def _activation(attrs: Attributes, param: Any, namespace: dict[str, Any] | None) -> dict[str, Any]:
    import celpy

    return {"object": celpy.json_to_cel(attrs.obj), "oldObject": celpy.json_to_cel(attrs.old),
            "request": celpy.json_to_cel(_request(attrs)), "params": celpy.json_to_cel(param),
            "namespaceObject": celpy.json_to_cel(namespace), "variables": celpy.json_to_cel({})}


def _eval(expr: str, activation: dict[str, Any]) -> Any:
    """The value of ``expr``; raises :class:`PolicyError` on a compile or evaluation error."""
    import celpy

    try:
        result = program(expr).evaluate(activation)
    except Exception as err:
        raise PolicyError(f"expression '{expr}' resulted in error: {evaluation_error(err)}") from err
    if isinstance(result, celpy.CELEvalError):
        raise PolicyError(f"expression '{expr}' resulted in error: {evaluation_error(result)}")
    return result


def _conditions_hold(pspec: dict[str, Any], activation: dict[str, Any]) -> bool:
    import celpy

    for cond in _l(pspec.get("matchConditions")):
        expr = str(_d(cond).get("expression", ""))
        result = _eval(expr, activation)
        if not isinstance(result, celpy.celtypes.BoolType):
            raise PolicyError(f"expression '{expr}' resulted in error: must evaluate to bool")
        if not result:
            return False
    return True


def _bind_variables(pspec: dict[str, Any], activation: dict[str, Any]) -> None:
    import celpy

    values: dict[Any, Any] = {}
    for var in _l(pspec.get("variables")):
        var = _d(var)
        values[celpy.celtypes.StringType(str(var.get("name", "")))] = _eval(str(var.get("expression", "")),
                                                                             activation)
        activation["variables"] = celpy.celtypes.MapType(values)


def _validate(validation: dict[str, Any], activation: dict[str, Any], *, ignore: bool) -> tuple[str, str] | None:
    """None when the validation holds (or errs under ``Ignore``), else (message, reason)."""
    import celpy

    expr = str(validation.get("expression", ""))
    reason = str(validation.get("reason") or "Invalid")
    try:
        result = _eval(expr, activation)
    except PolicyError as err:
        return None if ignore else (str(err), reason)
    if not isinstance(result, celpy.celtypes.BoolType):
        return None if ignore else (f"expression '{expr}' resulted in error: must evaluate to bool", reason)
    if result:
        return None
    return _message(validation, activation, expr), reason


def _message(validation: dict[str, Any], activation: dict[str, Any], expr: str) -> str:
    msg_expr = validation.get("messageExpression")
    if isinstance(msg_expr, str) and msg_expr:
        try:
            text = _eval(msg_expr, activation)
        except PolicyError:
            text = None
        if isinstance(text, str) and text.strip() and "\n" not in text:
            return str(text)
    message = validation.get("message")
    if isinstance(message, str) and message:
        return message
    return f"failed expression: {expr.strip()}"
