"""Property tests: applying the strategic merge patch computed between two objects yields the second.

Objects are generated in the shape the API server stores (merge keys unique within a merge list, no null
values), over the fields whose strategies matter: containers/initContainers (merge by name) with ports
(by containerPort) and env (by name), volumes (merge + retainKeys), tolerations (atomic), finalizers
(primitive merge list), labels/annotations/nodeSelector (maps) and a Deployment's strategy (retainKeys).
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sampan.api.patches import apply_merge_patch, apply_strategic_merge_patch, create_merge_patch, create_two_way
from sampan.api.schema import type_for_kind

POD = type_for_kind("", "v1", "Pod")
DEPLOYMENT = type_for_kind("apps", "v1", "Deployment")

short = st.text(alphabet="xyz01", max_size=3)
string_maps = st.dictionaries(st.sampled_from(["app", "tier", "k8s.io/x", "a~b"]), short, max_size=3)

port = st.fixed_dictionaries(
    {"containerPort": st.sampled_from([80, 443, 8080, 9090])},
    optional={"name": st.sampled_from(["http", "https"]), "protocol": st.sampled_from(["TCP", "UDP"])},
)
env_var = st.fixed_dictionaries(
    {"name": st.sampled_from(["A", "B", "C"])},
    optional={"value": short, "valueFrom": st.just({"fieldRef": {"fieldPath": "metadata.name"}})},
)
container = st.fixed_dictionaries(
    {"name": st.sampled_from(["web", "side", "init", "log", "db"])},
    optional={
        "image": st.sampled_from(["nginx:1", "nginx:2", "busybox"]),
        "ports": st.lists(port, max_size=3, unique_by=lambda p: p["containerPort"]),
        "env": st.lists(env_var, max_size=3, unique_by=lambda e: e["name"]),
        "command": st.lists(short, max_size=3),
        "resources": st.fixed_dictionaries({}, optional={"limits": st.dictionaries(
            st.sampled_from(["cpu", "memory"]), st.sampled_from(["1", "500m", "1Gi"]), max_size=2)}),
    },
)
volume = st.fixed_dictionaries(
    {"name": st.sampled_from(["data", "cache", "conf"])},
    optional={
        "emptyDir": st.just({}) | st.just({"medium": "Memory"}),
        "hostPath": st.fixed_dictionaries({"path": st.sampled_from(["/a", "/b"])}),
        "secret": st.fixed_dictionaries({"secretName": short}),
    },
)
toleration = st.fixed_dictionaries(
    {}, optional={"key": st.sampled_from(["a", "b"]), "operator": st.sampled_from(["Exists", "Equal"]),
                  "effect": st.sampled_from(["NoSchedule", "NoExecute"])},
)
pod_spec = st.fixed_dictionaries(
    {"containers": st.lists(container, max_size=4, unique_by=lambda c: c["name"])},
    optional={
        "initContainers": st.lists(container, max_size=2, unique_by=lambda c: c["name"]),
        "volumes": st.lists(volume, max_size=3, unique_by=lambda v: v["name"]),
        "tolerations": st.lists(toleration, max_size=3),
        "nodeSelector": string_maps,
        "nodeName": short,
        "securityContext": st.fixed_dictionaries({}, optional={"runAsUser": st.integers(0, 3)}),
    },
)
metadata = st.fixed_dictionaries(
    {"name": st.just("p")},
    optional={
        "labels": string_maps,
        "annotations": string_maps,
        "finalizers": st.lists(st.sampled_from(["a/x", "b/y", "c/z", "d"]), max_size=4, unique=True),
    },
)
pods = st.fixed_dictionaries(
    {"apiVersion": st.just("v1"), "kind": st.just("Pod"), "metadata": metadata}, optional={"spec": pod_spec}
)
strategy = st.fixed_dictionaries(
    {}, optional={"type": st.sampled_from(["RollingUpdate", "Recreate"]),
                  "rollingUpdate": st.fixed_dictionaries({}, optional={"maxSurge": st.sampled_from([1, "25%"]),
                                                                       "maxUnavailable": st.just(0)})},
)
deployments = st.fixed_dictionaries(
    {"metadata": metadata},
    optional={"spec": st.fixed_dictionaries(
        {}, optional={"replicas": st.integers(0, 3), "strategy": strategy,
                      "template": st.fixed_dictionaries({"spec": pod_spec})})},
)


@given(pods, pods)
def test_pod_two_way_patch_round_trips(a: dict[str, Any], b: dict[str, Any]) -> None:
    a_before, b_before = copy.deepcopy(a), copy.deepcopy(b)
    patch = create_two_way(a, b, POD)
    assert apply_strategic_merge_patch(a, orjson.dumps(patch), POD) == b
    assert (a, b) == (a_before, b_before)


@given(deployments, deployments)
def test_deployment_two_way_patch_round_trips(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert apply_strategic_merge_patch(a, create_two_way(a, b, DEPLOYMENT), DEPLOYMENT) == b


@given(pods)
def test_patch_between_equal_objects_is_empty(a: dict[str, Any]) -> None:
    assert create_two_way(a, copy.deepcopy(a), POD) == {}


@given(pods, pods)
def test_applying_twice_is_idempotent(a: dict[str, Any], b: dict[str, Any]) -> None:
    patch = create_two_way(a, b, POD)
    once = apply_strategic_merge_patch(a, patch, POD)
    assert apply_strategic_merge_patch(once, patch, POD) == once


plain_keys = st.sampled_from(["a", "b", "c", "d"])
plain_values = st.recursive(
    st.booleans() | st.integers(-5, 5) | short,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(plain_keys, inner, max_size=3),
    max_leaves=12,
)
plain_objects = st.dictionaries(plain_keys, plain_values, max_size=4)


@given(plain_objects, plain_objects)
def test_without_schema_round_trips_and_equals_merge_patch(a: dict[str, Any], b: dict[str, Any]) -> None:
    patch = create_two_way(a, b, None)
    assert apply_strategic_merge_patch(a, patch, None) == b
    merge_patch = create_merge_patch(a, b)
    assert apply_strategic_merge_patch(a, merge_patch, None) == apply_merge_patch(a, merge_patch) == b


SIDECAR = {"name": "injected-sidecar", "image": "proxy"}
DEFAULT_PATH = "/dev/termination-log"


def _live(obj: dict[str, Any]) -> dict[str, Any]:
    """What the server holds after creating ``obj``: defaults filled in, a sidecar injected, a status."""
    live = copy.deepcopy(obj)
    spec = live.setdefault("spec", {"containers": []})
    for c in spec["containers"]:
        c.setdefault("terminationMessagePath", DEFAULT_PATH)
    spec["containers"].append(copy.deepcopy(SIDECAR))
    live["status"] = {"phase": "Running"}
    return live


def _strip_server_fields(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out.pop("status", None)
    spec = out.get("spec") or {}
    spec["containers"] = [c for c in spec.get("containers", []) if c.get("name") != SIDECAR["name"]]
    for c in spec["containers"]:
        c.pop("terminationMessagePath", None)
    return out


with_spec = pods.filter(lambda p: "spec" in p)


@given(with_spec, with_spec)
def test_patch_keeps_server_only_fields_and_elements(a: dict[str, Any], b: dict[str, Any]) -> None:
    """kubectl's patch, applied to the live object, changes what the user changed and nothing else."""
    result = apply_strategic_merge_patch(_live(a), create_two_way(a, b, POD), POD)
    assert _strip_server_fields(result) == b
    assert result["status"] == {"phase": "Running"}
    assert SIDECAR in result["spec"]["containers"]
    kept = {c["name"] for c in a["spec"]["containers"]} & {c["name"] for c in b["spec"]["containers"]}
    for c in result["spec"]["containers"]:
        if c["name"] in kept:
            assert c["terminationMessagePath"] == DEFAULT_PATH


@given(pods, pods)
def test_owned_application_equals_the_pure_one(a: dict[str, Any], b: dict[str, Any]) -> None:
    """``owned=True`` (the API server's PATCH: the target is a private decode) patches in place and gives
    exactly the pure result, for each of the three algorithms."""
    from sampan.api.patches import JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, apply_patch

    bodies = {STRATEGIC_MERGE_PATCH: orjson.dumps(create_two_way(a, b, POD)),
              MERGE_PATCH: orjson.dumps(create_merge_patch(a, b)),
              JSON_PATCH: orjson.dumps([{"op": "replace", "path": "/metadata", "value": b["metadata"]}])}
    for kind, body in bodies.items():
        pure = apply_patch(kind, a, body, type_node=POD)
        target = copy.deepcopy(a)
        assert apply_patch(kind, target, body, type_node=POD, owned=True) == pure
        if kind != JSON_PATCH:
            assert pure == b
