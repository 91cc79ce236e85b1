"""Accept-header negotiation, with the exact headers real clients send (shared/reference)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampan.api.errors import NotAcceptable
from sampan.apiserver.negotiation import (
    DiscoveryFormat,
    Representation,
    Target,
    negotiate,
    negotiate_discovery,
    parse_accept,
)

KUBECTL_TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
    "application/json"
)
KUBECTL_DISCOVERY = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)
KUBECTL_129_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"


def test_parse_keeps_client_order_for_equal_preference() -> None:
    ranges = parse_accept(KUBECTL_TABLE)
    assert [r.params.get("v") for r in ranges] == ["v1", "v1beta1", None]


def test_parse_orders_by_q_then_specificity() -> None:
    ranges = parse_accept("*/*;q=0.8, application/yaml;q=0.9, application/*, text/plain;q=0")
    assert [r.media_type for r in ranges] == ["application/*", "application/yaml", "*/*"]


def test_parse_drops_malformed_clauses() -> None:
    assert [r.media_type for r in parse_accept("garbage, application/json;q=abc, application/yaml")] == [
        "application/yaml"
    ]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, Representation()),
        ("", Representation()),
        ("application/json", Representation()),
        ("application/json, */*", Representation()),
        ("*/*", Representation()),
        ("application/*", Representation()),
        ("application/vnd.kubernetes.protobuf,application/json", Representation()),
        ("application/yaml", Representation(media_type="application/yaml")),
        ("application/json;stream=watch", Representation()),
        ("application/json;pretty=1", Representation(pretty=True)),
        (KUBECTL_TABLE, Representation(target=Target.TABLE)),
        ("application/json;as=Table;v=v1beta1;g=meta.k8s.io", Representation(target=Target.TABLE,
                                                                             meta_version="v1beta1")),
        ("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
         Representation(target=Target.PARTIAL_OBJECT_METADATA_LIST)),
        ("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
         Representation(target=Target.PARTIAL_OBJECT_METADATA)),
        # an unknown transform is skipped, the next clause wins
        ("application/json;as=Foo;v=v1;g=meta.k8s.io, application/json", Representation()),
        ("application/json;as=Table;v=v1;g=example.com, application/yaml",
         Representation(media_type="application/yaml")),
        ("application/json;as=Table, application/json", Representation()),
    ],
)
def test_negotiate(accept: str | None, expected: Representation) -> None:
    assert negotiate(accept) == expected


@pytest.mark.parametrize(
    "accept",
    [
        "application/vnd.kubernetes.protobuf",
        "text/html",
        "application/json;as=Table;v=v1;g=meta.k8s.io;q=0",
        "application/json;as=Table;v=v9;g=meta.k8s.io",
        "garbage",
        "application/json;stream=foo",
    ],
)
def test_not_acceptable(accept: str) -> None:
    with pytest.raises(NotAcceptable) as exc:
        negotiate(accept)
    status = exc.value.to_status()
    assert status["code"] == 406
    assert status["reason"] == "NotAcceptable"
    assert "application/json" in status["message"]


def test_transforms_can_be_refused_per_endpoint() -> None:
    assert negotiate(KUBECTL_TABLE, allow_transforms=False) == Representation()
    with pytest.raises(NotAcceptable):
        negotiate("application/json;as=Table;v=v1;g=meta.k8s.io", allow_transforms=False)


def test_require_compatible() -> None:
    table = Representation(target=Target.TABLE)
    table.require_compatible(is_list=True)
    table.require_compatible(is_list=False)
    table.require_compatible(is_list=True, is_watch=True)
    with pytest.raises(NotAcceptable):
        Representation(target=Target.PARTIAL_OBJECT_METADATA).require_compatible(is_list=True)
    with pytest.raises(NotAcceptable):
        Representation(target=Target.PARTIAL_OBJECT_METADATA_LIST).require_compatible(is_list=False)
    with pytest.raises(NotAcceptable):
        Representation(media_type="application/yaml").require_compatible(is_list=True, is_watch=True)
    Representation(target=Target.PARTIAL_OBJECT_METADATA).require_compatible(is_list=True, is_watch=True)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (KUBECTL_DISCOVERY, DiscoveryFormat.AGGREGATED_V2),
        (KUBECTL_129_DISCOVERY, DiscoveryFormat.AGGREGATED_V2BETA1),
        ("application/json, */*", DiscoveryFormat.LEGACY),
        ("*/*", DiscoveryFormat.LEGACY),
        (None, DiscoveryFormat.LEGACY),
        ("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
         DiscoveryFormat.LEGACY),
    ],
)
def test_negotiate_discovery(accept: str | None, expected: DiscoveryFormat) -> None:
    assert negotiate_discovery(accept) is expected


def test_discovery_content_types_are_what_client_go_compares() -> None:
    assert DiscoveryFormat.AGGREGATED_V2.content_type == (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )
    assert DiscoveryFormat.AGGREGATED_V2BETA1.content_type == (
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    )


def test_group_documents_ignore_aggregated_clauses() -> None:
    assert negotiate_discovery(KUBECTL_DISCOVERY, allow_aggregated=False) is DiscoveryFormat.LEGACY
    with pytest.raises(NotAcceptable):
        negotiate_discovery("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
                            allow_aggregated=False)


ACCEPT_PIECES = [";", ",", "=", "q", "application/json", " ", '"', "*/*", "as=Table", "g=meta.k8s.io", "v=v1", "0.5"]


@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(ACCEPT_PIECES), max_size=12).map("".join)))
def test_negotiate_never_fails_otherwise(accept: str) -> None:
    """Any header either negotiates or raises NotAcceptable; nothing else escapes."""
    try:
        rep = negotiate(accept)
    except NotAcceptable:
        return
    assert rep.media_type in ("application/json", "application/yaml")
