"""core/v1 services: DNS-1035 names; defaults (type ClusterIP, sessionAffinity None, single-stack
IPv4, internalTrafficPolicy Cluster, port protocol TCP, targetPort = port, externalTrafficPolicy
for node ports); validation of type, ports, clusterIP and externalName; cluster IPs kept across
updates; fields the new type cannot have dropped on a type change. Allocation of cluster IPs and node
ports is done by ``sampan.apiserver.services`` around the store write, not by the strategy."""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause, duplicate, invalid, not_supported, required
from sampan.api.resources import ResourceInfo
from sampan.api.selectors import format_labels
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.netvalidation import (
    IP_MSG,
    ip_family,
    is_ip,
    validate_port,
    validate_protocol,
    validate_target_port,
)
from sampan.apiserver.registry.strategy import Object, TableColumn

TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
AFFINITIES = ["ClientIP", "None"]
TRAFFIC_POLICIES = ["Cluster", "Local"]
IP_FAMILY_POLICIES = ["SingleStack", "PreferDualStack", "RequireDualStack"]


class ServiceStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="services", kind="Service", singular="service", namespaced=True,
        short_names=("svc",), categories=("all",), subresources=("proxy", "status"),
    )
    has_status = True
    defaults = (("spec.type", "ClusterIP"), ("spec.sessionAffinity", "None"))
    selectable_fields = (("spec.clusterIP", "spec.clusterIP"), ("spec.type", "spec.type"))
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Type", description="type determines how the Service is exposed. Defaults to ClusterIP."),
        TableColumn("Cluster-IP", description="clusterIP is the IP address of the service and is usually assigned "
                    "randomly."),
        TableColumn("External-IP", description="externalIPs is a list of IP addresses for which nodes in the "
                    "cluster will also accept traffic for this service."),
        TableColumn("Port(s)", description="The list of ports that are exposed by this service."),
        AGE_COLUMN,
        TableColumn("Selector", priority=1, description="Route service traffic to pods with label keys and values "
                    "matching this selector."),
    )

    def initial_status(self, obj: Object) -> dict[str, Any] | None:
        return {"loadBalancer": {}}

    def default(self, obj: Object) -> None:
        spec = as_dict(obj.get("spec"))
        stype = spec.get("type")
        for port in as_list(spec.get("ports")):
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if port.get("targetPort") in (None, 0, "") and "port" in port:
                    port["targetPort"] = port["port"]
        if stype == "ExternalName":
            return
        cluster_ip = spec.get("clusterIP")
        if cluster_ip and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [cluster_ip]
        if spec.get("clusterIPs") and not cluster_ip:
            spec["clusterIP"] = spec["clusterIPs"][0]
        headless_selectorless = cluster_ip == "None" and not spec.get("selector")
        # upstream initIPFamilyFields: headless without selector defaults to both families
        spec.setdefault("ipFamilyPolicy", "RequireDualStack" if headless_selectorless else "SingleStack")
        if not spec.get("ipFamilies"):
            ips = [ip for ip in as_list(spec.get("clusterIPs")) if is_ip(ip)]
            spec["ipFamilies"] = [ip_family(ips[0])] if ips else ["IPv4"]
            if headless_selectorless and spec["ipFamilyPolicy"] != "SingleStack":
                spec["ipFamilies"].append("IPv6" if spec["ipFamilies"][0] == "IPv4" else "IPv4")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        if stype in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if stype == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)

    def prepare_for_update(self, obj: Object, old: Object) -> None:
        spec, prev = as_dict(obj.get("spec")), as_dict(old.get("spec"))
        keeps_policy = spec.get("type") != "ExternalName" and prev.get("ipFamilyPolicy")
        if spec and not spec.get("ipFamilyPolicy") and keeps_policy:
            spec["ipFamilyPolicy"] = prev["ipFamilyPolicy"]
        # A PUT without the allocated cluster IP or node ports keeps them (upstream patchAllocatedValues).
        if spec and not spec.get("clusterIP") and prev.get("clusterIP") and spec.get("type") != "ExternalName":
            for key in ("clusterIP", "clusterIPs", "ipFamilies"):
                if key in prev:
                    spec[key] = prev[key]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            allocated = {(as_dict(p).get("port"), as_dict(p).get("protocol", "TCP")): as_dict(p).get("nodePort")
                         for p in as_list(prev.get("ports"))}
            for port in as_list(spec.get("ports")):
                if isinstance(port, dict) and not port.get("nodePort"):
                    node_port = allocated.get((port.get("port"), port.get("protocol", "TCP")))
                    if node_port:
                        port["nodePort"] = node_port
            if not spec.get("healthCheckNodePort") and prev.get("healthCheckNodePort"):
                spec["healthCheckNodePort"] = prev["healthCheckNodePort"]
        if spec:
            drop_type_dependent_fields(spec, prev)
        super().prepare_for_update(obj, old)

    def name_rule(self, name: str) -> list[str]:
        return validation.dns1035_label(name)

    def validate_spec(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [required("spec")]
        causes: list[Cause] = []
        stype = spec.get("type")
        if stype not in TYPES:
            causes.append(not_supported("spec.type", stype or "", TYPES))
        ports = as_list(spec.get("ports"))
        headless = spec.get("clusterIP") == "None"
        if stype == "ExternalName":
            ext = spec.get("externalName")
            if not ext:
                causes.append(required("spec.externalName"))
            else:
                causes += validation.validate_name(str(ext).rstrip("."), "spec.externalName",
                                                   validation.dns1123_subdomain)
        elif not ports and not headless:
            causes.append(required("spec.ports"))
        causes += _validate_ports(ports, stype=str(stype))
        for i, ip in enumerate(as_list(spec.get("clusterIPs")) or [spec.get("clusterIP")]):
            if ip not in (None, "", "None") and not is_ip(ip):
                causes.append(invalid(f"spec.clusterIPs[{i}]", str(ip), IP_MSG))
        for i, ip in enumerate(as_list(spec.get("externalIPs"))):
            if not is_ip(ip):
                causes.append(invalid(f"spec.externalIPs[{i}]", str(ip), IP_MSG))
        if spec.get("sessionAffinity") not in AFFINITIES:
            causes.append(not_supported("spec.sessionAffinity", spec.get("sessionAffinity") or "", AFFINITIES))
        for key in ("internalTrafficPolicy", "externalTrafficPolicy"):
            if spec.get(key) not in (None, *TRAFFIC_POLICIES):
                causes.append(not_supported(f"spec.{key}", spec.get(key), TRAFFIC_POLICIES))
        if spec.get("ipFamilyPolicy") not in (None, *IP_FAMILY_POLICIES):
            causes.append(not_supported("spec.ipFamilyPolicy", spec.get("ipFamilyPolicy"), IP_FAMILY_POLICIES))
        causes += validation.validate_labels(spec.get("selector"), "spec.selector")
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        spec, prev = as_dict(obj.get("spec")), as_dict(old.get("spec"))
        if prev.get("type") == "ExternalName" or spec.get("type") == "ExternalName":
            return []
        if prev.get("clusterIP") and spec.get("clusterIP") != prev.get("clusterIP"):
            # Upstream: the whole new list, as Go's %#v of a []string.
            ips = as_list(spec.get("clusterIPs"))
            if not ips or ips[0] != spec.get("clusterIP"):
                ips = [spec.get("clusterIP") or ""]
            return [Cause("FieldValueInvalid", "spec.clusterIPs[0]",
                          f"Invalid value: {validation.go_value(ips, '[]string')}: may not change once set")]
        prev_hc, hc = prev.get("healthCheckNodePort"), spec.get("healthCheckNodePort")
        if prev_hc and hc and hc != prev_hc and spec.get("type") == prev.get("type") == "LoadBalancer":
            return [invalid("spec.healthCheckNodePort", hc, "field is immutable")]
        return []

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec = as_dict(obj.get("spec"))
        ips = as_list(spec.get("clusterIPs"))
        cluster_ip = str(ips[0]) if ips else "<none>"
        ports = port_string(as_list(spec.get("ports"))) or "<none>"
        return [str(spec.get("type") or ""), cluster_ip, external_ip(obj), ports, age_cell(obj, now),
                format_labels(as_dict(spec.get("selector")))]


def drop_type_dependent_fields(spec: dict[str, Any], prev: dict[str, Any]) -> None:
    """Upstream ``dropTypeDependentFields``: when the type changes, fields the new type cannot have are
    cleared if the request left them as they were (a changed value is the user's, and validation judges
    it): cluster IPs and families going to ExternalName, node ports leaving NodePort/LoadBalancer, the
    health-check port when no longer needed, and the LoadBalancer-only fields."""
    stype, prev_type = spec.get("type"), prev.get("type")
    if stype == prev_type and not (stype == "LoadBalancer" and spec.get("externalTrafficPolicy") != "Local"):
        return
    if stype == "ExternalName" and prev_type != "ExternalName":
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if spec.get(key) == prev.get(key):
                spec.pop(key, None)
    if stype not in ("NodePort", "LoadBalancer") and prev_type in ("NodePort", "LoadBalancer"):
        before = [as_dict(p).get("nodePort") for p in as_list(prev.get("ports"))]
        now = [as_dict(p).get("nodePort") for p in as_list(spec.get("ports"))]
        if now == before[:len(now)] or not any(now):
            for port in as_list(spec.get("ports")):
                if isinstance(port, dict):
                    port.pop("nodePort", None)
    needs_health_check = stype == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"
    if not needs_health_check and spec.get("healthCheckNodePort") == prev.get("healthCheckNodePort"):
        spec.pop("healthCheckNodePort", None)
    if stype != "LoadBalancer" and prev_type == "LoadBalancer":
        for key in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if spec.get(key) == prev.get(key):
                spec.pop(key, None)
    if stype not in ("NodePort", "LoadBalancer") and spec.get("externalTrafficPolicy") == prev.get(
            "externalTrafficPolicy"):
        spec.pop("externalTrafficPolicy", None)


def _validate_ports(ports: list[Any], *, stype: str) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        port = as_dict(port)
        name = port.get("name")
        if len(ports) > 1 and not name:
            causes.append(required(f"{path}.name"))
        elif name:
            causes += validation.validate_name(name, f"{path}.name", validation.dns1123_label)
            if name in names:
                causes.append(duplicate(f"{path}.name", name))
            names.add(str(name))
        causes += validate_port(port.get("port"), f"{path}.port")
        causes += validate_protocol(port.get("protocol"), f"{path}.protocol")
        if port.get("targetPort") not in (None, 0, ""):
            causes += validate_target_port(port.get("targetPort"), f"{path}.targetPort")
        node_port = port.get("nodePort")
        if node_port not in (None, 0):
            if stype not in ("NodePort", "LoadBalancer"):
                causes.append(Cause("FieldValueForbidden", f"{path}.nodePort",
                                    f"Forbidden: may not be used when `type` is '{stype}'"))
            else:
                causes += validate_port(node_port, f"{path}.nodePort")
    return causes


def port_string(ports: list[Any]) -> str:
    """Upstream ``makePortString``: ``80/TCP``, ``80:30080/TCP``, comma-joined."""
    pieces = []
    for port in ports:
        port = as_dict(port)
        node_port = port.get("nodePort")
        if isinstance(node_port, int) and node_port > 0:
            pieces.append(f"{port.get('port')}:{node_port}/{port.get('protocol', '')}")
        else:
            pieces.append(f"{port.get('port')}/{port.get('protocol', '')}")
    return ",".join(pieces)


def external_ip(obj: Object) -> str:
    """Upstream ``getServiceExternalIP`` (wide form: load-balancer addresses unclipped)."""
    spec = as_dict(obj.get("spec"))
    external = [str(ip) for ip in as_list(spec.get("externalIPs"))]
    stype = spec.get("type")
    if stype in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if stype == "LoadBalancer":
        ingress = as_list(as_dict(as_dict(as_dict(obj.get("status")).get("loadBalancer"))).get("ingress"))
        lb = sorted({str(as_dict(i).get("ip") or as_dict(i).get("hostname") or "") for i in ingress} - {""})
        if external:
            return ",".join(lb + external)
        return ",".join(lb) if lb else "<pending>"
    if stype == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"
