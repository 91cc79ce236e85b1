"""Server-side apply scenarios, written from upstream's documented semantics."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sampan.api import errors
from sampan.api.apply import apply, make_path, update_managed_fields
from tests.api.apply.objects import CONFIGMAP, DEPLOYMENT, deployment, entries, fields, partial, stored


def ssa(live: dict[str, Any] | None, config: dict[str, Any], manager: str, *, force: bool = False,
        now: float = 1000.0, type_node: Any = DEPLOYMENT) -> dict[str, Any]:
    out = apply(live, config, manager=manager, force=force, type_node=type_node, now=now)
    return stored(out) if live is None else out


def test_create_records_apply_entry_exactly() -> None:
    config = deployment(containers=[{"name": "nginx", "image": "nginx:1", "ports": [{"containerPort": 80}]}])
    obj = ssa(None, config, "mgr1", now=0)
    assert obj["spec"]["replicas"] == 2
    [entry] = obj["metadata"]["managedFields"]
    assert list(entry) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]
    assert entry["operation"] == "Apply"
    assert entry["apiVersion"] == "apps/v1"
    assert entry["time"] == "1970-01-01T00:00:00Z"
    assert entry["fieldsType"] == "FieldsV1"
    assert json.dumps(entry["fieldsV1"], separators=(",", ":")) == (
        '{"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},'
        '"f:spec":{"f:containers":{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:name":{},'
        '"f:ports":{"k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:containerPort":{}}}}}}}}}'
    )


def test_two_managers_on_replicas_conflict() -> None:
    live = ssa(None, deployment(replicas=2), "mgr1")
    with pytest.raises(errors.Conflict) as caught:
        ssa(live, partial(replicas=3), "mgr2")
    err = caught.value
    assert err.message == 'Apply failed with 1 conflict: conflict with "mgr1": .spec.replicas'
    status = err.to_status()
    assert status["code"] == 409
    assert status["reason"] == "Conflict"
    assert status["details"] == {"causes": [
        {"reason": "FieldManagerConflict", "message": 'conflict with "mgr1"', "field": ".spec.replicas"},
    ]}


def test_force_takes_ownership() -> None:
    live = ssa(None, deployment(replicas=2), "mgr1")
    out = ssa(live, partial(replicas=3), "mgr2", force=True, now=2000)
    assert out["spec"]["replicas"] == 3
    assert fields(out, "mgr2") == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in fields(out, "mgr1")["f:spec"]
    assert entries(out)["mgr1"]["time"] == entries(live)["mgr1"]["time"]
    assert entries(out)["mgr2"]["time"] == "1970-01-01T00:33:20Z"
    # mgr1 re-applying its old value now conflicts with mgr2.
    with pytest.raises(errors.Conflict, match=r'conflict with "mgr2": \.spec\.replicas'):
        ssa(out, deployment(replicas=2), "mgr1")


def test_same_value_is_shared_not_a_conflict() -> None:
    live = ssa(None, deployment(replicas=2), "mgr1")
    out = ssa(live, partial(replicas=2), "mgr2")
    assert out["spec"] == live["spec"]
    assert "f:replicas" in fields(out, "mgr1")["f:spec"]
    assert fields(out, "mgr2") == {"f:spec": {"f:replicas": {}}}
    assert "time" not in entries(out)["mgr2"]  # the object did not change: upstream leaves no time


def test_dropping_a_field_removes_it() -> None:
    live = ssa(None, deployment(labels={"team": "a", "tier": "web"}), "mgr1")
    out = ssa(live, deployment(labels={"tier": "web"}, replicas=None), "mgr1")
    assert out["metadata"]["labels"] == {"tier": "web"}
    assert "replicas" not in out["spec"]
    out2 = ssa(out, deployment(labels=None, replicas=None), "mgr1")
    assert "labels" not in out2["metadata"]


def test_dropped_field_stays_when_someone_else_owns_it() -> None:
    live = ssa(None, deployment(labels={"team": "a"}), "mgr1")
    live = ssa(live, {**partial(), "metadata": {"name": "web", "labels": {"team": "a"}}}, "mgr2")
    out = ssa(live, deployment(labels=None), "mgr1")
    assert out["metadata"]["labels"] == {"team": "a"}
    # ... and an Update manager's ownership keeps it too.
    edited = copy.deepcopy(out)
    edited["spec"]["paused"] = True
    edited = update_managed_fields(out, edited, manager="kubectl-edit", now=3000, type_node=DEPLOYMENT)
    again = ssa(edited, deployment(labels=None), "mgr1")
    assert again["spec"]["paused"] is True


def test_fields_set_by_others_are_never_pruned() -> None:
    live = ssa(None, deployment(), "mgr1")
    written = copy.deepcopy(live)
    written["spec"]["minReadySeconds"] = 5
    written = update_managed_fields(live, written, manager="kubectl-edit", now=1500, type_node=DEPLOYMENT)
    out = ssa(written, deployment(replicas=None), "mgr1")
    assert out["spec"]["minReadySeconds"] == 5
    assert "replicas" not in out["spec"]


def test_containers_merge_by_name() -> None:
    live = ssa(None, deployment(containers=[{"name": "app", "image": "app:1"}]), "mgr1")
    sidecar = partial(template={"spec": {"containers": [{"name": "proxy", "image": "envoy:1"}]}})
    live = ssa(live, sidecar, "mesh")
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["app", "proxy"]
    out = ssa(live, deployment(containers=[{"name": "app", "image": "app:2"}]), "mgr1")
    assert out["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "image": "app:2"}, {"name": "proxy", "image": "envoy:1"},
    ]
    # The mesh drops its sidecar: only that item goes.
    out = ssa(out, partial(template={"spec": {"containers": []}}), "mesh")
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "app", "image": "app:2"}]
    assert "mesh" not in entries(out)


def test_container_image_conflict_names_the_item() -> None:
    live = ssa(None, deployment(containers=[{"name": "app", "image": "app:1"}]), "mgr1")
    with pytest.raises(errors.Conflict) as caught:
        ssa(live, partial(template={"spec": {"containers": [{"name": "app", "image": "app:9"}]}}), "ci")
    assert caught.value.details == {"causes": [{
        "reason": "FieldManagerConflict", "message": 'conflict with "mgr1"',
        "field": '.spec.template.spec.containers[name="app"].image',
    }]}


def test_labels_map_is_granular() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"x": "1"}}
    live = ssa(None, cm, "one", type_node=CONFIGMAP)
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"b": "2"}},
             "data": {"y": "2"}}
    out = ssa(live, other, "two", type_node=CONFIGMAP)
    assert out["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert out["data"] == {"x": "1", "y": "2"}
    assert fields(out, "two") == {"f:data": {"f:y": {}}, "f:metadata": {"f:labels": {"f:b": {}}}}


def test_atomic_map_and_atomic_struct_are_owned_whole() -> None:
    live = ssa(None, deployment(), "mgr1")
    selector = partial(selector={"matchLabels": {"app": "web", "extra": "x"}})
    with pytest.raises(errors.Conflict, match=r"\.spec\.selector$"):
        ssa(live, selector, "mgr2")
    node_sel = partial(template={"spec": {"nodeSelector": {"disk": "ssd"}}})
    out = ssa(live, node_sel, "mgr2")
    out = ssa(out, partial(template={"spec": {"nodeSelector": {"zone": "a"}}}), "mgr2")
    assert out["spec"]["template"]["spec"]["nodeSelector"] == {"zone": "a"}  # replaced, not merged


def test_set_lists_merge_by_value() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a.io/x"]}}
    live = ssa(None, cm, "one", type_node=CONFIGMAP)
    mine = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["b.io/y"]}}
    out = ssa(live, mine, "two", type_node=CONFIGMAP)
    assert out["metadata"]["finalizers"] == ["a.io/x", "b.io/y"]
    assert fields(out, "two") == {"f:metadata": {"f:finalizers": {'v:"b.io/y"': {}}}}
    out = ssa(out, {**cm, "metadata": {"name": "c"}}, "one", type_node=CONFIGMAP)
    assert out["metadata"]["finalizers"] == ["b.io/y"]


def test_unknown_kind_maps_granular_lists_atomic() -> None:
    cr = {"apiVersion": "x.io/v1", "kind": "Widget", "metadata": {"name": "w", "labels": {"a": "b"}},
          "spec": {"size": 1, "tags": ["a"], "nested": {"k": "v"}}}
    live = ssa(None, cr, "one", type_node=None)
    assert fields(live, "one") == {  # metadata is still ObjectMeta: no "." on it or on labels
        "f:metadata": {"f:labels": {"f:a": {}}},
        "f:spec": {".": {}, "f:nested": {".": {}, "f:k": {}}, "f:size": {}, "f:tags": {}},
    }
    out = ssa(live, {**cr, "spec": {"tags": ["b"], "other": True}}, "two", force=True, type_node=None)
    assert out["spec"] == {"size": 1, "tags": ["b"], "nested": {"k": "v"}, "other": True}
    with pytest.raises(errors.Conflict, match=r"\.spec\.tags"):
        ssa(out, cr, "two-b", type_node=None)


def test_reapplying_is_a_no_op() -> None:
    live = ssa(None, deployment(), "mgr1", now=10)
    again = ssa(live, deployment(), "mgr1", now=99999)
    assert again == live


def test_several_conflicts_grouped_by_manager() -> None:
    live = ssa(None, deployment(labels={"a": "1"}), "alpha")
    edited = copy.deepcopy(live)
    edited["spec"]["minReadySeconds"] = 3
    live = update_managed_fields(live, edited, manager="kubectl-edit", now=50, type_node=DEPLOYMENT)
    config = {**partial(replicas=5, minReadySeconds=4), "metadata": {"name": "web", "labels": {"a": "2"}}}
    with pytest.raises(errors.Conflict) as caught:
        ssa(live, config, "beta")
    assert caught.value.message == (
        'Apply failed with 3 conflicts: conflicts with "alpha":\n'
        "- .metadata.labels.a\n"
        "- .spec.replicas\n"
        'conflicts with "kubectl-edit" using apps/v1:\n'
        "- .spec.minReadySeconds"
    )
    assert [c["field"] for c in (caught.value.details or {})["causes"]] == [
        ".metadata.labels.a", ".spec.replicas", ".spec.minReadySeconds",
    ]


def test_first_apply_over_untracked_object_conflicts_with_before_first_apply() -> None:
    untracked = stored(deployment(replicas=1))
    with pytest.raises(errors.Conflict) as caught:
        ssa(untracked, partial(replicas=4), "mgr")
    assert caught.value.message == (
        'Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas'
    )
    out = ssa(untracked, partial(replicas=4), "mgr", force=True)
    assert set(entries(out)) == {"mgr", "before-first-apply"}
    assert entries(out)["before-first-apply"]["operation"] == "Update"


def test_kubectl_apply_forgives_conflicts_recorded_by_client_side_apply() -> None:
    last = deployment(replicas=1)
    created = copy.deepcopy(last)
    created["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(last)}
    live = update_managed_fields(None, created, manager="kubectl-client-side-apply", now=5, type_node=DEPLOYMENT)
    live = stored(live)
    config = deployment(replicas=3)
    with pytest.raises(errors.Conflict):
        ssa(live, config, "someone-else")
    out = ssa(live, config, "kubectl")
    assert out["spec"]["replicas"] == 3
    recorded = out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert json.loads(recorded) == config
    assert recorded.endswith("\n")
    # A conflict the annotation does not explain still fails.
    changed = copy.deepcopy(out)
    changed["spec"]["minReadySeconds"] = 7
    changed = update_managed_fields(out, changed, manager="kubectl-edit", now=6, type_node=DEPLOYMENT)
    with pytest.raises(errors.Conflict, match="minReadySeconds"):
        ssa(changed, {**config, "spec": {**config["spec"], "minReadySeconds": 9}}, "kubectl")


def test_reset_fields_are_merged_but_never_owned() -> None:
    config = {**deployment(), "status": {"replicas": 9}}
    out = apply(None, config, manager="m", force=False, type_node=DEPLOYMENT, now=1, ignored=[make_path("status")])
    assert "f:status" not in fields(out, "m")


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({**deployment(), "metadata": {"name": "web", "managedFields": []}}, errors.BadRequest,
         "metadata.managedFields must be nil"),
        ({**deployment(), "kind": "ReplicaSet"}, errors.BadRequest, "invalid object type: apps/v1, Kind=ReplicaSet"),
        ({"metadata": {"name": "web"}}, errors.BadRequest, "invalid object type: /, Kind="),
        (deployment(containers=[{"name": "a"}, {"name": "a"}]), errors.InternalError,
         'failed to create typed patch object (default/web; apps/v1, Kind=Deployment): '
         '.spec.template.spec.containers: duplicate entries for key [name="a"]'),
        (deployment(containers=[{"image": "x"}]), errors.InternalError,
         "element 0: associative list with keys has an element that omits all key fields"),
    ],
)
def test_bad_configurations(config: dict[str, Any], error: type[errors.APIError], message: str) -> None:
    live = ssa(None, deployment(), "mgr1")
    before = copy.deepcopy(live)
    with pytest.raises(error) as caught:
        ssa(live, config, "mgr1")
    assert message in caught.value.message
    assert live == before


def test_undecodable_live_managed_fields_fail_the_apply() -> None:
    live = stored(deployment())
    live["metadata"]["managedFields"] = [{"manager": "x", "operation": "Delete", "apiVersion": "v1"}]
    with pytest.raises(errors.InternalError, match="operation must be `Apply` or `Update`"):
        ssa(live, deployment(), "m")


def test_list_order_follows_the_configuration_around_live_only_items() -> None:
    def cs(*names: str) -> list[dict[str, str]]:
        return [{"name": n, "image": "i"} for n in names]

    live = ssa(None, deployment(containers=cs("a", "b", "c")), "one")
    live = ssa(live, partial(template={"spec": {"containers": cs("b")}}), "two")
    out = ssa(live, deployment(containers=cs("c", "a")), "one")
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["b", "c", "a"]


def test_subresource_managers_are_named_with_their_subresource() -> None:
    live = ssa(None, {**deployment(), "status": {"replicas": 1}}, "ctrl")
    live = stored(apply(live, {**partial(), "status": {"replicas": 1}}, manager="ctrl", force=False,
                        type_node=DEPLOYMENT, now=5, subresource="status"))
    with pytest.raises(errors.Conflict) as caught:
        apply(live, {**partial(), "status": {"replicas": 2}}, manager="other", force=False, type_node=DEPLOYMENT,
              now=6, subresource="status")
    assert 'conflicts with "ctrl" with subresource "status":' in caught.value.message
    entry = next(e for e in live["metadata"]["managedFields"] if e.get("subresource") == "status")
    assert entry["manager"] == "ctrl"
