"""CRD conversion webhooks on the request path, as upstream converts, but never blocking the server: a held
(slow) webhook delays only the requests that need it; a LIST is one review for all its objects; a watch event
is converted once however many watchers see it; a failure is a 500 (GET) or an ERROR event (watch) and is not
remembered, so the next read converts again; a ValidatingAdmissionPolicy reads params of a converted kind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sampan.testing.webhooks import Certificates, WebhookServer
from tests.apiserver.admission.test_conversion_webhook import V1, V2, certs, conversion, register
from tests.apiserver.conftest import API

HOLD_LIMIT = 25.0
"""A held webhook answers anyway after this long (below the 30 s conversion timeout)."""


class Held:
    """A conversion webhook that, while ``holding``, waits until the test releases it."""

    def __init__(self) -> None:
        self.holding = False
        self.reached = threading.Event()
        self.release = threading.Event()
        self.released_by_limit = False
        self.failing = False

    async def __call__(self, review: dict[str, Any]) -> dict[str, Any]:
        if self.failing:
            return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                    "response": {"uid": review["request"]["uid"], "result": {"status": "Failure"}}}
        if self.holding:
            self.reached.set()
            if not await asyncio.to_thread(self.release.wait, HOLD_LIMIT):
                self.released_by_limit = True
        return await conversion(review)


__all__ = ["certs"]  # the fixture, shared with the other conversion tests


@pytest.fixture
def held() -> Held:
    return Held()


@pytest.fixture
def server(certs: Certificates, held: Held) -> Iterator[WebhookServer]:
    with WebhookServer(certs, {"/convert": held}) as s:
        yield s


async def _create_v1(api: API, name: str, host_port: str = "h:1") -> dict[str, Any]:
    r = await api.post(V1, {"apiVersion": "conv.example.com/v1", "kind": "EndpointRef",
                            "metadata": {"name": name}, "spec": {"hostPort": host_port}})
    assert r.status == 201, r.body
    return dict(r.body)


def _reviews_to_v2(server: WebhookServer) -> list[list[str]]:
    """The object names of each review asking for v2."""
    return [[o["metadata"]["name"] for o in review["request"]["objects"]]
            for path, _, review in server.calls
            if path == "/convert" and review["request"]["desiredAPIVersion"] == "conv.example.com/v2"]


async def test_a_held_webhook_does_not_block_the_server(api: API, server: WebhookServer, certs: Certificates,
                                                        held: Held) -> None:
    await register(api, {"url": server.url("/convert"), "caBundle": certs.ca_bundle})
    await _create_v1(api, "slow")
    held.holding = True
    waiting = asyncio.create_task(api.get(f"{V2}/slow"))
    try:
        assert await asyncio.to_thread(held.reached.wait, 20), "the GET never reached the webhook"
        # the server keeps serving everything else while that GET waits on the webhook
        other = await asyncio.wait_for(api.get("/api/v1/namespaces/default/configmaps"), 20)
        assert other.status == 200
        also = await asyncio.wait_for(api.get(f"{V1}/slow"), 20)  # the storage version needs no webhook
        assert also.status == 200
        assert not waiting.done()
        assert not held.released_by_limit
    finally:
        held.release.set()
    got = await waiting
    assert got.status == 200, got.body
    assert got.body["spec"] == {"host": "h", "port": 1}


async def test_a_list_is_one_review_and_a_watch_event_one_for_all_watchers(api: API, server: WebhookServer,
                                                                           certs: Certificates) -> None:
    await register(api, {"url": server.url("/convert"), "caBundle": certs.ca_bundle})
    for name in ("a", "b", "c"):
        created = await _create_v1(api, name)
    listed = await api.get(V2)
    assert [o["spec"]["host"] for o in listed.body["items"]] == ["h", "h", "h"]
    assert _reviews_to_v2(server) == [["a", "b", "c"]]
    again = await api.get(V2)  # converted once per stored object version: no new review
    assert again.body["items"] == listed.body["items"]
    assert len(_reviews_to_v2(server)) == 1

    watches = [await api.watch(V2, resourceVersion=created["metadata"]["resourceVersion"]) for _ in range(5)]
    await _create_v1(api, "w", "x:9")
    for watch in watches:
        [event] = await watch.take(1)
        watch.resp.close()
        assert event["type"] == "ADDED"
        assert event["object"]["spec"] == {"host": "x", "port": 9}
    assert [names for names in _reviews_to_v2(server) if "w" in names] == [["w"]]


async def test_a_failed_conversion_is_a_500_and_not_remembered(api: API, server: WebhookServer,
                                                               certs: Certificates, held: Held) -> None:
    await register(api, {"url": server.url("/convert"), "caBundle": certs.ca_bundle})
    created = await _create_v1(api, "f")
    held.failing = True
    watch = await api.watch(V2, resourceVersion=created["metadata"]["resourceVersion"])
    for path in (f"{V2}/f", V2):
        r = await api.get(path)
        assert r.status == 500, r.body
        assert r.body["reason"] == "InternalError"
        assert r.body["message"] == ("conversion webhook for conv.example.com/v1, Kind=EndpointRef failed: "
                                     "response.result.status was 'Failure', not 'Success'")
    await _create_v1(api, "g")
    [event] = await watch.take(1)  # the watch ends with the Status
    watch.resp.close()
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 500
    held.failing = False
    r = await api.get(f"{V2}/f")
    assert r.status == 200, r.body
    assert r.body["apiVersion"] == "conv.example.com/v2"


async def test_policy_params_of_a_converted_kind_are_converted(api: API, server: WebhookServer,
                                                               certs: Certificates) -> None:
    """A ValidatingAdmissionPolicy whose paramKind is the v2 (webhook-converted) version reads the params in
    v2's schema: stored as v1 ``hostPort: "db:7"``, seen as ``spec.port == 7``."""
    from tests.apiserver.admission.test_validatingadmissionpolicy import binding, deployment, install, policy, until

    await register(api, {"url": server.url("/convert"), "caBundle": certs.ca_bundle})
    await _create_v1(api, "limits", "db:7")
    check = {"expression": "object.spec.replicas <= params.spec.port", "messageExpression":
             "'at most ' + string(params.spec.port) + ' replicas'"}
    await install(api, policy("by-param", check, paramKind={"apiVersion": "conv.example.com/v2",
                                                            "kind": "EndpointRef"}),
                  binding("by-param-b", "by-param", ["Deny"], paramRef={"name": "limits", "namespace": "default",
                                                                        "parameterNotFoundAction": "Deny"}))
    r = await until(api, deployment("eight", 8), 422)
    assert r.body["message"].endswith("denied request: at most 7 replicas"), r.body
    r = await api.post("/apis/apps/v1/namespaces/default/deployments", deployment("seven", 7), dryRun="All")
    assert r.status == 201, r.body
