"""networking.k8s.io/v1 ingressclasses (cluster-scoped): which controller implements an Ingress class.

Defaults, as upstream: a ``parameters`` reference without ``scope`` gets ``Cluster``. Validation, as
``ValidateIngressClass``: ``spec.controller`` is a required domain-prefixed path (``example.com/ingress``,
at most 250 characters) and immutable; ``parameters`` needs ``kind`` and ``name``, an optional DNS-subdomain
``apiGroup``, and a ``scope`` of ``Cluster`` (no namespace) or ``Namespace`` (namespace required). An
Ingress names its class in ``spec.ingressClassName``; the ``ingressclass.kubernetes.io/is-default-class``
annotation is for controllers and admission (not applied by sampan). Table: Name, Controller,
Parameters, Age.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause, forbidden, invalid, not_supported, required, too_long
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict
from sampan.apiserver.registry.strategy import Object, TableColumn

MAX_CONTROLLER_LENGTH = 250
SCOPES = ["Cluster", "Namespace"]
_HTTP_PATH_FMT = r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+"
_HTTP_PATH_RE = re.compile(_HTTP_PATH_FMT)


def domain_prefixed_path(value: Any, path: str) -> list[Cause]:
    """Upstream ``IsDomainPrefixedPath``: ``<DNS subdomain>/<HTTP path>``."""
    if not value:
        return [required(path)]
    if not isinstance(value, str):
        return [invalid(path, str(value), "must be a string")]
    host, slash, rest = value.partition("/")
    if not slash or not host or not rest:
        return [invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    causes = [invalid(path, host, msg) for msg in validation.dns1123_subdomain(host)]
    if not _HTTP_PATH_RE.fullmatch(rest):
        causes.append(invalid(path, rest, f"Invalid path (regex used for validation is '{_HTTP_PATH_FMT}')"))
    return causes


class IngressClassStrategy(BaseStrategy):
    info = ResourceInfo(
        group="networking.k8s.io", version="v1", resource="ingressclasses", kind="IngressClass",
        singular="ingressclass", namespaced=False,
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Controller", description="Controller that is responsible for handling this class"),
        TableColumn("Parameters", description="A reference to a resource with additional parameters"),
        AGE_COLUMN,
    )

    def default(self, obj: Object) -> None:
        params = as_dict(obj.get("spec")).get("parameters")
        if isinstance(params, dict) and params.get("scope") is None:
            params["scope"] = "Cluster"

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        controller = spec.get("controller")
        causes: list[Cause] = []
        if isinstance(controller, str) and len(controller) > MAX_CONTROLLER_LENGTH:
            causes.append(too_long("spec.controller", MAX_CONTROLLER_LENGTH))
        causes += domain_prefixed_path(controller, "spec.controller")
        params = spec.get("parameters")
        return causes + (validate_parameters(as_dict(params)) if params is not None else [])

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        return validation.validate_immutable(as_dict(obj.get("spec")).get("controller"),
                                             as_dict(old.get("spec")).get("controller"), "spec.controller")

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec = as_dict(obj.get("spec"))
        params = spec.get("parameters")
        shown = "<none>"
        if isinstance(params, dict):
            shown = str(params.get("kind") or "")
            if params.get("apiGroup") is not None:
                shown += "." + str(params["apiGroup"])
            shown += "/" + str(params.get("name") or "")
        controller = spec.get("controller")
        return [controller if isinstance(controller, str) else "", shown, age_cell(obj, now)]


def validate_parameters(params: dict[str, Any]) -> list[Cause]:
    """Upstream ``validateIngressClassParametersReference``."""
    path = "spec.parameters"
    causes: list[Cause] = []
    group = params.get("apiGroup")
    if group is not None:
        causes += validation.validate_name(group, f"{path}.apiGroup", validation.dns1123_subdomain)
    for key in ("kind", "name"):
        value = params.get(key)
        if not value:
            causes.append(required(f"{path}.{key}"))
        else:
            causes += validation.validate_name(value, f"{path}.{key}", validation.path_segment)
    scope, namespace = params.get("scope"), params.get("namespace")
    if scope is None:
        return [*causes, required(f"{path}.scope")]
    if scope not in SCOPES:
        return [*causes, not_supported(f"{path}.scope", scope, SCOPES)]
    if scope == "Namespace":
        if namespace is None:
            causes.append(Cause("FieldValueRequired", f"{path}.namespace",
                                "Required value: `parameters.scope` is set to 'Namespace'"))
        else:
            causes += validation.validate_name(namespace, f"{path}.namespace", validation.dns1123_label)
    elif namespace is not None:
        causes.append(forbidden(f"{path}.namespace", "`parameters.scope` is set to 'Cluster'"))
    return causes
