"""The OpenAPI v3 schemas a served CRD version publishes (what ``kubectl explain`` reads).

Upstream's ``crdbuilder`` names a custom kind's definition by its reversed group, then version and
kind (``example.com``/``v1``/``Widget`` -> ``com.example.v1.Widget``), adds ``apiVersion``, ``kind``
and ``metadata`` (a reference to ObjectMeta) to the version's structural schema, tags it with
``x-kubernetes-group-version-kind``, and publishes a ``<Kind>List`` beside it. :func:`kind_schemas`
returns both, ready for a group-version document's ``components.schemas``; the references point at
the built-in definitions (ObjectMeta, ListMeta) that every document already carries.

Invariant: pure and never raises for a CRD that passed validation; the CRD is not modified.
"""

from __future__ import annotations

import copy
from typing import Any

from sampan.api.crd import spec as crdspec

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
_API_VERSION_DOC = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
)
_KIND_DOC = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)


def definition_name(group: str, version: str, kind: str) -> str:
    """``com.example.v1.Widget`` for ``example.com/v1`` ``Widget``."""
    return ".".join([*reversed(group.split(".")), version, kind])


def _ref(name: str) -> dict[str, Any]:
    return {"allOf": [{"$ref": f"#/components/schemas/{name}"}]}


def kind_schemas(crd: Any, version: str) -> dict[str, dict[str, Any]]:
    """``{name: schema}`` for the kind and its list, for one served version of ``crd``."""
    group, names = crdspec.group(crd), crdspec.names(crd)
    kind = str(names.get("kind", ""))
    list_kind = str(names.get("listKind") or f"{kind}List")
    gvk = {"group": group, "version": version, "kind": kind}
    schema = copy.deepcopy(crdspec.schema(crd, version) or {"type": "object",
                                                            "x-kubernetes-preserve-unknown-fields": True})
    props = schema.get("properties")
    props = schema["properties"] = dict(props) if isinstance(props, dict) else {}
    props["apiVersion"] = {"type": "string", "description": _API_VERSION_DOC}
    props["kind"] = {"type": "string", "description": _KIND_DOC}
    props["metadata"] = {**_ref(OBJECT_META), "description": "Standard object's metadata. More info: "
                         "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
                         "#metadata"}
    schema["x-kubernetes-group-version-kind"] = [gvk]
    name = definition_name(group, version, kind)
    list_schema = {
        "type": "object",
        "description": f"{kind}List is a list of {kind}",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": _API_VERSION_DOC},
            "items": {"type": "array", "description": f"List of {names.get('plural', '')}. More info: "
                      "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md",
                      "items": _ref(name)},
            "kind": {"type": "string", "description": _KIND_DOC},
            "metadata": {**_ref(LIST_META), "description": "Standard list metadata. More info: "
                         "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
                         "#types-kinds"},
        },
        "x-kubernetes-group-version-kind": [{**gvk, "kind": list_kind}],
    }
    return {name: schema, definition_name(group, version, list_kind): list_schema}
