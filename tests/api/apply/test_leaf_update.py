"""The managedFields fast path for an update of leaves its manager alone owns (apply/leafupdate.py,
issue 21: a Lease renewal) must record exactly what the full ownership walk records: checked against the
walk on random mutations of a Lease and a pod whose fields two managers share, for the owner, another
manager and a status write, and on renewals (where the fast path must be the one taken)."""

from __future__ import annotations

import copy
import random
from typing import Any

import orjson
import pytest

from sampan.api.apply import fieldmanager, leafupdate, make_path
from sampan.api.schema import type_for_kind
from tests.api.apply.test_compare_skip_unchanged import LEASE, POD, mutate

LEASE_TYPE = type_for_kind("coordination.k8s.io", "v1", "Lease")
POD_TYPE = type_for_kind("", "v1", "Pod")
NOW = 1767225610.0


def _pod_with_two_managers() -> dict[str, Any]:
    """POD created by ``kubelet``, then its status written by ``kubelet`` (subresource) and a label by ``kubectl``."""
    created = fieldmanager.update_managed_fields(None, POD, manager="kubelet", now=NOW - 30, type_node=POD_TYPE,
                                                 ignored=[make_path("status")])
    created["metadata"]["uid"] = POD["metadata"]["uid"]
    status = copy.deepcopy(created)
    status["status"]["podIP"] = "100.64.0.3"
    written = fieldmanager.update_managed_fields(created, status, manager="kubelet", now=NOW - 20,
                                                 type_node=POD_TYPE, subresource="status",
                                                 ignored=[make_path("spec")])
    labelled = copy.deepcopy(written)
    labelled["metadata"]["labels"]["tier"] = "db"
    return fieldmanager.update_managed_fields(written, labelled, manager="kubectl", now=NOW - 10,
                                              type_node=POD_TYPE, ignored=[make_path("status")])


def _both(monkeypatch: pytest.MonkeyPatch, old: dict[str, Any], new: dict[str, Any], **kw: Any) -> tuple[bytes, bytes]:
    def run() -> bytes:
        return orjson.dumps(fieldmanager.update_managed_fields(old, new, now=NOW, **kw))

    with monkeypatch.context() as m:
        m.setattr(fieldmanager, "LEAF_FAST_PATH", False)
        full = run()
    return full, run()


def _lease_shared(extra: dict[str, Any]) -> dict[str, Any]:
    """LEASE with a second Update entry owning ``extra`` too (a baseline a client may send); the unowned
    variant's kubelet entry owns no renewTime."""
    lease = copy.deepcopy(LEASE)
    if "f:holderIdentity" in extra.get("f:spec", {}):
        del lease["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:renewTime"]
    lease["metadata"]["managedFields"].append(
        {"manager": "other", "operation": "Update", "apiVersion": "coordination.k8s.io/v1",
         "time": "2026-01-01T00:00:05Z", "fieldsType": "FieldsV1", "fieldsV1": extra})
    return lease


OLDS: dict[str, tuple[dict[str, Any], Any]] = {
    "lease": (LEASE, LEASE_TYPE),
    "pod": (_pod_with_two_managers(), POD_TYPE),
    "lease-shared-leaf": (_lease_shared({"f:spec": {"f:renewTime": {}}}), LEASE_TYPE),
    "lease-owned-rv": (_lease_shared({"f:metadata": {"f:resourceVersion": {}}}), LEASE_TYPE),
    "lease-unowned-leaf": (_lease_shared({"f:spec": {"f:holderIdentity": {}}}), LEASE_TYPE),
    "lease-owned-mf": (_lease_shared({"f:metadata": {"f:managedFields": {}}}), LEASE_TYPE),
}

WRITERS: list[dict[str, Any]] = [
    {"manager": "kubelet"},
    {"manager": "kubectl"},
    {"manager": "kubelet", "subresource": "status", "ignored": [make_path("spec")]},
    {"manager": "kubelet", "ignored": [make_path("spec")]},
]


@pytest.mark.parametrize("which", sorted(OLDS))
def test_fast_path_records_what_the_walk_records(monkeypatch: pytest.MonkeyPatch, which: str) -> None:
    old, t = OLDS[which]
    rng = random.Random(2121)
    taken = 0
    for _ in range(300):
        new = mutate(old, rng)
        if rng.random() < 0.5 and isinstance(new.get("metadata"), dict):  # writes often send the live ones back
            new["metadata"]["managedFields"] = copy.deepcopy(old["metadata"]["managedFields"])
        for writer in WRITERS:
            kw = {"type_node": t, **writer}
            if "ignored" not in kw and which == "pod":
                kw["ignored"] = [make_path("status")]
            full, fast = _both(monkeypatch, old, new, **kw)
            assert fast == full, (writer, orjson.dumps(new).decode())
    for path, value in ((("spec", "nodeName"), "n2"), (("metadata", "labels", "tier"), "web2"),
                        (("status", "podIP"), "100.64.0.9"), (("metadata", "resourceVersion"), "99"),
                        (("spec", "renewTime"), "2026-01-01T00:00:10.000000Z")):
        if which != "pod" and path[0] == "status":
            continue
        new = copy.deepcopy(old)
        parent = new
        for key in path[:-1]:
            parent = parent.setdefault(key, {})
        parent[path[-1]] = value
        for writer in WRITERS:
            kw = {"type_node": t, **writer}
            if "ignored" not in kw and which == "pod":
                kw["ignored"] = [make_path("status")]
            full, fast = _both(monkeypatch, old, new, **kw)
            assert fast == full, (writer, path)
            taken += 1
    assert taken


def test_a_renewal_takes_the_fast_path_and_bumps_only_the_time(monkeypatch: pytest.MonkeyPatch) -> None:
    renewed = copy.deepcopy(LEASE)
    renewed["spec"]["renewTime"] = "2026-01-01T00:00:10.000000Z"
    calls: list[bool] = []
    real = leafupdate.owned_leaf_update

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(leafupdate, "owned_leaf_update", spy)
    for manager in ("kubelet", "someone-else"):
        full, fast = _both(monkeypatch, LEASE, renewed, manager=manager, type_node=LEASE_TYPE)
        assert fast == full
    assert calls == [True, False]  # the owner: fast; another manager takes the field: the walk
    got = fieldmanager.update_managed_fields(LEASE, renewed, manager="kubelet", now=NOW, type_node=LEASE_TYPE)
    (entry,) = got["metadata"]["managedFields"]
    want = dict(LEASE["metadata"]["managedFields"][0], time="2026-01-01T00:00:10Z")
    assert entry == want
