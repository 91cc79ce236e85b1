"""A minimal ``/openapi/v2``: every served PATCH operation, so kubectl 1.27's ``create -f`` works.

kubectl up to 1.27 decides whether the server validates fields itself (``fieldValidation``) by reading
``/openapi/v2`` as protobuf (gnostic's ``openapi.v2.Document``) and looking for the PATCH operation
whose ``x-kubernetes-group-version-kind`` names the object's kind; without a v2 document ``create -f``
fails. This document carries exactly that: ``swagger``, ``info`` and, per resource (and status/scale
subresource), a PATCH operation with the GVK extension and the write query parameters. It has no
``definitions``, so v2 schema consumers (old ``kubectl explain``) find nothing and kubectl falls back
to its built-in types; newer kubectl reads ``/openapi/v3``.

The protobuf is written by hand (field numbers from gnostic's ``OpenAPIv2.proto``); it needs no
generated code. ``Accept: application/json`` gets the same content as Swagger 2.0 JSON.
"""

from __future__ import annotations

from typing import Any

from sampan.api.resources import ResourceInfo

PROTOBUF_MEDIA_TYPE = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
"""What kubectl asks for. ``@`` is not a valid media-type character for Go's mime parser, so the
response says :data:`PROTOBUF_CONTENT_TYPE` instead, as kube-openapi does."""
PROTOBUF_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force")

# gnostic openapi.v2 field numbers
_DOC_SWAGGER, _DOC_INFO, _DOC_PATHS = 1, 2, 8
_INFO_TITLE, _INFO_VERSION = 1, 2
_PATHS_PATH = 2
_NAMED_NAME, _NAMED_VALUE = 1, 2
_PATHITEM_PATCH = 8
_OP_DESCRIPTION, _OP_ID, _OP_CONSUMES, _OP_PRODUCES, _OP_PARAMS, _OP_RESPONSES, _OP_EXT = 3, 5, 7, 6, 8, 9, 13
_PARAMSITEM_PARAMETER = 1
_PARAMETER_NON_BODY = 2
_NONBODY_QUERY = 3
_QUERY_IN, _QUERY_NAME, _QUERY_TYPE, _QUERY_UNIQUE = 2, 4, 6, 20
_RESPONSES_CODE = 1
_RESPONSEVALUE_RESPONSE = 1
_RESPONSE_DESCRIPTION = 1
_ANY_YAML = 2


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bytes(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _str(field: int, text: str) -> bytes:
    return _bytes(field, text.encode())


def _bool(field: int, value: bool) -> bytes:
    return _varint(field << 3) + _varint(int(value))


class PatchOperation:
    """One PATCH operation of the v2 document (path, operation id, GVK)."""

    def __init__(self, path: str, operation_id: str, gvk: dict[str, str],
                 consumes: tuple[str, ...] = ("application/json-patch+json", "application/merge-patch+json",
                                              "application/strategic-merge-patch+json",
                                              "application/apply-patch+yaml")) -> None:
        self.consumes = consumes
        self.path = path
        self.operation_id = operation_id
        self.gvk = gvk

    def gvk_yaml(self) -> str:
        return "".join(f'{k}: "{self.gvk[k]}"\n' for k in ("group", "kind", "version"))

    def to_proto(self) -> bytes:
        params = b"".join(
            _bytes(_OP_PARAMS, _bytes(_PARAMSITEM_PARAMETER, _bytes(_PARAMETER_NON_BODY, _bytes(
                _NONBODY_QUERY, _str(_QUERY_IN, "query") + _str(_QUERY_NAME, name) + _str(_QUERY_TYPE, "string")
                + _bool(_QUERY_UNIQUE, True)))))
            for name in _WRITE_PARAMS
        )
        response = _bytes(_RESPONSES_CODE, _str(_NAMED_NAME, "200") + _bytes(
            _NAMED_VALUE, _bytes(_RESPONSEVALUE_RESPONSE, _str(_RESPONSE_DESCRIPTION, "OK"))))
        extensions = (
            _bytes(_OP_EXT, _str(_NAMED_NAME, "x-kubernetes-action") + _bytes(_NAMED_VALUE, _str(_ANY_YAML, "patch\n")))
            + _bytes(_OP_EXT, _str(_NAMED_NAME, "x-kubernetes-group-version-kind")
                     + _bytes(_NAMED_VALUE, _str(_ANY_YAML, self.gvk_yaml())))
        )
        op = (_str(_OP_DESCRIPTION, f"partially update the specified {self.gvk['kind']}")
              + _str(_OP_ID, self.operation_id)
              + b"".join(_str(_OP_CONSUMES, t) for t in self.consumes)
              + _str(_OP_PRODUCES, "application/json") + params + _bytes(_OP_RESPONSES, response) + extensions)
        return _bytes(_PATHS_PATH, _str(_NAMED_NAME, self.path)
                      + _bytes(_NAMED_VALUE, _bytes(_PATHITEM_PATCH, op)))

    def to_json(self) -> dict[str, Any]:
        return {
            "patch": {
                "description": f"partially update the specified {self.gvk['kind']}",
                "operationId": self.operation_id,
                "parameters": [{"name": n, "in": "query", "type": "string", "uniqueItems": True}
                               for n in _WRITE_PARAMS],
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": dict(self.gvk),
            }
        }


def patch_operations(v3_paths: dict[str, Any]) -> list[PatchOperation]:
    """The PATCH operations of a v3 document's ``paths`` (v3 and v2 share paths and operation ids)."""
    ops = []
    for path, item in sorted(v3_paths.items()):
        op = item.get("patch")
        if op is not None:
            content = tuple(sorted((op.get("requestBody") or {}).get("content") or ()))
            consumes = tuple(t for t in ("application/json-patch+json", "application/merge-patch+json",
                                         "application/strategic-merge-patch+json", "application/apply-patch+yaml")
                             if t in content) or None
            if consumes:
                ops.append(PatchOperation(path, op["operationId"], op["x-kubernetes-group-version-kind"], consumes))
            else:
                ops.append(PatchOperation(path, op["operationId"], op["x-kubernetes-group-version-kind"]))
    return ops


def document_proto(ops: list[PatchOperation], *, version: str) -> bytes:
    info = _str(_INFO_TITLE, "Kubernetes") + _str(_INFO_VERSION, version)
    paths = b"".join(op.to_proto() for op in ops)
    return _str(_DOC_SWAGGER, "2.0") + _bytes(_DOC_INFO, info) + _bytes(_DOC_PATHS, paths)


def document_json(ops: list[PatchOperation], *, version: str) -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": version},
            "paths": {op.path: op.to_json() for op in ops}}


def gv_key(info: ResourceInfo) -> str:
    return f"apis/{info.group}/{info.version}" if info.group else f"api/{info.version}"
