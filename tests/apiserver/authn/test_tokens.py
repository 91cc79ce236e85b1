"""Bearer tokens against a real HTTPS server: service-account JWTs (bound and legacy), the static token
file, bootstrap tokens; and every way a token must fail (401, never a fall-through to anonymous)."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sampan.api import errors
from sampan.apiserver.authn.serviceaccount import LEGACY_ISSUER
from sampan.apiserver.handlers import token as token_handler
from sampan.apiserver.satokens import TokenSigner, service_account_claims
from sampan.client.rest import RESTClient
from tests.apiserver.authn.conftest import STATIC_TOKEN, SecureServer
from tests.apiserver.authn.test_x509_anonymous import UNAUTHORIZED, whoami

ISSUER = "https://kubernetes.default.svc.cluster.local"


async def admin_request(secure: SecureServer, method: str, path: str, body: Any = None) -> Any:
    async with secure.client("kubernetes-admin", "kubeadm:cluster-admins") as c:
        return await c.request(method, path, body=body)


async def token_for(secure: SecureServer, sa: str = "default", namespace: str = "default", **spec: Any) -> str:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    answer = await admin_request(secure, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{sa}/token", body)
    token: str = answer["status"]["token"]
    return token


async def make_sa(secure: SecureServer, name: str, namespace: str = "default") -> dict[str, Any]:
    sa: dict[str, Any] = await admin_request(secure, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts",
                                             {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})
    return sa


async def rejected(secure: SecureServer, token: str) -> None:
    status, body = await secure.raw("GET", "/api/v1/namespaces", headers={"Authorization": f"Bearer {token}"})
    assert (status, body) == (401, UNAUTHORIZED)


async def eventually_rejected(secure: SecureServer, token: str, deadline: float = 10.0) -> None:
    """The watch cache applies a deletion shortly after the write returns: poll with a deadline."""
    import asyncio

    end = time.monotonic() + deadline
    while time.monotonic() < end:
        status, _ = await secure.raw("GET", "/api", headers={"Authorization": f"Bearer {token}"})
        if status == 401:
            return
        await asyncio.sleep(0.05)
    await rejected(secure, token)


async def test_bound_service_account_token_authenticates(secure: SecureServer) -> None:
    sa = await make_sa(secure, "robot")
    token = await token_for(secure, "robot")
    user = await whoami(secure.client(token=token))
    assert user["username"] == "system:serviceaccount:default:robot"
    assert user["uid"] == sa["metadata"]["uid"]
    assert user["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]
    assert str(user["extra"]["authentication.kubernetes.io/credential-id"][0]).startswith("JTI=")  # type: ignore[index]


async def test_forged_expired_and_wrong_audience_tokens_are_401(secure: SecureServer) -> None:
    sa = await make_sa(secure, "robot")
    uid = sa["metadata"]["uid"]
    now = int(time.time())
    signer = token_handler.signer(secure.server.context)
    claims = service_account_claims(issuer=ISSUER, namespace="default", name="robot", uid=uid, audiences=[ISSUER],
                                    now=now, expiration_seconds=3600)
    assert (await whoami(secure.client(token=signer.sign(claims))))["username"] == "system:serviceaccount:default:robot"
    forger = TokenSigner(ec.generate_private_key(ec.SECP256R1()), issuer=ISSUER)
    await rejected(secure, forger.sign(claims))
    expired = service_account_claims(issuer=ISSUER, namespace="default", name="robot", uid=uid,
                                     audiences=[ISSUER], now=now - 7200, expiration_seconds=3600)
    await rejected(secure, signer.sign(expired))
    not_yet = {**claims, "nbf": now + 3600}
    await rejected(secure, signer.sign(not_yet))
    await rejected(secure, await token_for(secure, "robot", audiences=["vault"]))
    head, _, sig = signer.sign(claims).split(".")
    tampered = {**claims, "sub": "system:serviceaccount:kube-system:robot"}
    import orjson

    from sampan.apiserver.satokens import b64url

    await rejected(secure, f"{head}.{b64url(orjson.dumps(tampered))}.{sig}")
    await rejected(secure, "not-a-token-at-all")


async def test_token_of_a_deleted_pod_or_service_account_is_401(secure: SecureServer) -> None:
    await make_sa(secure, "robot")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"},
           "spec": {"serviceAccountName": "robot", "containers": [{"name": "c", "image": "busybox"}]}}
    created = await admin_request(secure, "POST", "/api/v1/namespaces/default/pods", pod)
    token = await token_for(secure, "robot", boundObjectRef={"kind": "Pod", "apiVersion": "v1", "name": "p1",
                                                              "uid": created["metadata"]["uid"]})
    user = await whoami(secure.client(token=token))
    assert user["extra"]["authentication.kubernetes.io/pod-name"] == ["p1"]  # type: ignore[index]
    assert user["extra"]["authentication.kubernetes.io/pod-uid"] == [created["metadata"]["uid"]]  # type: ignore[index]
    await admin_request(secure, "DELETE", "/api/v1/namespaces/default/pods/p1?gracePeriodSeconds=0")
    await eventually_rejected(secure, token)

    unbound = await token_for(secure, "robot")
    await admin_request(secure, "DELETE", "/api/v1/namespaces/default/serviceaccounts/robot")
    await eventually_rejected(secure, unbound)


async def test_token_bound_to_a_deleted_secret_is_401(secure: SecureServer) -> None:
    await make_sa(secure, "robot")
    secret = await admin_request(secure, "POST", "/api/v1/namespaces/default/secrets",
                                 {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1"}})
    token = await token_for(secure, "robot", boundObjectRef={"kind": "Secret", "apiVersion": "v1", "name": "s1"})
    assert (await whoami(secure.client(token=token)))["uid"]
    assert secret["metadata"]["uid"]
    await admin_request(secure, "DELETE", "/api/v1/namespaces/default/secrets/s1")
    await eventually_rejected(secure, token)


async def test_legacy_secret_token(secure: SecureServer) -> None:
    sa = await make_sa(secure, "legacy")
    signer = token_handler.signer(secure.server.context)
    claims = {"iss": LEGACY_ISSUER, "sub": "system:serviceaccount:default:legacy",
              "kubernetes.io/serviceaccount/namespace": "default",
              "kubernetes.io/serviceaccount/secret.name": "legacy-token",
              "kubernetes.io/serviceaccount/service-account.name": "legacy",
              "kubernetes.io/serviceaccount/service-account.uid": sa["metadata"]["uid"]}
    token = signer.sign(claims)
    await rejected(secure, token)  # no secret holds it yet
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
              "metadata": {"name": "legacy-token", "annotations": {"kubernetes.io/service-account.name": "legacy"}},
              "data": {"token": base64.b64encode(token.encode()).decode()}}
    await admin_request(secure, "POST", "/api/v1/namespaces/default/secrets", secret)
    import asyncio

    end = time.monotonic() + 10
    while time.monotonic() < end:
        status, _ = await secure.raw("GET", "/api", headers={"Authorization": f"Bearer {token}"})
        if status == 200:
            break
        await asyncio.sleep(0.05)
    assert (await whoami(secure.client(token=token)))["username"] == "system:serviceaccount:default:legacy"
    await admin_request(secure, "DELETE", "/api/v1/namespaces/default/secrets/legacy-token")
    await eventually_rejected(secure, token)


async def test_static_token_file_users(secure: SecureServer) -> None:
    user = await whoami(secure.client(token=STATIC_TOKEN))
    assert user == {"username": "alice", "uid": "1001", "groups": ["developers", "qa", "system:authenticated"]}
    assert (await whoami(secure.client(token="other-token")))["groups"] == ["system:authenticated"]
    await rejected(secure, STATIC_TOKEN + "x")


def bootstrap_secret(token_id: str, token_secret: str, **data: str) -> dict[str, Any]:
    values = {"token-id": token_id, "token-secret": token_secret, "usage-bootstrap-authentication": "true", **data}
    return {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}}


async def test_bootstrap_tokens(secure: SecureServer) -> None:
    import asyncio

    await admin_request(secure, "POST", "/api/v1/namespaces/kube-system/secrets",
                        bootstrap_secret("abcdef", "0123456789abcdef",
                                         **{"auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token"}))
    await admin_request(secure, "POST", "/api/v1/namespaces/kube-system/secrets",
                        bootstrap_secret("zzzzzz", "0123456789abcdef", expiration="2000-01-01T00:00:00Z"))
    token = "abcdef.0123456789abcdef"
    end = time.monotonic() + 10
    while (await secure.raw("GET", "/api", headers={"Authorization": f"Bearer {token}"}))[0] != 200:
        assert time.monotonic() < end, "bootstrap token never accepted"
        await asyncio.sleep(0.05)
    user = await whoami(secure.client(token=token))
    assert user == {"username": "system:bootstrap:abcdef",
                    "groups": ["system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token",
                               "system:authenticated"]}
    await rejected(secure, "abcdef.1111111111111111")  # wrong secret
    await rejected(secure, "zzzzzz.0123456789abcdef")  # expired
    await rejected(secure, "qqqqqq.0123456789abcdef")  # no such secret


async def test_a_bad_token_never_falls_back_to_anonymous_or_a_certificate(secure: SecureServer) -> None:
    status, _ = await secure.raw("GET", "/healthz", headers={"Authorization": "Bearer nonsense"})
    assert status == 401
    client = secure.client("jane", token="nonsense")
    user = await whoami(client)  # the certificate comes first in the chain, as upstream
    assert user["username"] == "jane"


@pytest.mark.parametrize("header", ["Basic YWxpY2U6cHc=", "Bearer", "Bearer    "])
async def test_other_authorization_schemes_are_no_credentials(secure: SecureServer, header: str) -> None:
    status, _ = await secure.raw("GET", "/api", headers={"Authorization": header})
    assert status == 401
    status, _ = await secure.raw("GET", "/version", headers={"Authorization": header})
    assert status == 200


async def test_rest_client_maps_401(secure: SecureServer) -> None:
    client: RESTClient = secure.client(token="nonsense")
    with pytest.raises(errors.Unauthorized):
        async with client:
            await client.request("GET", "/api")
