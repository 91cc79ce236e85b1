"""Converted views with real clients: protobuf reads and writes of the events.k8s.io/v1 view, the real
kubectl 1.32 reading events made through either API (``get events``, ``events``) and ``autoscale`` (v1),
and the official Python client using EventsV1/CoreV1 and AutoscalingV1/V2 on the same objects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apiserver.conftest import API
from tests.apiserver.test_conversion import CORE, NEW, core_event, new_event
from tests.apiserver.test_kubectl import Kubectl
from tests.apiserver.test_kubectl_matrix import versioned_kubectl
from tests.apiserver.test_protobuf import pb_request
from tests.support.apiserver import APIServerHandle, run_apiserver_process


async def test_protobuf_reads_of_a_view(api: API) -> None:
    await api.post(CORE, core_event("pb-core"))
    r = await pb_request(api, "GET", f"{NEW}/pb-core")
    assert r.status == 200
    assert r.content_type.startswith("application/vnd.kubernetes.protobuf")
    obj = r.obj
    assert obj["apiVersion"] == "events.k8s.io/v1"
    assert obj["regarding"]["name"] == "web"
    lst = await pb_request(api, "GET", NEW)
    assert any(i["metadata"]["name"] == "pb-core" and i["note"] == "pulled the image" for i in lst.obj["items"])
    created = await pb_request(api, "POST", NEW, body=new_event("pb-new"))
    assert created.status == 201, created.obj
    core = await api.get(f"{CORE}/pb-new")
    assert core.body["involvedObject"]["name"] == "api"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path_factory.mktemp("conversion-kubectl"), storage="sqlite") as handle:
        yield handle


@pytest.fixture
def kubectl(server: APIServerHandle, tmp_path: Path) -> Kubectl:
    binary = versioned_kubectl("1.32")
    if binary is None:
        pytest.skip("kubectl.1.32 is not installed")
    return Kubectl(binary, server, tmp_path / "cache")


def test_kubectl_reads_events_from_both_apis(kubectl: Kubectl, tmp_path: Path) -> None:
    for name, body in (("k-core", core_event("k-core")), ("k-new", new_event("k-new"))):
        path = tmp_path / f"{name}.json"
        body["metadata"]["namespace"] = "default"
        path.write_text(json.dumps(body))
        kubectl.out("create", "-f", str(path))
    table = kubectl.out("get", "events", "-n", "default")
    assert "pod/web" in table
    assert "pod/api" in table
    assert "could not pull" in table
    new = json.loads(kubectl.out("get", "events.v1.events.k8s.io", "k-core", "-n", "default", "-o", "json"))
    assert new["apiVersion"] == "events.k8s.io/v1"
    assert new["deprecatedCount"] == 3
    listed = kubectl.out("events", "-n", "default")
    assert "could not pull" in listed
    assert "pulled the image" in listed


def test_kubectl_autoscale_v1_reads_as_v2(kubectl: Kubectl) -> None:
    kubectl.out("create", "deployment", "web", "--image=nginx")
    out = kubectl.out("autoscale", "deployment", "web", "--min=2", "--max=4", "--cpu-percent=55")
    assert out.strip() == "horizontalpodautoscaler.autoscaling/web autoscaled"
    v2 = json.loads(kubectl.out("get", "hpa", "web", "-o", "json"))
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["minReplicas"] == 2
    assert v2["spec"]["maxReplicas"] == 4
    assert v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 55
    v1 = json.loads(kubectl.out("get", "horizontalpodautoscalers.v1.autoscaling", "web", "-o", "json"))
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 55
    assert "cpu: <unknown>/55%" in kubectl.out("get", "hpa", "web")


def test_python_client_uses_both_versions(server: APIServerHandle) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    api_client = kubernetes.config.new_client_from_config(config_file=str(server.kubeconfig))
    try:
        events = kubernetes.client.EventsV1Api(api_client)
        core = kubernetes.client.CoreV1Api(api_client)
        # the client re-serializes MicroTime through datetime.isoformat(): whole seconds would lose the six
        # fractional digits Go's RFC3339Micro layout requires (upstream answers 400 to that too)
        body = new_event("py-new", eventTime="2024-01-01T00:00:00.123456Z",
                         series={"count": 2, "lastObservedTime": "2024-01-01T00:02:00.654321Z"})
        body["metadata"]["namespace"] = "default"
        body["regarding"]["name"] = "py-pod"
        events.create_namespaced_event("default", body)
        got = core.read_namespaced_event("py-new", "default")
        assert got.involved_object.name == "py-pod"
        assert got.message == "could not pull"
        listed = events.list_namespaced_event("default", field_selector="regarding.name=py-pod")
        assert [e.metadata.name for e in listed.items] == ["py-new"]
        hpa = kubernetes.client.AutoscalingV1Api(api_client)
        hpa.create_namespaced_horizontal_pod_autoscaler("default", {
            "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "py-hpa"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3,
                     "targetCPUUtilizationPercentage": 65}})
        v2 = kubernetes.client.AutoscalingV2Api(api_client).read_namespaced_horizontal_pod_autoscaler(
            "py-hpa", "default")
        assert v2.spec.metrics[0].resource.target.average_utilization == 65
        v1 = hpa.read_namespaced_horizontal_pod_autoscaler("py-hpa", "default")
        assert v1.spec.target_cpu_utilization_percentage == 65
    finally:
        api_client.close()
