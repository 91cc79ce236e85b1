"""Discovery advertises a subresource iff the server routes it (clients pick code paths from discovery):
the streaming and proxy subresources are advertised now that their handlers exist, ones without a
route (``pods/resize``) stay out, and everything advertised answers."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sampan.apiserver import routes
from sampan.apiserver.app import HANDLERS
from tests.support.apiserver import write_kubeconfig
from tests.support.pyclient import official_client

kubernetes = pytest.importorskip("kubernetes")

from kubernetes import client as kclient  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

UNSERVED = {"pods/resize"}
STREAMING = {"pods/exec", "pods/attach", "pods/portforward", "pods/proxy", "services/proxy", "nodes/proxy"}
ROUTE_MISSING = "the server could not find the requested resource"
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


@pytest.fixture(scope="module")
def api_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with official_client(tmp_path_factory.mktemp("discovery-served")) as (client, _):
        yield client


def _get_json(api_client: Any, path: str, accept: str = "application/json") -> Any:
    request = api_client.param_serialize("GET", path, header_params={"Accept": accept}, auth_settings=["BearerToken"])
    response = api_client.call_api(*request)
    response.read()
    assert response.status == 200, response.data
    return json.loads(response.data)


def _legacy_subresources(api_client: Any) -> dict[str, list[tuple[str, list[str], bool]]]:
    """group-version path -> [(resource/sub, verbs, namespaced)] from legacy discovery."""
    out = {}
    paths = ["/api/v1"] + [f"/apis/{v.group_version}" for g in
                           kclient.ApisApi(api_client).get_api_versions().groups for v in g.versions]
    for path in paths:
        listing = _get_json(api_client, path)
        out[path] = [(r["name"], r["verbs"], r["namespaced"]) for r in listing["resources"] if "/" in r["name"]]
    return out


def test_unserved_subresources_are_not_advertised(api_client: Any) -> None:
    names = {r.name for r in kclient.CoreV1Api(api_client).get_api_resources().resources}
    assert not names & UNSERVED
    assert {"pods/log", "pods/status", "pods/binding", "pods/eviction", "serviceaccounts/token",
            "namespaces/finalize", *STREAMING} <= names
    aggregated = _get_json(api_client, "/api", AGGREGATED)
    core = aggregated["items"][0]["versions"][0]["resources"]
    advertised = {f'{r["resource"]}/{s["subresource"]}' for r in core for s in r.get("subresources", [])}
    assert not advertised & UNSERVED
    assert "pods/log" in advertised
    assert advertised >= STREAMING


def test_every_advertised_subresource_is_routed(api_client: Any) -> None:
    kclient.CoreV1Api(api_client).create_namespace({"metadata": {"name": "probe"}})
    for gv_path, subs in _legacy_subresources(api_client).items():
        for name, verbs, namespaced in subs:
            resource, sub = name.split("/")
            base = f"{gv_path}/namespaces/probe" if namespaced else gv_path
            object_name = "probe" if resource == "namespaces" else "missing"
            method = "GET" if "get" in verbs else "POST" if "create" in verbs else "PUT"
            request = api_client.param_serialize(method, f"{base}/{resource}/{object_name}/{sub}",
                                                 header_params={"Content-Type": "application/json"},
                                                 body={} if method != "GET" else None, auth_settings=["BearerToken"])
            try:
                response = api_client.call_api(*request)
                response.read()
                status, body = response.status, response.data
            except ApiException as exc:  # pragma: no cover - call_api returns non-2xx responses as they are
                status, body = exc.status, exc.body
            assert not (status == 404 and ROUTE_MISSING in str(body)), f"{method} {name}: not routed"
            assert status not in (405, 415), f"{method} {name}: {status} {body!r}"


def test_registering_a_handler_advertises_the_subresource() -> None:
    serves = routes.served_subresources(HANDLERS)
    assert serves("pods", "log")
    assert serves("pods", "exec")
    assert serves("services", "proxy")
    assert not serves("pods", "resize")
    routes.SUBRESOURCE_VERBS["pods/resize"] = {"get": "resizetest"}
    try:
        with_handler = routes.served_subresources({**HANDLERS, "resizetest": HANDLERS["get"]})
        assert with_handler("pods", "resize")
        assert not with_handler("nodes", "resize")  # registered for pods only
        assert not routes.served_subresources(HANDLERS)("pods", "resize")  # no handler: not served
    finally:
        del routes.SUBRESOURCE_VERBS["pods/resize"]


def _patch(api_client: Any, path: str, body: Any) -> tuple[int, Any]:
    request = api_client.param_serialize("PATCH", path,
                                         header_params={"Content-Type": "application/strategic-merge-patch+json"},
                                         body=body, auth_settings=["BearerToken"])
    response = api_client.call_api(*request)
    response.read()
    return response.status, json.loads(response.data)


def test_ephemeralcontainers_add_only_as_upstream(api_client: Any, tmp_path: Path) -> None:
    """``kubectl debug`` adds an ephemeral container through the subresource; the ones there may not be
    changed or removed, and ports/probes/resources are refused; nothing else of the pod changes."""
    core = kclient.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": "dbg"}})
    core.create_namespaced_pod("dbg", {"metadata": {"name": "p", "labels": {"a": "b"}},
                                       "spec": {"containers": [{"name": "c", "image": "x"}]}})
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api_client.configuration.host)
    out = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "-n", "dbg", "debug", "p", "--image=busybox",
                          "--profile=general", "--container=dbg", "--target=c"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    pod = core.read_namespaced_pod("p", "dbg")
    (added,) = pod.spec.ephemeral_containers
    assert (added.name, added.image, added.target_container_name) == ("dbg", "busybox", "c")
    assert added.termination_message_policy == "File"  # defaulted as a container
    path = "/api/v1/namespaces/dbg/pods/p/ephemeralcontainers"
    status, got = _patch(api_client, path, {"spec": {"ephemeralContainers": [{"name": "dbg", "image": "other"}]}})
    assert status == 422, got
    assert 'existing ephemeral containers "dbg" may not be changed' in got["message"]
    status, got = _patch(api_client, path, {"spec": {"ephemeralContainers": [
        {"name": "e2", "image": "i", "ports": [{"containerPort": 80}], "targetContainerName": "nope"}]}})
    assert status == 422, got
    assert re.search(r"spec\.ephemeralContainers\[\d\]\.ports: Forbidden: cannot be set for an Ephemeral Container",
                     got["message"]), got
    assert re.search(r'spec\.ephemeralContainers\[\d\]\.targetContainerName: Not found: "nope"', got["message"]), got
    status, got = _patch(api_client, path, {"metadata": {"labels": {"a": "changed"}}, "spec": {
        "containers": [{"name": "c", "image": "changed"}], "ephemeralContainers": [{"name": "e3", "image": "i"}]}})
    assert status == 200, got
    assert sorted(c["name"] for c in got["spec"]["ephemeralContainers"]) == ["dbg", "e3"]
    by_manager = {(f["manager"], f.get("subresource", "")) for f in got["metadata"]["managedFields"]}
    assert ("kubectl", "ephemeralcontainers") in by_manager, by_manager  # as upstream records it
    assert got["metadata"]["labels"] == {"a": "b"}
    assert got["spec"]["containers"][0]["image"] == "x"
    request = api_client.param_serialize("GET", path, auth_settings=["BearerToken"])
    response = api_client.call_api(*request)
    response.read()
    assert response.status == 200
    assert json.loads(response.data)["kind"] == "Pod"
    with pytest.raises(ApiException) as refused:  # only the subresource adds them (upstream ValidatePodCreate)
        core.create_namespaced_pod("dbg", {"metadata": {"name": "q"}, "spec": {
            "containers": [{"name": "c", "image": "x"}], "ephemeralContainers": [{"name": "e", "image": "i"}],
            "nodeName": "n1", "schedulingGates": [{"name": "g"}]}})
    assert refused.value.status == 422
    message = json.loads(refused.value.body)["message"]
    assert "spec.ephemeralContainers: Forbidden: cannot be set on create" in message, message
    assert "spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared" in message
