"""The aggregation layer's front proxy, as kubeadm sets it up: the API server presents its front-proxy
client certificate to a real ``sampan metrics-server``, which believes ``X-Remote-User`` only from it;
the API server itself accepts request headers only from that CA; both publish/read
``kube-system/extension-apiserver-authentication``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from sampan._lib.pki import CertificateAuthority, CertSpec, cert_pem, key_pem, write_atomic
from sampan.apiserver.authn.options import AuthenticationOptions
from sampan.apiserver.authn.requestheader import RequestHeaderOptions
from sampan.apiserver.config import SecureServing
from sampan.cli.pki import FRONT_PROXY_CLIENT, ClusterPKI
from sampan.client import Client, load_config
from sampan.metricsserver.server import MetricsServer, MetricsServerOptions
from tests.support.apiserver import run_apiserver_inprocess

NODES = "/apis/metrics.k8s.io/v1beta1/nodes"


def tls(pki: ClusterPKI, *, cert: tuple[Path, Path] | None = None, verify: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


async def call(url: str, ctx: ssl.SSLContext, headers: dict[str, str] | None = None,
               method: str = "GET", body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session, \
            session.request(method, url, headers=headers, json=body) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


@contextlib.asynccontextmanager
async def running(metrics: MetricsServer) -> AsyncIterator[None]:
    task = asyncio.create_task(metrics.run())
    try:
        await asyncio.wait_for(metrics.serving.wait(), 30)
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def whoami(url: str, ctx: ssl.SSLContext, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    return await call(f"{url}/apis/authentication.k8s.io/v1/selfsubjectreviews", ctx, headers, "POST", review)


async def test_front_proxy_certificate_is_the_only_way_to_name_a_user(tmp_path: Path) -> None:
    pki = ClusterPKI(tmp_path)
    pki.ensure(nodes=[], service_cidr="100.96.0.0/16")
    authn = AuthenticationOptions(client_ca_file=pki.ca_cert, requestheader=RequestHeaderOptions(
        client_ca_file=pki.front_proxy_ca_cert, allowed_names=(FRONT_PROXY_CLIENT,)))
    front_proxy = (pki.cert(FRONT_PROXY_CLIENT), pki.key(FRONT_PROXY_CLIENT))
    async with run_apiserver_inprocess(
            tmp_path / "srv", tls=SecureServing(pki.cert("apiserver"), pki.key("apiserver"), pki.ca_cert),
            authentication=authn, proxy_client_cert_file=front_proxy[0], proxy_client_key_file=front_proxy[1],
            authorization_modes=("Node", "RBAC")) as srv:
        admin = tls(pki, cert=(pki.cert("admin"), pki.key("admin")))
        # the API server publishes what extension servers must trust
        status, cm = await call(f"{srv.url}/api/v1/namespaces/kube-system/configmaps/"
                                "extension-apiserver-authentication", admin)
        assert status == 200
        assert cm["data"]["requestheader-client-ca-file"] == pki.front_proxy_ca_cert.read_text()
        assert json.loads(cm["data"]["requestheader-allowed-names"]) == [FRONT_PROXY_CLIENT]
        assert json.loads(cm["data"]["requestheader-username-headers"]) == ["X-Remote-User"]
        assert cm["data"]["client-ca-file"] == pki.ca_cert.read_text()

        # the API server's own request-header authenticator: only the front-proxy certificate names users
        spoof = {"X-Remote-User": "mallory", "X-Remote-Group": "system:masters"}
        status, review = await whoami(srv.url, tls(pki, cert=front_proxy), spoof)
        assert status == 201
        assert review["status"]["userInfo"]["username"] == "mallory"
        status, review = await whoami(srv.url, admin, spoof)  # another identity's headers are ignored
        assert review["status"]["userInfo"]["username"] == "kubernetes-admin"
        status, _ = await whoami(srv.url, tls(pki), spoof)  # no certificate: headers alone are nothing
        assert status == 401
        status, _ = await whoami(srv.url, tls(pki, cert=front_proxy))  # front proxy without a user
        assert status == 401

        # a real metrics-server behind the aggregation layer, as the metrics-server identity
        pki.write_kubeconfig("metrics-server", server=srv.url)
        async with Client(load_config(str(pki.kubeconfig("metrics-server")))) as client:
            metrics = MetricsServer(client, MetricsServerOptions(secure_port=0, metric_resolution=3600,
                                                                 cert_dir=tmp_path / "ms"))
            async with running(metrics):
                for _ in range(300):  # through the API server: the front-proxy certificate is accepted
                    status, body = await call(f"{srv.url}{NODES}", admin)
                    if status == 200:
                        break
                    await asyncio.sleep(0.1)
                assert status == 200, body
                assert body["kind"] == "NodeMetricsList"
                for _ in range(300):  # the availability check presents the front-proxy certificate too
                    status, svc = await call(f"{srv.url}/apis/apiregistration.k8s.io/v1/apiservices/"
                                             "v1beta1.metrics.k8s.io", admin)
                    conditions = {c["type"]: c["status"] for c in svc.get("status", {}).get("conditions", [])}
                    if conditions.get("Available") == "True":
                        break
                    await asyncio.sleep(0.1)
                assert conditions.get("Available") == "True", svc
                direct = f"https://127.0.0.1:{metrics.port}{NODES}"
                status, body = await call(direct, tls(pki, verify=False), {"X-Remote-User": "system:admin"})
                assert status == 401
                assert body["reason"] == "Unauthorized"
                intruder_ca = CertificateAuthority.load_or_create(pki.front_proxy_ca_cert, pki.front_proxy_ca_key)
                cert, key = intruder_ca.issue(CertSpec("not-the-front-proxy"))
                write_atomic(tmp_path / "i.crt", cert_pem(cert))
                write_atomic(tmp_path / "i.key", key_pem(key), private=True)
                status, _ = await call(direct, tls(pki, cert=(tmp_path / "i.crt", tmp_path / "i.key"), verify=False),
                                       {"X-Remote-User": "system:admin"})
                assert status == 401  # right CA, a name not in requestheader-allowed-names
                # the front proxy's word is believed, then the API server decides (SubjectAccessReview)
                status, body = await call(direct, tls(pki, cert=front_proxy, verify=False), {"X-Remote-User": "alice"})
                assert status == 403
                assert body["message"] == ('nodes.metrics.k8s.io is forbidden: User "alice" cannot list resource '
                                           '"nodes" in API group "metrics.k8s.io" at the cluster scope')
                status, _ = await call(direct, tls(pki, cert=front_proxy, verify=False),
                                       {"X-Remote-User": "alice", "X-Remote-Group": "kubeadm:cluster-admins"})
                assert status == 200
                # a client certificate of the cluster CA authenticates, and is authorized like anyone
                status, _ = await call(direct, tls(pki, cert=(pki.cert("proxy"), pki.key("proxy")), verify=False))
                assert status == 403
                status, _ = await call(direct, tls(pki, cert=(pki.cert("admin"), pki.key("admin")), verify=False))
                assert status == 200
                status, _ = await call(f"https://127.0.0.1:{metrics.port}/healthz", tls(pki, verify=False))
                assert status == 200
