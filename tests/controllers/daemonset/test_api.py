"""DaemonSets and ControllerRevisions as served: strategy unit checks, and CRUD through the official
``kubernetes`` Python client's AppsV1Api against a real ``sampan apiserver`` process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sampan.apiserver.registry.controllerrevisions import ControllerRevisionStrategy
from sampan.apiserver.registry.daemonsets import TEMPLATE_GENERATION, DaemonSetStrategy
from tests.support.pyclient import official_client


def daemonset(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "a", "image": "agent:1"}]}}, **spec}}


def test_daemonset_defaults_validation_generation_and_table() -> None:
    s = DaemonSetStrategy()
    obj = daemonset()
    s.prepare_for_create(obj)
    assert obj["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1,
                                                                                         "maxSurge": 0}}
    assert obj["spec"]["revisionHistoryLimit"] == 10
    assert obj["metadata"]["annotations"][TEMPLATE_GENERATION] == "1"
    assert s.validate(obj) == []
    new = daemonset()
    new["metadata"]["annotations"] = dict(obj["metadata"]["annotations"])
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "agent:2"
    s.prepare_for_update(new, obj)
    assert new["metadata"]["annotations"][TEMPLATE_GENERATION] == "2"
    bad = daemonset(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}})
    s.prepare_for_create(bad)
    assert [c.field for c in s.validate(bad)] == ["spec.updateStrategy.rollingUpdate.maxUnavailable"]
    bad = daemonset(updateStrategy={"type": "Recreate"})
    s.prepare_for_create(bad)
    assert [c.field for c in s.validate(bad)] == ["spec.updateStrategy.type"]
    changed = daemonset(selector={"matchLabels": {"app": "agent", "x": "y"}})
    changed["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    changed["metadata"]["annotations"] = dict(obj["metadata"]["annotations"])
    s.prepare_for_update(changed, obj)
    assert [c.field for c in s.validate_update(changed, obj)] == ["spec.selector"]
    obj["status"] = {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                     "updatedNumberScheduled": 1, "numberAvailable": 2}
    obj["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    assert s.row_cells(obj, 1_704_067_260.0)[:6] == [3, 3, 2, 1, 2, "disk=ssd"]


def test_controllerrevision_validation_and_table() -> None:
    s = ControllerRevisionStrategy()
    rev = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
           "metadata": {"name": "agent-abc", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z",
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
                                             "uid": "u", "controller": True}]},
           "data": {"spec": {}}, "revision": 2}
    assert s.validate(rev) == []
    assert s.row_cells(rev, 1_704_067_260.0)[:2] == ["daemonset.apps/agent", 2]
    assert [c.field for c in s.validate({**rev, "revision": -1})] == ["revision"]
    assert [c.field for c in s.validate_update({**rev, "data": {"spec": {"x": 1}}}, rev)] == ["data"]


@pytest.mark.slow
def test_official_client_daemonset_crud(tmp_path: Path) -> None:
    from kubernetes import client as k

    with official_client(tmp_path) as (api_client, _server):
        apps = k.AppsV1Api(api_client)
        body = k.V1DaemonSet(
            metadata=k.V1ObjectMeta(name="agent"),
            spec=k.V1DaemonSetSpec(
                selector=k.V1LabelSelector(match_labels={"app": "agent"}),
                template=k.V1PodTemplateSpec(metadata=k.V1ObjectMeta(labels={"app": "agent"}),
                                             spec=k.V1PodSpec(containers=[k.V1Container(name="a", image="agent:1")]))))
        created = apps.create_namespaced_daemon_set("default", body)
        assert created.spec.update_strategy.type == "RollingUpdate"
        assert created.spec.update_strategy.rolling_update.max_unavailable == 1
        assert created.status.desired_number_scheduled == 0
        assert [d.metadata.name for d in apps.list_namespaced_daemon_set("default").items] == ["agent"]
        assert [d.metadata.name for d in apps.list_daemon_set_for_all_namespaces().items] == ["agent"]
        patched = apps.patch_namespaced_daemon_set("agent", "default", {"spec": {"template": {"spec": {
            "containers": [{"name": "a", "image": "agent:2"}]}}}})
        assert patched.spec.template.spec.containers[0].image == "agent:2"
        assert patched.metadata.generation == 2
        assert patched.metadata.annotations[TEMPLATE_GENERATION] == "2"
        patched.status.desired_number_scheduled = 2
        patched.status.number_ready = 1
        status = apps.replace_namespaced_daemon_set_status("agent", "default", patched)
        assert status.status.desired_number_scheduled == 2
        got = apps.read_namespaced_daemon_set("agent", "default")
        assert got.status.number_ready == 1
        rev = apps.create_namespaced_controller_revision("default", k.V1ControllerRevision(
            metadata=k.V1ObjectMeta(name="agent-1"), data={"spec": {"template": {}}}, revision=1))
        assert rev.revision == 1
        assert [r.metadata.name for r in apps.list_namespaced_controller_revision("default").items] == ["agent-1"]
        apps.delete_namespaced_daemon_set("agent", "default")
        apps.delete_namespaced_controller_revision("agent-1", "default")
        assert apps.list_namespaced_daemon_set("default").items == []
