"""Tiny builders for test objects (plain dicts, as on the wire)."""

from __future__ import annotations

from typing import Any


def cm(name: str, ns: str = "default", rv: str = "1", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "resourceVersion": rv}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def node(name: str, rv: str = "1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "resourceVersion": rv}}
