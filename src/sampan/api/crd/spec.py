"""Reading a CRD (a JSON dict): its names, versions, schemas, subresources, printer columns; and
upstream's defaults for it (``SetDefaults_CustomResourceDefinition``).

Invariant: every accessor tolerates junk (wrong JSON types) and returns empty values instead of
raising, so it can run before validation.
"""

from __future__ import annotations

import re
from typing import Any

GROUP = "apiextensions.k8s.io"
KIND = "CustomResourceDefinition"
FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
"""Upstream's finalizer: a deleted CRD stays until all its objects are gone."""


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def spec(crd: Any) -> dict[str, Any]:
    return _map(_map(crd).get("spec"))


def names(crd: Any) -> dict[str, Any]:
    return _map(spec(crd).get("names"))


def group(crd: Any) -> str:
    value = spec(crd).get("group")
    return value if isinstance(value, str) else ""


def namespaced(crd: Any) -> bool:
    return spec(crd).get("scope") == "Namespaced"


def versions(crd: Any) -> list[dict[str, Any]]:
    return [v for v in _list(spec(crd).get("versions")) if isinstance(v, dict)]


def version(crd: Any, name: str) -> dict[str, Any] | None:
    return next((v for v in versions(crd) if v.get("name") == name), None)


def served_versions(crd: Any) -> list[str]:
    return [str(v.get("name")) for v in versions(crd) if v.get("served") is True and isinstance(v.get("name"), str)]


def storage_version(crd: Any) -> str | None:
    found = [v.get("name") for v in versions(crd) if v.get("storage") is True]
    return found[0] if len(found) == 1 and isinstance(found[0], str) else None


_KUBE_VERSION = re.compile(r"v([1-9][0-9]*)(?:(alpha|beta)([1-9][0-9]*))?")
_STABILITY = {None: 3, "beta": 2, "alpha": 1}


def version_priority(name: str) -> tuple[int, int, int]:
    """Sort key of a version name, greater is preferred, as apimachinery's kube-aware comparison:
    GA before beta before alpha, then the higher major and minor (v2 > v1 > v1beta2 > v1alpha1); a name
    that is not kube-like (``v1.0``, ``foo``) ranks below all of them."""
    m = _KUBE_VERSION.fullmatch(name)
    if m is None:
        return (0, 0, 0)
    return (_STABILITY[m.group(2)], int(m.group(1)), int(m.group(3) or 0))


def deprecation_warning(crd: Any, version_name: str) -> str | None:
    """The ``Warning`` every request to a deprecated served version gets (None when not deprecated):
    its ``deprecationWarning``, else upstream's default ``<group>/<version> <Kind> is deprecated``,
    naming the preferred served, non-deprecated version above it (``; use <group>/<v> <Kind>``)."""
    v = version(crd, version_name) or {}
    if v.get("deprecated") is not True:
        return None
    custom = v.get("deprecationWarning")
    if isinstance(custom, str):
        return custom
    kind = names(crd).get("kind", "")
    text = f"{group(crd)}/{version_name} {kind} is deprecated"
    rank = version_priority(version_name)
    newer = [str(o["name"]) for o in versions(crd) if o.get("served") is True and o.get("deprecated") is not True
             and isinstance(o.get("name"), str) and version_priority(o["name"]) > rank]
    if newer:
        text += f"; use {group(crd)}/{max(newer, key=version_priority)} {kind}"
    return text


def schema(crd: Any, version_name: str) -> dict[str, Any] | None:
    """The version's ``openAPIV3Schema`` (None when absent)."""
    v = version(crd, version_name) or {}
    found = _map(v.get("schema")).get("openAPIV3Schema")
    return found if isinstance(found, dict) else None


def subresources(crd: Any, version_name: str) -> dict[str, Any]:
    return _map((version(crd, version_name) or {}).get("subresources"))


def printer_columns(crd: Any, version_name: str) -> list[dict[str, Any]]:
    cols = _list((version(crd, version_name) or {}).get("additionalPrinterColumns"))
    return [c for c in cols if isinstance(c, dict)]


def selectable_fields(crd: Any, version_name: str) -> list[str]:
    fields = _list((version(crd, version_name) or {}).get("selectableFields"))
    return [f["jsonPath"] for f in fields if isinstance(f, dict) and isinstance(f.get("jsonPath"), str)]


def apply_defaults(crd: dict[str, Any]) -> None:
    """Upstream's defaults: ``names.singular`` = lower-cased kind, ``names.listKind`` = kind + "List",
    ``conversion.strategy`` = None; version flags stay as given (``served``/``storage`` are required)."""
    s = crd.get("spec")
    if not isinstance(s, dict):
        return
    n = s.get("names")
    if isinstance(n, dict) and isinstance(n.get("kind"), str) and n["kind"]:
        if not n.get("singular"):
            n["singular"] = n["kind"].lower()
        if not n.get("listKind"):
            n["listKind"] = n["kind"] + "List"
    conv = s.get("conversion")
    if conv is None:
        s["conversion"] = {"strategy": "None"}
    elif isinstance(conv, dict) and not conv.get("strategy"):
        conv["strategy"] = "None"
    if isinstance(conv, dict) and isinstance(conv.get("webhook"), dict):
        service = conv["webhook"].get("clientConfig", {}).get("service") \
            if isinstance(conv["webhook"].get("clientConfig"), dict) else None
        if isinstance(service, dict) and service.get("port") is None:
            service["port"] = 443


def convert(obj: dict[str, Any], group_version: str) -> dict[str, Any]:
    """Conversion strategy None: the object in another served version differs only in ``apiVersion``
    (a shallow copy; the stored object is read-only)."""
    return {**obj, "apiVersion": group_version}
