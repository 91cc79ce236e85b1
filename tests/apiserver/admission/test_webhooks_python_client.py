"""The official ``kubernetes`` Python client against a ``sampan apiserver`` process: webhook
configurations made from its models round-trip (``AdmissionregistrationV1Api``), and a denial reaches
it as an ``ApiException`` with upstream's status."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from sampan.testing.webhooks import WebhookServer, allow, deny, make_certificates
from tests.support.pyclient import official_client

kubernetes = pytest.importorskip("kubernetes")
pytestmark = pytest.mark.slow


async def _no_latest(review: dict[str, Any]) -> dict[str, Any]:
    images = [c.get("image", "") for c in review["request"]["object"]["spec"].get("containers", [])]
    if any(i.endswith(":latest") for i in images):
        return deny(review, "pin your images", code=422)
    return allow(review)


def test_official_client_configures_and_is_refused(tmp_path: Path) -> None:
    from kubernetes import client as k

    certs = make_certificates(tmp_path / "certs")
    with WebhookServer(certs, {"/pods": _no_latest}) as server, official_client(tmp_path / "server") as (api, _):
        reg = k.AdmissionregistrationV1Api(api)
        body = k.V1ValidatingWebhookConfiguration(
            metadata=k.V1ObjectMeta(name="pins"),
            webhooks=[k.V1ValidatingWebhook(
                name="pins.example.com", side_effects="None", admission_review_versions=["v1"],
                timeout_seconds=5,
                client_config=k.AdmissionregistrationV1WebhookClientConfig(url=server.url("/pods"),
                                                                           ca_bundle=certs.ca_bundle),
                rules=[k.V1RuleWithOperations(operations=["CREATE"], api_groups=[""], api_versions=["v1"],
                                              resources=["pods"])])])
        created = reg.create_validating_webhook_configuration(body)
        assert created.webhooks[0].failure_policy == "Fail"
        assert created.webhooks[0].match_policy == "Equivalent"
        assert [c.metadata.name for c in reg.list_validating_webhook_configuration().items] == ["pins"]
        core = k.CoreV1Api(api)
        pod = k.V1Pod(metadata=k.V1ObjectMeta(name="p"),
                      spec=k.V1PodSpec(containers=[k.V1Container(name="c", image="nginx:latest")]))
        deadline = time.monotonic() + 10
        while True:  # the server's watch cache picks the configuration up
            try:
                core.create_namespaced_pod("default", pod, dry_run="All")
            except kubernetes.client.ApiException as err:
                code, status = err.status, json.loads(err.body)
                break
            assert time.monotonic() < deadline, "the webhook was never called"
            time.sleep(0.05)
        assert code == 422
        assert status["message"] == 'admission webhook "pins.example.com" denied the request: pin your images'
        pod.spec.containers[0].image = "nginx:1.27"
        assert core.create_namespaced_pod("default", pod).metadata.name == "p"
