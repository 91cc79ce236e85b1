"""CRD conversion webhooks over real HTTPS: a CRD served in v1 (``spec.hostPort: "h:p"``) and v2
(``spec.host`` + integer ``spec.port``) with ``conversion.strategy: Webhook``; objects written in
either version are read, listed and watched in the other, converted by a ConversionReview v1 round
trip; a failing webhook is a 500 with upstream's message; a bad configuration is refused."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sampan.testing.webhooks import Certificates, WebhookServer, make_certificates
from tests.apiserver.conftest import API
from tests.apiserver.test_customresources import eventually

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
V1 = "/apis/conv.example.com/v1/namespaces/default/endpointrefs"
V2 = "/apis/conv.example.com/v2/namespaces/default/endpointrefs"


def _schema(spec_props: dict[str, Any]) -> dict[str, Any]:
    return {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "properties": spec_props}}}}


def crd(client_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "endpointrefs.conv.example.com"},
        "spec": {
            "group": "conv.example.com", "scope": "Namespaced",
            "names": {"plural": "endpointrefs", "singular": "endpointref", "kind": "EndpointRef"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": _schema({"hostPort": {"type": "string"}})},
                {"name": "v2", "served": True, "storage": False,
                 "schema": _schema({"host": {"type": "string"}, "port": {"type": "integer"}})},
            ],
            "conversion": {"strategy": "Webhook", "webhook": {"conversionReviewVersions": ["v1"],
                                                              "clientConfig": client_config}},
        },
    }


def convert_one(obj: dict[str, Any], desired: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    spec = out.get("spec") or {}
    if desired.endswith("/v2") and "hostPort" in spec:
        host, _, port = spec.pop("hostPort").partition(":")
        spec.update(host=host, port=int(port))
    elif desired.endswith("/v1") and "host" in spec:
        spec["hostPort"] = f"{spec.pop('host')}:{spec.pop('port')}"
    out["apiVersion"] = desired
    out.setdefault("metadata", {}).setdefault("labels", {})["converted-by"] = "webhook"
    return out


async def conversion(review: dict[str, Any]) -> dict[str, Any]:
    req = review["request"]
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": req["uid"], "result": {"status": "Success"},
                         "convertedObjects": [convert_one(o, req["desiredAPIVersion"]) for o in req["objects"]]}}


async def broken(review: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": review["request"]["uid"], "result": {"status": "Failure", "message": "no way"}}}


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path / "certs")


@pytest.fixture
def server(certs: Certificates) -> Iterator[WebhookServer]:
    with WebhookServer(certs, {"/convert": conversion, "/broken": broken}) as s:
        yield s


async def register(api: API, client_config: dict[str, Any]) -> None:
    r = await api.post(CRDS, crd(client_config))
    assert r.status == 201, r.body

    async def served() -> bool:
        return (await api.get(V2)).status == 200 and (await api.get(V1)).status == 200

    await eventually(served, "both versions served")


async def test_objects_convert_between_versions(api: API, server: WebhookServer, certs: Certificates) -> None:
    await register(api, {"url": server.url("/convert"), "caBundle": certs.ca_bundle})
    r = await api.post(V1, {"apiVersion": "conv.example.com/v1", "kind": "EndpointRef",
                            "metadata": {"name": "a"}, "spec": {"hostPort": "example.org:8443"}})
    assert r.status == 201, r.body
    got = await api.get(f"{V2}/a")
    assert got.status == 200, got.body
    assert got.body["apiVersion"] == "conv.example.com/v2"
    assert got.body["spec"] == {"host": "example.org", "port": 8443}
    assert got.body["metadata"]["labels"] == {"converted-by": "webhook"}
    assert got.body["metadata"]["uid"] == r.body["metadata"]["uid"]
    # written as v2 (stored as v1 through the webhook), read back as v1
    r = await api.post(V2, {"apiVersion": "conv.example.com/v2", "kind": "EndpointRef",
                            "metadata": {"name": "b"}, "spec": {"host": "db", "port": 5432}})
    assert r.status == 201, r.body
    assert r.body["spec"] == {"host": "db", "port": 5432}
    v1 = await api.get(f"{V1}/b")
    assert v1.body["apiVersion"] == "conv.example.com/v1"
    assert v1.body["spec"] == {"hostPort": "db:5432"}
    listed = await api.get(V2)
    assert [(o["metadata"]["name"], o["spec"]) for o in listed.body["items"]] == [
        ("a", {"host": "example.org", "port": 8443}), ("b", {"host": "db", "port": 5432})]
    reviews = [review for path, _, review in server.calls if path == "/convert"]
    assert reviews
    assert reviews[0]["apiVersion"] == "apiextensions.k8s.io/v1"
    assert reviews[0]["kind"] == "ConversionReview"
    # an update through v2 keeps the v1 storage form in step
    v2b = (await api.get(f"{V2}/b")).body
    v2b["spec"]["port"] = 6543
    assert (await api.put(f"{V2}/b", v2b)).status == 200
    assert (await api.get(f"{V1}/b")).body["spec"] == {"hostPort": "db:6543"}
    # a watch in v2 sees v1 writes converted
    watch = await api.watch(V2, resourceVersion=v1.body["metadata"]["resourceVersion"])
    r = await api.post(V1, {"apiVersion": "conv.example.com/v1", "kind": "EndpointRef",
                            "metadata": {"name": "c"}, "spec": {"hostPort": "w:1"}})
    assert r.status == 201
    events = await watch.take(2)
    watch.resp.close()
    assert events[-1]["type"] == "ADDED"
    assert events[-1]["object"]["apiVersion"] == "conv.example.com/v2"
    assert events[-1]["object"]["spec"] == {"host": "w", "port": 1}


async def test_failing_conversion_webhook_is_a_500(api: API, server: WebhookServer, certs: Certificates) -> None:
    await register(api, {"url": server.url("/broken"), "caBundle": certs.ca_bundle})
    r = await api.post(V2, {"apiVersion": "conv.example.com/v2", "kind": "EndpointRef",
                            "metadata": {"name": "x"}, "spec": {"host": "h", "port": 1}})
    assert r.status == 500
    # upstream names the version converted from, and the webhook's result.message
    assert r.body["message"] == "conversion webhook for conv.example.com/v2, Kind=EndpointRef failed: no way"
    assert (await api.get(f"{V1}/x")).status == 404


async def test_webhook_conversion_needs_its_configuration(api: API) -> None:
    bad = crd({"url": "https://127.0.0.1/"})
    del bad["spec"]["conversion"]["webhook"]["conversionReviewVersions"]
    r = await api.post(CRDS, bad)
    assert r.status == 422
    assert r.body["details"]["causes"] == [{"reason": "FieldValueRequired",
                                            "message": "Required value: must specify one of v1, v1beta1",
                                            "field": "spec.conversion.webhook.conversionReviewVersions"}]


@pytest.mark.parametrize("policy", ["Equivalent", "Exact"])
async def test_match_policy_sends_the_matched_version(api: API, server: WebhookServer, certs: Certificates,
                                                      policy: str) -> None:
    """A validating webhook registered for v2 only: with Equivalent a v1 write reaches it as v2 (converted
    by the conversion webhook); with Exact it is not called."""
    from sampan.testing.webhooks import allow

    seen: list[dict[str, Any]] = []

    async def record(review: dict[str, Any]) -> dict[str, Any]:
        seen.append(review["request"])
        return allow(review)

    server.routes["/record"] = record
    await register(api, {"url": server.url("/convert"), "caBundle": certs.ca_bundle})
    rule = {"operations": ["CREATE"], "apiGroups": ["conv.example.com"], "apiVersions": ["v2"],
            "resources": ["endpointrefs"]}
    vwc = {"metadata": {"name": "v2-only"}, "webhooks": [{
        "name": "v2.conv.example.com", "rules": [rule], "sideEffects": "None", "admissionReviewVersions": ["v1"],
        "matchPolicy": policy, "clientConfig": {"url": server.url("/record"), "caBundle": certs.ca_bundle}}]}
    assert (await api.post("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", vwc)).status == 201
    scope = api.server.context.scope("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations")
    assert scope is not None

    async def cached() -> bool:
        return scope.cache.objects.get(scope.key("", "v2-only")) is not None

    await eventually(cached, "the configuration in the watch cache")
    r = await api.post(V1, {"apiVersion": "conv.example.com/v1", "kind": "EndpointRef",
                            "metadata": {"name": "e"}, "spec": {"hostPort": "h:7"}})
    assert r.status == 201, r.body
    if policy == "Exact":
        assert seen == []
        return
    assert len(seen) == 1
    req = seen[0]
    assert req["kind"] == {"group": "conv.example.com", "version": "v2", "kind": "EndpointRef"}
    assert req["requestKind"]["version"] == "v1"
    assert req["object"]["apiVersion"] == "conv.example.com/v2"
    assert req["object"]["spec"] == {"host": "h", "port": 7}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_reads_each_version(server: WebhookServer, certs: Certificates, tmp_path: Path) -> None:
    """The real kubectl against a server process: applied as v1, read as v2 (and the reverse)."""
    import json
    import time

    from tests.apiserver.test_kubectl import Kubectl
    from tests.support.apiserver import run_apiserver_process

    with run_apiserver_process(tmp_path / "apiserver", storage="sqlite") as handle:
        kubectl = Kubectl("kubectl", handle, tmp_path / "cache")
        kubectl.run("create", "-f", "-", stdin=json.dumps(crd({"url": server.url("/convert"),
                                                               "caBundle": certs.ca_bundle})))
        kubectl.run("wait", "--for=condition=Established", "crd/endpointrefs.conv.example.com", "--timeout=30s")
        v1 = {"apiVersion": "conv.example.com/v1", "kind": "EndpointRef", "metadata": {"name": "k"},
              "spec": {"hostPort": "kube:6443"}}
        deadline = time.monotonic() + 30
        while kubectl.run("create", "-f", "-", stdin=json.dumps(v1), check=False).returncode != 0:
            assert time.monotonic() < deadline, "the custom resource was never served"
            time.sleep(0.2)
        got = json.loads(kubectl.out("get", "endpointrefs.v2.conv.example.com", "k", "-o", "json"))
        assert got["apiVersion"] == "conv.example.com/v2"
        assert got["spec"] == {"host": "kube", "port": 6443}
        v2 = {"apiVersion": "conv.example.com/v2", "kind": "EndpointRef", "metadata": {"name": "k2"},
              "spec": {"host": "db", "port": 5432}}
        kubectl.run("create", "-f", "-", stdin=json.dumps(v2))
        back = kubectl.out("get", "endpointrefs.v1.conv.example.com", "k2", "-o", "jsonpath={.spec.hostPort}")
        assert back == "db:5432"
