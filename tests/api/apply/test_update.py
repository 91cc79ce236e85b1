"""managedFields bookkeeping on ordinary writes (create, PUT, non-apply PATCH)."""

from __future__ import annotations

import copy
import json
from typing import Any

from sampan.api.apply import apply, make_path, update_managed_fields
from tests.api.apply.objects import DEPLOYMENT, deployment, entries, fields, stored
from tests.api.apply.test_fieldsv1 import UPSTREAM_CREATE


def write(old: dict[str, Any] | None, new: dict[str, Any], manager: str, *, now: float = 100.0,
          subresource: str = "", ignored: Any = None) -> dict[str, Any]:
    return update_managed_fields(old, new, manager=manager, now=now, type_node=DEPLOYMENT,
                                 subresource=subresource, ignored=ignored)


def created(manager: str = "kubectl-create") -> dict[str, Any]:
    return stored(write(None, deployment(labels={"app": "web"}), manager, now=0))


def test_create_records_update_entry_with_dots_for_new_maps() -> None:
    obj = created()
    [entry] = obj["metadata"]["managedFields"]
    assert {k: entry[k] for k in ("manager", "operation", "apiVersion", "time")} == {
        "manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1", "time": "1970-01-01T00:00:00Z",
    }
    assert entry["fieldsV1"]["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert "f:name" not in entry["fieldsV1"]["f:metadata"]  # metadata.name is never owned


def test_put_moves_changed_fields_to_the_writer() -> None:
    obj = created()
    new = copy.deepcopy(obj)
    new["spec"]["replicas"] = 7
    out = write(obj, new, "kubectl-edit", now=500)
    assert fields(out, "kubectl-edit") == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in fields(out, "kubectl-create")["f:spec"]
    assert entries(out)["kubectl-create"]["time"] == "1970-01-01T00:00:00Z"
    assert entries(out)["kubectl-edit"]["time"] == "1970-01-01T00:08:20Z"
    # A second edit by the same manager merges into its entry.
    newer = copy.deepcopy(out)
    newer["spec"]["minReadySeconds"] = 2
    out2 = write(out, newer, "kubectl-edit", now=600)
    assert fields(out2, "kubectl-edit") == {"f:spec": {"f:minReadySeconds": {}, "f:replicas": {}}}


def test_noop_write_keeps_times() -> None:
    obj = created()
    out = write(obj, copy.deepcopy(obj), "kubectl-edit", now=900)
    assert out["metadata"]["managedFields"] == obj["metadata"]["managedFields"]


def test_removing_a_field_removes_it_from_every_owner() -> None:
    obj = created()
    new = copy.deepcopy(obj)
    del new["metadata"]["labels"]
    out = write(obj, new, "kubectl-edit")
    assert "f:metadata" not in fields(out, "kubectl-create")
    assert "kubectl-edit" not in entries(out)  # it removed things but owns nothing


def test_update_takes_fields_from_an_applier_who_then_conflicts() -> None:
    live = stored(apply(None, deployment(replicas=2), manager="ssa", force=False, type_node=DEPLOYMENT, now=1))
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 4
    out = write(live, new, "hpa")
    assert "f:replicas" not in fields(out, "ssa")["f:spec"]
    assert fields(out, "hpa") == {"f:spec": {"f:replicas": {}}}


def test_untracked_objects_stay_untracked() -> None:
    untracked = stored(deployment())
    new = copy.deepcopy(untracked)
    new["spec"]["replicas"] = 5
    assert "managedFields" not in write(untracked, new, "kubectl-edit")["metadata"]


def test_empty_list_or_one_empty_entry_resets() -> None:
    obj = created()
    resets: list[list[dict[str, Any]]] = [[], [{}]]
    for reset in resets:
        new = copy.deepcopy(obj)
        new["metadata"]["managedFields"] = reset
        new["spec"]["replicas"] = 9
        assert "managedFields" not in write(obj, new, "kubectl-edit")["metadata"]


def test_request_managed_fields_replace_the_baseline() -> None:
    obj = created()
    new = copy.deepcopy(obj)
    new["metadata"]["managedFields"] = [{
        "manager": "imported", "operation": "Update", "apiVersion": "apps/v1", "time": "2020-01-01T00:00:00Z",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:paused": {}}},
    }]
    out = write(obj, new, "kubectl-replace")
    assert set(entries(out)) == {"imported"}
    # Garbage in the request falls back to the live list.
    bad = copy.deepcopy(obj)
    bad["metadata"]["managedFields"] = [{"manager": "x", "operation": "Patch"}]
    assert write(obj, bad, "w")["metadata"]["managedFields"] == obj["metadata"]["managedFields"]


def test_subresource_writes_are_recorded_with_the_subresource() -> None:
    obj = created()
    new = copy.deepcopy(obj)
    new["status"] = {"replicas": 2}
    new["metadata"]["managedFields"] = []  # ignored for subresources
    out = write(obj, new, "kube-controller-manager", subresource="status")
    entry = entries(out)["kube-controller-manager"]
    assert entry["subresource"] == "status"
    assert list(entry)[-1] == "subresource"
    assert entry["fieldsV1"] == {"f:status": {".": {}, "f:replicas": {}}}
    assert "kubectl-create" in entries(out)


def test_reset_fields_are_not_recorded() -> None:
    obj = created()
    new = copy.deepcopy(obj)
    new["status"] = {"replicas": 2}
    out = write(obj, new, "someone", ignored=[make_path("status")])
    assert "someone" not in entries(out)


def test_update_managers_are_capped_at_ten() -> None:
    obj = created("m00")
    for i in range(1, 13):
        new = copy.deepcopy(obj)
        new["metadata"].setdefault("annotations", {})[f"k{i}"] = "v"
        obj = write(obj, new, f"m{i:02d}", now=100 + i)
    names = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(names) == 10
    assert "ancient-changes" in names
    ancient = fields(obj, "ancient-changes")
    assert "f:labels" in ancient["f:metadata"]
    assert "f:k1" in ancient["f:metadata"]["f:annotations"]


def test_entries_are_sorted_apply_first_then_by_time() -> None:
    obj = created("zeta")
    new = copy.deepcopy(obj)
    new["spec"]["paused"] = True
    obj = write(obj, new, "alpha", now=50)
    obj = stored(apply(obj, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                             "spec": {"minReadySeconds": 1}}, manager="ssa", force=False, type_node=DEPLOYMENT,
                       now=60))
    assert [(e["manager"], e["operation"]) for e in obj["metadata"]["managedFields"]] == [
        ("ssa", "Apply"), ("zeta", "Update"), ("alpha", "Update"),
    ]


def test_create_matches_upstream_record_byte_for_byte() -> None:
    """What kube-apiserver stores for `kubectl create deployment web --image=nginx` (defaulted object)."""
    defaulted = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "nginx"}, "creationTimestamp": None},
        "spec": {
            "replicas": 1, "selector": {"matchLabels": {"app": "nginx"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {
                    "containers": [{
                        "name": "nginx", "image": "nginx", "imagePullPolicy": "Always", "resources": {},
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                    }],
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                    "securityContext": {}, "terminationGracePeriodSeconds": 30,
                },
            },
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
        },
        "status": {},
    }
    out = write(None, defaulted, "kubectl-create", now=0)
    encoded = json.dumps(fields(out, "kubectl-create"), separators=(",", ":"))
    assert encoded == UPSTREAM_CREATE
