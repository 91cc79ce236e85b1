"""Strategic merge patch: table-driven cases modelled on upstream's strategicpatch tests, over real kinds.

Each case: (kind, original, patch, expected). The schema comes from the real 1.32 definitions, so these
also check that the merge keys and strategies are read from the right places.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from sampan.api.errors import BadRequest
from sampan.api.patches import apply_strategic_merge_patch
from sampan.api.schema import type_for_kind

POD = ("", "v1", "Pod")
DEPLOY = ("apps", "v1", "Deployment")
NONE = ("example.com", "v1", "Widget")


def c(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


def pod(**spec: Any) -> dict[str, Any]:
    return {"spec": spec}


CASES: list[tuple[str, tuple[str, str, str], dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    # --- lists of maps merged by merge key ---------------------------------------------------------------
    ("containers merge by name", POD,
     pod(containers=[c("a", image="a:1"), c("b", image="b:1")]),
     pod(containers=[c("b", image="b:2")]),
     pod(containers=[c("a", image="a:1"), c("b", image="b:2")])),
    ("new container without order directive goes ahead of server-only ones (upstream)", POD,
     pod(containers=[c("a", image="a:1"), c("b", image="b:1")]),
     pod(containers=[c("new", image="n")]),
     pod(containers=[c("new", image="n"), c("a", image="a:1"), c("b", image="b:1")])),
    ("$setElementOrder places a new container", POD,
     pod(containers=[c("a", image="a:1"), c("b", image="b:1")]),
     {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "new"}],
               "containers": [c("new", image="n")]}},
     pod(containers=[c("a", image="a:1"), c("b", image="b:1"), c("new", image="n")])),
    ("$patch delete removes an element", POD,
     pod(containers=[c("a"), c("b")]),
     pod(containers=[{"name": "a", "$patch": "delete"}]),
     pod(containers=[c("b")])),
    ("deleting a missing element is a no-op", POD,
     pod(containers=[c("a")]),
     pod(containers=[{"name": "zz", "$patch": "delete"}]),
     pod(containers=[c("a")])),
    ("$patch replace inside a list replaces the list", POD,
     pod(containers=[c("a"), c("b")]),
     pod(containers=[{"$patch": "replace"}, c("z", image="z")]),
     pod(containers=[c("z", image="z")])),
    ("ports merge by containerPort", POD,
     pod(containers=[c("a", ports=[{"containerPort": 80, "name": "http"}, {"containerPort": 9090}])]),
     pod(containers=[c("a", ports=[{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}])]),
     pod(containers=[c("a", ports=[{"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 443},
                                   {"containerPort": 9090}])])),
    ("env merges by name and null clears a member", POD,
     pod(containers=[c("a", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "x"}])]),
     pod(containers=[c("a", env=[{"name": "A", "value": None,
                                  "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])]),
     pod(containers=[c("a", env=[{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                 {"name": "B", "value": "x"}])])),
    ("volumes merge by name, sources accumulate without $retainKeys", POD,
     pod(volumes=[{"name": "v", "emptyDir": {}}]),
     pod(volumes=[{"name": "v", "hostPath": {"path": "/x"}}]),
     pod(volumes=[{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}])),
    ("volumes with $retainKeys drop the old source", POD,
     pod(volumes=[{"name": "v", "emptyDir": {}}, {"name": "w", "secret": {"secretName": "s"}}]),
     pod(volumes=[{"name": "v", "hostPath": {"path": "/x"}, "$retainKeys": ["hostPath", "name"]}]),
     pod(volumes=[{"name": "v", "hostPath": {"path": "/x"}}, {"name": "w", "secret": {"secretName": "s"}}])),
    ("tolerations are atomic: replaced whole", POD,
     pod(tolerations=[{"key": "a", "operator": "Exists"}, {"key": "b"}]),
     pod(tolerations=[{"key": "c"}]),
     pod(tolerations=[{"key": "c"}])),
    ("command (atomic primitive list) is replaced", POD,
     pod(containers=[c("a", command=["sh", "-c", "x"])]),
     pod(containers=[c("a", command=["y"])]),
     pod(containers=[c("a", command=["y"])])),
    # --- $setElementOrder, as upstream's ordering cases -------------------------------------------------
    ("$setElementOrder with server-only items keeps them where the server had them", POD,
     pod(containers=[c("1", x="a"), c("2"), c("9"), c("3"), c("4")]),
     {"spec": {"$setElementOrder/containers": [c("2"), c("1"), c("4"), c("3")]}},
     pod(containers=[c("2"), c("1", x="a"), c("9"), c("4"), c("3")])),
    ("$setElementOrder with server-only item at the end", POD,
     pod(containers=[c("1"), c("3"), c("4"), c("2"), c("9")]),
     {"spec": {"$setElementOrder/containers": [c("4"), c("2"), c("3"), c("1")]}},
     pod(containers=[c("4"), c("2"), c("3"), c("1"), c("9")])),
    ("$setElementOrder naming an element absent everywhere is ignored", POD,
     pod(containers=[c("1"), c("3")]),
     {"spec": {"$setElementOrder/containers": [c("3"), c("2"), c("1")],
               "containers": [c("3", image="3"), c("1", image="1")]}},
     pod(containers=[c("3", image="3"), c("1", image="1")])),
    ("kubectl apply style: change, add and delete in one patch", POD,
     pod(containers=[c("a", image="a:1"), c("b", image="b:1"), c("c", image="c:1")]),
     {"spec": {"$setElementOrder/containers": [c("c"), c("new"), c("a")],
               "containers": [c("new", image="n:1"), c("a", image="a:2"), {"name": "b", "$patch": "delete"}]}},
     pod(containers=[c("c", image="c:1"), c("new", image="n:1"), c("a", image="a:2")])),
    ("delete + add with a server-only element: it stays ahead of the new one (upstream)", POD,
     pod(containers=[c("a"), c("b", x="b"), c("d", x="d")]),
     {"spec": {"$setElementOrder/containers": [c("b"), c("c")],
               "containers": [c("c"), {"name": "a", "$patch": "delete"}]}},
     pod(containers=[c("b", x="b"), c("d", x="d"), c("c")])),
    ("delete + add, server-only element first (upstream)", POD,
     pod(containers=[c("a", x="a"), c("d", x="d")]),
     {"spec": {"$setElementOrder/containers": [c("b"), c("c")],
               "containers": [c("b"), c("c"), {"name": "a", "$patch": "delete"}]}},
     pod(containers=[c("d", x="d"), c("b"), c("c")])),
    # --- primitive lists with merge strategy (finalizers) ----------------------------------------------
    ("finalizers merge as a set, new values first (upstream)", POD,
     {"metadata": {"finalizers": ["a", "b"]}},
     {"metadata": {"finalizers": ["c", "a"]}},
     {"metadata": {"finalizers": ["c", "a", "b"]}}),
    ("$deleteFromPrimitiveList removes values", POD,
     {"metadata": {"finalizers": ["a", "b", "c"]}},
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zz"]}},
     {"metadata": {"finalizers": ["a", "c"]}}),
    ("$deleteFromPrimitiveList on an absent list does not create it", POD,
     {"metadata": {"name": "x"}},
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}},
     {"metadata": {"name": "x"}}),
    ("$deleteFromPrimitiveList also works on a non-merging list (upstream)", POD,
     pod(containers=[c("a", args=["1", "2", "3"])]),
     pod(containers=[c("a", **{"$deleteFromPrimitiveList/args": ["2"]})]),
     pod(containers=[c("a", args=["1", "3"])])),
    ("$setElementOrder on primitives with additions and deletions", POD,
     {"metadata": {"finalizers": ["a", "b", "c"]}},
     {"metadata": {"$setElementOrder/finalizers": ["c", "d", "a"], "finalizers": ["d"],
                   "$deleteFromPrimitiveList/finalizers": ["b"]}},
     {"metadata": {"finalizers": ["c", "d", "a"]}}),
    # --- maps --------------------------------------------------------------------------------------------
    ("null deletes a field, maps merge", POD,
     {"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}},
     {"metadata": {"labels": {"a": None, "c": "3"}, "annotations": None}},
     {"metadata": {"labels": {"b": "2", "c": "3"}}}),
    ("$patch replace on a map", POD,
     {"metadata": {"labels": {"a": "1", "b": "2"}}},
     {"metadata": {"labels": {"$patch": "replace", "z": "9"}}},
     {"metadata": {"labels": {"z": "9"}}}),
    ("$patch delete on a map empties it", POD,
     pod(securityContext={"runAsUser": 1}, nodeName="n"),
     pod(securityContext={"$patch": "delete"}),
     pod(securityContext={}, nodeName="n")),
    ("$patch merge on a map is the default", POD,
     {"metadata": {"labels": {"a": "1"}}},
     {"metadata": {"labels": {"$patch": "merge", "b": "2"}}},
     {"metadata": {"labels": {"a": "1", "b": "2"}}}),
    ("a new map is cleaned of nulls", POD,
     {"metadata": {"name": "p"}},
     {"metadata": {"labels": {"a": "1", "b": None}}},
     {"metadata": {"name": "p", "labels": {"a": "1"}}}),
    ("$retainKeys on deployment strategy clears rollingUpdate", DEPLOY,
     {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, "replicas": 2}},
     {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
     {"spec": {"strategy": {"type": "Recreate"}, "replicas": 2}}),
    ("deployment template containers merge by name", DEPLOY,
     {"spec": {"template": {"spec": {"containers": [c("a", image="1"), c("b", image="1")]}}}},
     {"spec": {"template": {"spec": {"containers": [c("b", image="2")]}}}},
     {"spec": {"template": {"spec": {"containers": [c("a", image="1"), c("b", image="2")]}}}}),
    # --- no schema: merge-patch semantics --------------------------------------------------------------
    ("no schema: lists are replaced, maps merge", NONE,
     {"spec": {"items": [{"name": "a"}, {"name": "b"}], "m": {"x": 1, "y": 2}}},
     {"spec": {"items": [{"name": "c"}], "m": {"x": None, "z": 3}}},
     {"spec": {"items": [{"name": "c"}], "m": {"y": 2, "z": 3}}}),
    ("type change replaces", POD,
     {"metadata": {"labels": {"a": "1"}}},
     {"metadata": {"labels": "oops"}},
     {"metadata": {"labels": "oops"}}),
]


@pytest.mark.parametrize(("name", "gvk", "original", "patch", "expected"), CASES, ids=[x[0] for x in CASES])
def test_strategic_merge(
    name: str, gvk: tuple[str, str, str], original: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    node = type_for_kind(*gvk)
    before, patch_before = copy.deepcopy(original), copy.deepcopy(patch)
    assert apply_strategic_merge_patch(original, patch, node) == expected
    assert apply_strategic_merge_patch(original, orjson.dumps(patch), node) == expected
    assert original == before, "the object was mutated"
    assert patch == patch_before, "the patch was mutated"


ERRORS: list[tuple[str, Any, str]] = [
    ("not an object", b"[1, 2]", "expected a JSON object"),
    ("not JSON", b"{nope", "error decoding strategic merge patch"),
    ("unknown map directive", {"metadata": {"labels": {"$patch": "frob"}}}, "unknown patch type: frob"),
    ("unknown list directive", pod(containers=[{"name": "a", "$patch": "frob"}]), "unknown patch type: frob"),
    ("missing merge key", pod(containers=[{"image": "x"}]), "does not contain declared merge key: name"),
    ("delete without merge key", pod(containers=[{"$patch": "delete"}]), "does not contain declared merge key"),
    ("order mismatch", {"spec": {"$setElementOrder/containers": [c("a"), c("b")], "containers": [c("b"), c("a")]}},
     "doesn't match $setElementOrder list"),
    ("order entries need the merge key", {"spec": {"$setElementOrder/containers": [{"image": "x"}]}},
     "does not contain declared merge key"),
    ("order list must be a list", {"spec": {"$setElementOrder/containers": "a"}},
     "invalid patch format of setElementOrder list"),
    ("directive without field", {"spec": {"$setElementOrder": []}}, "invalid patch format of setElementOrder list"),
    ("bad deletion list", {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
     "invalid patch format of primitive list"),
    ("bad deletion key", {"metadata": {"$deleteFromPrimitiveList": ["a"]}}, "invalid patch format of primitive list"),
    ("retainKeys not a list", {"spec": {"strategy": {"$retainKeys": "type"}}}, "invalid patch format of retainKeys"),
    ("patch key outside retainKeys", pod(volumes=[{"name": "v", "hostPath": {"path": "/"}, "$retainKeys": ["name"]}]),
     "invalid patch format of retainKeys"),
    ("list of lists", {"metadata": {"finalizers": [["a"]]}}, "lists of lists are not supported"),
    ("mixed list", pod(containers=[c("a"), "b"]), "list element types are not identical"),
]


@pytest.mark.parametrize(("name", "patch", "fragment"), ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_patches_are_400(name: str, patch: Any, fragment: str) -> None:
    original = {"metadata": {"finalizers": ["x"]}, "spec": {"containers": [c("a"), c("b")], "volumes": []}}
    before = copy.deepcopy(original)
    with pytest.raises(BadRequest) as info:
        apply_strategic_merge_patch(original, patch, type_for_kind(*POD))
    assert info.value.code == 400
    assert fragment in info.value.message
    assert original == before
