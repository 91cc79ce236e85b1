"""Name rules and metadata validation: upstream messages, and hypothesis against the regexes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampan.api import validation as v

SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

UPSTREAM_SUBDOMAIN_ERROR = (
    'metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case '
    "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
    "'example.com', regex used for validation is "
    r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def test_upstream_wording() -> None:
    causes = v.validate_object_meta({"metadata": {"name": "Bad_Name", "namespace": "default"}}, namespaced=True,
                                    name_rule=v.dns1123_subdomain)
    assert [c.describe() for c in causes] == [UPSTREAM_SUBDOMAIN_ERROR]
    assert causes[0].type == "FieldValueInvalid"


@given(st.text(alphabet="abcXYZ019-._/ ", max_size=70))
def test_subdomain_matches_regex(name: str) -> None:
    ok = SUBDOMAIN_RE.fullmatch(name) is not None and len(name) <= 253
    assert (v.dns1123_subdomain(name) == []) is ok


@given(st.text(alphabet="abz09-.A_", max_size=70))
def test_label_matches_regex(name: str) -> None:
    ok = LABEL_RE.fullmatch(name) is not None and len(name) <= 63
    assert (v.dns1123_label(name) == []) is ok


@given(st.from_regex(LABEL_RE, fullmatch=True).filter(lambda s: len(s) <= 63))
def test_valid_labels_are_valid_subdomains(name: str) -> None:
    assert v.dns1123_label(name) == []
    assert v.dns1123_subdomain(name) == []


@given(st.text(max_size=80))
def test_rules_never_raise(text: str) -> None:
    for rule in (v.dns1123_label, v.dns1123_subdomain, v.dns1035_label, v.path_segment, v.qualified_name,
                 v.label_value, v.config_map_key, v.env_var_name, v.c_identifier):
        assert isinstance(rule(text), list)


@pytest.mark.parametrize(
    ("name", "problems"),
    [
        ("a" * 64, ["must be no more than 63 characters"]),
        ("1abc", [v.DNS1035_LABEL_MSG]),
        ("abc", []),
    ],
)
def test_dns1035(name: str, problems: list[str]) -> None:
    assert v.dns1035_label(name) == problems


@pytest.mark.parametrize(
    ("key", "valid"),
    [("app", True), ("example.com/app", True), ("a/b/c", False), ("/x", False), ("Example.com/x", False),
     ("x/", False), ("a_b.C-d", True), ("-a", False), ("a" * 64, False), ("k8s.io/" + "a" * 63, True)],
)
def test_qualified_name(key: str, valid: bool) -> None:
    assert (v.qualified_name(key) == []) is valid


def test_path_segment() -> None:
    assert v.path_segment("..") == ["may not be '..'"]
    assert v.path_segment("a/b%") == ["may not contain '/'", "may not contain '%'"]
    assert v.path_segment("Any_Thing") == []


def test_object_meta_rules() -> None:
    meta = {"metadata": {"generateName": "web-", "labels": {"bad key": "x", "ok": "y" * 64},
                         "annotations": {"a": 1}, "finalizers": ["foo", "example.com/f", "example.com/f"]}}
    causes = v.validate_object_meta(meta, namespaced=True, name_rule=v.dns1123_subdomain)
    described = [c.describe() for c in causes]
    assert "metadata.name: Required value: name or generateName is required" in described
    assert "metadata.namespace: Required value" in described
    assert any(d.startswith('metadata.labels: Invalid value: "bad key"') for d in described)
    assert any("must be no more than 63 characters" in d for d in described)
    assert any(d.startswith("metadata.annotations[a]") for d in described)
    assert any("neither a standard finalizer name nor is it fully qualified" in d for d in described)
    assert 'metadata.finalizers[2]: Duplicate value: "example.com/f"' in described
    assert not any(d.startswith("metadata.generateName") for d in described)


def test_cluster_scoped_forbids_namespace() -> None:
    causes = v.validate_object_meta({"metadata": {"name": "n", "namespace": "x"}}, namespaced=False,
                                    name_rule=v.dns1123_label)
    assert [c.describe() for c in causes] == ["metadata.namespace: Forbidden: not allowed on this type"]


def test_annotation_size_limit() -> None:
    big = {"metadata": {"name": "n", "annotations": {"k": "x" * (256 * 1024)}}}
    causes = v.validate_object_meta(big, namespaced=False, name_rule=v.dns1123_label)
    assert [c.type for c in causes] == ["FieldValueTooLong"]


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=10))
def test_object_meta_never_raises(junk: object) -> None:
    for obj in (junk, {"metadata": junk}, {"metadata": {"name": "x", "labels": junk, "annotations": junk,
                                                        "finalizers": junk, "ownerReferences": junk}}):
        assert isinstance(v.validate_object_meta(obj, namespaced=True, name_rule=v.dns1123_subdomain), list)


def test_meta_update_immutables() -> None:
    old = {"metadata": {"name": "a", "namespace": "n", "uid": "u1", "creationTimestamp": "2024-01-01T00:00:00Z"}}
    new = {"metadata": {"name": "a", "namespace": "n", "uid": "u2"}}
    causes = v.validate_object_meta_update(new, old)
    assert [c.describe() for c in causes] == ['metadata.uid: Invalid value: "u2": field is immutable']
    assert v.validate_object_meta_update({"metadata": {"name": "a", "namespace": "n"}}, old) == []


def test_owner_references() -> None:
    refs = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "1", "controller": True},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "s", "uid": "2", "controller": True},
            {"kind": "", "name": "x"}]
    described = [c.describe() for c in v.validate_owner_references(refs)]
    # upstream reports a reference's fields on the list's path, without an index
    assert described[1:] == ['metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty',
                             'metadata.ownerReferences.kind: Invalid value: "": kind must not be empty',
                             'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty']
    assert described[0].startswith('metadata.ownerReferences: Invalid value: [{"apiVersion":"apps/v1"')
    assert described[0].endswith(': Only one reference can have Controller set to true. Found "true" in references '
                                 "for ReplicaSet/r and ReplicaSet/s")


QUALIFIED_RE = re.compile(
    r"(([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_VALUE_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


@given(st.text(alphabet="aZ9-_./", max_size=80))
def test_qualified_name_matches_regex(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    ok = (QUALIFIED_RE.fullmatch(key) is not None and len(name) <= 63 and len(prefix) <= 253)
    assert (v.qualified_name(key) == []) is ok


@given(st.text(alphabet="aZ9-_. ", max_size=70))
def test_label_value_matches_regex(value: str) -> None:
    ok = LABEL_VALUE_RE.fullmatch(value) is not None and len(value) <= 63
    assert (v.label_value(value) == []) is ok


def test_immutable_values_print_as_go_not_python() -> None:
    def said(new: object, go_type: str = "") -> str:
        (cause,) = v.validate_immutable(new, "old", "f", go_type=go_type)
        return cause.describe()

    assert said("x") == 'f: Invalid value: "x": field is immutable'
    assert said(None) == "f: Invalid value: null: field is immutable"
    assert said(False) == "f: Invalid value: false: field is immutable"
    assert said(3) == "f: Invalid value: 3: field is immutable"
    assert said(["Persistent", "Ephemeral"], "[]storage.VolumeLifecycleMode") == \
        'f: Invalid value: []storage.VolumeLifecycleMode{"Persistent", "Ephemeral"}: field is immutable'
    assert said({"b": "2", "a": "1"}, "map[string]string") == \
        'f: Invalid value: map[string]string{"a":"1", "b":"2"}: field is immutable'
    assert said({"spec": {"containers": []}}, "core.PodTemplateSpec") == \
        "f: Invalid value: core.PodTemplateSpec{...}: field is immutable"
    for value in ({"k": 1}, [{"k": 1}], [1, 2]):
        assert not re.search(r"[{\[]'|': |True|None", said(value)), said(value)
    assert v.validate_immutable({"a": 1}, {"a": 1}, "f") == []
