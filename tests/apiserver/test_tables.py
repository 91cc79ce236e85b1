"""meta.k8s.io Table and PartialObjectMetadata transforms, with the real configmap/namespace strategies."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.api.errors import BadRequest, NotAcceptable
from sampan.apiserver.negotiation import Representation, Target, negotiate
from sampan.apiserver.registry.catalog import Catalog
from sampan.apiserver.registry.strategy import Strategy
from sampan.apiserver.tables import (
    IncludeObject,
    WatchRenderer,
    parse_include_object,
    render_any,
    render_list,
    render_object,
    to_table,
)

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
KUBECTL_TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
    "application/json"
)


@pytest.fixture
def configmaps() -> Strategy:
    s = Catalog.builtin().lookup("", "v1", "configmaps")
    assert s is not None
    return s


def cm(name: str, *, age: int, data: dict[str, str] | None = None, rv: str = "7") -> dict[str, Any]:
    import datetime as dt

    created = dt.datetime.fromtimestamp(NOW - age, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": rv,
            "creationTimestamp": created, "labels": {"app": "x"},
            "managedFields": [{"manager": "kubectl", "operation": "Update"}],
        },
        "data": data or {},
    }


def cm_list(*items: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "42", "continue": "tok",
                                                                       "remainingItemCount": 3},
            "items": list(items)}


def test_table_of_a_list(configmaps: Strategy) -> None:
    rep = negotiate(KUBECTL_TABLE)
    table = render_list(rep, configmaps, cm_list(cm("a", age=30, data={"k": "v"}), cm("b", age=4000)), now=NOW)
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "tok", "remainingItemCount": 3}
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["columnDefinitions"][0]["format"] == "name"
    assert [r["cells"] for r in table["rows"]] == [["a", 1, "30s"], ["b", 0, "66m"]]
    row_obj = table["rows"][0]["object"]
    assert row_obj["kind"] == "PartialObjectMetadata"
    assert row_obj["apiVersion"] == "meta.k8s.io/v1"
    assert row_obj["metadata"]["name"] == "a"
    assert row_obj["metadata"]["labels"] == {"app": "x"}
    assert "managedFields" not in row_obj["metadata"]
    assert "data" not in row_obj


def test_include_object_variants(configmaps: Strategy) -> None:
    obj = cm("a", age=5, data={"k": "v"})
    full = to_table(configmaps, [obj], now=NOW, include_object=IncludeObject.OBJECT)
    embedded = full["rows"][0]["object"]
    assert embedded["kind"] == "ConfigMap"
    assert embedded["data"] == {"k": "v"}
    assert "managedFields" not in embedded["metadata"]
    assert "managedFields" in obj["metadata"], "input must not be mutated"
    none = to_table(configmaps, [obj], now=NOW, include_object=IncludeObject.NONE)
    assert "object" not in none["rows"][0]


def test_parse_include_object() -> None:
    assert parse_include_object(None) is IncludeObject.METADATA
    assert parse_include_object("") is IncludeObject.METADATA
    assert parse_include_object("Object") is IncludeObject.OBJECT
    assert parse_include_object("None") is IncludeObject.NONE
    with pytest.raises(BadRequest) as exc:
        parse_include_object("everything")
    assert exc.value.to_status()["message"] == 'unrecognized includeObject value: "everything"'


def test_v1beta1_tables(configmaps: Strategy) -> None:
    rep = negotiate("application/json;as=Table;v=v1beta1;g=meta.k8s.io")
    table = render_object(rep, configmaps, cm("a", age=1), now=NOW)
    assert table["apiVersion"] == "meta.k8s.io/v1beta1"
    assert table["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"


def test_single_object_table_keeps_resource_version(configmaps: Strategy) -> None:
    table = render_object(negotiate(KUBECTL_TABLE), configmaps, cm("a", age=1, rv="99"), now=NOW)
    assert table["metadata"] == {"resourceVersion": "99"}
    assert len(table["rows"]) == 1


def test_untransformed_bodies_pass_through(configmaps: Strategy) -> None:
    obj = cm("a", age=1)
    assert render_object(Representation(), configmaps, obj, now=NOW) is obj
    lst = cm_list(obj)
    assert render_list(Representation(), configmaps, lst, now=NOW) is lst
    status = {"kind": "Status", "code": 404}
    assert render_any(negotiate(KUBECTL_TABLE), configmaps, status, now=NOW) is status


def test_partial_object_metadata(configmaps: Strategy) -> None:
    one = render_object(Representation(target=Target.PARTIAL_OBJECT_METADATA), configmaps, cm("a", age=1), now=NOW)
    assert one["kind"] == "PartialObjectMetadata"
    assert one["metadata"]["name"] == "a"
    assert "data" not in one
    many = render_list(Representation(target=Target.PARTIAL_OBJECT_METADATA_LIST), configmaps,
                       cm_list(cm("a", age=1), cm("b", age=2)), now=NOW)
    assert many["kind"] == "PartialObjectMetadataList"
    assert many["metadata"]["resourceVersion"] == "42"
    assert [i["metadata"]["name"] for i in many["items"]] == ["a", "b"]
    assert all(i["kind"] == "PartialObjectMetadata" for i in many["items"])
    with pytest.raises(NotAcceptable):
        render_list(Representation(target=Target.PARTIAL_OBJECT_METADATA), configmaps, cm_list(), now=NOW)
    with pytest.raises(NotAcceptable):
        render_object(Representation(target=Target.PARTIAL_OBJECT_METADATA_LIST), configmaps, cm("a", age=1),
                      now=NOW)


def test_render_any_dispatches_on_items(configmaps: Strategy) -> None:
    rep = negotiate(KUBECTL_TABLE)
    assert len(render_any(rep, configmaps, cm_list(cm("a", age=1), cm("b", age=1)), now=NOW)["rows"]) == 2
    assert len(render_any(rep, configmaps, cm("a", age=1), now=NOW)["rows"]) == 1


def test_watch_tables_carry_columns_only_first(configmaps: Strategy) -> None:
    renderer = WatchRenderer(negotiate(KUBECTL_TABLE), configmaps)
    assert not renderer.passthrough
    first = renderer.render_event("ADDED", cm("a", age=1, rv="5"), now=NOW)
    second = renderer.render_event("MODIFIED", cm("a", age=1, rv="6"), now=NOW)
    assert first["type"] == "ADDED"
    assert first["object"]["kind"] == "Table"
    assert [c["name"] for c in first["object"]["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert second["object"]["columnDefinitions"] is None
    assert second["object"]["metadata"]["resourceVersion"] == "6"
    assert second["object"]["rows"][0]["cells"][0] == "a"
    bookmark = renderer.render("BOOKMARK", {"kind": "ConfigMap", "metadata": {"resourceVersion": "9"}}, now=NOW)
    assert bookmark["rows"] == []
    assert bookmark["metadata"]["resourceVersion"] == "9"
    error = {"kind": "Status", "code": 410}
    assert renderer.render("ERROR", error, now=NOW) is error


def test_watch_passthrough_and_metadata(configmaps: Strategy) -> None:
    assert WatchRenderer(Representation(), configmaps).passthrough
    meta_watch = WatchRenderer(Representation(target=Target.PARTIAL_OBJECT_METADATA), configmaps)
    assert meta_watch.render("ADDED", cm("a", age=1), now=NOW)["kind"] == "PartialObjectMetadata"
    with pytest.raises(NotAcceptable):
        WatchRenderer(Representation(media_type="application/yaml"), configmaps)


def test_every_builtin_strategy_renders_a_row_per_column() -> None:
    """Whatever the catalog holds, a minimal object gives a full-width row (no crash on missing fields)."""
    for strategy in Catalog.builtin().strategies():
        info = strategy.info
        obj = {"apiVersion": info.group_version, "kind": info.kind,
               "metadata": {"name": "x", "namespace": "default", "creationTimestamp": "2023-11-14T22:00:00Z"}}
        table = to_table(strategy, [obj], now=NOW)
        assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"]), info.resource
        assert any(c["name"] == "Name" for c in table["columnDefinitions"]), info.resource
