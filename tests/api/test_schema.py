"""The schema seam: kinds resolve to type trees carrying upstream's patch metadata."""

from __future__ import annotations

import pytest

from sampan.api.schema import ANY, type_for_kind, type_named


def pod_spec():
    pod = type_for_kind("", "v1", "Pod")
    assert pod is not None
    spec = pod.field("spec")
    assert spec is not None
    return spec


def test_unknown_kind_has_no_type() -> None:
    assert type_for_kind("example.com", "v1", "Widget") is None
    assert type_named("io.k8s.api.core.v1.NoSuchThing") is None


def test_core_group_may_be_spelled_core() -> None:
    assert type_for_kind("core", "v1", "Pod") is type_for_kind("", "v1", "Pod")


def test_containers_merge_by_name() -> None:
    containers = pod_spec().field("containers")
    assert containers is not None
    assert containers.kind == "list"
    assert (containers.patch_strategy, containers.patch_merge_key) == ("merge", "name")
    assert containers.list_type == "map"
    assert containers.list_map_keys == ("name",)
    ports = containers.items.field("ports")
    assert ports is not None
    assert ports.patch_merge_key == "containerPort"
    assert ports.list_map_keys == ("containerPort", "protocol")


def test_volumes_merge_and_retain_keys() -> None:
    volumes = pod_spec().field("volumes")
    assert volumes is not None
    assert volumes.strategies == {"merge", "retainKeys"}


def test_tolerations_are_atomic_without_strategy() -> None:
    tolerations = pod_spec().field("tolerations")
    assert tolerations is not None
    assert tolerations.list_type == "atomic"
    assert tolerations.patch_strategy is None


def test_deployment_strategy_retains_keys_on_the_field_not_the_type() -> None:
    deployment = type_for_kind("apps", "v1", "Deployment")
    assert deployment is not None
    strategy = deployment.field("spec").field("strategy")  # type: ignore[union-attr]
    assert strategy is not None
    assert strategy.kind == "struct"
    assert strategy.patch_strategy == "retainKeys"
    assert type_named("io.k8s.api.apps.v1.DeploymentStrategy").patch_strategy is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (("metadata", "labels"), "map"),
        (("metadata", "creationTimestamp"), "scalar"),
        (("spec", "overhead"), "map"),
        (("spec", "nodeName"), "scalar"),
        (("metadata", "finalizers"), "list"),
    ],
)
def test_kinds_of_nodes(path: tuple[str, ...], kind: str) -> None:
    node = type_for_kind("", "v1", "Pod")
    for name in path:
        assert node is not None
        node = node.field(name)
    assert node is not None
    assert node.kind == kind


def test_maps_scalars_and_atomic_structs() -> None:
    spec = pod_spec()
    limits = spec.field("containers").items.field("resources").field("limits")  # type: ignore[union-attr]
    assert limits is not None
    assert limits.values.kind == "scalar"
    assert spec.field("nodeSelector").map_type == "atomic"  # type: ignore[union-attr]
    secrets = spec.field("imagePullSecrets")
    assert secrets is not None
    assert secrets.items.map_type == "atomic"
    assert spec.field("noSuchField") is None
    assert "containers" in spec.field_names


def test_schemaless_values_are_any_all_the_way_down() -> None:
    crd = type_for_kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
    assert crd is not None
    schema = crd.field("spec").field("versions").items.field("schema")  # type: ignore[union-attr]
    default = schema.field("openAPIV3Schema").field("default")  # type: ignore[union-attr]
    assert default is not None
    assert default.kind == "any"
    assert default.field("x") is ANY
    assert default.items is ANY
    assert default.values is ANY


def test_wrong_accessor_raises_type_error() -> None:
    with pytest.raises(TypeError):
        _ = pod_spec().items
    with pytest.raises(TypeError):
        _ = pod_spec().values


def test_nodes_are_shared() -> None:
    assert pod_spec().field("containers") is pod_spec().field("containers")
