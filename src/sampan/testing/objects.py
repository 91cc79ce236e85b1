"""What tests do with objects, as coroutines over :class:`sampan.client.Client`: apply manifests (server-side
apply, so applying twice is harmless), wait for a condition, delete, make and drop namespaces.

:class:`sampan.testing.Cluster` runs these on its helper loop for both its sync methods and their async
twins (``cluster.aio``). Conditions (:func:`parse_condition`), as ``kubectl wait --for``:

- a callable ``obj -> bool`` (``obj`` is None while the object does not exist);
- ``"condition=Ready"`` / ``"condition=Ready=False"`` / ``"Ready"``: a ``status.conditions`` entry;
- ``"jsonpath={.status.readyReplicas}=3"``: the first value at the path, compared as text;
- ``"exists"`` and ``"delete"``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from sampan.api import errors
from sampan.api.jsonpath import compile_path
from sampan.client import Client, PatchType, ResourceClient

Manifest = str | os.PathLike[str] | Mapping[str, Any] | Iterable[Mapping[str, Any]]
Condition = str | Callable[[dict[str, Any] | None], bool]

FIELD_MANAGER = "sampan-testing"
POLL = 0.05
CRD_API = "apiextensions.k8s.io/v1"


def load_manifests(source: Manifest) -> list[dict[str, Any]]:
    """Objects from YAML/JSON text, a file, a directory (its ``*.yaml``, ``*.yml``, ``*.json`` files in
    name order), one dict or a list of dicts. Empty documents and ``List`` kinds are flattened."""
    docs: list[Any]
    if isinstance(source, Mapping):
        docs = [source]
    elif isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source
                                             and os.path.exists(source)):
        path = Path(source)
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json")) if path.is_dir() else [path]
        docs = [doc for f in files for doc in yaml.safe_load_all(f.read_text(encoding="utf-8"))]
    elif isinstance(source, str):
        docs = list(yaml.safe_load_all(source))
    else:
        docs = list(source)
    out: list[dict[str, Any]] = []
    for doc in docs:
        if not doc:
            continue
        if not isinstance(doc, Mapping) or "kind" not in doc or "apiVersion" not in doc:
            raise ValueError(f"not a Kubernetes object (needs apiVersion and kind): {str(doc)[:80]}")
        if str(doc["kind"]).endswith("List") and isinstance(doc.get("items"), list):
            out.extend(load_manifests(doc["items"]))
        else:
            out.append(dict(doc))
    return out


def parse_condition(condition: Condition) -> Callable[[dict[str, Any] | None], bool]:
    """A predicate over the object (None while absent); ValueError for text it cannot read."""
    if callable(condition):
        return condition
    text = condition.strip()
    if text == "delete":
        return lambda obj: obj is None
    if text == "exists":
        return lambda obj: obj is not None
    if text.startswith("jsonpath="):
        expr, sep, want = text[len("jsonpath="):].rpartition("=")
        if not sep or not expr:
            raise ValueError(f"want jsonpath={{.path}}=VALUE, got {condition!r}")
        path = compile_path(expr.strip("'\""))
        return lambda obj: obj is not None and _text(path.first(obj)) == want.strip("'\"")
    rest = text.removeprefix("condition=")
    ctype, _, status = rest.partition("=")
    if not ctype:
        raise ValueError(f"cannot read condition {condition!r}")
    status = status or "True"

    def has_condition(obj: dict[str, Any] | None) -> bool:
        conditions = ((obj or {}).get("status") or {}).get("conditions") or []
        return any(c.get("type") == ctype and str(c.get("status")) == status for c in conditions)

    return has_condition


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Objects:
    """The helpers over one client. Namespaced objects without a namespace go to ``default_namespace``."""

    def __init__(self, client: Client, *, default_namespace: str = "default") -> None:
        self.client = client
        self.default_namespace = default_namespace

    async def resource(self, obj: Mapping[str, Any]) -> ResourceClient:
        return await self.client.resource(str(obj["apiVersion"]), str(obj["kind"]))

    def _namespace(self, resource: ResourceClient, obj: Mapping[str, Any], namespace: str | None) -> str | None:
        if not resource.info.namespaced:
            return None
        return str((obj.get("metadata") or {}).get("namespace") or namespace or self.default_namespace)

    async def apply(self, source: Manifest, *, namespace: str | None = None, wait_crds: float = 30.0
                    ) -> list[dict[str, Any]]:
        """Server-side apply every object (created if absent); CRDs are waited for until Established, so
        their kinds can be applied next. Returns the objects as stored."""
        stored: list[dict[str, Any]] = []
        for obj in load_manifests(source):
            name = (obj.get("metadata") or {}).get("name")
            if not name:
                raise ValueError(f"{obj['kind']} without metadata.name cannot be applied")
            resource = await self.resource(obj)
            ns = self._namespace(resource, obj, namespace)
            body = dict(obj)
            if ns is not None:
                body["metadata"] = {**obj["metadata"], "namespace": ns}
            stored.append(await resource.patch(str(name), body, patch_type=PatchType.APPLY, namespace=ns,
                                               field_manager=FIELD_MANAGER, force=True))
            if obj["apiVersion"] == CRD_API and obj["kind"] == "CustomResourceDefinition":
                await self.wait_for(stored[-1], "condition=Established", timeout=wait_crds)
                self.client.discovery.invalidate()
        return stored

    async def get(self, obj: Mapping[str, Any], *, namespace: str | None = None) -> dict[str, Any] | None:
        """The object as stored now, or None."""
        resource = await self.resource(obj)
        try:
            return await resource.get(str(obj["metadata"]["name"]), namespace=self._namespace(resource, obj, namespace))
        except errors.NotFound:
            return None

    async def wait_for(self, obj: Mapping[str, Any], condition: Condition = "exists", *, timeout: float = 30.0,
                       namespace: str | None = None) -> dict[str, Any] | None:
        """Poll until ``condition`` holds; returns the object then (None for ``delete``). TimeoutError
        names the object, the condition and what was last seen."""
        check = parse_condition(condition)
        deadline = time.monotonic() + timeout
        while True:
            current = await self.get(obj, namespace=namespace)
            if check(current):
                return current
            if time.monotonic() >= deadline:
                name = f"{obj['kind']}/{obj['metadata']['name']}"
                seen = "absent" if current is None else f"status={(current.get('status') or {})!r:.300}"
                raise TimeoutError(f"{name}: {condition!r} not met within {timeout:g}s ({seen})")
            await asyncio.sleep(POLL)

    async def delete(self, obj: Mapping[str, Any], *, namespace: str | None = None, wait: bool = False,
                     timeout: float = 30.0) -> None:
        """Delete (absent is fine); with ``wait``, until it is gone (finalizers done)."""
        resource = await self.resource(obj)
        ns = self._namespace(resource, obj, namespace)
        try:
            await resource.delete(str(obj["metadata"]["name"]), namespace=ns, propagation_policy="Background")
        except errors.NotFound:
            return
        if wait:
            await self.wait_for(obj, "delete", timeout=timeout, namespace=ns)

    async def create_namespace(self, name: str, *, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        namespaces = await self.client.resource("v1", "namespaces")
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}
        created: dict[str, Any] = await namespaces.create(body)
        return created
