"""AdmissionReview v1: the request a webhook gets and what its response may say, as upstream's
``webhook/request`` and ``ToStatusErr``.

* :func:`build_request` — ``admission.k8s.io/v1`` ``AdmissionReview`` with a fresh ``uid``, the
  kind/resource in the version the webhook matched, ``requestKind``/``requestResource`` in the
  request's own, name, namespace, operation, userInfo, object/oldObject, dryRun and the options;
* :func:`parse_response` — checks ``apiVersion``/``kind``, the ``response`` and its ``uid``; raises
  :class:`~.client.CallError` (``received invalid webhook response: …``, subject to failurePolicy);
* :func:`denied` — upstream's ``admission webhook "x" denied the request: <message>`` with the code the
  response's status carries (at least 400; 400 when absent) and its reason.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from sampan.api import errors
from sampan.apiserver.admission.interface import Attributes
from sampan.apiserver.admission.webhooks.client import CallError

OPTIONS_KIND = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}


def build_request(attrs: Attributes, *, version: str, obj: dict[str, Any] | None,
                  old: dict[str, Any] | None) -> dict[str, Any]:
    """The review sent to a webhook matched in ``version`` (``obj``/``old`` already in that version)."""
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": attrs.group, "version": version, "kind": attrs.kind},
        "resource": {"group": attrs.group, "version": version, "resource": attrs.resource},
        "requestKind": {"group": attrs.group, "version": attrs.version, "kind": attrs.kind},
        "requestResource": {"group": attrs.group, "version": attrs.version, "resource": attrs.resource},
        "name": attrs.name,
        "operation": attrs.operation,
        "userInfo": attrs.user.to_wire(),
        "object": obj,
        "oldObject": old,
        "dryRun": attrs.dry_run,
    }
    if attrs.subresource:
        request["subResource"] = attrs.subresource
        request["requestSubResource"] = attrs.subresource
    if attrs.namespace:
        request["namespace"] = attrs.namespace
    kind = OPTIONS_KIND.get(attrs.operation)
    if kind is not None:
        options = dict(attrs.options or {})
        options.update({"kind": kind, "apiVersion": "meta.k8s.io/v1"})
        request["options"] = options
    return {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": request}


def parse_response(review: dict[str, Any], uid: str) -> dict[str, Any]:
    """The ``response`` of a review answer (checked), or CallError."""
    if review.get("apiVersion") not in ("admission.k8s.io/v1", "admission.k8s.io/v1beta1") or \
            review.get("kind") != "AdmissionReview":
        raise CallError(f"received invalid webhook response: expected webhook response of "
                        f"admission.k8s.io/v1, Kind=AdmissionReview, got {review.get('apiVersion')}, "
                        f"Kind={review.get('kind')}")
    response = review.get("response")
    if not isinstance(response, dict):
        raise CallError("received invalid webhook response: webhook response was absent")
    if response.get("uid") != uid:
        raise CallError(f'received invalid webhook response: expected response.uid="{uid}", '
                        f'got "{response.get("uid")}"')
    return response


@functools.cache
def _error_class(code: int, reason: str) -> type[errors.APIError]:
    return type("WebhookDenied", (errors.APIError,), {"code": code, "reason": reason})


def denied(name: str, status: Any) -> errors.APIError:
    """Upstream ``ToStatusErr`` for a webhook's refusal."""
    status = status if isinstance(status, dict) else {}
    code = status.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) and code >= 400 else 400
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    prefix = f'admission webhook "{name}" denied the request'
    if message:
        text = f"{prefix}: {message}"
    elif reason:
        text = f"{prefix}: {reason}"
    else:
        text = f"{prefix} without explanation"
    details = status.get("details") if isinstance(status.get("details"), dict) else None
    return _error_class(code, reason)(text, details=details)
