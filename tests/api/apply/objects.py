"""Builders for the objects the server-side apply tests use."""

from __future__ import annotations

import copy
from typing import Any

from sampan.api.schema import type_for_kind

DEPLOYMENT = type_for_kind("apps", "v1", "Deployment")
CONFIGMAP = type_for_kind("", "v1", "ConfigMap")
SERVICE = type_for_kind("", "v1", "Service")


def deployment(*, replicas: int | None = 2, containers: list[dict[str, Any]] | None = None,
               labels: dict[str, str] | None = None, name: str = "web") -> dict[str, Any]:
    """An apply configuration for a Deployment (only what is given is set)."""
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": containers if containers is not None else [{"name": "nginx", "image": "nginx:1"}]},
        },
    }
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def partial(**spec: Any) -> dict[str, Any]:
    """A minimal Deployment configuration with only the given spec fields."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": spec}


def stored(obj: dict[str, Any], uid: str = "uid-1") -> dict[str, Any]:
    """``obj`` as the store would hold it (with a uid), copied."""
    out = copy.deepcopy(obj)
    out["metadata"]["uid"] = uid
    return out


def entries(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """managedFields by manager name (assumes one entry per name)."""
    return {e["manager"]: e for e in obj["metadata"].get("managedFields") or []}


def fields(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    return entries(obj)[manager]["fieldsV1"]
