"""The catalog and the contract every built-in strategy keeps, whatever the input."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import BaseStrategy
from sampan.apiserver.registry.catalog import Catalog

CATALOG = Catalog.builtin()
STRATEGIES = CATALOG.strategies()
IDS = [f"{s.info.group or 'core'}/{s.info.resource}" for s in STRATEGIES]

EXPECTED = [
    ("", "bindings"), ("", "componentstatuses"), ("", "configmaps"), ("", "endpoints"), ("", "events"),
    ("", "limitranges"), ("", "namespaces"), ("", "nodes"),
    ("", "persistentvolumeclaims"), ("", "persistentvolumes"), ("", "pods"), ("", "podtemplates"),
    ("", "replicationcontrollers"), ("", "resourcequotas"), ("", "secrets"), ("", "serviceaccounts"), ("", "services"),
    ("apiregistration.k8s.io", "apiservices"),
    ("apps", "controllerrevisions"), ("apps", "daemonsets"), ("apps", "deployments"), ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("events.k8s.io", "events"),
    ("authentication.k8s.io", "selfsubjectreviews"),
    ("authentication.k8s.io", "tokenreviews"),
    ("authorization.k8s.io", "localsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
    ("authorization.k8s.io", "subjectaccessreviews"),
    ("autoscaling", "horizontalpodautoscalers"), ("autoscaling", "horizontalpodautoscalers"),  # v2, v1
    ("batch", "cronjobs"), ("batch", "jobs"),
    ("certificates.k8s.io", "certificatesigningrequests"),
    ("networking.k8s.io", "ingressclasses"), ("networking.k8s.io", "ingresses"),
    ("networking.k8s.io", "networkpolicies"),
    ("policy", "poddisruptionbudgets"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"), ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "rolebindings"), ("rbac.authorization.k8s.io", "roles"),
    ("storage.k8s.io", "csidrivers"), ("storage.k8s.io", "csinodes"), ("storage.k8s.io", "csistoragecapacities"),
    ("storage.k8s.io", "storageclasses"), ("storage.k8s.io", "volumeattachments"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("scheduling.k8s.io", "priorityclasses"),
    ("coordination.k8s.io", "leases"),
    ("discovery.k8s.io", "endpointslices"),
    ("flowcontrol.apiserver.k8s.io", "flowschemas"), ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"),
]


def test_discovery_order() -> None:
    assert [(s.info.group, s.info.resource) for s in STRATEGIES] == EXPECTED
    assert CATALOG.groups() == [("", ["v1"]), ("apiregistration.k8s.io", ["v1"]), ("apps", ["v1"]),
                                ("events.k8s.io", ["v1"]),
                                ("authentication.k8s.io", ["v1"]), ("authorization.k8s.io", ["v1"]),
                                ("autoscaling", ["v2", "v1"]), ("batch", ["v1"]), ("certificates.k8s.io", ["v1"]),
                                ("networking.k8s.io", ["v1"]), ("policy", ["v1"]),
                                ("rbac.authorization.k8s.io", ["v1"]),
                                ("storage.k8s.io", ["v1"]), ("admissionregistration.k8s.io", ["v1"]),
                                ("apiextensions.k8s.io", ["v1"]), ("scheduling.k8s.io", ["v1"]),
                                ("coordination.k8s.io", ["v1"]), ("discovery.k8s.io", ["v1"]),
                                ("flowcontrol.apiserver.k8s.io", ["v1"])]


def test_lookups() -> None:
    pods = CATALOG.lookup("", "v1", "pods")
    assert pods is not None
    assert pods.info.kind == "Pod"
    assert CATALOG.lookup("apps", "v1", "pods") is None
    assert CATALOG.lookup("", "v2", "pods") is None
    dep = CATALOG.by_kind("apps", "Deployment")
    assert dep is not None
    assert dep.info.resource == "deployments"
    core_ev, new_ev = CATALOG.by_kind("", "Event"), CATALOG.by_kind("events.k8s.io", "Event")
    assert core_ev is not None
    assert new_ev is not None
    assert core_ev is not new_ev
    assert [s.info.resource for s in CATALOG.resources("apps", "v1")] == ["controllerrevisions", "daemonsets",
                                                                    "deployments", "replicasets", "statefulsets"]


def test_upstream_names() -> None:
    info = {s.info.resource if s.info.group != "events.k8s.io" else "events.v1": s.info for s in STRATEGIES}
    assert info["pods"].short_names == ("po",)
    assert info["pods"].categories == ("all",)
    assert "status" in info["pods"].subresources
    assert "binding" in info["pods"].subresources
    assert info["services"].short_names == ("svc",)
    assert info["deployments"].short_names == ("deploy",)
    assert info["replicasets"].short_names == ("rs",)
    assert info["namespaces"].short_names == ("ns",)
    assert not info["namespaces"].namespaced
    assert "deletecollection" not in info["namespaces"].verbs
    assert info["nodes"].short_names == ("no",)
    assert not info["nodes"].namespaced
    assert info["configmaps"].short_names == ("cm",)
    assert info["serviceaccounts"].short_names == ("sa",)
    assert info["endpoints"].singular == "endpoints"
    assert info["jobs"].short_names == ()
    assert info["jobs"].categories == ("all",)
    assert info["events"].short_names == ("ev",)


def test_duplicates_rejected() -> None:
    class Twin(BaseStrategy):
        info = ResourceInfo(group="", version="v1", resource="pods", kind="Twin", singular="twin", namespaced=True)

    with pytest.raises(ValueError, match="registered twice"):
        Catalog([*STRATEGIES, Twin()])


def minimal(strategy: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x", "creationTimestamp": "2024-01-01T00:00:00Z"}
    if strategy.info.namespaced:
        meta["namespace"] = "default"
    return {"apiVersion": strategy.info.group_version, "kind": strategy.info.kind, "metadata": meta}


@pytest.mark.parametrize("strategy", STRATEGIES, ids=IDS)
def test_row_width_and_fields(strategy: Any) -> None:
    obj = minimal(strategy)
    strategy.prepare_for_create(obj)
    row = strategy.table_row(obj, 1_704_067_260.0)
    assert len(row) == len(strategy.table_columns())
    names = [c.name for c in strategy.table_columns()]
    assert "Name" in names
    assert row[names.index("Name")] == "x"
    if "Age" in names:
        assert row[names.index("Age")] == "60s"
    elif "Created At" in names:  # CRDs: upstream's default table, a timestamp rather than an age
        assert row[names.index("Created At")] == "2024-01-01T00:00:00Z"
    elif strategy.info.kind == "CSIStorageCapacity":  # upstream's table has no age
        assert names == ["Name", "StorageClassName", "Capacity"]
    elif strategy.info.kind == "PodTemplate":  # nor has this one
        assert names == ["Name", "Containers", "Images", "Pod Labels"]
    elif strategy.info.kind == "ComponentStatus":  # nor this one
        assert names == ["Name", "Status", "Message", "Error"]
    else:
        assert names[0] == "Last Seen"
    values = strategy.field_values(obj)
    assert values["metadata.name"] == "x"
    assert ("metadata.namespace" in values) is strategy.info.namespaced
    assert set(strategy.selectable_field_names()) == set(values)
    assert all(isinstance(v, str) for v in values.values())


@pytest.mark.parametrize("strategy", STRATEGIES, ids=IDS)
def test_update_keeps_status_when_status_is_a_subresource(strategy: Any) -> None:
    old = minimal(strategy)
    strategy.prepare_for_create(old)
    old["status"] = {"marker": 1}
    new = copy.deepcopy(old)
    new["status"] = {"marker": 2}
    strategy.prepare_for_update(new, old)
    assert new["status"] == ({"marker": 1} if strategy.has_status else {"marker": 2})
    frozen = copy.deepcopy(old)
    status_write = copy.deepcopy(old)
    status_write["status"] = {"marker": 3}
    status_write["spec"] = {"changed": True}
    status_write["metadata"]["resourceVersion"] = "7"
    strategy.prepare_for_status_update(status_write, old)
    defaulted = {"phase": "Active"} if strategy.info.kind == "Namespace" else {}  # SetDefaults_NamespaceStatus
    assert status_write["status"] == {"marker": 3, **defaulted}
    assert status_write.get("spec") == old.get("spec")
    assert status_write["metadata"]["resourceVersion"] == "7"
    assert old == frozen


junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["spec", "status", "metadata", "containers", "ports", "data", "selector", "template",
                         "name", "image", "labels", "subsets", "endpoints", "type", "resources", "limits", "x"]),
        inner, max_size=4),
    max_leaves=20,
)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=IDS)
@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(body=junk)
def test_junk_never_raises(strategy: Any, body: Any) -> None:
    obj = body if isinstance(body, dict) else {"spec": body}
    obj = {**minimal(strategy), **{k: v for k, v in obj.items() if k != "metadata"}}
    old = copy.deepcopy(obj)
    strategy.prepare_for_create(obj)
    assert isinstance(strategy.validate(obj), list)
    assert isinstance(strategy.validate_update(obj, old), list)
    strategy.prepare_for_update(obj, old)
    assert len(strategy.table_row(obj, 0.0)) == len(strategy.table_columns())
    assert isinstance(strategy.field_values(obj), dict)
    assert isinstance(strategy.spec_changed(obj, old), bool)


def test_generation_tracking_as_upstream() -> None:
    tracked = {s.info.resource for s in STRATEGIES if s.tracks_generation}
    assert tracked == {"deployments", "replicasets", "jobs", "endpointslices", "customresourcedefinitions",
                       "cronjobs", "poddisruptionbudgets", "replicationcontrollers", "ingresses", "networkpolicies",
                       "validatingadmissionpolicies", "validatingadmissionpolicybindings",
                       "daemonsets", "statefulsets", "flowschemas", "prioritylevelconfigurations"}


def test_status_write_carries_labels_only_when_sent() -> None:
    pods = CATALOG.lookup("", "v1", "pods")
    assert pods is not None
    old = {"metadata": {"name": "p", "namespace": "d", "labels": {"a": "1"}, "resourceVersion": "3"},
           "spec": {"nodeName": "n"}, "status": {"phase": "Pending"}}
    write = {"metadata": {"name": "p", "namespace": "d", "resourceVersion": "3"}, "spec": {"nodeName": "other"},
             "status": {"phase": "Running"}}
    pods.prepare_for_status_update(write, old)
    assert write == {**old, "status": {"phase": "Running"}}
    relabel = {"metadata": {"name": "p", "namespace": "d", "labels": {"a": "2"}}, "status": {"phase": "Running"}}
    pods.prepare_for_status_update(relabel, old)
    assert relabel["metadata"]["labels"] == {"a": "2"}
    assert relabel["spec"] == {"nodeName": "n"}
