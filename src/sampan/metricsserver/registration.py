"""Registering metrics-server with the aggregation layer: a selector-less Service ``kube-system/
metrics-server`` whose Endpoints name this process's address, and the APIService
``v1beta1.metrics.k8s.io`` pointing at it (``insecureSkipTLSVerify``: the certificate is self-signed).
Idempotent: existing objects are updated to the current address."""

from __future__ import annotations

from typing import Any

from sampan.api.errors import NotFound
from sampan.client import Client

NAMESPACE, NAME = "kube-system", "metrics-server"
APISERVICE = "v1beta1.metrics.k8s.io"


async def _put(client: Client, api_version: str, resource: str, obj: dict[str, Any], *,
               namespace: str | None) -> None:
    rc = await client.resource(api_version, resource)
    name = obj["metadata"]["name"]
    try:
        current = await rc.get(name, namespace=namespace)
    except NotFound:
        await rc.create(obj, namespace=namespace)
        return
    merged = {**current, **{k: v for k, v in obj.items() if k != "metadata"}}
    await rc.update(merged, namespace=namespace)


async def register(client: Client, *, host: str, port: int) -> None:
    md = {"name": NAME, "namespace": NAMESPACE, "labels": {"k8s-app": "metrics-server"}}
    await _put(client, "v1", "services", {
        "apiVersion": "v1", "kind": "Service", "metadata": md,
        "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
    }, namespace=NAMESPACE)
    await _put(client, "v1", "endpoints", {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": md,
        "subsets": [{"addresses": [{"ip": host}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    }, namespace=NAMESPACE)
    await _put(client, "apiregistration.k8s.io/v1", "apiservices", {
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": APISERVICE, "labels": {"k8s-app": "metrics-server"}},
        "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100,
                 "versionPriority": 100, "insecureSkipTLSVerify": True,
                 "service": {"namespace": NAMESPACE, "name": NAME, "port": 443}},
    }, namespace=None)
