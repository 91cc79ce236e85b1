"""Bodies captured from the real kubectl 1.32 and 1.33 generator commands (``fixtures/kubectl-*``):
we decode them to the JSON kubectl would have sent, and re-encode them to the very same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sampan.api import protobuf as pb

FIXTURES = Path(__file__).parent / "fixtures"
BODIES = sorted(FIXTURES.glob("kubectl-*/*.pb"))
OLDER_SCHEMA = {("kubectl-1.32", "debug-copy-pod"), ("kubectl-1.32", "debug-node")}


def _load(version: str, name: str) -> bytes:
    return (FIXTURES / f"kubectl-{version}" / f"{name}.pb").read_bytes()


def test_fixtures_present() -> None:
    assert len(BODIES) == 49


@pytest.mark.parametrize("path", BODIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_reencodes_byte_for_byte(path: Path) -> None:
    body = path.read_bytes()
    assert body.startswith(pb.MAGIC)
    if (path.parent.name, path.stem) in OLDER_SCHEMA:
        # Go 1.33+ writes PodStatus.observedGeneration (a non-pointer int64) as 0; kubectl 1.32's Go
        # types predate it. Same object, 3 more bytes.
        obj = pb.decode(body)
        assert pb.decode(pb.encode(obj)) == obj
        assert len(pb.encode(obj)) == len(body) + 3
    else:
        assert pb.encode(pb.decode(body)) == body


@pytest.mark.parametrize("version", ["1.32", "1.33"])
def test_create_deployment(version: str) -> None:
    assert pb.decode(_load(version, "deployment")) == {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {"name": "web", "namespace": "prod", "creationTimestamp": None, "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}], "resources": {}},
                    {"name": "busybox", "image": "busybox", "resources": {}},
                ]},
            },
            "strategy": {},
        },
        "status": {},
    }


def test_secret_data_is_base64_and_type_kept() -> None:
    obj = pb.decode(_load("1.33", "secret-generic"))
    assert obj["data"] == {"pw": "czNjcjN0IQ==", "user": "YWRtaW4="}
    docker = pb.decode(_load("1.33", "secret-docker-registry"))
    assert docker["type"] == "kubernetes.io/dockerconfigjson"


def test_int_or_string_both_ways() -> None:
    assert pb.decode(_load("1.32", "pdb-min-available"))["spec"]["minAvailable"] == "50%"
    assert pb.decode(_load("1.32", "pdb-max-unavailable"))["spec"]["maxUnavailable"] == 1
    ports = pb.decode(_load("1.32", "service-clusterip"))["spec"]["ports"]
    assert [p["targetPort"] for p in ports] == [8080, 8443]


def test_token_request_and_access_review() -> None:
    token = pb.decode(_load("1.33", "token"))
    assert token["kind"] == "TokenRequest"
    assert token["apiVersion"] == "authentication.k8s.io/v1"
    assert token["spec"] == {"audiences": ["a1", "a2"], "boundObjectRef": None, "expirationSeconds": 3600}
    review = pb.decode(_load("1.33", "auth-can-i-resource"))
    assert review["spec"] == {"resourceAttributes": {"namespace": "prod", "verb": "list", "resource": "pods"}}
    assert review["status"] == {"allowed": False}
    nonres = pb.decode(_load("1.33", "auth-can-i-nonresource"))
    assert nonres["spec"] == {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}}


def test_quota_quantities_and_priority_class() -> None:
    quota = pb.decode(_load("1.32", "quota"))
    assert quota["spec"] == {"hard": {"cpu": "1", "memory": "1Gi", "pods": "10"}, "scopes": ["NotTerminating"]}
    pc = pb.decode(_load("1.32", "priorityclass"))
    assert (pc["value"], pc["description"], pc["preemptionPolicy"]) == (1000, "important", "Never")
    assert "globalDefault" not in pc  # omitempty false


def test_read_type_names_kind_without_decoding() -> None:
    assert pb.read_type(_load("1.32", "clusterrole"))[:2] == ("rbac.authorization.k8s.io/v1", "ClusterRole")


def test_create_role_and_autoscale() -> None:
    role = pb.decode(_load("1.33", "role"))
    assert role["rules"][1] == {"verbs": ["get", "list", "watch"], "apiGroups": ["apps"],
                                "resources": ["deployments"], "resourceNames": ["web"]}
    v2 = pb.decode(_load("1.33", "autoscale-v2"))  # 1.33 tries autoscaling/v2 first, then v1
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    v1 = pb.decode(_load("1.32", "autoscale-v1"))
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 80
    assert v1["spec"]["scaleTargetRef"] == {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}


@pytest.mark.parametrize("version", ["1.32", "1.33"])
def test_go_encoded_full_pod_spec(version: str) -> None:
    """``kubectl debug web --copy-to=web-copy --image=busybox --container=dbg`` read the Pod in
    ``debug-served-pod.json`` (as JSON) and sent its copy as protobuf, encoded by Go: the whole PodSpec
    (probes, volumes, affinity, tolerations, resources, securityContext) plus one debug container."""
    served = json.loads((FIXTURES / "debug-served-pod.json").read_text())
    body = _load(version, "debug-copy-pod")
    copy = pb.decode(body)
    if version != "1.32":  # see test_reencodes_byte_for_byte
        assert pb.encode(copy) == body
    debug_container = copy["spec"]["containers"].pop()
    assert debug_container["name"] == "dbg"
    assert debug_container["image"] == "busybox"
    assert "nodeName" not in copy["spec"]  # the copy is unscheduled
    copy["spec"]["nodeName"] = served["spec"]["nodeName"]
    assert copy["spec"] == pb.decode(pb.encode(served))["spec"]
    assert copy["metadata"]["name"] == "web-copy"


def test_go_encoded_node_debugger_pod() -> None:
    pod = pb.decode(_load("1.33", "debug-node"))
    assert pod["spec"]["volumes"] == [{"name": "host-root", "hostPath": {"path": "/"}}]
    assert pod["spec"]["tolerations"] == [{"operator": "Exists"}]
    assert (pod["spec"]["hostNetwork"], pod["spec"]["hostPID"], pod["spec"]["hostIPC"]) == (True, True, True)
