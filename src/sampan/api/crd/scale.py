"""The ``scale`` subresource of a custom resource: an autoscaling/v1 ``Scale`` read from, and written
to, the JSON paths the CRD names (``specReplicasPath``, ``statusReplicasPath``, ``labelSelectorPath``).

Upstream allows only simple dotted paths there (``.spec.replicas``; no array notation), which
``validation`` enforces; these helpers therefore walk plain dict keys. A missing replicas value reads
as 0 and a missing selector as absent, as upstream's ``scaleFromCustomResource`` does.

Invariant: :func:`to_scale` never raises; :func:`set_replicas` mutates only the object it is given.
"""

from __future__ import annotations

import re
from typing import Any

SIMPLE_PATH = re.compile(r"(\.[A-Za-z0-9_-]+)+")
"""What a scale path may be: ``.a.b.c``."""


def _keys(path: str) -> list[str]:
    return path.lstrip(".").split(".") if path else []


def read(obj: Any, path: str) -> Any:
    """The value at a simple dotted ``path`` in ``obj`` (None when absent)."""
    node = obj
    for key in _keys(path):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def set_replicas(obj: dict[str, Any], path: str, replicas: int) -> None:
    """Write ``replicas`` at ``path`` (``.spec.replicas``), creating intermediate objects."""
    keys = _keys(path)
    node = obj
    for key in keys[:-1]:
        nxt = node.get(key)
        if not isinstance(nxt, dict):
            nxt = node[key] = {}
        node = nxt
    if keys:
        node[keys[-1]] = replicas


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return 0


def to_scale(obj: Any, paths: dict[str, str]) -> dict[str, Any]:
    """The ``autoscaling/v1`` Scale of ``obj`` under the CRD's scale ``paths``."""
    md = obj.get("metadata") if isinstance(obj, dict) else None
    md = md if isinstance(md, dict) else {}
    status: dict[str, Any] = {"replicas": _int(read(obj, paths.get("statusReplicasPath", "")))}
    selector_path = paths.get("labelSelectorPath")
    if selector_path:
        selector = read(obj, selector_path)
        if isinstance(selector, str):
            status["selector"] = selector
    return {
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in md},
        "spec": {"replicas": _int(read(obj, paths.get("specReplicasPath", "")))},
        "status": status,
    }
