"""Rules shared by the Endpoints and EndpointSlice controllers: which pods a Service selects, whether a
pod belongs in its endpoints, whether it is ready, and which port a Service port targets on a pod.

Objects are wire dicts from the informers' caches; nothing here mutates them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sampan.client import Lister


def service_selector(service: Mapping[str, Any]) -> dict[str, str] | None:
    """The Service's selector, or None when it has none (its endpoints are managed by hand)."""
    sel = (service.get("spec") or {}).get("selector")
    if not isinstance(sel, dict) or not sel:
        return None
    return {str(k): str(v) for k, v in sel.items()}


def selects(selector: Mapping[str, str], pod: Mapping[str, Any]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def pod_ready(pod: Mapping[str, Any]) -> bool:
    """The pod's Ready condition is True."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def pod_ips(pod: Mapping[str, Any]) -> list[str]:
    status = pod.get("status") or {}
    ips = [str(p.get("ip")) for p in status.get("podIPs") or [] if isinstance(p, dict) and p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [str(status["podIP"])]
    return ips


def should_include(pod: Mapping[str, Any], *, include_terminating: bool) -> bool:
    """Upstream ``ShouldPodBeInEndpoints``: has an IP, is not finished (Succeeded/Failed), and is not being
    deleted unless terminating endpoints are wanted (EndpointSlices keep them, Endpoints do not)."""
    if not pod_ips(pod):
        return False
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        return False
    return include_terminating or not (pod.get("metadata") or {}).get("deletionTimestamp")


def target_port(service_port: Mapping[str, Any], pod: Mapping[str, Any]) -> int | None:
    """The container port ``service_port`` reaches on ``pod``: a number as is, a name looked up in the
    pod's containers (same protocol); None when a named port is absent from the pod."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        for port in (container or {}).get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                cp = port.get("containerPort")
                return int(cp) if isinstance(cp, int) else None
    return None


def services_for_pod(services: Lister, pods: Iterable[Mapping[str, Any]]) -> set[str]:
    """Keys (``ns/name``) of the Services whose selector matches any of ``pods`` (old and new versions)."""
    keys: set[str] = set()
    for pod in pods:
        md = pod.get("metadata") or {}
        namespace = md.get("namespace")
        if not namespace:
            continue
        for svc in services.namespaced(namespace).list():
            sel = service_selector(svc)
            if sel is not None and selects(sel, pod):
                keys.add(f"{namespace}/{svc['metadata']['name']}")
    return keys


def is_headless(service: Mapping[str, Any]) -> bool:
    return (service.get("spec") or {}).get("clusterIP") == "None"


def target_ref(pod: Mapping[str, Any]) -> dict[str, Any]:
    md = pod.get("metadata") or {}
    return {"kind": "Pod", "namespace": md.get("namespace"), "name": md.get("name"), "uid": md.get("uid")}


def hostname(pod: Mapping[str, Any], service: Mapping[str, Any]) -> str | None:
    """The pod's hostname when it sets one and its subdomain is the Service's name (DNS records)."""
    spec = pod.get("spec") or {}
    name = spec.get("hostname")
    if name and spec.get("subdomain") == service["metadata"]["name"]:
        return str(name)
    return None
