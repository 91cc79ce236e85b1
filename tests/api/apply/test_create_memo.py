"""The create ownership memo (``sampan.api.apply.createmem``) gives exactly what the walk gives."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sampan.api.apply import createmem, update_managed_fields
from sampan.api.schema import type_for_kind
from tests.api.apply.objects import DEPLOYMENT, deployment

POD = type_for_kind("", "v1", "Pod")


def as_created(obj: dict[str, Any], name: str, uid: str, stamp: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].update(name=name, uid=uid, creationTimestamp=stamp)
    return out


def pod(containers: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "default", **meta},
            "spec": {"containers": containers}}


VARIANTS: list[tuple[Any, dict[str, Any]]] = [
    (DEPLOYMENT, deployment()),
    (DEPLOYMENT, deployment(replicas=None, labels={"app": "web"})),
    (DEPLOYMENT, deployment(containers=[{"name": "a", "image": "x", "ports": [{"containerPort": 80}]},
                                        {"name": "b", "image": "y", "env": [{"name": "E", "value": ""}]}])),
    (DEPLOYMENT, deployment(replicas=0)),
    (POD, pod([{"name": "c", "image": "nginx"}], generateName="bench-", labels={"bench": "x"})),
    (POD, pod([{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "10m"}}}],
              ownerReferences=[{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u",
                                "controller": True}])),
    (POD, pod([{"name": "c", "image": ""}], labels={})),
]


def create(t: Any, obj: dict[str, Any], *, manager: str = "ctl", now: float = 0) -> dict[str, Any]:
    return update_managed_fields(None, obj, manager=manager, now=now, type_node=t)


@pytest.mark.parametrize("index", range(len(VARIANTS)))
def test_a_memoized_create_equals_the_walk(index: int) -> None:
    t, obj = VARIANTS[index]
    createmem.clear()
    walked = create(t, as_created(obj, "first", "uid-1"), now=100)
    createmem.clear()
    stored = create(t, as_created(obj, "other", "uid-2"), now=5)  # computed and stored
    hit = create(t, as_created(obj, "first", "uid-1"), now=100)  # served from the memo, with its own time
    assert len(createmem._memo) == 1
    assert hit == walked
    assert hit["metadata"]["managedFields"][0]["time"] == "1970-01-01T00:01:40Z"
    assert stored["metadata"]["managedFields"][0]["time"] == "1970-01-01T00:00:05Z"
    assert stored["metadata"]["managedFields"][0]["fieldsV1"] == walked["metadata"]["managedFields"][0]["fieldsV1"]


def test_objects_that_differ_elsewhere_or_by_manager_do_not_share_an_entry() -> None:
    createmem.clear()
    for t, obj in VARIANTS:
        create(t, as_created(obj, "n", "u"))
    create(VARIANTS[0][0], as_created(VARIANTS[0][1], "n", "u"), manager="someone-else")
    assert len(createmem._memo) == len(VARIANTS) + 1
    outs = [create(t, as_created(obj, "m", "v"))["metadata"]["managedFields"] for t, obj in VARIANTS]
    assert len(createmem._memo) == len(VARIANTS) + 1  # all hits
    for (t, obj), out in zip(VARIANTS, outs, strict=True):
        createmem.clear()
        assert create(t, as_created(obj, "m", "v"))["metadata"]["managedFields"] == out


def test_objects_without_the_create_fields_or_with_managed_fields_sent_are_not_memoized() -> None:
    createmem.clear()
    t, obj = VARIANTS[0]
    create(t, obj)  # no uid, no creationTimestamp
    sent = as_created(obj, "n", "u")
    sent["metadata"]["managedFields"] = [{"manager": "m", "operation": "Update", "apiVersion": "apps/v1",
                                          "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    out = create(t, sent)
    assert [e["manager"] for e in out["metadata"]["managedFields"]] == ["ctl"]  # ctl's create took all of m's
    assert createmem._memo == {}


def test_the_memo_is_bounded() -> None:
    createmem.clear()
    t, _ = VARIANTS[4]
    for i in range(createmem.LIMIT + 20):
        create(t, as_created(pod([{"name": f"c{i}", "image": "x"}]), "n", "u"))
    assert len(createmem._memo) == createmem.LIMIT
    createmem.clear()
    big = as_created(pod([{"name": "c", "image": "x" * createmem.MAX_KEY_BYTES}]), "n", "u")
    assert create(t, big)["metadata"]["managedFields"]  # walked, not kept
    assert createmem._memo == {}


EVENT = type_for_kind("", "v1", "Event")


def event(pod: str, reason: str, message: str, host: str) -> dict[str, Any]:
    """An Event in the kubelet recorder's shape (every value a string except ``count``)."""
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"namespace": "default", "name": f"{pod}.18a", "uid": f"uid-{pod}",
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": pod, "uid": f"pod-{pod}",
                               "apiVersion": "v1", "resourceVersion": "17", "fieldPath": "spec.containers{c}"},
            "reason": reason, "message": message, "source": {"component": "kubelet", "host": host},
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z", "count": 1,
            "type": "Normal", "reportingComponent": "kubelet", "reportingInstance": host}


@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(min_size=1, max_size=30),
                          st.text(min_size=1, max_size=8)), min_size=1, max_size=4))
@settings(max_examples=40, deadline=None)
def test_objects_differing_only_in_strings_outside_lists_share_an_entry(values: list[tuple[str, str, str]]) -> None:
    createmem.clear()
    outs = [create(EVENT, event(f"p{i}", *v)) for i, v in enumerate(values)]
    assert len(createmem._memo) == 1
    for i, (v, out) in enumerate(zip(values, outs, strict=True)):
        createmem.clear()
        assert out == create(EVENT, event(f"p{i}", *v))  # the walk's own answer


def test_strings_inside_lists_and_empty_strings_are_kept_in_the_key() -> None:
    createmem.clear()
    t = VARIANTS[4][0]
    a = create(t, as_created(pod([{"name": "a", "image": "x"}], labels={"k": "v"}), "n", "u"))
    b = create(t, as_created(pod([{"name": "b", "image": "x"}], labels={"k": "w"}), "n", "u"))
    assert len(createmem._memo) == 2  # a container's name is spelled in its path
    assert a["metadata"]["managedFields"] != b["metadata"]["managedFields"]
    create(t, as_created(pod([{"name": "a", "image": "x"}], labels={"k": ""}), "n", "u"))
    assert len(createmem._memo) == 3  # "" is not blanked
    c = create(t, as_created(pod([{"name": "a", "image": "y"}], labels={"k": "z"}), "m", "v"))
    assert len(createmem._memo) == 4  # the image is inside the containers list
    createmem.clear()
    assert c == create(t, as_created(pod([{"name": "a", "image": "y"}], labels={"k": "z"}), "m", "v"))
