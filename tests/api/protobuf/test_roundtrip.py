"""JSON -> protobuf -> JSON for a realistic object of every served kind."""

from __future__ import annotations

import copy

import pytest

from sampan.api import protobuf as pb

from .jsoncompare import differences, is_go_zero
from .objects import OBJECTS


@pytest.mark.parametrize("key", sorted(OBJECTS))
def test_round_trip_keeps_every_value(key: str) -> None:
    obj = OBJECTS[key]
    decoded = pb.decode(pb.encode(obj))
    assert differences(obj, decoded) == []
    assert decoded["kind"] == obj["kind"]
    assert decoded["apiVersion"] == obj["apiVersion"]


@pytest.mark.parametrize("key", sorted(OBJECTS))
def test_decoded_form_is_a_fixed_point(key: str) -> None:
    body = pb.encode(OBJECTS[key])
    decoded = pb.decode(body)
    assert pb.encode(decoded) == body
    assert pb.decode(pb.encode(decoded)) == decoded


def test_encode_does_not_mutate_input() -> None:
    obj = copy.deepcopy(OBJECTS["Pod"])
    pb.encode(obj)
    assert obj == OBJECTS["Pod"]


def test_comparison_helper_catches_loss() -> None:
    assert differences({"a": {"b": 1}}, {"a": {}}) == [".a.b: lost 1"]
    assert differences({"a": [1, 2]}, {"a": [1]}) == [".a: length 2 became 1"]
    assert differences({"a": 1}, {"a": "1"}) == [".a: 1 became '1'"]
    assert differences({}, {"status": {"x": {}}}) == []
    assert not is_go_zero({"a": 1})


def test_fields_unknown_to_the_schema_are_dropped() -> None:
    obj = copy.deepcopy(OBJECTS["ConfigMap"])
    obj["notAField"] = 1
    assert "notAField" not in pb.decode(pb.encode(obj))


def test_pod_details_survive() -> None:
    pod = pb.decode(pb.encode(OBJECTS["Pod"]))
    spec = pod["spec"]
    assert spec["containers"][0]["livenessProbe"]["httpGet"]["port"] == 8080
    assert spec["containers"][0]["readinessProbe"]["tcpSocket"]["port"] == "http"
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert spec["volumes"][1]["configMap"]["items"] == [{"key": "a", "path": "a.txt", "mode": 420}]
    assert spec["tolerations"][0]["tolerationSeconds"] == 300
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["a", "b"]
    assert spec["securityContext"]["supplementalGroups"] == [4000, 5000]
    assert pod["status"]["containerStatuses"][1]["ready"] is False
    assert pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["signal"] == 9
    assert pod["metadata"]["annotations"]["note"] == "héllo ✓"
    assert pod["metadata"]["managedFields"][0]["fieldsV1"] == {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}


def test_go_zero_values_appear_as_go_writes_them() -> None:
    pod = pb.decode(pb.encode({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"},
                               "spec": {"containers": [{"name": "c", "image": "i"}]}}))
    assert pod["metadata"] == {"name": "p", "creationTimestamp": None}
    assert pod["spec"] == {"containers": [{"name": "c", "image": "i", "resources": {}}]}
    assert pod["status"] == {}
    status = pb.decode(pb.encode({"kind": "Pod", "apiVersion": "v1", "status": {"containerStatuses": [{}]}}))
    cs = status["status"]["containerStatuses"][0]
    assert cs == {"name": "", "state": {}, "lastState": {}, "ready": False, "restartCount": 0, "image": "",
                  "imageID": ""}


def test_pointer_zero_is_kept_and_plain_zero_is_omitted() -> None:
    dep = pb.decode(pb.encode({"kind": "Deployment", "apiVersion": "apps/v1",
                               "spec": {"replicas": 0, "minReadySeconds": 0, "paused": False}}))
    assert dep["spec"]["replicas"] == 0
    assert "minReadySeconds" not in dep["spec"]
    assert "paused" not in dep["spec"]
    assert dep["spec"]["selector"] is None  # pointer without omitempty: Go writes null
    assert dep["spec"]["template"] == {"metadata": {"creationTimestamp": None}, "spec": {"containers": None}}


def test_lists_carry_items_without_type_meta() -> None:
    body = pb.encode({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": "5"},
                      "items": [{"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "a"}}]})
    assert pb.decode(body) == {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": "5"},
                               "items": [{"metadata": {"name": "a", "creationTimestamp": None}}]}
    empty = pb.decode(pb.encode({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []}))
    assert empty == {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": None}


def test_status_matches_api_error_shape() -> None:
    from sampan.api.errors import NotFound

    status = NotFound('pods "x" not found', details={"name": "x", "kind": "pods"}).to_status()
    assert pb.decode(pb.encode(status)) == status


def test_meta_kinds_under_any_group_version() -> None:
    opts = {"kind": "DeleteOptions", "apiVersion": "apps/v1", "propagationPolicy": "Background"}
    assert pb.decode(pb.encode(opts)) == opts
    assert pb.supports("meta.k8s.io/v1", "Status")
    assert pb.supports("v1", "Status")


def test_supports_table() -> None:
    for api_version, kind in [("v1", "Pod"), ("v1", "PodList"), ("apps/v1", "Deployment"), ("batch/v1", "Job"),
                              ("coordination.k8s.io/v1", "Lease"), ("discovery.k8s.io/v1", "EndpointSlice"),
                              ("events.k8s.io/v1", "Event"), ("v1", "Event"), ("policy/v1", "PodDisruptionBudget"),
                              ("rbac.authorization.k8s.io/v1", "Role"), ("autoscaling/v1", "HorizontalPodAutoscaler"),
                              ("autoscaling/v2", "HorizontalPodAutoscaler"), ("scheduling.k8s.io/v1", "PriorityClass"),
                              ("authentication.k8s.io/v1", "TokenRequest"),
                              ("authorization.k8s.io/v1", "SelfSubjectAccessReview"), ("v1", "ResourceQuota")]:
        assert pb.supports(api_version, kind), (api_version, kind)
    assert not pb.supports("example.com/v1", "Widget")
    assert not pb.supports("apps/v1", "Pod")
    assert not pb.supports("v1", "Deployment")
