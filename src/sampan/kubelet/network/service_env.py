"""Service environment variables (upstream ``pkg/kubelet/envvars`` and ``getServiceEnvVarMap``).

A pod sees the Services of its own namespace (unless ``enableServiceLinks: false``) and always the
``kubernetes`` Service of ``default`` (a same-named Service of its own namespace wins); only Services
with a cluster IP (not headless, not ExternalName). For a Service ``my-svc`` with address A and ports:

* ``MY_SVC_SERVICE_HOST=A``, ``MY_SVC_SERVICE_PORT=<first port>``, ``MY_SVC_SERVICE_PORT_<NAME>=<port>``
  for each named port;
* docker-link style: ``MY_SVC_PORT=<proto>://A:<first port>`` and, per port,
  ``MY_SVC_PORT_<port>_<PROTO>=<proto>://A:<port>`` with ``_PROTO``, ``_PORT`` and ``_ADDR``.

The container's own ``env``/``envFrom`` win over these, and may refer to them with ``$(VAR)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MASTER_NAMESPACE = "default"
MASTER_SERVICES = frozenset({"kubernetes"})


def _var_name(name: str) -> str:
    return name.upper().replace("-", "_")


def _has_ip(svc: Mapping[str, Any]) -> bool:
    ip = (svc.get("spec") or {}).get("clusterIP")
    return bool(ip) and ip != "None"


def visible_services(services: Iterable[Mapping[str, Any]], *, namespace: str,
                     enable_links: bool) -> list[Mapping[str, Any]]:
    chosen: dict[str, Mapping[str, Any]] = {}
    for svc in services:
        if not _has_ip(svc):
            continue
        md = svc.get("metadata") or {}
        name, ns = str(md.get("name") or ""), md.get("namespace") or ""
        if ns == MASTER_NAMESPACE and name in MASTER_SERVICES:
            chosen.setdefault(name, svc)
        elif ns == namespace and enable_links:
            chosen[name] = svc
    return list(chosen.values())


def service_variables(svc: Mapping[str, Any]) -> dict[str, str]:
    md, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    prefix = _var_name(str(md.get("name") or ""))
    ip = str(spec.get("clusterIP"))
    host = f"[{ip}]" if ":" in ip else ip
    ports = [p for p in spec.get("ports") or [] if isinstance(p, Mapping)]
    env = {f"{prefix}_SERVICE_HOST": ip}
    for i, port in enumerate(ports):
        number = str(port.get("port"))
        if i == 0:
            env[f"{prefix}_SERVICE_PORT"] = number
        if port.get("name"):
            env[f"{prefix}_SERVICE_PORT_{_var_name(str(port['name']))}"] = number
    for i, port in enumerate(ports):
        proto = str(port.get("protocol") or "TCP")
        number = str(port.get("port"))
        url = f"{proto.lower()}://{host}:{number}"
        if i == 0:
            env[f"{prefix}_PORT"] = url
        base = f"{prefix}_PORT_{number}_{proto.upper()}"
        env[base] = url
        env[f"{base}_PROTO"] = proto.lower()
        env[f"{base}_PORT"] = number
        env[f"{base}_ADDR"] = ip
    return env


def service_env(pod: Mapping[str, Any], services: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Every service variable the pod gets (before its own env, which wins)."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    links = (pod.get("spec") or {}).get("enableServiceLinks")
    env: dict[str, str] = {}
    for svc in visible_services(services, namespace=namespace, enable_links=links is not False):
        env.update(service_variables(svc))
    return env
