"""``Warning`` headers as upstream writes them: unknown field names quoted as Go's ``%q`` (control
characters escaped), deduplicated, 4 KiB of warning text at most with upstream's truncation, and a
write whose warnings could not be sent as-is still answered (it was committed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from sampan.api.gostrings import quote
from sampan.apiserver.responses import _sendable
from sampan.apiserver.warning_headers import TOTAL_RUNES, header_value, warning_headers
from tests.support.pyclient import official_client

kubernetes = pytest.importorskip("kubernetes")


def test_go_quote() -> None:
    assert quote("a\x01") == '"a\\x01"'
    assert quote("spec.foo") == '"spec.foo"'
    assert quote('q"b\\') == '"q\\"b\\\\"'
    assert quote("t\tn\nr\r\x7f") == '"t\\tn\\nr\\r\\x7f"'
    assert quote("é😀") == '"é😀"'  # printable runes stay as they are
    assert quote("\u00ad\u2028") == '"\\u00ad\\u2028"'
    assert quote("\U000e0001") == '"\\U000e0001"'


def test_recorder_rules_match_upstream() -> None:
    assert warning_headers([]) == []
    assert warning_headers(["", "mytext"]) == ['299 - "mytext"']
    assert warning_headers(["mytext", "mytext"]) == ['299 - "mytext"']
    assert warning_headers(["my\ntext", "ok\x85"]) == []  # control characters: not sent
    assert header_value('say "hi" \\o/') == '299 - "say \\"hi\\" \\\\o/"'
    # upstream's TestTruncation, with its shrunk limits (25 runes total, 5 per item once truncating)
    texts = ["aaaaaaaaaa", "aaaaaaaaaa", "bb", "ccc", "Iñtërnâtiô"]
    assert warning_headers(texts, total=25, item=5) == [
        '299 - "aaaaaaaaaa"', '299 - "bb"', '299 - "ccc"', '299 - "Iñtërnâtiô"']
    texts += ["e", "ffffffffff", "ffffffffff", "gggggggggg", "h"]
    assert warning_headers(texts, total=25, item=5) == [
        '299 - "aaaaa"', '299 - "bb"', '299 - "ccc"', '299 - "Iñtër"', '299 - "e"', '299 - "fffff"',
        '299 - "ggggg"']


def test_unsendable_headers_are_dropped_not_fatal() -> None:
    response = web.Response(body=b"{}\n")
    response.headers.add("Warning", '299 - "ok"')
    response.headers.add("Warning", "bad\r\nInjected: 1")
    kept = _sendable(response)
    assert kept.headers.getall("Warning") == ['299 - "ok"']


@pytest.fixture(scope="module")
def dyn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The official client's transport as its dynamic client drives it: dict bodies sent as they are
    (the typed API refuses unknown fields before sending)."""
    with official_client(tmp_path_factory.mktemp("warnings")) as (client, _):
        yield client


def _send(client: Any, method: str, path: str, body: Any = None) -> Any:
    request = client.param_serialize(method, path, header_params={"Content-Type": "application/json",
                                                                  "Accept": "application/json"},
                                     body=body, auth_settings=["BearerToken"])
    response = client.call_api(*request)
    response.read()
    return response


def _create(client: Any, body: dict[str, Any]) -> tuple[int, list[str], dict[str, Any]]:
    response = _send(client, "POST", "/api/v1/namespaces/default/configmaps", body)
    return response.status, response.headers.getlist("Warning"), json.loads(response.data)


def test_control_character_in_unknown_field_is_escaped(dyn: Any) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ctl"}, "a\u0001": 1}
    status, warnings, created = _create(dyn, body)
    assert status == 201
    assert warnings == ['299 - "unknown field \\"a\\\\x01\\""']
    stored = _send(dyn, "GET", "/api/v1/namespaces/default/configmaps/ctl")
    assert json.loads(stored.data)["metadata"]["uid"] == created["metadata"]["uid"]


def test_many_unknown_fields_are_capped_at_4k(dyn: Any) -> None:
    names = [f"unknown-field-number-{i:03d}-with-a-long-name" for i in range(150)]
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "many"}}
    body.update({n: 1 for n in names})
    status, got, _ = _create(dyn, body)
    assert status == 201
    texts = [json.loads(h[len("299 - "):]) for h in got]
    assert texts == [f'unknown field "{n}"' for n in names[: len(texts)]]
    assert sum(len(t) for t in texts) <= TOTAL_RUNES + len(texts[-1])
    assert 50 < len(texts) < 100  # the rest dropped: within what http.client accepts
