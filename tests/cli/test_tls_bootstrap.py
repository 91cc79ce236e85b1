"""Joining a TLS cluster with only a bootstrap token, as ``kubeadm join``: ``sampan token create`` makes the
token (and kubeadm's bindings), a new ``sampan kubelet --bootstrap-kubeconfig`` requests its
``system:node:<name>`` certificate through a CSR that the controller-manager auto-approves and signs with
the cluster CA, writes its kubeconfig and registers a Ready Node. The real kubectl lists the CSRs with
upstream's columns and approves and denies requests (``kubectl certificate approve|deny``).

Simulated nodes: nothing is programmed in the kernel, so no network flock.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from sampan._lib import csr, pki
from tests.support.apiserver import free_port

pytestmark = pytest.mark.slow


def sampan(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sampan.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def kubectl(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=60, check=False,
                          input=stdin)


def wait_for(what: str, check: object, *, timeout: float = 90.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()  # type: ignore[operator]
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    data, port = tmp_path / "cluster", free_port()
    env = {**os.environ, "KUBECONFIG": str(data / "kubeconfig")}
    up = sampan("up", "--detach", "--runtime", "simulated", "--data-dir", str(data), "--port", str(port),
                "--no-merge-kubeconfig", env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    yield data, env
    sampan("down", "--data-dir", str(data), env=env)


def _manual_csr(name: str, user: str) -> str:
    request = csr.make_request(pki.new_key(), common_name=user, organizations=["dev"])
    return yaml.safe_dump({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                           "metadata": {"name": name},
                           "spec": {"request": base64.b64encode(request).decode(), "expirationSeconds": 86400,
                                    "signerName": "kubernetes.io/kube-apiserver-client",
                                    "usages": ["client auth"]}})


def test_kubelet_joins_with_a_bootstrap_token(cluster: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    data, env = cluster
    boot = tmp_path / "bootstrap.conf"
    made = sampan("token", "create", "--kubeconfig", str(data / "kubeconfig"), "--bootstrap-kubeconfig", str(boot),
                  env=env)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    token_id = token.split(".")[0]
    assert len(token) == 23 and yaml.safe_load(boot.read_text())["users"][0]["user"]["token"] == token
    secret = json.loads(kubectl("get", "secret", "-n", "kube-system", f"bootstrap-token-{token_id}", "-o", "json",
                                env=env).stdout)
    assert secret["type"] == "bootstrap.kubernetes.io/token"

    joined = tmp_path / "joiner.conf"
    cert_dir = tmp_path / "joiner-pki"
    kubelet = subprocess.Popen(
        [sys.executable, "-m", "sampan.cli.main", "kubelet", "--bootstrap-kubeconfig", str(boot),
         "--kubeconfig", str(joined), "--cert-dir", str(cert_dir), "--rotate-certificates",
         "--runtime", "simulated", "--node-name", "joiner", "--port", "0", "--root-dir", str(tmp_path / "joiner")],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "joiner.log", "wb"))  # noqa: SIM115
    try:
        def ready() -> bool:
            r = kubectl("get", "node", "joiner", "-o", "json", env=env)
            if r.returncode != 0:
                return False
            conditions = json.loads(r.stdout)["status"].get("conditions", [])
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        try:
            wait_for("node joiner Ready", ready)
        except AssertionError:
            raise AssertionError((tmp_path / "joiner.log").read_text()[-3000:]) from None
        # its identity: a certificate from the cluster CA, written where upstream's kubelet writes it
        cert = x509.load_pem_x509_certificate((cert_dir / "kubelet-client-current.pem").read_bytes())
        assert cert.subject.rfc4514_string() == "CN=system:node:joiner,O=system:nodes"
        ca = pki.CertificateAuthority(pki.load_cert(data / "pki" / "ca.crt"), pki.load_key(data / "pki" / "ca.key"))
        assert ca.signed(cert)
        user = yaml.safe_load(joined.read_text())["users"][0]["user"]
        assert user["client-certificate"] == str(cert_dir / "kubelet-client-current.pem")
        # kubectl get csr: upstream's columns, the bootstrap token as requestor
        table = kubectl("get", "csr", env=env)
        assert table.returncode == 0, table.stderr
        header, *rows = table.stdout.splitlines()
        assert header.split() == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"]
        row = next(r.split() for r in rows if f"system:bootstrap:{token_id}" in r)
        assert row[2:] == ["kubernetes.io/kube-apiserver-client-kubelet", f"system:bootstrap:{token_id}", "<none>",
                           "Approved,Issued"]
    finally:
        kubelet.terminate()
        kubelet.wait(timeout=30)

    # a human's requests: approve one, deny another, with the real kubectl
    for name in ("jane", "joe"):
        created = kubectl("create", "-f", "-", env=env, stdin=_manual_csr(name, name))
        assert created.returncode == 0, created.stderr
    approve = kubectl("certificate", "approve", "jane", env=env)
    assert approve.returncode == 0 and "approved" in approve.stdout, approve.stderr
    deny = kubectl("certificate", "deny", "joe", env=env)
    assert deny.returncode == 0 and "denied" in deny.stdout, deny.stderr

    def issued() -> bool:
        return "Approved,Issued" in kubectl("get", "csr", "jane", env=env).stdout

    wait_for("jane's certificate", issued, timeout=60)
    row = kubectl("get", "csr", "joe", "--no-headers", env=env).stdout.split()
    assert row[3:] == ["kubernetes-admin", "24h", "Denied"]
    jane = json.loads(kubectl("get", "csr", "jane", "-o", "json", env=env).stdout)
    cert = x509.load_pem_x509_certificate(base64.b64decode(jane["status"]["certificate"]))
    assert cert.subject.rfc4514_string() == "CN=jane,O=dev"
    # the approval is final: a second verdict is refused
    again = kubectl("certificate", "deny", "jane", env=env)
    assert again.returncode != 0
