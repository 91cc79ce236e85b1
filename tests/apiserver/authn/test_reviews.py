"""TokenReview and SelfSubjectReview (every version kubectl 1.27-1.33 asks for), over HTTPS."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.api import errors
from tests.apiserver.authn.conftest import STATIC_TOKEN, SecureServer
from tests.apiserver.authn.test_tokens import admin_request, make_sa, token_for

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


async def review(secure: SecureServer, token: str, audiences: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"token": token}
    if audiences is not None:
        spec["audiences"] = audiences
    body: dict[str, Any] = await admin_request(secure, "POST", TOKEN_REVIEWS,
                                               {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                                "spec": spec})
    return body


async def test_token_review_of_service_account_and_static_tokens(secure: SecureServer) -> None:
    sa = await make_sa(secure, "robot")
    token = await token_for(secure, "robot")
    answer = await review(secure, token)
    assert answer["kind"] == "TokenReview"
    assert answer["status"]["authenticated"] is True
    assert answer["status"]["user"]["username"] == "system:serviceaccount:default:robot"
    assert answer["status"]["user"]["uid"] == sa["metadata"]["uid"]
    assert answer["status"]["audiences"] == ["https://kubernetes.default.svc.cluster.local"]

    static = await review(secure, STATIC_TOKEN)
    assert static["status"]["authenticated"] is True
    assert static["status"]["user"]["username"] == "alice"


async def test_token_review_audiences_and_failures(secure: SecureServer) -> None:
    await make_sa(secure, "robot")
    vault = await token_for(secure, "robot", audiences=["vault"])
    assert (await review(secure, vault, ["vault"]))["status"]["audiences"] == ["vault"]
    wrong = await review(secure, vault)
    assert "authenticated" not in wrong["status"]
    assert "audiences" in wrong["status"]["error"]
    assert "invalid" in wrong["status"]["error"]
    garbage = await review(secure, "garbage")
    assert garbage["status"] == {"user": {}, "error": "invalid bearer token"}


async def test_token_review_needs_a_token_and_is_create_only(secure: SecureServer) -> None:
    status, body = await secure.raw("POST", TOKEN_REVIEWS, json={"spec": {}},
                                    headers={"Authorization": f"Bearer {STATIC_TOKEN}"})
    assert status == 403, body  # alice holds no grant to create tokenreviews (default RBAC policy)
    with pytest.raises(errors.BadRequest) as bad:
        await admin_request(secure, "POST", TOKEN_REVIEWS, {"spec": {}})
    assert bad.value.message == "token is required for TokenReview in authentication"
    with pytest.raises(errors.MethodNotAllowed):
        await admin_request(secure, "GET", TOKEN_REVIEWS)


async def test_self_subject_review_in_each_version(secure: SecureServer) -> None:
    for version in ("v1", "v1beta1", "v1alpha1"):
        status, body = await secure.raw("POST", f"/apis/authentication.k8s.io/{version}/selfsubjectreviews",
                                        json={"apiVersion": f"authentication.k8s.io/{version}",
                                              "kind": "SelfSubjectReview"},
                                        headers={"Authorization": f"Bearer {STATIC_TOKEN}"})
        assert status == 201, body
        assert body["apiVersion"] == f"authentication.k8s.io/{version}"
        assert body["status"]["userInfo"]["username"] == "alice"
    status, _ = await secure.raw("POST", "/apis/authentication.k8s.io/v2/selfsubjectreviews", json={},
                                 headers={"Authorization": f"Bearer {STATIC_TOKEN}"})
    assert status == 404


async def test_discovery_lists_the_review_resources(secure: SecureServer) -> None:
    listed = await admin_request(secure, "GET", "/apis/authentication.k8s.io/v1")
    names = {r["name"]: r["verbs"] for r in listed["resources"]}
    assert names["tokenreviews"] == ["create"]
    assert names["selfsubjectreviews"] == ["create"]
