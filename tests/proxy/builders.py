"""Service and EndpointSlice dicts for proxy tests."""

from __future__ import annotations

from typing import Any


def service(name: str, cluster_ip: str, *, ns: str = "default", port: int = 80, type_: str = "ClusterIP",
            node_port: int = 0, affinity: int = 0, etp: str = "", itp: str = "", lb_ips: tuple[str, ...] = (),
            port_name: str = "http", protocol: str = "TCP") -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "clusterIP": cluster_ip,
                            "ports": [{"name": port_name, "port": port, "protocol": protocol, "targetPort": 8080,
                                       **({"nodePort": node_port} if node_port else {})}]}
    if affinity:
        spec["sessionAffinity"] = "ClientIP"
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": affinity}}
    if etp:
        spec["externalTrafficPolicy"] = etp
    if itp:
        spec["internalTrafficPolicy"] = itp
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                           "spec": spec}
    if lb_ips:
        obj["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in lb_ips]}}
    return obj


def endpoint(ip: str, node: str = "n1", *, ready: bool = True, serving: bool | None = None,
             terminating: bool = False) -> dict[str, Any]:
    cond: dict[str, Any] = {"ready": ready, "terminating": terminating}
    if serving is not None:
        cond["serving"] = serving
    return {"addresses": [ip], "nodeName": node, "conditions": cond}


def endpoint_slice(service_name: str, endpoints: list[dict[str, Any]], *, name: str = "", ns: str = "default",
                   port: int = 8080, port_name: str = "http", protocol: str = "TCP") -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{service_name}-abc", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4", "ports": [{"name": port_name, "port": port, "protocol": protocol}],
            "endpoints": endpoints}
