"""Discovery advertises a subresource iff the server routes it (clients pick code paths from discovery):
the streaming and proxy subresources are advertised now that their handlers exist, ones without a
route (``pods/ephemeralcontainers``, ``pods/resize``) stay out, and everything advertised answers."""

from __future__ import annotations

import json
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

UNSERVED = {"pods/ephemeralcontainers", "pods/resize"}
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


def test_unserved_ephemeralcontainers_gives_kubectl_debug_its_clear_error(api_client: Any, tmp_path: Path) -> None:
    """An unserved subresource is upstream's 404 with empty (not absent) ``details``: ``kubectl debug``
    then says ephemeral containers are disabled, instead of panicking on nil details."""
    core = kclient.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": "dbg"}})
    core.create_namespaced_pod("dbg", {"metadata": {"name": "p"},
                                       "spec": {"containers": [{"name": "c", "image": "x"}]}})
    request = api_client.param_serialize("PATCH", "/api/v1/namespaces/dbg/pods/p/ephemeralcontainers",
                                         header_params={"Content-Type": "application/strategic-merge-patch+json"},
                                         body={}, auth_settings=["BearerToken"])
    response = api_client.call_api(*request)
    response.read()
    assert response.status == 404
    body = json.loads(response.data)
    assert (body["reason"], body["message"], body["details"]) == ("NotFound", ROUTE_MISSING, {})
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api_client.configuration.host)
    out = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "-n", "dbg", "debug", "p", "--image=busybox",
                          "--profile=general"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "ephemeral containers are disabled for this cluster" in out.stderr, out.stderr
    assert "panic" not in out.stderr
