"""Service and EndpointSlice dicts as the API serves them, for the DNS tests."""

from __future__ import annotations

from typing import Any


def service(name: str, namespace: str = "default", *, cluster_ip: str | None = "100.96.0.20",
            ports: list[dict[str, Any]] | None = None, type_: str = "ClusterIP",
            external_name: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "ports": ports if ports is not None else
                            [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
        spec["clusterIPs"] = [cluster_ip]
    if external_name is not None:
        spec = {"type": "ExternalName", "externalName": external_name}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def endpoint(ip: str, *, ready: bool | None = True, hostname: str | None = None) -> dict[str, Any]:
    ep: dict[str, Any] = {"addresses": [ip]}
    if ready is not None:
        ep["conditions"] = {"ready": ready}
    if hostname:
        ep["hostname"] = hostname
    return ep


def endpoint_slice(service_name: str, endpoints: list[dict[str, Any]], namespace: str = "default", *,
                   name: str | None = None, ports: list[dict[str, Any]] | None = None,
                   address_type: str = "IPv4") -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name or f"{service_name}-abc", "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service_name}},
        "addressType": address_type, "endpoints": endpoints,
        "ports": ports if ports is not None else [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }
