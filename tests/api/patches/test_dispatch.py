"""Content-Type dispatch: the three patch types, 415 for anything else, objects in and out."""

from __future__ import annotations

import pytest

from sampan.api.errors import BadRequest, UnsupportedMediaType
from sampan.api.patches import (
    CUSTOM_PATCH_TYPES,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
    patch_type,
)
from sampan.api.schema import type_for_kind

POD = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}}


def test_content_type_parameters_are_ignored() -> None:
    assert patch_type("application/merge-patch+json; charset=utf-8") == MERGE_PATCH
    assert patch_type("Application/JSON-Patch+JSON") == JSON_PATCH


@pytest.mark.parametrize("header", ["application/json", "text/plain", "", None])
def test_unknown_content_type_is_415_with_upstream_wording(header: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        patch_type(header)
    assert info.value.code == 415
    assert info.value.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, "
        "application/strategic-merge-patch+json, application/apply-patch+yaml"
    )


def test_custom_resources_do_not_accept_strategic_merge_patch() -> None:
    with pytest.raises(UnsupportedMediaType):
        patch_type(STRATEGIC_MERGE_PATCH, CUSTOM_PATCH_TYPES)


def test_each_type_reaches_its_algorithm() -> None:
    node = type_for_kind("", "v1", "Pod")
    body = b'{"spec": {"containers": [{"name": "b", "image": "2"}]}}'
    merged = apply_patch(STRATEGIC_MERGE_PATCH, POD, body, type_node=node)
    assert [c["image"] for c in merged["spec"]["containers"]] == ["1", "2"]
    replaced = apply_patch(MERGE_PATCH, POD, body, type_node=node)
    assert replaced["spec"]["containers"] == [{"name": "b", "image": "2"}]
    renamed = apply_patch(JSON_PATCH, POD, b'[{"op":"replace","path":"/metadata/name","value":"q"}]', type_node=None)
    assert renamed["metadata"]["name"] == "q"


def test_json_patch_must_leave_an_object() -> None:
    with pytest.raises(BadRequest) as info:
        apply_patch(JSON_PATCH, POD, b'[{"op":"replace","path":"","value":[1]}]', type_node=None)
    assert "must be a JSON object" in info.value.message
