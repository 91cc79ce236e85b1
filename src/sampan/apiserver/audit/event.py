"""One request's audit record (upstream's ``AuditContext``) and the ``audit.k8s.io/v1`` Events made from it.

An :class:`AuditContext` lives on the request from the moment the audit filter sees it until its last
stage is emitted. Its states::

    new ──authenticated()──▶ received ──[long-running: response headers sent]──▶ started ──▶ complete
     └──────────(authentication failed: 401)──────────────────────────────────────────────▶ complete

Every transition may emit one Event (unless the policy's level is ``None`` or the stage is omitted).
Annotations (``authorization.k8s.io/decision``, admission plugins' and webhooks') are added while the
request runs and appear on every Event emitted after them.
"""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sampan.apiserver.audit.policy import (
    COMPLETE,
    METADATA,
    NOT_RECORDED,
    REQUEST,
    REQUEST_RESPONSE,
    Decision,
    at_least,
)
from sampan.apiserver.authz.attributes import RequestInfo
from sampan.apiserver.userinfo import UserInfo

AUDIT_ID_HEADER = "Audit-Id"
Sink = Callable[[dict[str, Any]], None]
"""Where finished events go (a backend's non-blocking ``process``)."""


def micro_time(at: float) -> str:
    """``metav1.MicroTime``'s wire form: RFC 3339 with microseconds, UTC."""
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_audit_id(requested: str | None) -> str:
    """The client's ``Audit-ID`` when it sent a sensible one (as upstream), else a fresh UUID."""
    if requested and len(requested) <= 128 and requested.isprintable():
        return requested
    return str(uuid.uuid4())


def _user_wire(user: UserInfo) -> dict[str, Any]:
    return user.to_wire() if user.username else {}


def _object_ref(info: RequestInfo) -> dict[str, str] | None:
    if not info.is_resource_request or not info.resource:
        return None
    ref = {"resource": info.resource, "namespace": info.namespace, "name": info.name,
           "apiGroup": info.api_group, "apiVersion": info.api_version, "subresource": info.subresource}
    return {k: v for k, v in ref.items() if v}


def _without_managed_fields(obj: Any) -> Any:
    if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict) and "managedFields" in obj["metadata"]:
        obj = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"}}
    if isinstance(obj, dict) and isinstance(obj.get("items"), list):
        obj = {**obj, "items": [_without_managed_fields(i) for i in obj["items"]]}
    return obj


def response_status(code: int, body: Any) -> dict[str, Any]:
    """``responseStatus``: the code, plus status/reason/message of a failure's ``Status``."""
    status: dict[str, Any] = {"metadata": {}, "code": code}
    if code >= 300 and isinstance(body, Mapping) and body.get("kind") == "Status":
        for key in ("status", "message", "reason", "details"):
            if body.get(key):
                status[key] = body[key]
    return status


@dataclass
class AuditContext:
    audit_id: str
    request_uri: str
    source_ips: list[str]
    user_agent: str
    received_at: float = field(default_factory=time.time)
    decision: Decision = NOT_RECORDED
    user: UserInfo = field(default_factory=lambda: UserInfo(""))
    info: RequestInfo | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    impersonated: UserInfo | None = None
    object_ref: dict[str, str] | None = None
    emitted: set[str] = field(default_factory=set)
    started_code: int | None = None
    """The status sent once the response headers went out (a cancelled stream still completes with it)."""

    def annotate(self, key: str, value: str) -> None:
        """Add an annotation (the first value of a key wins, as upstream)."""
        self.annotations.setdefault(key, value)

    def fill_object_ref(self, obj: Any) -> None:
        """Name and namespace of a create's object (the URL has neither name, nor sometimes namespace)."""
        if self.object_ref is None or not isinstance(obj, Mapping) or not isinstance(obj.get("metadata"), Mapping):
            return
        md = obj["metadata"]
        for key in ("name", "namespace"):
            if not self.object_ref.get(key) and md.get(key):
                self.object_ref[key] = str(md[key])

    def event(self, stage: str, *, code: int | None = None, response_body: Any = None,
              request_body: Any = None) -> dict[str, Any] | None:
        """The Event of ``stage``, or None when the policy leaves it out (or it was emitted already)."""
        d = self.decision
        if not d.recorded or stage in d.omit_stages or stage in self.emitted:
            return None
        self.emitted.add(stage)
        info = self.info
        ev: dict[str, Any] = {
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": d.level, "auditID": self.audit_id,
            "stage": stage, "requestURI": self.request_uri, "verb": info.verb if info else "",
            "user": _user_wire(self.user),
        }
        if self.impersonated is not None:
            ev["impersonatedUser"] = _user_wire(self.impersonated)
        ev["sourceIPs"] = self.source_ips
        if self.user_agent:
            ev["userAgent"] = self.user_agent
        if self.object_ref:
            ev["objectRef"] = dict(self.object_ref)
        if code is not None:
            ev["responseStatus"] = response_status(code, response_body)
        if at_least(d.level, REQUEST) and request_body is not None:
            ev["requestObject"] = _without_managed_fields(request_body) if d.omit_managed_fields else request_body
        if d.level == REQUEST_RESPONSE and stage == COMPLETE and response_body is not None:
            ev["responseObject"] = _without_managed_fields(response_body) if d.omit_managed_fields else response_body
        ev["requestReceivedTimestamp"] = micro_time(self.received_at)
        ev["stageTimestamp"] = micro_time(time.time())
        if self.annotations and at_least(d.level, METADATA):
            ev["annotations"] = dict(self.annotations)
        return ev

    def set_request(self, user: UserInfo, info: RequestInfo, decision: Decision) -> None:
        self.user, self.info, self.decision = user, info, decision
        self.object_ref = _object_ref(info)
