"""The CertificateSigningRequest rules as pure functions: signer names, conditions, the three write
paths' update rules and the Condition column."""

from __future__ import annotations

import base64
from typing import Any

from sampan._lib import csr, pki
from sampan.apiserver.registry import csr_validation as v
from sampan.apiserver.registry.certificatesigningrequests import CertificateSigningRequestStrategy, condition_text


def _obj(**status: Any) -> dict[str, Any]:
    request = base64.b64encode(csr.make_request(pki.new_key(), common_name="x")).decode()
    return {"metadata": {"name": "r"}, "spec": {"request": request, "signerName": "example.com/s",
                                                "usages": ["client auth"]}, "status": status}


def _messages(causes: list[Any]) -> list[str]:
    return [c.describe() for c in causes]


def test_signer_names() -> None:
    assert v.signer_name("s", "example.com/my-signer") == []
    assert _messages(v.signer_name("s", "nodomain")) == [
        "s: Invalid value: \"nodomain\": must be a fully qualified domain and path of the form "
        "'example.com/signer-name'"]
    assert _messages(v.signer_name("s", "local/x")) == [
        "s: Invalid value: \"local\": should be a domain with at least two segments separated by dots"]
    assert _messages(v.signer_name("s", "")) == ["s: Required value: signerName must be provided"]


def test_conditions_and_update_paths() -> None:
    old = _obj()
    approved = _obj(conditions=[{"type": "Approved", "status": "True"}])
    approved["spec"] = old["spec"]
    # only /approval may add Approved
    assert _messages(v.validate_update(approved, old, v.Options())) == [
        'status.conditions: Forbidden: updates may not add a condition of type "Approved"']
    assert v.validate_update(approved, old, v.Options(allow_setting_approval=True)) == []
    false_denied = _obj(conditions=[{"type": "Denied", "status": "False"}])
    assert _messages(v.conditions(false_denied, v.Options())) == [
        'status.conditions[0].status: Unsupported value: "False": supported values: "True"']
    duplicate = _obj(conditions=[{"type": "Ready", "status": "True"}, {"type": "Ready", "status": "False"}])
    assert _messages(v.conditions(duplicate, v.Options())) == ['status.conditions[1].type: Duplicate value: "Ready"']
    # a certificate only through /status
    cert = base64.b64encode(pki.CertificateAuthority.create().pem).decode()
    issued = {**approved, "status": {**approved["status"], "certificate": cert}}
    assert _messages(v.validate_update(issued, approved, v.Options())) == [
        "status.certificate: Forbidden: updates may not set certificate content"]
    assert v.validate_update(issued, approved, v.Options(allow_setting_certificate=True)) == []
    junk = {**approved, "status": {**approved["status"], "certificate": base64.b64encode(b"junk").decode()}}
    assert _messages(v.validate_csr(junk, v.Options())) == [
        'status.certificate: Invalid value: "<certificate data>": must contain at least one CERTIFICATE PEM block']


def test_status_path_keeps_the_verdict_and_approval_path_keeps_the_certificate() -> None:
    strategy = CertificateSigningRequestStrategy()
    old = _obj(conditions=[{"type": "Approved", "status": "True", "lastUpdateTime": "2026-01-01T00:00:00Z",
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}], certificate="Y2VydA==")
    new = {**old, "spec": {**old["spec"], "username": "eve"},
           "status": {"conditions": [{"type": "Failed", "status": "True"}], "certificate": "Y2VydA=="}}
    strategy.prepare_for_status_update(new, old)
    assert new["spec"] == old["spec"]
    assert [c["type"] for c in new["status"]["conditions"]] == ["Failed", "Approved"]
    assert new["status"]["conditions"][0]["lastUpdateTime"]
    via_approval = {**old, "status": {"conditions": [], "certificate": "b3RoZXI="}}
    strategy.prepare_for_approval_update(via_approval, old)
    assert via_approval["status"] == {"certificate": "Y2VydA=="}
    assert condition_text(old) == "Approved,Issued"
    assert condition_text(_obj(conditions=[{"type": "Denied", "status": "True"}])) == "Denied"
    assert condition_text(_obj()) == "Pending"
