"""SelfSubjectAccessReviews and the serviceaccounts/token subresource over HTTP (in-process server, JSON),
and the token signer's key handling."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

from sampan.apiserver.satokens import KEY_FILE, TokenSigner
from tests.apiserver.conftest import API

SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
REVIEW = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
          "spec": {"resourceAttributes": {"namespace": "default", "verb": "delete", "resource": "pods"}}}


def claims_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    out: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return out


async def test_review_is_allowed_and_not_stored(api: API) -> None:
    before = await api.snapshot()
    r = await api.post(SSAR, REVIEW)
    assert r.status == 201, r.body
    assert r.body["status"] == {"allowed": True}  # the insecure admin is in system:masters
    assert r.body["spec"] == REVIEW["spec"]
    assert await api.snapshot() == before
    r = await api.post(SSAR, {**REVIEW, "spec": {}})
    assert r.status == 422, r.body
    assert r.body["details"]["causes"][0]["field"] == "spec.resourceAttributes"
    r = await api.post(SSAR, {"apiVersion": "v1", "kind": "ConfigMap"})
    assert r.status == 400, r.body
    assert (await api.get(SSAR)).status == 405
    assert (await api.post(SSAR, REVIEW, dryRun="Sometimes")).status == 400


async def test_review_in_discovery(api: API) -> None:
    r = await api.get("/apis/authorization.k8s.io/v1")
    assert r.status == 200, r.body
    served = [(res["name"], res["kind"], res["namespaced"], res["verbs"]) for res in r.body["resources"]]
    assert served == [
        ("localsubjectaccessreviews", "LocalSubjectAccessReview", True, ["create"]),
        ("selfsubjectaccessreviews", "SelfSubjectAccessReview", False, ["create"]),
        ("selfsubjectrulesreviews", "SelfSubjectRulesReview", False, ["create"]),
        ("subjectaccessreviews", "SubjectAccessReview", False, ["create"])]


async def test_token_request(api: API) -> None:
    sa = await api.post("/api/v1/namespaces/default/serviceaccounts",
                        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}})
    assert sa.status == 201, sa.body
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    created_pod = await api.post("/api/v1/namespaces/default/pods", pod)
    assert created_pod.status == 201, created_pod.body
    path = "/api/v1/namespaces/default/serviceaccounts/robot/token"
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"audiences": ["a", "b"], "expirationSeconds": 1200,
                     "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"}}}
    r = await api.post(path, body)
    assert r.status == 201, r.body
    assert r.body["kind"] == "TokenRequest"
    assert r.body["metadata"]["name"] == "robot"
    claims = claims_of(r.body["status"]["token"])
    assert claims["aud"] == ["a", "b"]
    assert claims["exp"] - claims["iat"] == 1200
    assert claims["sub"] == "system:serviceaccount:default:robot"
    assert claims["kubernetes.io"] == {
        "namespace": "default", "serviceaccount": {"name": "robot", "uid": sa.body["metadata"]["uid"]},
        "pod": {"name": "p", "uid": created_pod.body["metadata"]["uid"]}}
    # errors: bad duration 422, unknown bound kind 400, wrong bound uid 409, missing account 404
    r = await api.post(path, {**body, "spec": {"expirationSeconds": 60}})
    assert r.status == 422
    assert r.body["details"]["causes"][0]["message"].endswith("may not specify a duration less than 10 minutes")
    r = await api.post(path, {**body, "spec": {"boundObjectRef": {"kind": "ConfigMap", "apiVersion": "v1",
                                                                   "name": "x"}}})
    assert r.status == 400, r.body
    r = await api.post(path, {**body, "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p",
                                                                   "uid": "other"}}})
    assert r.status == 409, r.body
    r = await api.post("/api/v1/namespaces/default/serviceaccounts/ghost/token", body)
    assert r.status == 404
    assert r.body["message"] == 'serviceaccounts "ghost" not found'
    assert (await api.get(path)).status == 405


def test_signer_key_is_kept_in_data_dir(tmp_path: Path) -> None:
    first = TokenSigner.load_or_create(tmp_path)
    mode = (tmp_path / KEY_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    again = TokenSigner.load_or_create(tmp_path)
    assert again.key_id == first.key_id
    assert again.public_key_pem() == first.public_key_pem()
    assert TokenSigner.load_or_create(None).key_id != first.key_id
    token = first.sign({"sub": "x"})
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "ES256", "kid": first.key_id}


NEW = {("", "resourcequotas"), ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "rolebindings"),
       ("rbac.authorization.k8s.io", "clusterroles"), ("rbac.authorization.k8s.io", "clusterrolebindings"),
       ("policy", "poddisruptionbudgets"), ("batch", "cronjobs"), ("autoscaling", "horizontalpodautoscalers"),
       ("authorization.k8s.io", "selfsubjectaccessreviews")}
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


async def test_new_kinds_in_aggregated_and_legacy_discovery(api: API) -> None:
    seen: set[tuple[str, str]] = set()
    for path in ("/api", "/apis"):
        r = await api.request("GET", path, headers={"Accept": AGGREGATED})
        assert r.status == 200, r.body
        for group in r.body["items"]:
            for version in group["versions"]:
                for res in version["resources"]:
                    seen.add((group["metadata"].get("name", ""), res["resource"]))
                    if res["resource"] == "serviceaccounts":
                        assert {"subresource": "token", "verbs": ["create"]}.items() <= next(
                            s for s in res["subresources"] if s["subresource"] == "token").items()
    assert seen >= NEW
    legacy = await api.get("/apis/autoscaling/v2")
    assert [r["name"] for r in legacy.body["resources"]] == ["horizontalpodautoscalers",
                                                             "horizontalpodautoscalers/status"]
    assert (await api.get("/apis/autoscaling/v1")).status == 200  # a view of v2 (test_conversion.py)


async def test_new_kinds_have_upstream_openapi_schemas(api: API) -> None:
    index = await api.get("/openapi/v3")
    assert index.status == 200, index.body
    expected = {
        "api/v1": "io.k8s.api.core.v1.ResourceQuota",
        "apis/rbac.authorization.k8s.io/v1": "io.k8s.api.rbac.v1.ClusterRoleBinding",
        "apis/policy/v1": "io.k8s.api.policy.v1.PodDisruptionBudget",
        "apis/batch/v1": "io.k8s.api.batch.v1.CronJob",
        "apis/autoscaling/v2": "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
        "apis/authorization.k8s.io/v1": "io.k8s.api.authorization.v1.SelfSubjectAccessReview",
    }
    for gv, schema in expected.items():
        doc = await api.get(index.body["paths"][gv]["serverRelativeURL"])
        assert doc.status == 200, gv
        props = doc.body["components"]["schemas"][schema]["properties"]
        assert "metadata" in props, schema
