"""The kubelet API authenticates and authorizes its callers as kubeadm's kubelets do
(``--anonymous-auth=false --authentication-token-webhook --authorization-mode=Webhook``): a real
kubelet (simulated runtime) serving TLS, a real API server with RBAC answering its TokenReviews and
SubjectAccessReviews, the API server's own kubelet client and a real metrics-server still served."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import aiohttp

from sampan._lib.pki import CertificateAuthority, CertSpec, cert_pem, key_pem, write_atomic
from sampan._lib.tasks import cancel_and_wait
from sampan.apiserver.authn.options import AuthenticationOptions
from sampan.apiserver.config import KubeletClientOptions, SecureServing
from sampan.cli.pki import ClusterPKI
from sampan.client import Client, load_config
from sampan.kubelet.kubelet import Kubelet, KubeletOptions
from sampan.kubelet.server_auth import KubeletAuthOptions, request_attributes
from sampan.metricsserver.server import MetricsServer, MetricsServerOptions
from tests.controllers.support import wait_for
from tests.support.apiserver import run_apiserver_inprocess

TOKEN = "alice-static-token"


def test_kubelet_paths_map_to_node_subresources_as_upstream() -> None:
    assert request_attributes("GET", "/stats/summary") == ("get", "stats")
    assert request_attributes("GET", "/metrics/resource") == ("get", "metrics")
    assert request_attributes("GET", "/metrics") == ("get", "metrics")
    assert request_attributes("GET", "/logs/syslog") == ("get", "log")
    assert request_attributes("GET", "/spec/") == ("get", "spec")
    assert request_attributes("POST", "/exec/ns/pod/c") == ("create", "proxy")
    assert request_attributes("GET", "/containerLogs/ns/pod/c") == ("get", "proxy")
    assert request_attributes("GET", "/statsz") == ("get", "proxy")  # a prefix is a whole segment


async def get(url: str, ctx: ssl.SSLContext, token: str = "") -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session, \
            session.get(url, headers=headers) as resp:
        return resp.status, await resp.text()


async def test_kubelet_api_needs_rbac_for_nodes_subresources(tmp_path: Path) -> None:
    pki = ClusterPKI(tmp_path)
    pki.ensure(nodes=["n1"], service_cidr="100.96.0.0/16")
    (tmp_path / "tokens.csv").write_text(f"{TOKEN},alice,1001\n")

    def tls(name: str | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        if name is not None:
            ctx.load_cert_chain(str(pki.cert(name)), str(pki.key(name)))
        return ctx

    nobody = CertificateAuthority.load_or_create(pki.ca_cert, pki.ca_key).issue(CertSpec("nobody"))
    write_atomic(pki.cert("nobody"), cert_pem(nobody[0]))
    write_atomic(pki.key("nobody"), key_pem(nobody[1]), private=True)
    async with run_apiserver_inprocess(
            tmp_path / "srv", tls=SecureServing(pki.cert("apiserver"), pki.key("apiserver"), pki.ca_cert),
            authentication=AuthenticationOptions(client_ca_file=pki.ca_cert, token_auth_file=tmp_path / "tokens.csv"),
            kubelet_client=KubeletClientOptions(cert_file=pki.cert("apiserver-kubelet-client"),
                                                key_file=pki.key("apiserver-kubelet-client"), ca_file=pki.ca_cert),
            authorization_modes=("Node", "RBAC")) as srv, contextlib.AsyncExitStack() as stack:
        for identity, cert in (("kubelet-n1", "kubelet-n1-client"), ("metrics-server", None), ("admin", None)):
            pki.write_kubeconfig(identity, server=srv.url, cert_name=cert)
        node_client = await stack.enter_async_context(Client(load_config(str(pki.kubeconfig("kubelet-n1")))))
        auth = KubeletAuthOptions(anonymous_auth=False, token_webhook=True, authorization_mode="Webhook",
                                  unauthorized_ttl=0.0)
        kubelet = Kubelet(node_client, KubeletOptions(
            node_name="n1", root_dir=tmp_path / "n1", runtime="simulated", port=0, node_status_update_frequency=0.5,
            tls_cert_file=pki.cert("kubelet-n1"), tls_private_key_file=pki.key("kubelet-n1"),
            client_ca_file=pki.ca_cert, server_auth=auth))
        task = asyncio.create_task(kubelet.run())
        stack.push_async_callback(cancel_and_wait, [task])
        await asyncio.wait_for(kubelet.ready.wait(), 30)
        base = f"https://127.0.0.1:{kubelet.log_server.port}"

        # no credentials, a bad token: 401; a certificate of the CA without RBAC: 403 with upstream's words
        assert (await get(f"{base}/metrics", tls()))[0] == 401
        assert (await get(f"{base}/metrics", tls(), token="forged"))[0] == 401
        status, text = await get(f"{base}/metrics/resource", tls("nobody"))
        assert status == 403
        assert text.strip() == "Forbidden (user=nobody, verb=get, resource=nodes, subresource=metrics)"

        # a token (TokenReview), refused until RBAC allows it: no restart, denials are not cached here
        assert (await get(f"{base}/stats/summary", tls(), token=TOKEN))[0] == 403
        async with Client(load_config(str(pki.kubeconfig("admin")))) as admin:
            bindings = await admin.resource("rbac.authorization.k8s.io/v1", "clusterrolebindings")
            await bindings.create({"metadata": {"name": "alice-kubelet"}, "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}], "roleRef": {
                "kind": "ClusterRole", "apiGroup": "rbac.authorization.k8s.io", "name": "system:kubelet-api-admin"}})

            async def alice_allowed() -> bool:
                return (await get(f"{base}/stats/summary", tls(), token=TOKEN))[0] == 200

            await wait_for(alice_allowed, timeout=20, message="alice allowed once bound")
            reviews = kubelet.server_auth.reviews
            assert (await get(f"{base}/stats/summary", tls(), token=TOKEN))[0] == 200
            assert kubelet.server_auth.reviews == reviews  # token and decision answered from the caches

            # the API server's kubelet client (system:kubelet-api-admin) still reaches the kubelet
            status, text = await get(f"{srv.url}/api/v1/nodes/n1/proxy/healthz", tls("admin"))
            assert (status, text.strip()) == (200, "ok")

        # metrics-server (nodes/metrics) scrapes, but may not use the rest of the API
        assert (await get(f"{base}/containerLogs/default/p/c", tls("metrics-server")))[0] == 403
        ms_client = await stack.enter_async_context(Client(load_config(str(pki.kubeconfig("metrics-server")))))
        metrics = MetricsServer(ms_client, MetricsServerOptions(
            secure_port=0, metric_resolution=0.2, register=False, cert_dir=tmp_path / "ms", kubelet_scheme="https",
            kubelet_client_certificate=pki.cert("metrics-server"), kubelet_client_key=pki.key("metrics-server"),
            kubelet_certificate_authority=pki.ca_cert))
        ms_task = asyncio.create_task(metrics.run())
        stack.push_async_callback(cancel_and_wait, [ms_task])
        await wait_for(lambda: "n1" in metrics.store.nodes, timeout=20, message="metrics-server scraped n1")
