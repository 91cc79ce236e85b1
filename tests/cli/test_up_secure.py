"""``sampan up`` secured end to end: the cluster CA and identities, HTTPS everywhere, kubectl and the Python
client with the admin kubeconfig, logs/exec through the kubelet's TLS server; ``--insecure`` as before.

Simulated nodes (the control plane still runs as static pods on the process runtime, host network): such
a cluster programs nothing in the kernel, so it needs no network flock.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.support.apiserver import free_port

pytestmark = pytest.mark.slow


def sampan(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sampan.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def kubectl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, int, dict[str, str]]]:
    data, port = tmp_path / "cluster", free_port()
    env = {**os.environ, "KUBECONFIG": str(data / "kubeconfig")}
    yield data, port, env
    sampan("down", "--data-dir", str(data), env=env)


def subject(path: Path) -> tuple[str, list[str]]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    cn = str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    return cn, [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def test_sampan_up_is_tls_and_authenticated(cluster: tuple[Path, int, dict[str, str]]) -> None:
    data, port, env = cluster
    up = sampan("up", "--detach", "--runtime", "simulated", "--data-dir", str(data), "--port", str(port),
                "--no-merge-kubeconfig", env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    server = f"https://127.0.0.1:{port}"
    assert server in up.stdout

    # the PKI, kubeadm's way
    pki = data / "pki"
    assert subject(pki / "ca.crt") == ("kubernetes", [])
    assert subject(pki / "admin.crt") == ("kubernetes-admin", ["kubeadm:cluster-admins"])
    assert subject(pki / "scheduler.crt") == ("system:kube-scheduler", [])
    assert subject(pki / "controller-manager.crt") == ("system:kube-controller-manager", [])
    assert subject(pki / "proxy.crt") == ("system:kube-proxy", [])
    node = json.loads(kubectl("get", "nodes", "-o", "json", env=env).stdout)["items"][0]["metadata"]["name"]
    assert subject(pki / f"kubelet-{node}-client.crt") == (f"system:node:{node}", ["system:nodes"])
    serving = x509.load_pem_x509_certificate((pki / "apiserver.crt").read_bytes())
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "kubernetes.default.svc.cluster.local"} <= set(sans.get_values_for_type(x509.DNSName))
    assert {"127.0.0.1", "100.96.0.1"} <= {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    assert oct((pki / "ca.key").stat().st_mode & 0o777) == "0o600"
    for identity in ("scheduler", "controller-manager", "dns", f"kubelet-{node}"):
        conf = yaml.safe_load((data / "kubeconfigs" / f"{identity}.conf").read_text())
        assert conf["clusters"][0]["cluster"]["server"] == server

    # no credentials: 401 (curl -k); health paths stay open
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server}/api", context=insecure, timeout=5)
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["reason"] == "Unauthorized"
    with urllib.request.urlopen(f"{server}/readyz", context=insecure, timeout=5) as resp:
        assert resp.status == 200

    # the admin kubeconfig: kubectl, whoami, a deployment whose pods run
    who = kubectl("auth", "whoami", "-o", "json", env=env)
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["status"]["userInfo"]["groups"] == ["kubeadm:cluster-admins", "system:authenticated"]
    made = kubectl("create", "deployment", "web", "--image=nginx", "--replicas=2", env=env)
    assert made.returncode == 0, made.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pods = json.loads(kubectl("get", "pods", "-l", "app=web", "-o", "json", env=env).stdout)["items"]
        if len(pods) == 2 and all(p.get("status", {}).get("phase") == "Running" for p in pods):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"pods never ran: {kubectl('get', 'pods', '-o', 'wide', env=env).stdout}")
    # pods/log reaches the kubelet over TLS with the API server's kubelet-client certificate
    logs = kubectl("logs", "-n", "kube-system", f"kube-apiserver-{node}", "--tail", "3", env=env)
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.strip()

    # the kubelet's server refuses a client without a certificate from the cluster CA
    kubelet_port = json.loads(kubectl("get", "node", node, "-o", "json", env=env).stdout)[
        "status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)) as kubelet_refused:
        urllib.request.urlopen(f"https://127.0.0.1:{kubelet_port}/healthz", context=insecure, timeout=5)
    assert getattr(kubelet_refused.value, "code", 401) == 401  # --anonymous-auth=false
    # a certificate of the cluster CA without RBAC: 403 from the kubelet (SubjectAccessReview on nodes/proxy)
    from sampan._lib.pki import CertificateAuthority, CertSpec, cert_pem, key_pem, write_atomic

    cert, key = CertificateAuthority.load_or_create(pki / "ca.crt", pki / "ca.key").issue(CertSpec("nobody"))
    write_atomic(data / "nobody.crt", cert_pem(cert))
    write_atomic(data / "nobody.key", key_pem(key), private=True)
    nobody = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    nobody.check_hostname = False
    nobody.load_cert_chain(str(data / "nobody.crt"), str(data / "nobody.key"))
    with pytest.raises(urllib.error.HTTPError) as forbidden:
        urllib.request.urlopen(f"https://127.0.0.1:{kubelet_port}/healthz", context=nobody, timeout=5)
    assert forbidden.value.code == 403

    # the aggregation layer's front proxy is published for extension API servers
    cm = json.loads(kubectl("get", "configmap", "-n", "kube-system", "extension-apiserver-authentication", "-o",
                            "json", env=env).stdout)
    assert json.loads(cm["data"]["requestheader-allowed-names"]) == ["front-proxy-client"]
    assert subject(pki / "front-proxy-client.crt") == ("front-proxy-client", [])

    # the audit log (default policy): the deployment's create, a refused read, secrets only as metadata
    assert kubectl("--as", "nobody", "get", "secrets", env=env).returncode != 0
    deadline = time.monotonic() + 30
    while True:
        log = data / "logs" / "audit.log"
        events = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        created = [e for e in events if e["verb"] == "create" and e.get("objectRef", {}).get("name") == "web"]
        refused = [e for e in events if e.get("impersonatedUser", {}).get("username") == "nobody"]
        if (created and refused) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert created[0]["user"]["username"] == "kubernetes-admin"
    assert created[0]["responseStatus"]["code"] == 201
    assert refused[0]["annotations"]["authorization.k8s.io/decision"] == "forbid"
    assert refused[0]["responseStatus"]["code"] == 403
    assert not any("requestObject" in e for e in events if e.get("objectRef", {}).get("resource") == "secrets")


def test_sampan_up_insecure_is_plain_http(cluster: tuple[Path, int, dict[str, str]]) -> None:
    data, port, env = cluster
    up = sampan("up", "--detach", "--insecure", "--runtime", "simulated", "--data-dir", str(data), "--port",
                str(port), "--no-merge-kubeconfig", env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    conf = yaml.safe_load((data / "kubeconfig").read_text())
    assert conf["clusters"][0]["cluster"]["server"] == f"http://127.0.0.1:{port}"
    who = kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}", env=env)
    assert (who.returncode, who.stdout) == (0, "system:admin"), who.stderr
    assert not (data / "pki").exists()
