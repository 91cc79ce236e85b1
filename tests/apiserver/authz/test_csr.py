"""certificates.k8s.io/v1 CertificateSigningRequests on a server with Node,RBAC: the requester is who
created it, upstream's validation, the ``approve``/``sign`` verbs on ``signers`` checked by the
CertificateApproval/CertificateSigning admission plugins, and the immutability of conditions and the
issued certificate."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from sampan._lib import csr, pki
from tests.apiserver.authz.conftest import RBAC, SecureServer, eventually

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"


def _request(cn: str = "system:node:n1", orgs: tuple[str, ...] = ("system:nodes",)) -> str:
    return base64.b64encode(csr.make_request(pki.new_key(), common_name=cn, organizations=orgs)).decode()


def _csr(name: str, **spec: Any) -> dict[str, Any]:
    body = {"request": _request(), "signerName": KUBELET_CLIENT, "usages": ["digital signature", "client auth"],
            "username": "forged", "groups": ["system:masters"]}
    body.update(spec)
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name}, "spec": body}


def _binding(name: str, role: str, *, group: str = "", user: str = "") -> dict[str, Any]:
    subject = {"kind": "Group", "apiGroup": RBAC, "name": group} if group else {"kind": "User", "apiGroup": RBAC,
                                                                              "name": user}
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role}, "subjects": [subject]}


def _causes(body: dict[str, Any]) -> list[str]:
    return [f"{c['field']}: {c['message']}" for c in body["details"]["causes"]]


async def test_csr_validation_requester_approval_and_signing(secure_server: SecureServer) -> None:
    async with aiohttp.ClientSession() as session:
        admin = secure_server.client(session, "root|system:masters")
        bob = secure_server.client(session, "bob|system:bootstrappers")
        signer = secure_server.client(session, "signer")
        role = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": "csr-status-writer"},
                "rules": [{"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests/status"],
                           "verbs": ["update"]}]}
        assert (await admin.post(f"/apis/{RBAC}/v1/clusterroles", role)).status == 201
        for b in (_binding("bootstrappers", "system:node-bootstrapper", group="system:bootstrappers"),
                  _binding("signer", "csr-status-writer", user="signer")):
            assert (await admin.post(f"/apis/{RBAC}/v1/clusterrolebindings", b)).status == 201

        async def bob_may_create() -> bool:
            r = await bob.post(CSRS, _csr("probe"))
            return r.status == 201

        assert await eventually(bob_may_create)
        # validation, as upstream
        bad = await bob.post(CSRS, _csr("bad", expirationSeconds=599, signerName="", usages=[],
                                        request=base64.b64encode(b"nope").decode()))
        assert bad.status == 422
        assert set(_causes(bad.body)) == {
            "spec.request: Invalid value: \"<request data>\": PEM block type must be CERTIFICATE REQUEST",
            "spec.usages: Required value: usages must be provided",
            "spec.signerName: Required value: signerName must be provided",
            "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)",
        }
        assert (await bob.post(CSRS, _csr("u", usages=["client auth", "flying"]))).status == 422
        # the requester is bob, whatever the body said; no pre-approved requests
        created = await bob.post(CSRS, _csr("n1", status={"conditions": [{"type": "Approved", "status": "True"}]}))
        assert created.status == 201, created.body
        spec = created.body["spec"]
        assert spec["username"] == "bob"
        assert spec["groups"] == ["system:bootstrappers", "system:authenticated"]
        assert not created.body.get("status", {}).get("conditions")
        obj = created.body
        approved = {**obj, "status": {"conditions": [{"type": "Approved", "status": "True", "reason": "Test"}]}}
        # approving needs `approve` on the signer
        r = await bob.put(f"{CSRS}/n1/approval", approved)
        assert r.status == 403
        r = await signer.put(f"{CSRS}/n1/approval", approved)
        assert r.status == 403
        assert "cannot update resource \"certificatesigningrequests/approval\"" in r.body["message"]
        bind = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": "approve-only"},
                "rules": [{"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests/approval"],
                           "verbs": ["update"]}]}
        assert (await admin.post(f"/apis/{RBAC}/v1/clusterroles", bind)).status == 201
        assert (await admin.post(f"/apis/{RBAC}/v1/clusterrolebindings",
                                 _binding("approve-only", "approve-only", group="system:bootstrappers"))).status == 201

        async def admission_refuses() -> Any:
            r = await bob.put(f"{CSRS}/n1/approval", approved)
            return r if r.status == 403 and "not permitted" in r.body["message"] else None

        refused = await eventually(admission_refuses)
        assert refused is not None
        assert refused.body["message"] == ('certificatesigningrequests.certificates.k8s.io "n1" is forbidden: user not '
                                           f'permitted to approve requests with signerName "{KUBELET_CLIENT}"')
        r = await admin.put(f"{CSRS}/n1/approval", approved)
        assert r.status == 200, r.body
        condition = r.body["status"]["conditions"][0]
        assert condition["type"] == "Approved"
        assert condition["lastUpdateTime"]
        assert condition["lastTransitionTime"]
        assert r.body["spec"]["username"] == "bob"
        # Approved and Denied exclude each other; an Approved condition is never removed
        both = {**r.body, "status": {"conditions": [condition, {"type": "Denied", "status": "True"}]}}
        r2 = await admin.put(f"{CSRS}/n1/approval", both)
        assert r2.status == 422
        assert "status.conditions[1].type: Invalid value: \"Denied\": Approved and Denied conditions are mutually " \
               "exclusive" in _causes(r2.body)
        r2 = await admin.put(f"{CSRS}/n1/approval", {**r.body, "status": {}})
        assert r2.status == 422
        assert "updates may not remove a condition of type \"Approved\"" in r2.body["message"]
        # the status path keeps the approval; signing needs `sign`
        ca = pki.CertificateAuthority.create()
        import datetime

        cert = csr.sign(ca, csr.request_from_b64(obj["spec"]["request"]), usages=["client auth"],
                        lifetime=datetime.timedelta(hours=1))
        issued_b64 = base64.b64encode(pki.cert_pem(cert)).decode()
        issued = {**r.body, "status": {"certificate": issued_b64}}
        r3 = await signer.put(f"{CSRS}/n1/status", issued)
        assert r3.status == 403
        assert r3.body["message"].endswith(
            f'user not permitted to sign requests with signerName "{KUBELET_CLIENT}"')
        r3 = await admin.put(f"{CSRS}/n1/status", issued)
        assert r3.status == 200, r3.body
        assert r3.body["status"]["certificate"] == issued_b64
        assert [c["type"] for c in r3.body["status"]["conditions"]] == ["Approved"]
        other = base64.b64encode(pki.cert_pem(ca.cert)).decode()
        r4 = await admin.put(f"{CSRS}/n1/status", {**r3.body, "status": {**r3.body["status"], "certificate": other}})
        assert r4.status == 422
        assert "updates may not modify existing certificate content" in r4.body["message"]
        # the object path keeps spec and status
        r5 = await admin.put(f"{CSRS}/n1", {**r3.body, "spec": {**r3.body["spec"], "username": "eve"},
                                              "status": {}})
        assert r5.status == 200
        assert r5.body["spec"]["username"] == "bob"
        assert r5.body["status"]["certificate"] == issued_b64
        # CertificateSubjectRestriction: no system:masters through the kube-apiserver-client signer
        masters = _csr("masters", signerName="kubernetes.io/kube-apiserver-client",
                       request=_request("mallory", ("system:masters",)))
        r6 = await admin.post(CSRS, masters)
        assert r6.status == 403
        assert "with system:masters group is not allowed" in r6.body["message"]
