"""Bodies of built-in kinds are decoded with types, as Go's decoder does (issue 24).

Each request is the one a schema-driven fuzzer or a client sent; the answers are upstream's: 400
``<Kind> in version "<v>" cannot be handled as a <Kind>: json: cannot unmarshal ...`` for creates,
updates and status writes, 422 on the field ``patch`` for a patch whose result does not decode, and
nothing stored. Values Go accepts (IntOrString, Quantity as string or number, RawExtension, null) stay
accepted, and fields Go always writes are written.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.apiserver.conftest import API

LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
PODS = "/api/v1/namespaces/default/pods"
NODES = "/api/v1/nodes"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
SERVICES = "/api/v1/namespaces/default/services"
EVENTS = "/api/v1/namespaces/default/events"
MERGE = {"Content-Type": "application/merge-patch+json"}


def deployment(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}, **spec}}


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


async def test_lease_holder_identity_number_is_400(api: API) -> None:
    before = await api.snapshot()
    r = await api.post(LEASES, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                "metadata": {"name": "l"}, "spec": {"holderIdentity": 5}})
    assert r.status == 400, r.body
    assert r.body["reason"] == "BadRequest"
    assert r.body["message"] == ('Lease in version "v1" cannot be handled as a Lease: json: cannot unmarshal number '
                                 "into Go struct field LeaseSpec.spec.holderIdentity of type string")
    assert await api.snapshot() == before


async def test_replicas_as_string_is_a_type_error_not_a_range_error(api: API) -> None:
    r = await api.post(DEPLOYS, deployment("web", replicas="3"))
    assert r.status == 400, r.body
    assert r.body["message"] == ('Deployment in version "v1" cannot be handled as a Deployment: json: cannot '
                                 "unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32")
    r = await api.post(DEPLOYS, deployment("web", replicas=2.5))
    assert r.status == 400
    assert "cannot unmarshal number 2.5 into Go struct field DeploymentSpec.spec.replicas of type int32" in \
        r.body["message"]


@pytest.mark.parametrize(("status", "message"), [
    ({"addresses": [{"type": 5, "address": "100.64.0.9"}]},
     "json: cannot unmarshal number into Go struct field NodeAddress.status.addresses.type of type "
     "v1.NodeAddressType"),
    ({"capacity": {"cpu": True}},
     "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
])
async def test_node_status_types(api: API, status: dict[str, Any], message: str) -> None:
    r = await api.post(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "status": status})
    assert r.status == 400, r.body
    assert r.body["message"] == f'Node in version "v1" cannot be handled as a Node: {message}'
    r = await api.post(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2"}, "spec": {"taints": 5}})
    assert r.status == 400
    assert r.body["message"].endswith("cannot unmarshal number into Go struct field NodeSpec.spec.taints of type "
                                      "[]v1.Taint")
    assert (await api.get(NODES)).body["items"] == []


async def test_pod_status_phase_number_is_400(api: API) -> None:
    created = await api.post(PODS, pod("p"))
    assert created.status == 201
    body = created.body
    body["status"] = {"phase": 5}
    r = await api.put(f"{PODS}/p/status", body)
    assert r.status == 400, r.body
    assert r.body["message"] == ('Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into '
                                 "Go struct field PodStatus.status.phase of type v1.PodPhase")
    r = await api.request("PATCH", f"{PODS}/p/status", {"status": {"phase": 5}}, headers=MERGE)
    assert r.status == 422, r.body
    cause = r.body["details"]["causes"][0]
    assert cause["field"] == "patch"
    assert cause["message"].endswith("json: cannot unmarshal number into Go struct field PodStatus.status.phase of "
                                     "type v1.PodPhase")
    assert (await api.get(f"{PODS}/p")).body["status"].get("phase") == "Pending"


async def test_merge_patch_result_is_typed(api: API) -> None:
    assert (await api.post(DEPLOYS, deployment("patched", replicas=1))).status == 201
    r = await api.request("PATCH", f"{DEPLOYS}/patched", {"spec": {"replicas": "3"}}, headers=MERGE)
    assert r.status == 422, r.body
    assert r.body["message"].startswith(' "" is invalid: patch: Invalid value: "{')
    assert r.body["message"].endswith("json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas "
                                      "of type int32")
    assert (await api.get(f"{DEPLOYS}/patched")).body["spec"]["replicas"] == 1


async def test_micro_time_needs_six_fraction_digits(api: API) -> None:
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "t"},
             "spec": {"renewTime": "2024-01-01T00:00:00Z"}}
    r = await api.post(LEASES, lease)
    assert r.status == 400
    assert r.body["message"] == ('Lease in version "v1" cannot be handled as a Lease: parsing time '
                                 '"2024-01-01T00:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as '
                                 '".000000"')
    lease["spec"]["renewTime"] = "2024-01-01T00:00:00.000000Z"
    assert (await api.post(LEASES, lease)).status == 201


async def test_what_go_accepts_stays_accepted(api: API) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": None},
           "spec": {"ports": [{"name": "a", "port": 80, "targetPort": 8080},
                              {"name": "b", "port": 81, "targetPort": "http"}]}}
    r = await api.post(SERVICES, svc)
    assert r.status == 201, r.body
    assert [p["targetPort"] for p in r.body["spec"]["ports"]] == [8080, "http"]
    assert "labels" not in r.body["metadata"]  # null is Go's zero value: omitted
    p = pod("q")
    p["spec"]["containers"][0]["resources"] = {"limits": {"cpu": 1, "memory": "64Mi"}, "requests": {"cpu": "100m"}}
    r = await api.post(PODS, p)
    assert r.status == 201, r.body
    schema = {"type": "object", "properties": {"spec": {
        "type": "object", "default": {"anything": [1, "two"]}, "x-kubernetes-preserve-unknown-fields": True}}}
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "things.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": schema}}]}}
    r = await api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert r.status == 201, r.body  # JSON (default) and bool-or-schema fields take any JSON value
    spec = r.body["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["default"] == {"anything": [1, "two"]}


async def test_event_involved_object_is_always_written(api: API) -> None:
    r = await api.post(EVENTS, {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "reason": "X",
                                "message": "m"})
    assert r.status == 201, r.body
    assert r.body["involvedObject"] == {}
    assert (await api.get(f"{EVENTS}/e")).body["involvedObject"] == {}


async def test_yaml_body_is_typed_too(api: API) -> None:
    r = await api.request("POST", LEASES, data=b"apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n"
                          b"  name: y\nspec:\n  leaseDurationSeconds: forty\n",
                          headers={"Content-Type": "application/yaml"})
    assert r.status == 400
    assert r.body["message"].endswith("cannot unmarshal string into Go struct field "
                                      "LeaseSpec.spec.leaseDurationSeconds of type int32")


async def test_scale_put_is_typed(api: API) -> None:
    assert (await api.post(DEPLOYS, deployment("scaled", replicas=1))).status == 201
    r = await api.put(f"{DEPLOYS}/scaled/scale", {"apiVersion": "autoscaling/v1", "kind": "Scale",
                                                   "metadata": {"name": "scaled"}, "spec": {"replicas": "2"}})
    assert r.status == 400, r.body
    assert r.body["message"] == ('Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal string '
                                 "into Go struct field ScaleSpec.spec.replicas of type int32")


async def test_yaml_surrogate_escapes_become_go_strings(api: API) -> None:
    """YAML ``\\ud83d\\ude00`` is one character (a pair), a lone ``\\ud9b9`` is U+FFFD, as Go converts them;
    the answer is a Status, never a 500."""
    body = (b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, '
            b'"data": {"pair": "\\ud83d\\ude00", "lone": "x\\ud9b9"}}')
    r = await api.request("POST", "/api/v1/namespaces/default/configmaps", data=body,
                          headers={"Content-Type": "application/yaml"})
    assert r.status == 201, r.body
    assert r.body["data"] == {"pair": "\U0001f600", "lone": "x\ufffd"}
