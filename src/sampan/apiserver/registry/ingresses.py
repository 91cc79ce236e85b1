"""networking.k8s.io/v1 ingresses (``ing``): HTTP routing rules for an ingress controller to carry out.

sampan bundles no ingress controller: objects are stored, validated and listed, and nothing routes
traffic or fills ``status.loadBalancer`` unless you run a controller that does.

Validation, as upstream's ``ValidateIngressCreate``/``ValidateIngressUpdate`` (1.32): a
``defaultBackend`` or ``rules``; hosts are DNS subdomains (a ``*.`` wildcard prefix allowed), never IP
addresses; every HTTP path has a ``pathType`` (Exact, Prefix, ImplementationSpecific), Exact/Prefix paths
are absolute without ``//``, ``/./``, ``/../``, ``%2f`` or a ``/..``/``/.`` ending; a backend is exactly one
of a service (DNS-1035 name, a port name or number, not both) or a resource reference; TLS hosts and
secret names are checked; ``ingressClassName`` is a DNS subdomain and, on create, must equal the legacy
``kubernetes.io/ingress.class`` annotation when both are set. ``status`` is a subresource (load-balancer
IPs and hostnames checked); generation is tracked. Table: Name, Class, Hosts, Address, Ports, Age.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause, invalid, not_supported, required
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.netvalidation import IP_MSG, is_ip
from sampan.apiserver.registry.pod_validation import port_name
from sampan.apiserver.registry.strategy import Object, TableColumn

PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]
INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
INVALID_PATH_SUFFIXES = ("/..", "/.")
CLASS_ANNOTATION = "kubernetes.io/ingress.class"

_WILDCARD_FMT = r"\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_WILDCARD_RE = re.compile(_WILDCARD_FMT)
WILDCARD_MSG = ("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must "
                "consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character "
                f"(e.g. '*.example.com', regex used for validation is '{_WILDCARD_FMT}')")


def wildcard_dns1123_subdomain(value: str) -> list[str]:
    """Upstream ``IsWildcardDNS1123Subdomain``."""
    errs = []
    if len(value) > validation.DNS1123_SUBDOMAIN_MAX:
        errs.append(f"must be no more than {validation.DNS1123_SUBDOMAIN_MAX} characters")
    if not _WILDCARD_RE.fullmatch(value):
        errs.append(WILDCARD_MSG)
    return errs


def host_rule(host: str) -> list[str]:
    """The rule for a host name: wildcard when it holds a ``*``, DNS subdomain otherwise."""
    return wildcard_dns1123_subdomain(host) if "*" in host else validation.dns1123_subdomain(host)


class IngressStrategy(BaseStrategy):
    info = ResourceInfo(
        group="networking.k8s.io", version="v1", resource="ingresses", kind="Ingress", singular="ingress",
        namespaced=True, short_names=("ing",), subresources=("status",),
    )
    has_status = True
    tracks_generation = True
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Class", description="The name of the IngressClass resource that should be used for additional "
                    "configuration"),
        TableColumn("Hosts", description="Hosts that incoming requests are matched against before the ingress rule"),
        TableColumn("Address", description="Address is a list containing ingress points for the load-balancer"),
        TableColumn("Ports", description="Ports of TLS configurations that open"),
        AGE_COLUMN,
    )

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {"loadBalancer": {}}

    def validate(self, obj: Object) -> list[Cause]:
        """A create: everything ``validate_update`` checks, plus the class annotation rule."""
        causes = super().validate(obj)
        annotations = as_dict(as_dict(obj.get("metadata")).get("annotations"))
        class_name = as_dict(obj.get("spec")).get("ingressClassName")
        if CLASS_ANNOTATION in annotations and class_name is not None and annotations[CLASS_ANNOTATION] != class_name:
            causes.append(invalid(f"annotations.{CLASS_ANNOTATION}", annotations[CLASS_ANNOTATION],
                                  "must match `ingressClassName` when both are specified"))
        return causes

    def validate_update(self, obj: Object, old: Object) -> list[Cause]:
        causes = super().validate(obj)
        return causes + validation.validate_object_meta_update(obj, old)

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        rules, backend = as_list(spec.get("rules")), spec.get("defaultBackend")
        causes: list[Cause] = []
        if not rules and backend is None:
            shown = "[]networking.IngressRule(nil)" if spec.get("rules") is None else "[]networking.IngressRule{}"
            causes.append(Cause("FieldValueInvalid", "spec", f"Invalid value: {shown}: either `defaultBackend` or "
                                "`rules` must be specified"))
        if backend is not None:
            causes += validate_backend(backend, "spec.defaultBackend")
        for i, rule in enumerate(rules):
            causes += _validate_rule(as_dict(rule), f"spec.rules[{i}]")
        for i, tls in enumerate(as_list(spec.get("tls"))):
            tls = as_dict(tls)
            for j, host in enumerate(as_list(tls.get("hosts"))):
                causes += validation.validate_name(host, f"spec.tls[{i}].hosts[{j}]", host_rule)
            secret = tls.get("secretName")
            if secret:
                causes += validation.validate_name(secret, f"spec.tls[{i}].secretName", validation.dns1123_subdomain)
        class_name = spec.get("ingressClassName")
        if class_name is not None:
            causes += validation.validate_name(class_name, "spec.ingressClassName", validation.dns1123_subdomain)
        return causes + validate_load_balancer(as_dict(as_dict(obj.get("status")).get("loadBalancer")))

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        class_name = spec.get("ingressClassName")
        return [class_name if isinstance(class_name, str) else "<none>", format_hosts(as_list(spec.get("rules"))),
                load_balancer_addresses(as_dict(status.get("loadBalancer"))),
                "80, 443" if as_list(spec.get("tls")) else "80", age_cell(obj, now)]


def _validate_rule(rule: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    host = rule.get("host")
    if host:
        if is_ip(host):
            causes.append(invalid(f"{path}.host", host, "must be a DNS name, not an IP address"))
        causes += validation.validate_name(host, f"{path}.host", host_rule)
    http = rule.get("http")
    if http is None:
        return causes
    paths = as_list(as_dict(http).get("paths"))
    if not paths:
        causes.append(required(f"{path}.http.paths"))
    for i, item in enumerate(paths):
        causes += _validate_path(as_dict(item), f"{path}.http.paths[{i}]")
    return causes


def _validate_path(item: dict[str, Any], path: str) -> list[Cause]:
    path_type, value = item.get("pathType"), item.get("path") or ""
    if path_type is None:
        return [Cause("FieldValueRequired", f"{path}.pathType", "Required value: pathType must be specified")]
    causes: list[Cause] = []
    if not isinstance(value, str):
        causes.append(invalid(f"{path}.path", str(value), "must be a string"))
    elif path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            causes.append(invalid(f"{path}.path", value, "must be an absolute path"))
        causes += [invalid(f"{path}.path", value, f"must not contain '{seq}'")
                   for seq in INVALID_PATH_SEQUENCES if seq in value]
        causes += [invalid(f"{path}.path", value, f"cannot end with '{suffix}'")
                   for suffix in INVALID_PATH_SUFFIXES if value.endswith(suffix)]
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            causes.append(invalid(f"{path}.path", value, "must be an absolute path"))
    else:
        causes.append(not_supported(f"{path}.pathType", path_type, PATH_TYPES))
    return causes + validate_backend(item.get("backend"), f"{path}.backend")


def validate_backend(backend: Any, path: str) -> list[Cause]:
    """Upstream ``validateIngressBackend``: exactly one of ``service`` and ``resource``."""
    backend = as_dict(backend)
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        return validate_typed_reference(as_dict(resource), f"{path}.resource")
    if service is None:
        return [invalid(path, "", "resource or service backend is required")]
    service = as_dict(service)
    causes: list[Cause] = []
    name = service.get("name")
    if not name:
        causes.append(required(f"{path}.service.name"))
    else:
        causes += validation.validate_name(name, f"{path}.service.name", validation.dns1035_label)
    port = as_dict(service.get("port"))
    port_str, number = port.get("name") or "", port.get("number") or 0
    if port_str and number:
        causes.append(invalid(path, "", "cannot set both port name & port number"))
    elif port_str:
        causes += validation.validate_name(port_str, f"{path}.service.port.name", port_name)
    elif number:
        causes += [invalid(f"{path}.service.port.number", number, m) for m in validation.port_number(number)]
    else:
        causes.append(Cause("FieldValueRequired", path, "Required value: port name or number is required"))
    return causes


def validate_typed_reference(ref: dict[str, Any], path: str) -> list[Cause]:
    """A ``TypedLocalObjectReference``: optional DNS-subdomain ``apiGroup``, required ``kind`` and ``name``."""
    causes: list[Cause] = []
    group = ref.get("apiGroup")
    if group is not None:
        causes += validation.validate_name(group, f"{path}.apiGroup", validation.dns1123_subdomain)
    for key in ("kind", "name"):
        value = ref.get(key)
        if not value:
            causes.append(required(f"{path}.{key}"))
        else:
            causes += validation.validate_name(value, f"{path}.{key}", validation.path_segment)
    return causes


def validate_load_balancer(lb: dict[str, Any]) -> list[Cause]:
    """``status.loadBalancer``: IPs are IP addresses, hostnames DNS subdomains and not IPs."""
    causes: list[Cause] = []
    for i, item in enumerate(as_list(lb.get("ingress"))):
        item, path = as_dict(item), f"status.loadBalancer.ingress[{i}]"
        ip, hostname = item.get("ip"), item.get("hostname")
        if ip and not is_ip(ip):
            causes.append(invalid(f"{path}.ip", str(ip), IP_MSG))
        if hostname:
            causes += validation.validate_name(hostname, f"{path}.hostname", validation.dns1123_subdomain)
            if is_ip(hostname):
                causes.append(invalid(f"{path}.hostname", hostname, "must be a DNS name, not an IP address"))
    return causes


def format_hosts(rules: list[Any]) -> str:
    """Upstream's ``formatHosts``: up to three hosts, ``*`` when none, ``+ N more...`` past three."""
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
        host = as_dict(rule).get("host")
        if not more and isinstance(host, str) and host:
            hosts.append(host)
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - 3} more..." if more else text


def load_balancer_addresses(lb: dict[str, Any]) -> str:
    """Upstream's ``ingressLoadBalancerStatusStringer`` (wide): sorted unique IPs, else hostnames."""
    found: set[str] = set()
    for item in as_list(lb.get("ingress")):
        item = as_dict(item)
        value = item.get("ip") or item.get("hostname")
        if isinstance(value, str) and value:
            found.add(value)
    return ",".join(sorted(found))
