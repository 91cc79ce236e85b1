"""apiregistration.k8s.io/v1 apiservices (cluster-scoped): which server answers a group-version.

An APIService named ``<version>.<group>`` either points at a Service (``spec.service``: an extension API
server the aggregator proxies ``/apis/<group>/<version>`` to) or has no service (``Local``: served by
this API server; the aggregator's auto-registration keeps one per built-in group-version, as upstream).

Validation, as upstream's ``ValidateAPIService``: the name is ``<version>.<group>`` of the spec (``v1.`` for
the core group, with the trailing dot, as upstream); ``groupPriorityMinimum`` in 1..20000 and
``versionPriority`` in 1..1000 (both required); a service needs a name and namespace and a port in
1..65535 (443 by default); ``insecureSkipTLSVerify`` and ``caBundle`` exclude each other; a Local
APIService has neither. Status (conditions ``Available``) only through ``/status``. Table as
upstream's: Name, Service (``ns/name`` or ``Local``), Available (``True`` or ``False (Reason)``), Age.
"""

from __future__ import annotations

from typing import Any

from sampan.api.errors import Cause, invalid, required
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.strategy import Object, TableColumn

SERVICE_COLUMN = TableColumn("Service", description="The reference to the service that hosts this API endpoint.")
AVAILABLE_COLUMN = TableColumn("Available", description="Whether this service is available.")


def expected_name(spec: dict[str, Any]) -> str:
    group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
    return f"{version}.{group}"


def available_cell(obj: Object) -> str:
    for cond in as_list(as_dict(obj.get("status")).get("conditions")):
        cond = as_dict(cond)
        if cond.get("type") == "Available":
            status = str(cond.get("status") or "Unknown")
            return status if status == "True" else f"{status} ({cond.get('reason') or 'Unknown'})"
    return "Unknown"


class APIServiceStrategy(BaseStrategy):
    info = ResourceInfo(
        group="apiregistration.k8s.io", version="v1", resource="apiservices", kind="APIService",
        singular="apiservice", namespaced=False, categories=("api-extensions",), subresources=("status",),
    )
    has_status = True
    columns = (NAME_COLUMN, SERVICE_COLUMN, AVAILABLE_COLUMN, AGE_COLUMN)

    def default(self, obj: Object) -> None:
        service = as_dict(obj.get("spec")).get("service")
        if isinstance(service, dict) and service.get("port") is None:
            service["port"] = 443

    def validate_spec(self, obj: Object) -> list[Cause]:
        name = str(as_dict(obj.get("metadata")).get("name") or "")
        spec = as_dict(obj.get("spec"))
        causes: list[Cause] = []
        if not spec.get("version"):
            causes.append(required("spec.version"))
        if name != expected_name(spec):
            causes.append(invalid("metadata.name", name, f'must be "{expected_name(spec)}"'))
        for key, high in (("groupPriorityMinimum", 20000), ("versionPriority", 1000)):
            value = spec.get(key)
            if value is None:
                causes.append(required(f"spec.{key}"))
            elif not isinstance(value, int) or not 1 <= value <= high:
                causes.append(invalid(f"spec.{key}", str(value), f"must be positive and less than {high}"))
        service = spec.get("service")
        ca_bundle, skip = spec.get("caBundle"), bool(spec.get("insecureSkipTLSVerify"))
        if service is None:
            if ca_bundle or skip:
                causes.append(invalid("spec.service", "", "must be specified when caBundle or "
                                      "insecureSkipTLSVerify is set"))
            return causes
        service = as_dict(service)
        for key in ("namespace", "name"):
            if not service.get(key):
                causes.append(required(f"spec.service.{key}"))
        port = service.get("port", 443)
        if not isinstance(port, int) or not 1 <= port <= 65535:
            causes.append(invalid("spec.service.port", str(port), "must be a valid port number"))
        if skip and ca_bundle:
            causes.append(invalid("spec.insecureSkipTLSVerify", "true",
                                  "may not be true if caBundle is present"))
        return causes

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        service = as_dict(obj.get("spec")).get("service")
        where = f"{service.get('namespace', '')}/{service.get('name', '')}" if isinstance(service, dict) else "Local"
        return [where, available_cell(obj), age_cell(obj, now)]
