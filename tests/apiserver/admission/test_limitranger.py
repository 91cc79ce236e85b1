"""LimitRange served (defaults, validation, Table) and the LimitRanger plugin over real HTTP: container
defaults on a pod without resources, upstream's 403 messages for Container/Pod/PVC min/max/ratio, and
the real kubectl's view of both."""

from __future__ import annotations

from typing import Any

from sampan.api import limitranges as lrs
from tests.apiserver.conftest import API

NS = "/api/v1/namespaces/default"
LIMITS = f"{NS}/limitranges"
PODS = f"{NS}/pods"


def limit_range(name: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": name}, "spec": {"limits": list(items)}}


def pod(name: str, resources: dict[str, Any] | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "image": "nginx"}
    if resources is not None:
        c["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [c]}}


async def test_limitrange_defaults_and_validation(api: API) -> None:
    lr = limit_range("lr", {"type": "Container", "max": {"cpu": "1"}, "min": {"cpu": "100m"}})
    r = await api.post(LIMITS, lr)
    assert r.status == 201, r.body
    item = r.body["spec"]["limits"][0]
    assert item["default"] == {"cpu": "1"}
    assert item["defaultRequest"] == {"cpu": "1"}
    bad = limit_range("bad", {"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}},
                      {"type": "Pod", "default": {"cpu": "1"}},
                      {"type": "Container", "maxLimitRequestRatio": {"cpu": "0.5"}})
    r = await api.post(LIMITS, bad)
    assert r.status == 422
    msg = r.body["message"]
    assert "spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than max value 1" in msg
    assert "spec.limits[1].default: Forbidden: may not be specified when `type` is 'Pod'" in msg
    assert "spec.limits[2].maxLimitRequestRatio[cpu]: Invalid value: \"500m\": ratio 500m is less than 1" in msg
    r = await api.post(LIMITS, limit_range("pvc", {"type": "PersistentVolumeClaim", "max": {"cpu": "1"}}))
    assert r.status == 422
    assert "either minimum or maximum storage value is required, but neither was provided" in r.body["message"]


async def test_defaults_appear_on_a_pod_without_resources(api: API) -> None:
    r = await api.post(LIMITS, limit_range("lr", {"type": "Container", "default": {"cpu": "500m", "memory": "128Mi"},
                                                  "defaultRequest": {"cpu": "100m"}}))
    assert r.status == 201, r.body
    r = await api.post(PODS, pod("p"))
    assert r.status == 201, r.body
    assert r.body["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}
    assert r.body["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c")
    # a stated limit keeps its own request (copied from the limit), not defaultRequest
    r = await api.post(PODS, pod("q", {"limits": {"cpu": "200m"}}))
    assert r.status == 201, r.body
    assert r.body["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "200m", "memory": "128Mi"}


async def test_over_max_is_forbidden_with_upstreams_message(api: API) -> None:
    r = await api.post(LIMITS, limit_range("lr", {"type": "Container", "max": {"cpu": "500m"}}))
    assert r.status == 201
    r = await api.post(PODS, pod("x", {"limits": {"cpu": "1"}}))
    assert r.status == 403
    assert r.reason == "Forbidden"
    assert r.body["message"] == 'pods "x" is forbidden: maximum cpu usage per Container is 500m, but limit is 1'
    assert (await api.post(PODS, pod("y"))).status == 201  # defaulted to max: within bounds


async def test_min_ratio_pod_and_claim_constraints(api: API) -> None:
    r = await api.post(LIMITS, limit_range(
        "lr", {"type": "Container", "min": {"memory": "64Mi"}, "maxLimitRequestRatio": {"cpu": "2"}},
        {"type": "Pod", "max": {"cpu": "2"}}, {"type": "PersistentVolumeClaim", "max": {"storage": "2Gi"}}))
    assert r.status == 201, r.body
    r = await api.post(PODS, pod("a", {"requests": {"memory": "32Mi", "cpu": "1"},
                                       "limits": {"memory": "64Mi", "cpu": "3"}}))
    assert r.status == 403
    assert r.body["message"] == (
        'pods "a" is forbidden: [minimum memory usage per Container is 64Mi, but request is 32Mi, '
        "cpu max limit to request ratio per Container is 2, but provided ratio is 3.000000, "
        "maximum cpu usage per Pod is 2, but limit is 3]")


def test_claim_bounds() -> None:  # claims are not served yet: the PVC check on its own
    lr = limit_range("lr", {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "2Gi"}})
    def claim(size: str) -> dict[str, Any]:
        return {"spec": {"resources": {"requests": {"storage": size}}}}
    assert lrs.pvc_violations(claim("5Gi"), [lr]) == [
        "maximum storage usage per PersistentVolumeClaim is 2Gi, but limit is 5Gi"]
    assert lrs.pvc_violations(claim("512Mi"), [lr]) == [
        "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 512Mi"]
    assert lrs.pvc_violations(claim("1Gi"), [lr]) == []


async def test_table(api: API) -> None:
    assert (await api.post(LIMITS, limit_range("lr", {"type": "Container", "max": {"cpu": "1"}}))).status == 201
    r = await api.request("GET", LIMITS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert [c["name"] for c in r.body["columnDefinitions"]] == ["Name", "Created At"]
    assert r.body["rows"][0]["cells"][0] == "lr"
