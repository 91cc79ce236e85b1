"""Acceptance: a real kopf operator's admission webhooks (kopf's own ``WebhookServer`` on loopback with
a self-signed certificate, configurations managed by kopf itself) against a real ``sampan apiserver``
process, driven with the real kubectl: pods get a label added on create, and a forbidden image is
refused with the operator's message; the operator's warnings reach kubectl."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sampan.testing.webhooks import make_certificates
from tests.apiserver.test_kubectl import Kubectl
from tests.support.apiserver import APIServerHandle, free_port, run_apiserver_process

kopf = pytest.importorskip("kopf")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]

OPERATOR = '''
import kopf


@kopf.on.startup()
def configure(settings, **_):
    settings.admission.server = kopf.WebhookServer(
        addr="127.0.0.1", port={port}, certfile={certfile!r}, pkeyfile={pkeyfile!r}, cafile={cafile!r})
    settings.admission.managed = "auto.kopf.dev"
    settings.watching.server_timeout = 30


@kopf.on.mutate("v1", "pods", operation="CREATE", id="add-label")
def add_label(patch, warnings, **_):
    patch.metadata.labels["mutated-by"] = "kopf"
    warnings.append("label mutated-by added by kopf")


@kopf.on.validate("v1", "pods", id="no-forbidden-image")
def no_forbidden_image(spec, **_):
    for container in spec.get("containers", []):
        if container.get("image") == "forbidden:latest":
            raise kopf.AdmissionError("image forbidden:latest is not allowed here", code=403)
'''


@pytest.fixture
def server(tmp_path: Path) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path / "server", storage="sqlite") as handle:
        yield handle


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError:
        return None


def test_kopf_admission_webhooks_with_kubectl(server: APIServerHandle, tmp_path: Path) -> None:
    certs = make_certificates(tmp_path / "certs")
    cafile = tmp_path / "certs" / "ca.crt"
    cafile.write_bytes(certs.ca_pem)
    script = tmp_path / "operator.py"
    script.write_text(OPERATOR.format(port=free_port(), certfile=str(certs.cert_file), pkeyfile=str(certs.key_file),
                                      cafile=str(cafile)))
    log = tmp_path / "kopf.log"
    kopf_bin = str(Path(sys.executable).with_name("kopf"))
    with open(log, "wb") as out:
        proc = subprocess.Popen([kopf_bin, "run", "--standalone", "--namespace", "default", "--verbose", str(script)],
                                stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "KUBECONFIG": str(server.kubeconfig)})
    kubectl = Kubectl("kubectl", server, tmp_path / "cache")
    try:
        base = f"{server.url}/apis/admissionregistration.k8s.io/v1"
        deadline = time.monotonic() + 60
        while True:
            m = _get(f"{base}/mutatingwebhookconfigurations/auto.kopf.dev")
            v = _get(f"{base}/validatingwebhookconfigurations/auto.kopf.dev")
            if m and v and m.get("webhooks") and v.get("webhooks"):
                break
            assert proc.poll() is None, f"kopf exited; log:\n{log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"kopf never configured its webhooks; log:\n{log.read_text()[-4000:]}"
            time.sleep(0.2)
        assert m["webhooks"][0]["clientConfig"]["caBundle"]
        while "mutated-by" not in kubectl.out("run", "probe", "--image=nginx", "--restart=Never", "--dry-run=server",
                                              "-o", "jsonpath={.metadata.labels}"):
            assert time.monotonic() < deadline, "the server's watch cache never had kopf's configuration"
            time.sleep(0.1)
        created = kubectl.run("run", "p1", "--image=nginx", "--restart=Never")
        assert "Warning: label mutated-by added by kopf" in created.stderr
        labels = json.loads(kubectl.out("get", "pod", "p1", "-o", "jsonpath={.metadata.labels}"))
        assert labels == {"run": "p1", "mutated-by": "kopf"}, log.read_text()[-4000:]
        denied = kubectl.run("run", "p2", "--image=forbidden:latest", "--restart=Never", check=False)
        assert denied.returncode != 0
        assert 'admission webhook "no-forbidden-image.auto.kopf.dev" denied the request: ' \
               "image forbidden:latest is not allowed here" in denied.stderr, denied.stderr
        assert kubectl.run("get", "pod", "p2", check=False).returncode != 0
        table = kubectl.out("get", "validatingwebhookconfigurations")
        assert table.split("\n")[0].split() == ["NAME", "WEBHOOKS", "AGE"]
        assert "auto.kopf.dev" in table
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
