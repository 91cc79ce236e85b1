"""The cheaper copies and the compact cache form behind issue 21's per-object memory and CPU cuts."""

from __future__ import annotations

import datetime

import orjson
import pytest

from sampan.api.jsoncopy import json_copy
from sampan.apiserver.cacher.objects import CachedObject, encode_for_store, exact
from sampan.apiserver.handlers.objectmeta import _ALPHABET, _RANDOM_LEN, generate_name

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "a"}, "uid": "u"},
       "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]},
       "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "ratio": 0.5}}


def fields(obj: dict) -> dict[str, str]:
    return {"spec.nodeName": obj["spec"]["nodeName"], "metadata.name": obj["metadata"]["name"]}


def test_a_cached_object_from_the_store_keeps_only_its_json_labels_and_fields() -> None:
    co = CachedObject.from_store("/registry/pods/ns/p", encode_for_store(POD), 7, fields)
    assert co._obj is None
    want = {**POD, "metadata": {**POD["metadata"], "resourceVersion": "7"}}
    assert co.obj == want
    assert orjson.loads(co.raw) == want
    assert co.labels == {"app": "a"}
    assert co.fields == {"spec.nodeName": "n1", "metadata.name": "p"}
    first, second = co.obj, co.obj
    first["spec"]["nodeName"] = "changed"  # a caller that breaks the rule cannot corrupt the cache
    assert second["spec"]["nodeName"] == "n1"
    copy_ = co.mutable_copy()
    copy_["status"]["phase"] = "Failed"
    assert co.obj["status"]["phase"] == "Running"
    assert co.at_revision(9).obj["metadata"]["resourceVersion"] == "9"
    assert co.obj["metadata"]["resourceVersion"] == "7"


def test_cached_json_holds_no_growth_buffer_slack() -> None:
    raw = orjson.dumps(POD)
    assert exact(raw) == raw
    assert exact(raw).__sizeof__() <= raw.__sizeof__()
    assert encode_for_store(POD).__sizeof__() - len(encode_for_store(POD)) < 64


@pytest.mark.parametrize("value", [POD, [POD, 1, None, True, "x", -0.0], {"a": {"b": [1.5, {"c": []}]}}])
def test_json_copy_is_an_independent_equal_copy(value: object) -> None:
    out = json_copy(value)
    assert out == value
    assert out is not value
    if isinstance(out, dict) and "spec" in out:
        out["spec"]["containers"][0]["name"] = "other"
        assert POD["spec"]["containers"][0]["name"] == "c"


@pytest.mark.parametrize("value", [{"t": (1, 2)}, {"n": float("nan")}, {"d": datetime.datetime(2026, 1, 1)},
                                   {"big": 2**70}, {1: "int key"}])
def test_json_copy_keeps_types_json_cannot_carry(value: dict) -> None:
    out = json_copy(value)
    assert type(next(iter(out.values()))) is type(next(iter(value.values())))
    assert list(out) == list(value)


def test_generated_names_use_upstreams_alphabet_and_length() -> None:
    names = {generate_name("web-") for _ in range(200)}
    assert len(names) > 190
    for name in names:
        assert name.startswith("web-")
        assert len(name) == len("web-") + _RANDOM_LEN
        assert set(name[len("web-"):]) <= set(_ALPHABET)
    assert len(generate_name("x" * 80)) == 63


def test_cached_objects_share_equal_label_and_field_values_but_not_names() -> None:
    from sampan.apiserver.cacher import resource_cache
    from sampan.storage.interface import KeyValue

    cache = resource_cache.ResourceCache("/registry/pods/", kind="Pod", api_version="v1", field_values_of=fields,
                                         window_size=10, watcher_capacity=10)
    a, b = ({**POD, "metadata": {**POD["metadata"], "name": n}} for n in ("a", "b"))
    cos = [cache.cached(KeyValue(key=f"/registry/pods/ns/{o['metadata']['name']}", value=encode_for_store(o),
                                 create_revision=i + 1, mod_revision=i + 1))
           for i, o in enumerate((a, b))]
    x, y = cos
    assert x is not None
    assert y is not None
    assert x.labels == {"app": "a"}
    assert x.fields == {"spec.nodeName": "n1", "metadata.name": "a"}
    assert x.labels["app"] is y.labels["app"]
    assert x.fields["spec.nodeName"] is y.fields["spec.nodeName"]
    assert x.namespace is y.namespace
    assert orjson.loads(y.raw)["metadata"]["name"] == "b"
    resource_cache.MAX_SHARED_STRINGS, saved = 1, resource_cache.MAX_SHARED_STRINGS
    try:  # a full table starts again: values stay right
        z = cache.cached(KeyValue(key="/registry/pods/ns/a", value=encode_for_store(a), create_revision=3,
                                  mod_revision=3))
    finally:
        resource_cache.MAX_SHARED_STRINGS = saved
    assert z is not None
    assert z.fields == {"spec.nodeName": "n1", "metadata.name": "a"}
