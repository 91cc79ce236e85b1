"""Errors of the protobuf codec. Every failure of :func:`decode` / :func:`encode` is one of these.

They are :class:`sampan.api.errors.APIError` subclasses, so the API server can raise them as they are:

ProtobufError (base, never raised itself)
 ├── MalformedProtobuf   400 BadRequest            the body is not a valid Kubernetes protobuf message
 ├── UnsupportedKind     415 UnsupportedMediaType  apiVersion/kind has no protobuf schema (custom resources)
 └── UnencodableObject   500 InternalError         a JSON object does not fit its kind's schema
"""

from __future__ import annotations

from sampan.api.errors import APIError, BadRequest, InternalError, UnsupportedMediaType


class ProtobufError(APIError):
    """Base class of every error the codec raises."""


class MalformedProtobuf(ProtobufError, BadRequest):
    """The bytes are not a well-formed Kubernetes protobuf envelope or message."""


class UnsupportedKind(ProtobufError, UnsupportedMediaType):
    """No protobuf schema for this apiVersion/kind (custom resources, unknown groups)."""

    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(f"protobuf is not supported for {kind} in {api_version or '(no apiVersion)'}")
        self.api_version = api_version
        self.kind = kind


class UnencodableObject(ProtobufError, InternalError):
    """A JSON object whose values do not fit the protobuf schema of its kind (a string where an
    integer belongs, a bad timestamp...). ``path`` names the offending field."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"cannot encode {path or 'object'} as protobuf: {detail}")
        self.path = path
