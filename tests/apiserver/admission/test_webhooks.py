"""Admission webhooks over real HTTPS: MutatingWebhookConfiguration / ValidatingWebhookConfiguration
served with upstream's defaults and validation, and acted on by the chain — patches, denials,
warnings, failurePolicy with upstream's messages, timeouts, caBundle, service references, selectors,
match conditions, dryRun and reinvocation. Webhook servers run on loopback with a test CA."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sampan.apiserver.admission.webhooks.dispatcher import GROUP
from sampan.testing.webhooks import Certificates, WebhookServer, allow, deny, make_certificates
from tests.apiserver.conftest import API

MWC = f"/apis/{GROUP}/v1/mutatingwebhookconfigurations"
VWC = f"/apis/{GROUP}/v1/validatingwebhookconfigurations"
CMS = "/api/v1/namespaces/default/configmaps"
CM_RULE = {"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("webhook-certs"))


async def label_it(review: dict[str, Any]) -> dict[str, Any]:
    labels = review["request"]["object"]["metadata"].get("labels")
    op = {"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}} if labels is None else \
        {"op": "add", "path": "/metadata/labels/mutated", "value": "yes"}
    return allow(review, patch=[op], warnings=["mutated by test"], audit={"why": "testing"})


async def no_forbidden(review: dict[str, Any]) -> dict[str, Any]:
    data = review["request"]["object"].get("data") or {}
    if data.get("k") == "forbidden":
        return deny(review, "the value 'forbidden' is not allowed")
    return allow(review)


async def sleepy(review: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(5)
    return allow(review)


@pytest.fixture
def server(certs: Certificates) -> Iterator[WebhookServer]:
    routes = {"/mutate": label_it, "/validate": no_forbidden, "/sleep": sleepy, "/allow": _allow}
    with WebhookServer(certs, routes) as s:
        yield s


async def _allow(review: dict[str, Any]) -> dict[str, Any]:
    return allow(review)


def hook(name: str, client_config: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "clientConfig": client_config, "rules": [CM_RULE], "sideEffects": "None",
            "admissionReviewVersions": ["v1"], **extra}


def url_config(server: WebhookServer, certs: Certificates, path: str) -> dict[str, Any]:
    return {"url": server.url(path), "caBundle": certs.ca_bundle}


async def configure(api: API, path: str, name: str, hooks: list[dict[str, Any]]) -> dict[str, Any]:
    """Create a configuration and wait until the server's watch cache (what the plugins read) has it."""
    kind = "MutatingWebhookConfiguration" if "mutating" in path else "ValidatingWebhookConfiguration"
    r = await api.post(path, {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": {"name": name},
                              "webhooks": hooks})
    assert r.status == 201, r.body
    resource = path.rsplit("/", 1)[1]
    scope = api.server.context.scope(GROUP, "v1", resource)
    assert scope is not None
    deadline = time.monotonic() + 10
    key, rv = scope.key("", name), int(r.body["metadata"]["resourceVersion"])
    while (co := scope.cache.objects.get(key)) is None or co.rv < rv:
        assert time.monotonic() < deadline, "the watch cache never saw the configuration"
        await asyncio.sleep(0.01)
    created: dict[str, Any] = r.body
    return created


async def test_configurations_are_served_with_defaults_and_table(api: API, server: WebhookServer,
                                                                certs: Certificates) -> None:
    created = await configure(api, MWC, "m", [hook("m.example.com", url_config(server, certs, "/mutate"))])
    wh = created["webhooks"][0]
    assert (wh["failurePolicy"], wh["matchPolicy"], wh["timeoutSeconds"], wh["reinvocationPolicy"]) == \
        ("Fail", "Equivalent", 10, "Never")
    assert wh["namespaceSelector"] == {}
    assert wh["objectSelector"] == {}
    assert wh["rules"][0]["scope"] == "*"
    r = await api.request("GET", MWC, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert [c["name"] for c in r.body["columnDefinitions"]] == ["Name", "Webhooks", "Age"]
    assert r.body["rows"][0]["cells"][:2] == ["m", 1]
    disc = await api.get(f"/apis/{GROUP}/v1")
    names = {res["name"] for res in disc.body["resources"]}
    assert {"mutatingwebhookconfigurations", "validatingwebhookconfigurations"} <= names
    svc = await api.post(VWC, {"metadata": {"name": "s"}, "webhooks": [
        hook("s.example.com", {"service": {"name": "w", "namespace": "default"}})]})
    assert svc.status == 201
    assert svc.body["webhooks"][0]["clientConfig"]["service"]["port"] == 443


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"timeoutSeconds": 31}, "webhooks[0].timeoutSeconds",
     "Invalid value: 31: the timeout value must be between 1 and 30 seconds"),
    ({"clientConfig": {"url": "http://127.0.0.1/x"}}, "webhooks[0].clientConfig.url",
     "Invalid value: \"http://127.0.0.1/x\": 'https' is the only allowed URL scheme"),
    ({"clientConfig": {}}, "webhooks[0].clientConfig", "Required value: exactly one of url or service is required"),
    ({"sideEffects": "Some"}, "webhooks[0].sideEffects",
     'Unsupported value: "Some": supported values: "None", "NoneOnDryRun"'),
    ({"name": "short"}, "webhooks[0].name",
     'Invalid value: "short": should be a domain with at least three segments separated by dots'),
    ({"failurePolicy": "Maybe"}, "webhooks[0].failurePolicy",
     'Unsupported value: "Maybe": supported values: "Fail", "Ignore"'),
    ({"matchConditions": [{"name": "c", "expression": "object.metadata.name =="}]},
     "webhooks[0].matchConditions[0].expression", "compilation failed"),
])
async def test_invalid_configurations_are_refused(api: API, change: dict[str, Any], field: str, message: str) -> None:
    body = {"metadata": {"name": "bad"}, "webhooks": [{**hook("a.example.com", {"url": "https://127.0.0.1/"}),
                                                       **change}]}
    r = await api.post(VWC, body)
    assert r.status == 422, r.body
    causes = {c["field"]: c["message"] for c in r.body["details"]["causes"]}
    assert message in causes[field]


async def test_mutating_patch_and_validating_denial(api: API, server: WebhookServer, certs: Certificates) -> None:
    await configure(api, MWC, "m", [hook("m.example.com", url_config(server, certs, "/mutate"))])
    await configure(api, VWC, "v", [hook("v.example.com", url_config(server, certs, "/validate"))])
    r = await api.post(CMS, {"metadata": {"name": "ok"}, "data": {"k": "fine"}})
    assert r.status == 201, r.body
    assert r.body["metadata"]["labels"] == {"mutated": "yes"}
    assert r.headers.getall("Warning") == ['299 - "mutated by test"']
    stored = await api.get(f"{CMS}/ok")
    assert stored.body["metadata"]["labels"] == {"mutated": "yes"}
    r = await api.post(CMS, {"metadata": {"name": "no"}, "data": {"k": "forbidden"}})
    assert r.status == 403
    assert r.body["message"] == 'admission webhook "v.example.com" denied the request: ' \
                                "the value 'forbidden' is not allowed"
    assert (await api.get(f"{CMS}/no")).status == 404
    path, query, review = server.calls[0]
    assert (path, query) == ("/mutate", "timeout=10s")
    req = review["request"]
    assert review["apiVersion"] == "admission.k8s.io/v1"
    assert req["operation"] == "CREATE"
    assert req["kind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
    assert req["resource"] == {"group": "", "version": "v1", "resource": "configmaps"}
    assert req["namespace"] == "default"
    assert req["name"] == "ok"
    assert req["oldObject"] is None
    assert req["options"]["kind"] == "CreateOptions"
    assert req["dryRun"] is False
    # the validating webhook saw the mutated object, after the mutating one
    assert server.calls[1][0] == "/validate"
    assert server.calls[1][2]["request"]["object"]["metadata"]["labels"] == {"mutated": "yes"}
    # updates go through both too, with the old object
    stored.body["data"] = {"k": "forbidden"}
    r = await api.put(f"{CMS}/ok", stored.body)
    assert r.status == 403
    assert server.calls[-1][2]["request"]["oldObject"]["data"] == {"k": "fine"}


async def test_configuration_changes_apply_without_restart(api: API, server: WebhookServer,
                                                           certs: Certificates) -> None:
    await configure(api, VWC, "v", [hook("v.example.com", url_config(server, certs, "/validate"))])
    assert (await api.post(CMS, {"metadata": {"name": "a"}, "data": {"k": "forbidden"}})).status == 403
    assert (await api.delete(f"{VWC}/v")).status == 200
    deadline = time.monotonic() + 10
    while (r := await api.post(CMS, {"metadata": {"name": "a"}, "data": {"k": "forbidden"}})).status == 403:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert r.status == 201


@pytest.mark.parametrize(("policy", "expected"), [("Fail", 500), ("Ignore", 201)])
async def test_timeout_follows_failure_policy(api: API, server: WebhookServer, certs: Certificates,
                                              policy: str, expected: int) -> None:
    await configure(api, VWC, "slow", [hook("slow.example.com", url_config(server, certs, "/sleep"),
                                            timeoutSeconds=1, failurePolicy=policy)])
    started = time.monotonic()
    r = await api.post(CMS, {"metadata": {"name": "t"}})
    elapsed = time.monotonic() - started
    assert r.status == expected, r.body
    assert elapsed < 4  # the webhook sleeps 5 s: the server gave up after its 1 s timeout
    if policy == "Fail":
        assert r.body["reason"] == "InternalError"
        assert r.body["message"] == ('Internal error occurred: failed calling webhook "slow.example.com": '
                                     f'failed to call webhook: Post "{server.url("/sleep")}?timeout=1s": '
                                     "context deadline exceeded")


async def test_unreachable_and_untrusted_webhooks(api: API, server: WebhookServer, certs: Certificates,
                                                  tmp_path: Path) -> None:
    from tests.support.apiserver import free_port

    port = free_port()
    await configure(api, VWC, "down", [hook("down.example.com", {"url": f"https://127.0.0.1:{port}/x",
                                                                 "caBundle": certs.ca_bundle})])
    r = await api.post(CMS, {"metadata": {"name": "d"}})
    assert r.status == 500
    assert r.body["message"] == ('Internal error occurred: failed calling webhook "down.example.com": failed to call '
                                 f'webhook: Post "https://127.0.0.1:{port}/x?timeout=10s": dial tcp 127.0.0.1:{port}: '
                                 "connect: connection refused")
    assert (await api.delete(f"{VWC}/down")).status == 200
    other = make_certificates(tmp_path / "other")
    await configure(api, VWC, "untrusted", [hook("untrusted.example.com", {"url": server.url("/allow"),
                                                                           "caBundle": other.ca_bundle})])
    r = await api.post(CMS, {"metadata": {"name": "u"}})
    assert r.status == 500
    assert r.body["message"].endswith("tls: failed to verify certificate: x509: certificate signed by unknown "
                                      "authority")


async def test_service_reference_through_endpoints(api: API, server: WebhookServer, certs: Certificates) -> None:
    svc = {"metadata": {"name": "webhook"}, "spec": {"ports": [{"name": "https", "port": 8443,
                                                                 "targetPort": server.port}]}}
    assert (await api.post("/api/v1/namespaces/default/services", svc)).status == 201
    eps = {"metadata": {"name": "webhook"}, "subsets": [{"addresses": [{"ip": "127.0.0.1"}],
                                                          "ports": [{"name": "https", "port": server.port}]}]}
    assert (await api.post("/api/v1/namespaces/default/endpoints", eps)).status == 201
    ref = {"service": {"name": "webhook", "namespace": "default", "port": 8443, "path": "/validate"},
           "caBundle": certs.ca_bundle}
    await configure(api, VWC, "svc", [hook("svc.example.com", ref)])
    r = await api.post(CMS, {"metadata": {"name": "s"}, "data": {"k": "forbidden"}})
    assert r.status == 403, r.body
    assert server.calls[-1][:2] == ("/validate", "timeout=10s")
    # a service without endpoints: upstream's message, through the failure policy
    ref["service"] = {**ref["service"], "name": "nowhere"}
    assert (await api.delete(f"{VWC}/svc")).status == 200
    await configure(api, VWC, "svc2", [hook("svc2.example.com", ref)])
    r = await api.post(CMS, {"metadata": {"name": "s2"}})
    assert r.status == 500
    assert r.body["message"] == ('Internal error occurred: failed calling webhook "svc2.example.com": failed to '
                                 'call webhook: Post "https://nowhere.default.svc:8443/validate?timeout=10s": '
                                 'service "nowhere" not found')
    # a service without ready endpoints
    assert (await api.delete(f"{VWC}/svc2")).status == 200
    bare = {"metadata": {"name": "bare"}, "spec": {"ports": [{"port": 443}]}}
    assert (await api.post("/api/v1/namespaces/default/services", bare)).status == 201
    await configure(api, VWC, "svc3", [hook("svc3.example.com", {"service": {"name": "bare", "namespace": "default"},
                                                                  "caBundle": certs.ca_bundle})])
    r = await api.post(CMS, {"metadata": {"name": "s3"}})
    assert r.status == 500
    assert r.body["message"].endswith('Post "https://bare.default.svc:443/?timeout=10s": no endpoints available for '
                                      'service "bare"')


async def test_selectors_and_match_conditions(api: API, server: WebhookServer, certs: Certificates) -> None:
    assert (await api.post("/api/v1/namespaces", {"metadata": {"name": "guarded",
                                                               "labels": {"guard": "on"}}})).status == 201
    await configure(api, VWC, "sel", [
        hook("ns.example.com", url_config(server, certs, "/validate"),
             namespaceSelector={"matchLabels": {"guard": "on"}}),
        hook("obj.example.com", url_config(server, certs, "/validate"),
             objectSelector={"matchExpressions": [{"key": "check", "operator": "Exists"}]}),
        hook("cel.example.com", url_config(server, certs, "/validate"),
             matchConditions=[{"name": "named-strict", "expression": "object.metadata.name.startsWith('strict')"}]),
    ])
    forbidden = {"k": "forbidden"}
    r = await api.post("/api/v1/namespaces/guarded/configmaps", {"metadata": {"name": "a"}, "data": forbidden})
    assert r.status == 403
    assert '"ns.example.com"' in r.body["message"]
    assert (await api.post(CMS, {"metadata": {"name": "plain"}, "data": forbidden})).status == 201
    r = await api.post(CMS, {"metadata": {"name": "b", "labels": {"check": ""}}, "data": forbidden})
    assert r.status == 403
    assert '"obj.example.com"' in r.body["message"]
    r = await api.post(CMS, {"metadata": {"name": "strict-one"}, "data": forbidden})
    assert r.status == 403
    assert '"cel.example.com"' in r.body["message"]


async def test_rules_subresources_and_scope(api: API, server: WebhookServer, certs: Certificates) -> None:
    everything = {"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"],
                  "scope": "Cluster"}
    await configure(api, VWC, "rules", [hook("cluster.example.com", url_config(server, certs, "/allow"),
                                             rules=[everything])])
    before = len(server.calls)
    await api.create_cm("namespaced-not-seen")
    assert len(server.calls) == before
    assert (await api.post("/api/v1/namespaces", {"metadata": {"name": "seen"}})).status == 201
    assert server.calls[-1][2]["request"]["resource"]["resource"] == "namespaces"
    # the webhook configurations themselves never go to webhooks
    assert (await api.post(VWC, {"metadata": {"name": "x"}, "webhooks": []})).status == 201
    assert server.calls[-1][2]["request"]["resource"]["resource"] == "namespaces"


async def test_dry_run_and_side_effects(api: API, server: WebhookServer, certs: Certificates) -> None:
    await configure(api, MWC, "m", [hook("m.example.com", url_config(server, certs, "/mutate"),
                                         sideEffects="NoneOnDryRun")])
    r = await api.post(CMS, {"metadata": {"name": "dry"}}, dryRun="All")
    assert r.status == 201
    assert r.body["metadata"]["labels"] == {"mutated": "yes"}
    assert server.calls[-1][2]["request"]["dryRun"] is True
    assert (await api.get(f"{CMS}/dry")).status == 404
    # a configuration stored with legacy sideEffects (v1beta1 era): dry runs are refused, as upstream
    scope = api.server.context.scope(GROUP, "v1", "mutatingwebhookconfigurations")
    assert scope is not None
    legacy = (await api.get(f"{MWC}/m")).body
    legacy["webhooks"][0]["sideEffects"] = "Unknown"
    await api.server.context.store.update(scope.key("", "m"), scope.encode(legacy),
                                          expected_mod_revision=int(legacy["metadata"]["resourceVersion"]))
    deadline = time.monotonic() + 10
    while (r := await api.post(CMS, {"metadata": {"name": "dry"}}, dryRun="All")).status == 201:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert r.status == 400
    assert r.body["message"] == 'admission webhook "m.example.com" does not support dry run'


async def test_reinvocation_if_needed(api: API, server: WebhookServer, certs: Certificates) -> None:
    seen: list[dict[str, str]] = []

    async def record(review: dict[str, Any]) -> dict[str, Any]:
        seen.append(dict(review["request"]["object"]["metadata"].get("labels") or {}))
        return allow(review)

    server.routes["/record"] = record
    await configure(api, MWC, "a", [hook("a.example.com", url_config(server, certs, "/record"),
                                         reinvocationPolicy="IfNeeded")])
    await configure(api, MWC, "b", [hook("b.example.com", url_config(server, certs, "/mutate"))])
    r = await api.post(CMS, {"metadata": {"name": "re"}})
    assert r.status == 201
    assert seen == [{}, {"mutated": "yes"}]  # called again after b changed the object


async def test_validating_webhooks_run_in_parallel(api: API, server: WebhookServer, certs: Certificates) -> None:
    async def slow_allow(review: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.6)
        return allow(review)

    server.routes["/slow"] = slow_allow
    await configure(api, VWC, "p", [hook(f"p{i}.example.com", url_config(server, certs, "/slow")) for i in range(4)])
    started = time.monotonic()
    assert (await api.post(CMS, {"metadata": {"name": "par"}})).status == 201
    assert time.monotonic() - started < 2.0  # 4 x 0.6 s in sequence would be 2.4 s


async def test_openapi_documents_the_configurations(api: API) -> None:
    index = await api.get("/openapi/v3")
    assert f"apis/{GROUP}/v1" in index.body["paths"]
    doc = await api.get(f"/openapi/v3/apis/{GROUP}/v1")
    schemas = doc.body["components"]["schemas"]
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        assert f"io.k8s.api.admissionregistration.v1.{kind}" in schemas
    assert f"/apis/{GROUP}/v1/mutatingwebhookconfigurations/{{name}}" in doc.body["paths"]


async def test_protobuf_bodies(api: API) -> None:
    from tests.apiserver.test_protobuf import PB, pb_request

    body = {"apiVersion": f"{GROUP}/v1", "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "pb"},
            "webhooks": [hook("pb.example.com", {"url": "https://127.0.0.1:1/x", "caBundle": "QUJD"},
                              matchConditions=[{"name": "always", "expression": "true"}])]}
    r = await pb_request(api, "POST", VWC, body=body)
    assert r.status == 201, r.raw
    assert r.content_type == PB
    created = r.obj
    assert created["webhooks"][0]["clientConfig"] == {"url": "https://127.0.0.1:1/x", "caBundle": "QUJD"}
    assert created["webhooks"][0]["matchConditions"] == [{"name": "always", "expression": "true"}]
    assert created["webhooks"][0]["timeoutSeconds"] == 10
    listed = await pb_request(api, "GET", VWC)
    assert listed.content_type == PB
    assert [o["metadata"]["name"] for o in listed.obj["items"]] == ["pb"]


async def test_mutating_webhooks_see_defaulted_objects(api: API, server: WebhookServer, certs: Certificates) -> None:
    pod_rule = {**CM_RULE, "resources": ["pods"]}
    await configure(api, MWC, "m", [hook("m.example.com", url_config(server, certs, "/mutate"), rules=[pod_rule])])
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    r = await api.post("/api/v1/namespaces/default/pods", pod)
    assert r.status == 201, r.body
    assert r.body["metadata"]["labels"] == {"mutated": "yes"}
    sent = server.calls[-1][2]["request"]["object"]
    assert sent["spec"]["restartPolicy"] == "Always"
    assert sent["spec"]["containers"][0]["terminationMessagePath"] == "/dev/termination-log"


async def test_large_patches_and_nonsense_answers(api: API, server: WebhookServer, certs: Certificates) -> None:
    """A large answer is read whole; an answer for another request follows failurePolicy."""
    big = "x" * 300_000

    async def big_patch(review: dict[str, Any]) -> dict[str, Any]:
        return allow(review, patch=[{"op": "add", "path": "/data/big", "value": big}])

    async def wrong_uid(review: dict[str, Any]) -> dict[str, Any]:
        answer = allow(review)
        answer["response"]["uid"] = "someone-else"
        return answer

    server.routes.update({"/big": big_patch, "/wrong": wrong_uid})
    await configure(api, MWC, "big", [hook("big.example.com", url_config(server, certs, "/big"))])
    r = await api.post(CMS, {"metadata": {"name": "big"}, "data": {"k": "v"}})
    assert r.status == 201, r.body
    assert r.body["data"]["big"] == big
    r = await api.post(CMS, {"metadata": {"name": "nodata"}})
    assert r.status == 500
    assert r.body["message"].startswith('Internal error occurred: webhook "big.example.com" returned a patch that '
                                        "cannot be applied: ")
    await configure(api, VWC, "wrong", [hook("wrong.example.com", url_config(server, certs, "/wrong"))])
    r = await api.post(CMS, {"metadata": {"name": "wrong"}, "data": {}})
    assert r.status == 500
    assert 'failed calling webhook "wrong.example.com": received invalid webhook response: expected ' \
           'response.uid=' in r.body["message"]
