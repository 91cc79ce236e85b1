"""certificates.k8s.io/v1 CertificateSigningRequests: cluster-scoped requests for a certificate from a
signer, as upstream's ``pkg/registry/certificates/certificates`` strategies.

Three write paths, each keeping what it may not touch (validation in :mod:`.csr_validation`):

* the object (create/update/patch): a create records the requester (``spec.username``, ``uid``,
  ``groups``, ``extra`` from the authenticated user, whatever the body said) and starts with an empty
  status; an update keeps the stored ``spec`` and ``status``;
* ``/status`` (signers): ``spec`` and the Approved/Denied conditions come from the stored object;
  ``status.certificate`` may be set once;
* ``/approval`` (approvers): only ``status.conditions`` changes.

Every write stamps ``lastUpdateTime``/``lastTransitionTime`` of conditions that lack them.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from sampan.api import humanize
from sampan.api.errors import Cause
from sampan.api.jsoncopy import json_copy
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry import csr_validation as v
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.strategy import Object, TableColumn
from sampan.apiserver.userinfo import UserInfo


class CertificateSigningRequestStrategy(BaseStrategy):
    info = ResourceInfo(
        group="certificates.k8s.io", version="v1", resource="certificatesigningrequests",
        kind="CertificateSigningRequest", singular="certificatesigningrequest", namespaced=False,
        short_names=("csr",), subresources=("approval", "status"),
    )
    has_status = True
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        AGE_COLUMN,
        TableColumn("SignerName", description="signerName indicates the requested signer, and is a qualified name."),
        TableColumn("Requestor", description="username contains the name of the user that created the "
                    "CertificateSigningRequest. Populated by the API server on creation and immutable."),
        TableColumn("RequestedDuration", description="expirationSeconds is the requested duration of validity of "
                    "the issued certificate."),
        TableColumn("Condition", description="conditions applied to the request. Known conditions are "
                    "\"Approved\", \"Denied\", and \"Failed\"."),
    )

    def name_rule(self, name: str) -> list[str]:
        return []  # upstream: "we don't care what you call your certificate requests"

    # ---- preparation ---------------------------------------------------------------------------

    def stamp_requester(self, obj: Object, user: UserInfo) -> None:
        """Upstream's PrepareForCreate: the requester is who sent the create, never what the body says."""
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        for key in ("username", "uid", "groups", "extra"):
            spec.pop(key, None)
        spec["username"] = user.username
        if user.uid:
            spec["uid"] = user.uid
        if user.groups:
            spec["groups"] = list(user.groups)
        if user.extra:
            spec["extra"] = {k: list(vals) for k, vals in user.extra.items()}

    def prepare_for_create(self, obj: Object) -> None:
        obj["status"] = {}  # no pre-approved requests
        self.apply_defaults(obj)

    def prepare_for_update(self, obj: Object, old: Object) -> None:
        obj["spec"] = json_copy(old.get("spec"))
        _keep_status(obj, old)

    def prepare_for_status_update(self, obj: Object, old: Object) -> None:
        super().prepare_for_status_update(obj, old)
        status = obj.get("status")
        if not isinstance(status, dict):
            status = obj["status"] = {}
        kept = [c for c in as_list(status.get("conditions"))
                if as_dict(c).get("type") not in (v.APPROVED, v.DENIED)]
        kept += v.find_conditions(old, v.APPROVED) + v.find_conditions(old, v.DENIED)
        status["conditions"] = kept
        _stamp_conditions(obj, old)
        _drop_empty(status)

    def prepare_for_approval_update(self, obj: Object, old: Object) -> None:
        new_conditions = as_dict(obj.get("status")).get("conditions")
        super().prepare_for_status_update(obj, old)
        status = obj["status"] = json_copy(as_dict(old.get("status")))
        if new_conditions is not None:
            status["conditions"] = new_conditions
        else:
            status.pop("conditions", None)
        _stamp_conditions(obj, old)
        _drop_empty(status)

    # ---- validation ----------------------------------------------------------------------------

    def validate_spec(self, obj: Object) -> list[Cause]:
        return v.validate_csr(obj, v.Options())

    def validate_update(self, obj: Object, old: Object) -> list[Cause]:
        return self.validate_subresource_update(None, obj, old)

    def validate_subresource_update(self, subresource: str | None, obj: Object, old: Object) -> list[Cause]:
        """The full check of a write through the object (None), ``status`` or ``approval``."""
        from sampan.api import validation

        causes = validation.validate_object_meta(obj, namespaced=False, name_rule=self.name_rule)
        causes += validation.validate_object_meta_update(obj, old)
        opts = v.Options(allow_setting_approval=subresource == "approval",
                         allow_setting_certificate=subresource == "status")
        return causes + v.validate_update(obj, old, opts)

    # ---- table ---------------------------------------------------------------------------------

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        spec = as_dict(obj.get("spec"))
        seconds = spec.get("expirationSeconds")
        duration = humanize.age(seconds) if isinstance(seconds, int) else "<none>"
        return [age_cell(obj, now), str(spec.get("signerName") or ""), str(spec.get("username") or ""),
                duration, condition_text(obj)]


def condition_text(obj: Object) -> str:
    """The Condition column: Denied, Approved or Pending, then ``,Failed`` and ``,Issued`` as they apply."""
    types = {as_dict(c).get("type") for c in as_list(as_dict(obj.get("status")).get("conditions"))}
    text = "Denied" if v.DENIED in types else "Approved" if v.APPROVED in types else "Pending"
    if v.FAILED in types:
        text += ",Failed"
    if as_dict(obj.get("status")).get("certificate"):
        text += ",Issued"
    return text


def _keep_status(obj: Object, old: Object) -> None:
    if "status" in old:
        obj["status"] = json_copy(old["status"])
    else:
        obj.pop("status", None)


def _drop_empty(status: dict[str, Any]) -> None:
    if not status.get("conditions"):
        status.pop("conditions", None)


def _stamp_conditions(obj: Object, old: Object) -> None:
    """Upstream's populateConditionTimestamps: a missing lastUpdateTime is now; a missing
    lastTransitionTime is the stored condition's when the status did not change, else now."""
    now = humanize.format_rfc3339(time.time())
    previous = {as_dict(c).get("type"): as_dict(c) for c in as_list(as_dict(old.get("status")).get("conditions"))}
    for c in as_list(as_dict(obj.get("status")).get("conditions")):
        if not isinstance(c, dict):
            continue
        if not c.get("lastUpdateTime"):
            c["lastUpdateTime"] = now
        if not c.get("lastTransitionTime"):
            before = previous.get(c.get("type"))
            same = before is not None and before.get("status") == c.get("status") and before.get("lastTransitionTime")
            c["lastTransitionTime"] = before["lastTransitionTime"] if same and before else now
