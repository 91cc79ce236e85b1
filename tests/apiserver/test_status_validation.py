"""Writes to ``status`` subresources are validated as upstream's ``ValidateXStatusUpdate``: a
namespace's phase stays Active until it is deleted (an empty status defaults to Active), counters are
not negative, replica counts stay within ``status.replicas``, addresses are IPs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.pyclient import official_client

kubernetes = pytest.importorskip("kubernetes")

from kubernetes import client as kclient  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

LABELS = {"app": "s"}
TEMPLATE = {"metadata": {"labels": LABELS}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


@pytest.fixture(scope="module")
def api_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with official_client(tmp_path_factory.mktemp("status-validation")) as (client, _):
        yield client


def _status(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.value.body)
    return body


def _raw_put(api_client: Any, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    request = api_client.param_serialize("PUT", path, header_params={"Content-Type": "application/json"}, body=body,
                                         auth_settings=["BearerToken"])
    response = api_client.call_api(*request)
    response.read()
    return response.status, json.loads(response.data)


@pytest.mark.parametrize("phase", ["Terminating", "Bogus"])
def test_namespace_phase_must_stay_active(api_client: Any, phase: str) -> None:
    core = kclient.CoreV1Api(api_client)
    name = f"ns-{phase.lower()}"
    core.create_namespace({"metadata": {"name": name}})
    body = {"metadata": {"name": name}, "status": {"phase": phase}}
    with pytest.raises(ApiException) as err:
        core.replace_namespace_status(name, body)
    assert err.value.status == 422
    assert _status(err)["message"] == (f'Namespace "{name}" is invalid: status.Phase: Invalid value: "{phase}": '
                                       "may only be 'Active' if `deletionTimestamp` is empty")
    assert _status(err)["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "status.Phase",
        "message": f"Invalid value: \"{phase}\": may only be 'Active' if `deletionTimestamp` is empty"}]
    assert core.read_namespace(name).status.phase == "Active"
    core.create_namespaced_config_map(name, {"metadata": {"name": "still-works"}})


def test_namespace_phase_of_wrong_type_is_refused(api_client: Any) -> None:
    core = kclient.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": "ns-five"}})
    code, status = _raw_put(api_client, "/api/v1/namespaces/ns-five/status",
                            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns-five"},
                             "status": {"phase": 5}})
    assert code in (400, 422), status  # upstream's typed decoder answers 400 before validation would
    assert core.read_namespace("ns-five").status.phase == "Active"
    core.create_namespaced_config_map("ns-five", {"metadata": {"name": "still-works"}})


def test_empty_namespace_status_defaults_to_active(api_client: Any) -> None:
    core = kclient.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": "ns-empty"}})
    ns = core.replace_namespace_status("ns-empty", {"metadata": {"name": "ns-empty"}, "status": {}})
    assert ns.status.phase == "Active"
    ns = core.patch_namespace_status("ns-empty", {"status": {"phase": None}})
    assert ns.status.phase == "Active"


def _invalid(call: Any, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(ApiException) as err:
        call(*args, **kwargs)
    assert err.value.status == 422, err.value.body
    return [(c["field"], c["message"]) for c in _status(err)["details"]["causes"]]


def test_workload_status_counters(api_client: Any) -> None:
    apps, batch = kclient.AppsV1Api(api_client), kclient.BatchV1Api(api_client)
    spec = {"replicas": 1, "selector": {"matchLabels": LABELS}, "template": TEMPLATE}
    apps.create_namespaced_deployment("default", {"metadata": {"name": "d"}, "spec": spec})
    apps.create_namespaced_replica_set("default", {"metadata": {"name": "r"}, "spec": spec})
    assert _invalid(apps.patch_namespaced_deployment_status, "d", "default",
                    {"status": {"replicas": 1, "readyReplicas": 2, "availableReplicas": -1}}) == [
        ("status.availableReplicas", "Invalid value: -1: must be greater than or equal to 0"),
        ("status.readyReplicas", "Invalid value: 2: cannot be greater than status.replicas")]
    assert _invalid(apps.patch_namespaced_replica_set_status, "r", "default",
                    {"status": {"replicas": 1, "fullyLabeledReplicas": 3}}) == [
        ("status.fullyLabeledReplicas", "Invalid value: 3: cannot be greater than status.replicas")]
    ok = apps.patch_namespaced_deployment_status("d", "default", {"status": {"replicas": 1, "readyReplicas": 1}})
    assert ok.status.ready_replicas == 1
    batch.create_namespaced_job("default", {"metadata": {"name": "j"}, "spec": {
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})
    assert _invalid(batch.patch_namespaced_job_status, "j", "default", {"status": {"failed": -2}}) == [
        ("status.failed", "Invalid value: -2: must be greater than or equal to 0")]


def test_pod_service_and_policy_status(api_client: Any) -> None:
    core, policy = kclient.CoreV1Api(api_client), kclient.PolicyV1Api(api_client)
    core.create_namespaced_pod("default", {"metadata": {"name": "p"}, "spec": TEMPLATE["spec"]})
    assert _invalid(core.patch_namespaced_pod_status, "p", "default", {"status": {"podIP": "not-an-ip"}}) == [
        ("status.podIP", 'Invalid value: "not-an-ip": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)')]
    core.create_namespaced_service("default", {"metadata": {"name": "s"}, "spec": {
        "type": "LoadBalancer", "ports": [{"port": 80}], "selector": LABELS}})
    causes = _invalid(core.patch_namespaced_service_status, "s", "default",
                      {"status": {"loadBalancer": {"ingress": [{"ip": "1.2.3"}]}}})
    assert [f for f, _ in causes] == ["status.loadBalancer.ingress[0].ip"]
    policy.create_namespaced_pod_disruption_budget("default", {"metadata": {"name": "b"},
                                                               "spec": {"minAvailable": 1, "selector": {}}})
    causes = _invalid(policy.patch_namespaced_pod_disruption_budget_status, "b", "default",
                      {"status": {"disruptionsAllowed": -1, "currentHealthy": 0, "desiredHealthy": 0,
                                  "expectedPods": 0}})
    assert causes == [("status.disruptionsAllowed", "Invalid value: -1: must be greater than or equal to 0")]


def test_node_status_and_pod_nomination(api_client: Any) -> None:
    core = kclient.CoreV1Api(api_client)
    core.create_node({"metadata": {"name": "n1"}})
    assert _invalid(core.patch_node_status, "n1", {"status": {"capacity": {"cpu": "-1", "pods": "110"}}}) == [
        ("status.capacity.cpu", 'Invalid value: "-1": must be greater than or equal to 0')]
    addresses = [{"type": "InternalIP", "address": "100.64.0.9"}] * 2
    causes = _invalid(core.patch_node_status, "n1", {"status": {"addresses": addresses}},
                      _content_type="application/merge-patch+json")  # a strategic merge would fold them
    assert causes == [("status.addresses[1]", 'Duplicate value: {"type":"InternalIP","address":"100.64.0.9"}')]
    node = core.patch_node_status("n1", {"status": {"capacity": {"cpu": "2"}, "addresses": addresses[:1]}})
    assert node.status.capacity["cpu"] == "2"
    core.create_namespaced_pod("default", {"metadata": {"name": "nominated"}, "spec": TEMPLATE["spec"]})
    causes = _invalid(core.patch_namespaced_pod_status, "nominated", "default",
                      {"status": {"nominatedNodeName": "Not_A_Node"}})
    assert [f for f, _ in causes] == ["status.nominatedNodeName"]


def test_ingress_load_balancer_status(api_client: Any) -> None:
    net = kclient.NetworkingV1Api(api_client)
    net.create_namespaced_ingress("default", {"metadata": {"name": "i"}, "spec": {
        "defaultBackend": {"service": {"name": "s", "port": {"number": 80}}}}})
    causes = _invalid(net.patch_namespaced_ingress_status, "i", "default",
                      {"status": {"loadBalancer": {"ingress": [{"hostname": "1.2.3.4"}]}}})
    assert causes == [("status.loadBalancer.ingress[0].hostname",
                       'Invalid value: "1.2.3.4": must be a DNS name, not an IP address')]
    ok = net.patch_namespaced_ingress_status("i", "default",
                                             {"status": {"loadBalancer": {"ingress": [{"ip": "100.64.9.9"}]}}})
    assert ok.status.load_balancer.ingress[0].ip == "100.64.9.9"
