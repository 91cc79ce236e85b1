"""Downward API values: ``fieldRef`` and ``resourceFieldRef``, shared by env vars and downwardAPI volumes.

Messages and formats are upstream's: labels and annotations render as sorted ``key="value"`` lines;
a CPU resource is rounded *up* to a whole multiple of the divisor, memory likewise; an unset limit falls
back to the node's allocatable.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from sampan.api.quantity import Quantity, parse_or_none
from sampan.kubelet.runtime.interface import ContainerConfigError

_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


def _fmt_map(m: Mapping[str, Any]) -> str:
    return "\n".join(f"{k}={json.dumps(str(m[k]))}" for k in sorted(m))


def field_value(pod: Mapping[str, Any], path: str) -> str:
    """The value of a ``fieldRef.fieldPath``; raises ContainerConfigError on an unsupported path."""
    md, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    if m := _SUBSCRIPT.match(path):
        return str((md.get(m.group(1)) or {}).get(m.group(2), ""))
    simple: dict[str, Any] = {
        "metadata.name": md.get("name"), "metadata.namespace": md.get("namespace"), "metadata.uid": md.get("uid"),
        "spec.nodeName": spec.get("nodeName"), "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"), "status.podIP": status.get("podIP"),
    }
    if path in simple:
        return str(simple[path] or "")
    if path in ("metadata.labels", "metadata.annotations"):
        return _fmt_map(md.get(path.split(".")[1]) or {})
    if path in ("status.podIPs", "status.hostIPs"):
        return ",".join(str(i.get("ip", "")) for i in status.get(path.split(".")[1]) or [])
    raise ContainerConfigError(f"unsupported fieldPath: {path}")


def resource_value(
    pod: Mapping[str, Any], ref: Mapping[str, Any], *, default_container: str,
    node_allocatable: Mapping[str, str],
) -> str:
    """The value of a ``resourceFieldRef`` (``limits.cpu``, ``requests.memory``...) with its divisor."""
    cname = ref.get("containerName") or default_container
    resource = str(ref.get("resource") or "")
    spec = pod.get("spec") or {}
    container = next((c for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
                      if c.get("name") == cname), None)
    if container is None:
        raise ContainerConfigError(f"container {cname!r} not found for resourceFieldRef {resource}")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or name not in ("cpu", "memory", "ephemeral-storage"):
        raise ContainerConfigError(f"unsupported container resource: {resource}")
    raw = ((container.get("resources") or {}).get(kind) or {}).get(name)
    if raw is None and kind == "requests":
        raw = ((container.get("resources") or {}).get("limits") or {}).get(name)
    if raw is None:
        raw = node_allocatable.get(name, "0")
    value = parse_or_none(raw) or Quantity(0)
    divisor = parse_or_none(ref.get("divisor") or "1") or Quantity(1)
    if divisor.is_zero():
        divisor = Quantity(1)
    return str(math.ceil(value.value_exact / divisor.value_exact))
