"""The create ownership memo (``sampan.api.apply.createmem``) gives exactly what the walk gives."""

from __future__ import annotations

import copy
from typing import Any

import pytest

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
