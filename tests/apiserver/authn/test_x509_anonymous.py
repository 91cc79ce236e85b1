"""HTTPS with client certificates, anonymous access and the insecure port, against a real server."""

from __future__ import annotations

import aiohttp
import pytest

from sampan.api import errors
from sampan.client.rest import ConnectionFailed
from tests.apiserver.authn.conftest import SecureServer

UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


async def whoami(client: object) -> dict[str, object]:
    from sampan.client.rest import RESTClient

    assert isinstance(client, RESTClient)
    async with client:
        body = await client.request("POST", WHOAMI, body={"apiVersion": "authentication.k8s.io/v1",
                                                          "kind": "SelfSubjectReview"})
    info: dict[str, object] = body["status"]["userInfo"]
    return info


async def test_no_credentials_is_401_with_upstreams_body(secure: SecureServer) -> None:
    assert secure.url.startswith("https://")
    for path in ("/api", "/api/v1/namespaces", "/apis", "/openapi/v3"):
        status, body = await secure.raw("GET", path)
        assert (status, body) == (401, UNAUTHORIZED), path


async def test_anonymous_reaches_only_the_health_paths(secure: SecureServer) -> None:
    for path in ("/healthz", "/livez", "/readyz", "/version"):
        status, _ = await secure.raw("GET", path)
        assert status == 200, path
    status, _ = await secure.raw("GET", "/readyz/etcd")  # not in system:public-info-viewer, as upstream
    assert status == 403
    status, body = await secure.raw("POST", WHOAMI, json={})
    assert status == 401, body


@pytest.mark.authn_options(anonymous=False)
async def test_anonymous_auth_false_refuses_even_health(secure: SecureServer) -> None:
    status, body = await secure.raw("GET", "/healthz")
    assert (status, body) == (401, UNAUTHORIZED)


async def test_client_certificate_names_user_and_groups(secure: SecureServer) -> None:
    user = await whoami(secure.client("jane", "team-a", "team-b"))
    assert user == {"username": "jane", "groups": ["team-a", "team-b", "system:authenticated"]}
    node = await whoami(secure.client("system:node:n1", "system:nodes"))
    assert node == {"username": "system:node:n1", "groups": ["system:nodes", "system:authenticated"]}


async def test_certificate_from_another_ca_is_401(secure: SecureServer) -> None:
    client = secure.client("mallory", "kubeadm:cluster-admins", ca=secure.other_ca)
    with pytest.raises(errors.Unauthorized) as caught:
        async with client:
            await client.request("GET", "/api/v1/namespaces")
    assert caught.value.to_status() == UNAUTHORIZED


async def test_server_only_certificate_is_not_a_client_credential(secure: SecureServer) -> None:
    cert, key = secure.credentials("sneaky", "kubeadm:cluster-admins", client=False)
    from sampan.client.config import RESTConfig
    from sampan.client.rest import RESTClient

    client = RESTClient(RESTConfig(host=secure.url, ca_data=secure.ca.pem, cert_data=cert, key_data=key))
    with pytest.raises(errors.Unauthorized):
        async with client:
            await client.request("GET", "/api")


async def test_client_refuses_a_server_it_does_not_trust(secure: SecureServer) -> None:
    from sampan.client.config import RESTConfig
    from sampan.client.rest import RESTClient

    client = RESTClient(RESTConfig(host=secure.url, ca_data=secure.other_ca.pem))
    with pytest.raises(ConnectionFailed):
        async with client:
            await client.request("GET", "/version")


async def test_insecure_port_is_plain_http_admin_on_loopback(secure: SecureServer) -> None:
    assert secure.insecure_url.startswith("http://127.0.0.1:")
    async with aiohttp.ClientSession() as session, session.post(secure.insecure_url + WHOAMI, json={}) as resp:
        assert resp.status == 201
        body = await resp.json()
    assert body["status"]["userInfo"] == {"username": "system:admin",
                                          "groups": ["system:masters", "system:authenticated"]}
    # plain HTTP is not spoken on the secure port
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(secure.url.replace("https://", "http://") + "/api") as resp:
                await resp.read()
