"""API errors as upstream shapes them: ``Status`` objects with a reason, a code and details.

The API server raises these and renders them with :meth:`APIError.to_status`; the client decodes a
``Status`` body back into the same class with :func:`from_status`, so code on both sides catches
``NotFound``, ``Conflict``, ``Expired``, ``Invalid``… alike.

APIError (reason, code)
 ├── BadRequest            BadRequest 400
 ├── Unauthorized          Unauthorized 401
 ├── Forbidden             Forbidden 403
 ├── NotFound              NotFound 404
 ├── MethodNotAllowed      MethodNotAllowed 405
 ├── NotAcceptable         NotAcceptable 406
 ├── AlreadyExists         AlreadyExists 409
 ├── Conflict              Conflict 409
 ├── Gone                  Gone 410
 ├── Expired               Expired 410   (too old resource version, expired continue token)
 ├── RequestEntityTooLarge RequestEntityTooLarge 413
 ├── UnsupportedMediaType  UnsupportedMediaType 415
 ├── Invalid               Invalid 422   (details.causes name each bad field)
 ├── TooManyRequests       TooManyRequests 429
 ├── InternalError         InternalError 500
 ├── ServiceUnavailable    ServiceUnavailable 503
 └── Timeout               Timeout 504
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Cause:
    """One reason an object is invalid. ``type`` is upstream's cause type (``FieldValueRequired``,
    ``FieldValueInvalid``, ``FieldValueNotSupported``, ``FieldValueDuplicate``, ``FieldValueTooLong``,
    ``FieldValueForbidden``, ``FieldValueTypeInvalid``)."""

    type: str
    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.type, "message": self.message, "field": self.field}

    def describe(self) -> str:
        """The cause as upstream prints it inside an Invalid message."""
        return f"{self.field}: {self.message}" if self.field else self.message


def required(field: str) -> Cause:
    return Cause("FieldValueRequired", field, "Required value")


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", field, f"Invalid value: {_quote(value)}: {detail}")


def not_supported(field: str, value: Any, allowed: list[str]) -> Cause:
    choices = ", ".join(f'"{a}"' for a in allowed)
    return Cause("FieldValueNotSupported", field, f"Unsupported value: {_quote(value)}: supported values: {choices}")


def forbidden(field: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", field, f"Forbidden: {detail}")


def duplicate(field: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", field, f"Duplicate value: {_quote(value)}")


def too_long(field: str, limit: int) -> Cause:
    return Cause("FieldValueTooLong", field, f"Too long: may not be more than {limit} bytes")


def _quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


class APIError(Exception):
    """An error with an upstream reason and HTTP code; ``details`` is a Status ``details`` dict."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_status(self) -> dict[str, Any]:
        """The ``Status`` body, keys in the order Go's encoder writes the struct's fields (``kind,
        apiVersion, metadata, status, message, reason, details, code``; ``details`` in
        ``name, group, kind, uid, causes, retryAfterSeconds`` order), so bodies compare equal as text."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            status["details"] = ordered_details(self.details)
        status["code"] = self.code
        return status


_DETAILS_ORDER = ("name", "group", "kind", "uid", "causes", "retryAfterSeconds")


def ordered_details(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` with upstream's StatusDetails field order (unknown keys last, as given)."""
    out = {k: details[k] for k in _DETAILS_ORDER if k in details}
    out.update((k, v) for k, v in details.items() if k not in out)
    return out


class BadRequest(APIError):
    code, reason = 400, "BadRequest"


class Unauthorized(APIError):
    code, reason = 401, "Unauthorized"


class Forbidden(APIError):
    code, reason = 403, "Forbidden"


class NotFound(APIError):
    code, reason = 404, "NotFound"


def no_such_resource() -> NotFound:
    """Upstream's 404 for a path that names no resource (or no served subresource): ``details`` is there
    but empty, so clients get empty, non-nil StatusDetails — ``kubectl debug`` tells "ephemeral containers
    are disabled for this cluster" by exactly that (and dereferences ``details`` unchecked)."""
    return NotFound("the server could not find the requested resource", details={})


class MethodNotAllowed(APIError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(APIError):
    code, reason = 406, "NotAcceptable"


class AlreadyExists(APIError):
    code, reason = 409, "AlreadyExists"


class Conflict(APIError):
    code, reason = 409, "Conflict"


class Gone(APIError):
    code, reason = 410, "Gone"


class Expired(APIError):
    code, reason = 410, "Expired"


class RequestEntityTooLarge(APIError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(APIError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(APIError):
    code, reason = 422, "Invalid"

    @property
    def causes(self) -> list[Cause]:
        raw = (self.details or {}).get("causes") or []
        return [Cause(c.get("reason", ""), c.get("field", ""), c.get("message", "")) for c in raw]


class TooManyRequests(APIError):
    code, reason = 429, "TooManyRequests"


class InternalError(APIError):
    code, reason = 500, "InternalError"


class ServiceUnavailable(APIError):
    code, reason = 503, "ServiceUnavailable"


class Timeout(APIError):
    code, reason = 504, "Timeout"


_BY_REASON: dict[str, type[APIError]] = {
    cls.reason: cls
    for cls in (
        BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, NotAcceptable, AlreadyExists,
        Conflict, Gone, Expired, RequestEntityTooLarge, UnsupportedMediaType, Invalid, TooManyRequests,
        InternalError, ServiceUnavailable, Timeout,
    )
}
_BY_CODE: dict[int, type[APIError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    406: NotAcceptable, 409: Conflict, 410: Gone, 413: RequestEntityTooLarge, 415: UnsupportedMediaType,
    422: Invalid, 429: TooManyRequests, 503: ServiceUnavailable, 504: Timeout,
}


def from_status(status: dict[str, Any], http_code: int | None = None) -> APIError:
    """The exception a ``Status`` body stands for: by reason first, then by code, else APIError."""
    reason = status.get("reason") or ""
    code = status.get("code") or http_code or 500
    cls = _BY_REASON.get(reason) or _BY_CODE.get(int(code)) or APIError
    err = cls(str(status.get("message") or reason or f"HTTP {code}"), details=status.get("details"))
    return err


# Constructors with upstream's wording. ``resource`` is the plural (``pods``), ``group`` "" for core.

def _details(name: str, resource: str, group: str) -> dict[str, Any]:
    if group:
        return {"name": name, "group": group, "kind": resource}
    return {"name": name, "kind": resource}


def qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> NotFound:
    return NotFound(f'{qualified(resource, group)} "{name}" not found', details=_details(name, resource, group))


def already_exists(resource: str, name: str, group: str = "") -> AlreadyExists:
    return AlreadyExists(
        f'{qualified(resource, group)} "{name}" already exists', details=_details(name, resource, group)
    )


def conflict(resource: str, name: str, detail: str, group: str = "") -> Conflict:
    return Conflict(
        f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {detail}',
        details=_details(name, resource, group),
    )


def invalid_object(kind: str, name: str, causes: list[Cause], group: str = "") -> Invalid:
    """422 as upstream words it: ``Pod "x" is invalid: [a: ..., b: ...]``."""
    described = [c.describe() for c in causes]
    text = described[0] if len(described) == 1 else "[" + ", ".join(described) + "]"
    details: dict[str, Any] = {"name": name, "kind": kind, "causes": [c.to_dict() for c in causes]}
    if group:
        details = {"name": name, "group": group, "kind": kind, "causes": details["causes"]}
    return Invalid(f'{kind}{"." + group if group else ""} "{name}" is invalid: {text}', details=details)


def too_old_resource_version(requested: int | str, oldest: int | str) -> Expired:
    return Expired(f"too old resource version: {requested} ({oldest})")
