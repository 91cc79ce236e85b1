"""Container environment as upstream's ``makeEnvironmentVariables`` builds it, and ``$(VAR)`` expansion.

Order: every ``envFrom`` source first (keys prefixed, later sources win), then ``env`` in order; an
``env`` value is expanded against the variables defined before it (``$(VAR)`` -> value, ``$$`` -> ``$``,
an unknown ``$(VAR)`` is left as written). A missing non-optional configmap, secret or key raises
:class:`~sampan.kubelet.runtime.interface.ContainerConfigError` with upstream's message, which the pod
worker reports as the container's ``CreateContainerConfigError`` waiting message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sampan.kubelet.runtime.interface import ContainerConfigError
from sampan.kubelet.volumes.fieldpath import field_value, resource_value
from sampan.kubelet.volumes.objects import ObjectGetter
from sampan.kubelet.volumes.sources import configmap_data, secret_data

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def expand(text: str, mapping: Mapping[str, str]) -> str:
    """Upstream's ``expansion.Expand``: ``$(NAME)`` references, ``$$`` escapes."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
                continue
            name = text[i + 2 : close]
            out.append(mapping.get(name, f"$({name})"))
            i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def _env_from(
    source: Mapping[str, Any], *, namespace: str, objects: ObjectGetter, env: dict[str, str],
) -> None:
    prefix = source.get("prefix") or ""
    if "configMapRef" in source:
        ref = source["configMapRef"] or {}
        cm = objects.get_configmap(namespace, ref.get("name", ""))
        if cm is None:
            if ref.get("optional"):
                return
            raise ContainerConfigError(f'configmap "{ref.get("name", "")}" not found')
        data = {k: v.decode(errors="replace") for k, v in configmap_data(cm).items()}
    else:
        ref = source.get("secretRef") or {}
        secret = objects.get_secret(namespace, ref.get("name", ""))
        if secret is None:
            if ref.get("optional"):
                return
            raise ContainerConfigError(f'secret "{ref.get("name", "")}" not found')
        data = {k: v.decode(errors="replace") for k, v in secret_data(secret).items()}
    for key, value in data.items():
        name = prefix + key
        if _ENV_NAME.match(name):  # upstream skips invalid names (and records an event)
            env[name] = value


def _value_from(
    ref: Mapping[str, Any], *, pod: Mapping[str, Any], container_name: str, objects: ObjectGetter,
    node_allocatable: Mapping[str, str],
) -> str | None:
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    if "fieldRef" in ref:
        return field_value(pod, (ref["fieldRef"] or {}).get("fieldPath", ""))
    if "resourceFieldRef" in ref:
        return resource_value(pod, ref["resourceFieldRef"] or {}, default_container=container_name,
                              node_allocatable=node_allocatable)
    if "configMapKeyRef" in ref:
        sel = ref["configMapKeyRef"] or {}
        name, key, optional = sel.get("name", ""), sel.get("key", ""), bool(sel.get("optional"))
        cm = objects.get_configmap(ns, name)
        if cm is None:
            if optional:
                return None
            raise ContainerConfigError(f'configmap "{name}" not found')
        data = configmap_data(cm)
        if key not in data:
            if optional:
                return None
            raise ContainerConfigError(f"couldn't find key {key} in ConfigMap {ns}/{name}")
        return data[key].decode(errors="replace")
    if "secretKeyRef" in ref:
        sel = ref["secretKeyRef"] or {}
        name, key, optional = sel.get("name", ""), sel.get("key", ""), bool(sel.get("optional"))
        secret = objects.get_secret(ns, name)
        if secret is None:
            if optional:
                return None
            raise ContainerConfigError(f'secret "{name}" not found')
        sdata = secret_data(secret)
        if key not in sdata:
            if optional:
                return None
            raise ContainerConfigError(f"couldn't find key {key} in Secret {ns}/{name}")
        return sdata[key].decode(errors="replace")
    return ""


def container_env(
    pod: Mapping[str, Any], container: Mapping[str, Any], *, objects: ObjectGetter,
    node_allocatable: Mapping[str, str] | None = None, service_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The container's environment, resolved and expanded (insertion order = upstream's order).
    ``service_env`` (the service variables) fills names the container does not set itself, and
    ``$(VAR)`` in ``env`` values may refer to it (upstream ``MappingFuncFor(tmpEnv, serviceEnv)``)."""
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    alloc = node_allocatable or {}
    services = service_env or {}
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        _env_from(source, namespace=ns, objects=objects, env=env)
    for var in container.get("env") or []:
        name = var.get("name", "")
        if "valueFrom" in var and var["valueFrom"] is not None:
            value = _value_from(var["valueFrom"], pod=pod, container_name=container.get("name", ""),
                                objects=objects, node_allocatable=alloc)
            if value is None:
                continue
        else:
            value = expand(str(var.get("value") or ""), {**services, **env} if services else env)
        env[name] = value
    for name, value in services.items():
        env.setdefault(name, value)
    return env


def expand_command(container: Mapping[str, Any], env: Mapping[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``command`` and ``args`` with ``$(VAR)`` expanded against the final environment."""
    command = tuple(expand(str(c), env) for c in container.get("command") or [])
    args = tuple(expand(str(a), env) for a in container.get("args") or [])
    return command, args
