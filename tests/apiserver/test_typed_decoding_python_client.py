"""Typed decoding seen through the official ``kubernetes`` Python client (issue 24).

The fuzzer's request was a Node whose ``status.addresses[].type`` is a number: once stored, every
``list_node()`` of a typed client failed to deserialize the whole list. Now the write is refused with
upstream's 400 and typed reads keep working. (The client validates its own typed calls, so the bad
write is sent as the fuzzer sent it: raw JSON.)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.apiserver import APIServerHandle
from tests.support.pyclient import official_client

kubernetes = pytest.importorskip("kubernetes")

from kubernetes import client as kclient  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, APIServerHandle]]:
    with official_client(Path(tmp_path_factory.mktemp("typed-pyclient"))) as pair:
        yield pair


def _post(handle: APIServerHandle, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(handle.url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_wrongly_typed_node_is_refused_and_typed_lists_keep_working(server: tuple[Any, APIServerHandle]) -> None:
    api_client, handle = server
    core = kclient.CoreV1Api(api_client)
    core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "good"}})
    bad = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "bad"},
           "status": {"addresses": [{"type": 5, "address": "100.64.0.9"}]}}
    code, status = _post(handle, "/api/v1/nodes", bad)
    assert code == 400
    assert status["reason"] == "BadRequest"
    assert status["message"] == ('Node in version "v1" cannot be handled as a Node: json: cannot unmarshal number into '
                                 "Go struct field NodeAddress.status.addresses.type of type v1.NodeAddressType")
    names = [n.metadata.name for n in core.list_node().items]  # deserializes every item with types
    assert names == ["good"]


def test_lease_with_number_holder_is_refused(server: tuple[Any, APIServerHandle]) -> None:
    api_client, handle = server
    leases = kclient.CoordinationV1Api(api_client)
    code, status = _post(handle, "/apis/coordination.k8s.io/v1/namespaces/default/leases",
                         {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
                          "spec": {"holderIdentity": 5}})
    assert code == 400
    assert "Go struct field LeaseSpec.spec.holderIdentity of type string" in status["message"]
    assert leases.list_namespaced_lease("default").items == []
    with pytest.raises(ApiException) as info:  # and a typed read of the refused object is a plain 404
        leases.read_namespaced_lease("l", "default")
    assert info.value.status == 404
