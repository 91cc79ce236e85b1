"""Error bodies are byte-for-byte upstream's: ``Status`` fields in Go's struct order (kind, apiVersion,
metadata, status, message, reason, details, code), ``details`` as name, group, kind, uid, causes, and
a trailing newline, as Go's ``json.Encoder`` writes; every other compact JSON body ends with one too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.pyclient import official_client

kubernetes = pytest.importorskip("kubernetes")

from kubernetes import client as kclient  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


@pytest.fixture(scope="module")
def api_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with official_client(tmp_path_factory.mktemp("status-bodies")) as (client, _):
        yield client


def _error_body(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ApiException) as err:
        call(*args, **kwargs)
    body: str = err.value.body
    return body


def test_not_found_bodies_match_upstream_text(api_client: Any) -> None:
    core, apps = kclient.CoreV1Api(api_client), kclient.AppsV1Api(api_client)
    assert _error_body(core.read_namespaced_pod, "nope", "default") == (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"nope\\" not found",'
        '"reason":"NotFound","details":{"name":"nope","kind":"pods"},"code":404}\n')
    assert _error_body(apps.read_namespaced_deployment, "nope", "default") == (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"deployments.apps \\"nope\\" not found","reason":"NotFound",'
        '"details":{"name":"nope","group":"apps","kind":"deployments"},"code":404}\n')


def test_already_exists_and_invalid_bodies(api_client: Any) -> None:
    core = kclient.CoreV1Api(api_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "twice"}})
    assert _error_body(core.create_namespaced_config_map, "default", {"metadata": {"name": "twice"}}) == (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"configmaps \\"twice\\" already exists","reason":"AlreadyExists",'
        '"details":{"name":"twice","kind":"configmaps"},"code":409}\n')
    body = _error_body(core.create_namespaced_config_map, "default", {"metadata": {"name": "Bad_Name"}})
    assert body.endswith("}\n")
    assert list(json.loads(body)) == ["kind", "apiVersion", "metadata", "status", "message", "reason", "details",
                                      "code"]
    assert list(json.loads(body)["details"]) == ["name", "kind", "causes"]
    assert list(json.loads(body)["details"]["causes"][0]) == ["reason", "message", "field"]


def test_success_status_and_objects_end_with_newline(api_client: Any) -> None:
    core = kclient.CoreV1Api(api_client)
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "gone"}})
    raw = core.delete_namespaced_config_map("gone", "default", _preload_content=False).data.decode()
    assert raw == ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success",'
                   f'"details":{{"name":"gone","kind":"configmaps","uid":"{created.metadata.uid}"}}}}\n')
    core.create_namespaced_config_map("default", {"metadata": {"name": "kept"}})
    for response in (core.read_namespaced_config_map("kept", "default", _preload_content=False),
                     core.list_namespaced_config_map("default", _preload_content=False),
                     kclient.CoreApi(api_client).get_api_versions(_preload_content=False),
                     core.get_api_resources(_preload_content=False)):
        assert response.data.endswith(b"}\n"), response.data[-40:]
    version = kclient.VersionApi(api_client).get_code(_preload_content=False).data
    assert version.startswith(b'{\n  "major": "1"')  # MarshalIndent, as upstream: no trailing newline
    assert version.endswith(b"}")
