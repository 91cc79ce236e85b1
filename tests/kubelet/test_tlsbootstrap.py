"""Client-certificate rotation of the kubelet: the deadline falls in [70%, 90%] of the lifetime, and a
rotation requests a new ``system:node:<name>`` certificate through the kubelet's own identity (approved
by the csrapproving controller via ``selfnodeclient``, signed by csrsigning), installs it as
``kubelet-client-current.pem`` and reloads the TLS contexts built from that file."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509

from sampan._lib import pki
from sampan.client import Client
from sampan.client.config import RESTConfig
from sampan.kubelet import tlsbootstrap as tb
from sampan.kubelet.tlsbootstrap import (
    CURRENT,
    ClientCertificateRotator,
    current_certificate,
    install_certificate,
    rotation_deadline,
)
from tests.apiserver.authz.conftest import RBAC, SecureServer
from tests.apiserver.authz.conftest import secure_server as secure_server
from tests.controllers.support import fast_options, running_manager


def test_rotation_deadline_is_between_70_and_90_percent() -> None:
    ca = pki.CertificateAuthority.create()
    cert, _ = ca.issue(pki.CertSpec("system:node:n1", validity=datetime.timedelta(hours=10)))
    start, life = cert.not_valid_before_utc, cert.not_valid_after_utc - cert.not_valid_before_utc
    assert rotation_deadline(cert, jitter=lambda: 0.0) == start + life * 0.7
    assert rotation_deadline(cert, jitter=lambda: 1.0) == start + life * 0.9


async def test_rotate_renews_through_a_csr(secure_server: SecureServer, tmp_path: Path) -> None:
    ca = pki.CertificateAuthority.create()
    pki.write_atomic(tmp_path / "ca.crt", ca.pem)
    pki.write_atomic(tmp_path / "ca.key", pki.key_pem(ca.key), private=True)
    cert_dir = tmp_path / "pki"
    first, key = ca.issue(pki.CertSpec("system:node:n1", ("system:nodes",)))
    current = install_certificate(cert_dir, pki.cert_pem(first), key)
    context = RESTConfig(host="https://127.0.0.1:1", ca_data=ca.pem, cert_file=str(current),
                         key_file=str(current)).ssl_context()
    assert context is not None
    options = fast_options(("csrsigning", "csrapproving"), cluster_signing_cert_file=str(tmp_path / "ca.crt"),
                           cluster_signing_key_file=str(tmp_path / "ca.key"))
    kcm = Client(RESTConfig(host=secure_server.url, bearer_token="system:kube-controller-manager", qps=0))
    node = Client(RESTConfig(host=secure_server.url, bearer_token="system:node:n1|system:nodes", qps=0))
    binding: dict[str, Any] = {
        "apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "renew"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole",
                    "name": "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"},
        "subjects": [{"kind": "Group", "apiGroup": RBAC, "name": "system:nodes"}]}
    try:
        async with aiohttp.ClientSession() as session, running_manager(kcm, options):
            admin = secure_server.client(session, "root|system:masters")
            assert (await admin.post(f"/apis/{RBAC}/v1/clusterrolebindings", binding)).status == 201
            rotator = ClientCertificateRotator(node, cert_dir=cert_dir, node_name="n1", poll=0.05, timeout=30)
            await rotator.rotate()
            # the serving certificate: a kubelet-serving CSR that an admin approves
            serving_kind = tb.serving_kind("n1", ["127.0.0.1"])
            placeholder = tb.ensure_serving_placeholder(cert_dir, serving_kind)
            server_ctx = pki.server_ssl_context(placeholder, placeholder)
            assert tb.is_placeholder(cert_dir, serving_kind)
            serving = tb.CertificateRotator(node, cert_dir=cert_dir, node_name="n1", kind=serving_kind, poll=0.05,
                                            timeout=30)

            async def approve_pending() -> None:
                path = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
                while True:
                    for obj in (await admin.get(path)).body["items"]:
                        if obj["spec"]["signerName"] == tb.KUBELET_SERVING_SIGNER and not obj["status"]:
                            obj["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "T"}]}
                            await admin.put(f"{path}/{obj['metadata']['name']}/approval", obj)
                            return
                    await asyncio.sleep(0.05)

            await asyncio.gather(serving.rotate(), approve_pending())
    finally:
        await kcm.close()
        await node.close()
    renewed = current_certificate(cert_dir)
    assert renewed is not None
    assert renewed.serial_number != first.serial_number
    assert renewed.subject.rfc4514_string() == "CN=system:node:n1,O=system:nodes"
    assert ca.signed(renewed)
    assert (cert_dir / CURRENT).is_symlink()
    assert len(list(cert_dir.glob("kubelet-client-2*.pem"))) == 2
    assert rotator.rotations == 1
    assert rotator.contexts_reloaded >= 1
    # the context built from the file now holds the new certificate (cert_store_stats cannot show the leaf;
    # loading it again proves key and certificate match)
    context.load_cert_chain(str(current))
    assert x509.load_pem_x509_certificate((cert_dir / CURRENT).read_bytes()) == renewed
    served = current_certificate(cert_dir, serving_kind)
    assert served is not None
    assert ca.signed(served)
    assert not tb.is_placeholder(cert_dir, serving_kind)
    san = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["n1"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert serving.contexts_reloaded >= 1
    assert server_ctx is not None
