"""fieldsV1 encoding, path elements and their ordering, as upstream spells them."""

from __future__ import annotations

import json

import pytest

from sampan.api.apply import from_fields_v1, make_path, path_string, to_field_set, to_fields_v1
from sampan.api.apply.fieldset import FieldsError, iterate, recursive_difference
from sampan.api.apply.path import go_json, index, key, parse_element, value
from sampan.api.apply.shapes import root
from tests.api.apply.objects import DEPLOYMENT

# What kube-apiserver records for `kubectl create deployment web --image=nginx` (manager kubectl-create).
UPSTREAM_CREATE = (
    '{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:progressDeadlineSeconds":{},"f:replicas":{},'
    '"f:revisionHistoryLimit":{},"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},'
    '"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},'
    '"f:spec":{"f:containers":{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},'
    '"f:name":{},"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},'
    '"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},'
    '"f:terminationGracePeriodSeconds":{}}}}}'
)


def test_upstream_fields_round_trip_byte_for_byte() -> None:
    decoded = from_fields_v1(json.loads(UPSTREAM_CREATE))
    assert make_path("spec", "replicas") in decoded
    assert make_path("spec", "strategy") not in decoded  # a parent only: no "."
    assert make_path("metadata", "labels") in decoded  # a member and a parent: "."
    assert json.dumps(to_fields_v1(decoded), separators=(",", ":")) == UPSTREAM_CREATE


def test_keys_are_written_in_upstream_element_order() -> None:
    ports = make_path("spec", "ports")
    s = frozenset({
        (*ports, key([("port", 443), ("protocol", "TCP")])),
        (*ports, key([("protocol", "TCP"), ("port", 80)])),
        (*ports,),
        make_path("spec", "finalizers", value("b")),
        make_path("spec", "finalizers", value("a")),
        make_path("spec", "finalizers", value(10)),
        make_path("spec", "aField"),
    })
    encoded = json.dumps(to_fields_v1(s), separators=(",", ":"))
    assert encoded == (
        '{"f:spec":{"f:aField":{},"f:finalizers":{"v:10":{},"v:\\"a\\"":{},"v:\\"b\\"":{}},'
        '"f:ports":{".":{},"k:{\\"port\\":80,\\"protocol\\":\\"TCP\\"}":{},'
        '"k:{\\"port\\":443,\\"protocol\\":\\"TCP\\"}":{}}}}'
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("f:replicas", ".replicas"),
        ('k:{"protocol":"TCP","containerPort":80}', '[containerPort=80,protocol="TCP"]'),
        ('v:"example.com/x"', '[="example.com/x"]'),
        ("v:true", "[=true]"),
        ("i:3", "[3]"),
    ],
)
def test_elements_parse_and_print(text: str, shown: str) -> None:
    pe = parse_element(text)
    assert pe is not None
    assert str(pe) == shown
    assert parse_element(pe.text) == pe


def test_key_fields_sorted_and_html_escaped_as_go_does() -> None:
    pe = key([("name", "a<b&c>"), ("app", 1.0)])
    assert pe.text == 'k:{"app":1,"name":"a\\u003cb\\u0026c\\u003e"}'
    assert go_json({"b": [1.5, None, True], "a": "é\n"}) == '{"a":"é\\n","b":[1.5,null,true]}'


@pytest.mark.parametrize("bad", ["x", "f", "k:[1]", "k:{", "v:", "i:x"])
def test_malformed_elements_are_rejected(bad: str) -> None:
    with pytest.raises(FieldsError):
        from_fields_v1({bad: {}})


def test_unknown_element_kinds_are_skipped_and_bad_shapes_rejected() -> None:
    assert from_fields_v1({"z:whatever": {}, "f:a": {}}) == frozenset({make_path("a")})
    with pytest.raises(FieldsError):
        from_fields_v1({"f:a": 1})
    with pytest.raises(FieldsError):
        from_fields_v1([])


def test_conflict_path_strings() -> None:
    p = make_path("spec", "template", "spec", "containers", key([("name", "nginx")]), "image")
    assert path_string(p) == '.spec.template.spec.containers[name="nginx"].image'
    assert path_string(make_path("metadata", "finalizers", value("x"))) == '.metadata.finalizers[="x"]'
    assert path_string(make_path("a", index(0))) == ".a[0]"


def test_iteration_order_members_before_children() -> None:
    s = frozenset({make_path("a", "b"), make_path("c"), make_path("a"), make_path("b", "z", "y")})
    assert list(iterate(s)) == [make_path("a"), make_path("c"), make_path("a", "b"), make_path("b", "z", "y")]


def test_recursive_difference_drops_subtrees() -> None:
    s = frozenset({make_path("status"), make_path("status", "x"), make_path("spec", "replicas")})
    assert recursive_difference(s, frozenset({make_path("status")})) == frozenset({make_path("spec", "replicas")})


def test_field_set_of_a_deployment_config() -> None:
    config = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [
                {"name": "c", "args": ["a", "b"], "ports": [{"containerPort": 80}], "env": []},
            ], "nodeSelector": {"disk": "ssd"}}},
        },
    }
    s = to_field_set(config, root(DEPLOYMENT))
    c = make_path("spec", "template", "spec", "containers", key([("name", "c")]))
    assert set(s) == {
        make_path("apiVersion"), make_path("kind"),
        make_path("metadata", "name"), make_path("metadata", "labels", "app"), make_path("metadata", "annotations"),
        make_path("spec", "selector"),  # atomic struct
        c, (*c, *make_path("name")), (*c, *make_path("args")),  # atomic list owned whole
        (*c, *make_path("ports"), key([("containerPort", 80), ("protocol", "TCP")])),  # key default
        (*c, *make_path("ports"), key([("containerPort", 80), ("protocol", "TCP")]), *make_path("containerPort")),
        make_path("spec", "template", "spec", "nodeSelector"),  # atomic map
    }
