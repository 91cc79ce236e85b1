"""The certificates controllers against a real API server with Node,RBAC, as the controller-manager's
own identity: a bootstrap token's kubelet-client request is auto-approved (SubjectAccessReview on
``certificatesigningrequests/nodeclient``) and signed by the cluster CA; a node's renewal is approved
through ``selfnodeclient``; a kubelet-serving request approved by a human is signed with its SANs; a
request breaking its signer's rules fails; the cleaner's deadlines follow upstream's ages."""

from __future__ import annotations

import base64
import datetime
import time
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from sampan._lib import csr, pki
from sampan.api import humanize
from sampan.client import Client
from sampan.client.config import RESTConfig
from sampan.controllers.certificates.cleaner import deadline
from tests.apiserver.authz.conftest import RBAC, SecureServer, eventually
from tests.apiserver.authz.conftest import secure_server as secure_server
from tests.controllers.support import fast_options, running_manager

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


def _csr(name: str, signer: str, usages: list[str], **names: Any) -> dict[str, Any]:
    request = csr.make_request(pki.new_key(), **names)
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
            "spec": {"request": base64.b64encode(request).decode(), "signerName": signer, "usages": usages}}


def _binding(name: str, role: str, group: str) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "Group", "apiGroup": RBAC, "name": group}]}


async def test_approve_sign_and_fail(secure_server: SecureServer, tmp_path: Path) -> None:
    ca = pki.CertificateAuthority.create()
    pki.write_atomic(tmp_path / "ca.crt", ca.pem)
    pki.write_atomic(tmp_path / "ca.key", pki.key_pem(ca.key), private=True)
    options = fast_options(("csrsigning", "csrapproving", "csrcleaner"),
                           cluster_signing_cert_file=str(tmp_path / "ca.crt"),
                           cluster_signing_key_file=str(tmp_path / "ca.key"), cluster_signing_duration=7200.0)
    kcm = Client(RESTConfig(host=secure_server.url, bearer_token="system:kube-controller-manager", qps=0))
    prefix = "system:certificates.k8s.io:certificatesigningrequests:"
    try:
        async with aiohttp.ClientSession() as session, running_manager(kcm, options):
            admin = secure_server.client(session, "root|system:masters")
            for b in (_binding("bootstrap", "system:node-bootstrapper", "system:bootstrappers"),
                      _binding("autoapprove", f"{prefix}nodeclient", "system:bootstrappers"),
                      _binding("renew", f"{prefix}selfnodeclient", "system:nodes")):
                assert (await admin.post(f"/apis/{RBAC}/v1/clusterrolebindings", b)).status == 201
            token = secure_server.client(session, "system:bootstrap:abcdef|system:bootstrappers")
            node = secure_server.client(session, "system:node:n1|system:nodes")
            client_usages = ["digital signature", "client auth"]

            async def created(c: Any, body: dict[str, Any]) -> bool:
                return bool((await c.post(CSRS, body)).status == 201)

            join = _csr("join", "kubernetes.io/kube-apiserver-client-kubelet", client_usages,
                        common_name="system:node:n1", organizations=["system:nodes"])
            join["spec"]["expirationSeconds"] = 3600
            assert await eventually(lambda: created(token, join))
            renew = _csr("renew", "kubernetes.io/kube-apiserver-client-kubelet", client_usages,
                         common_name="system:node:n1", organizations=["system:nodes"])
            assert (await node.post(CSRS, renew)).status == 201
            stranger = _csr("stranger", "kubernetes.io/kube-apiserver-client-kubelet", client_usages,
                            common_name="system:node:n2", organizations=["system:nodes"])
            assert (await secure_server.client(session, "eve|system:authenticated").post(CSRS, stranger)).status == 403
            serving = _csr("serving", "kubernetes.io/kubelet-serving", ["digital signature", "server auth"],
                           common_name="system:node:n1", organizations=["system:nodes"],
                           dns_names=["n1"], ip_addresses=["100.64.0.7"])
            bad = _csr("bad", "kubernetes.io/kubelet-serving", ["digital signature", "server auth"],
                       common_name="system:node:n1", organizations=["system:nodes"])
            for body in (serving, bad):
                assert (await node.post(CSRS, body)).status == 201

            async def issued(name: str) -> dict[str, Any] | None:
                r = await admin.get(f"{CSRS}/{name}")
                return r.body if (r.body.get("status") or {}).get("certificate") else None

            for name, reason in (("join", "Auto approving kubelet client"), ("renew", "Auto approving self kubelet")):
                obj = await eventually(lambda n=name: issued(n), timeout=20)
                assert obj is not None, name
                approved = obj["status"]["conditions"][0]
                assert approved["type"] == "Approved"
                assert approved["reason"] == "AutoApproved"
                assert approved["message"].startswith(reason)
                cert = x509.load_pem_x509_certificate(base64.b64decode(obj["status"]["certificate"]))
                assert ca.signed(cert)
                assert cert.subject.rfc4514_string() == "CN=system:node:n1,O=system:nodes"
                life = cert.not_valid_after_utc - cert.not_valid_before_utc
                limit = 3600 if name == "join" else 7200
                assert life == datetime.timedelta(seconds=limit) + pki.CLOCK_SKEW
            # a human approves serving requests; the signer checks the SANs
            for name in ("serving", "bad"):
                obj = (await admin.get(f"{CSRS}/{name}")).body
                assert not obj.get("status", {}).get("conditions"), "kubelet-serving is never auto-approved"
                obj["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Test"}]}
                assert (await admin.put(f"{CSRS}/{name}/approval", obj)).status == 200
            obj = await eventually(lambda: issued("serving"), timeout=20)
            assert obj is not None
            cert = x509.load_pem_x509_certificate(base64.b64decode(obj["status"]["certificate"]))
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            assert san.get_values_for_type(x509.DNSName) == ["n1"]
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]

            async def failed() -> dict[str, Any] | None:
                body = (await admin.get(f"{CSRS}/bad")).body
                return next((c for c in body["status"].get("conditions", []) if c["type"] == "Failed"), None)

            failure = await eventually(failed, timeout=20)
            assert failure is not None
            assert (failure["reason"], failure["message"]) == ("SignerValidationFailure",
                                                               "DNS or IP subjectAltName is required")
    finally:
        await kcm.close()


def test_cleaner_deadlines() -> None:
    created = "2026-01-01T00:00:00Z"
    base = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC).timestamp()
    pending: dict[str, Any] = {"metadata": {"creationTimestamp": created}, "status": {}}
    assert deadline(pending) == base + 24 * 3600
    approved = {**pending, "status": {"conditions": [{"type": "Approved", "status": "True",
                                                      "lastUpdateTime": "2026-01-01T02:00:00Z"}]}}
    assert deadline(approved) == base + 3 * 3600
    denied = {**pending, "status": {"conditions": [{"type": "Denied", "status": "True",
                                                    "lastUpdateTime": "2026-01-01T05:00:00Z"}]}}
    assert deadline(denied) == base + 6 * 3600
    ca = pki.CertificateAuthority.create()
    cert, _ = ca.issue(pki.CertSpec("x", validity=datetime.timedelta(minutes=30)))
    just_now = humanize.format_rfc3339(time.time())
    issued = {"metadata": {"creationTimestamp": just_now},
              "status": {"conditions": [{"type": "Approved", "status": "True", "lastUpdateTime": just_now}],
                         "certificate": base64.b64encode(pki.cert_pem(cert)).decode()}}
    assert deadline(issued) == cert.not_valid_after_utc.timestamp()
