"""TLS, client certificates and bearer tokens, against a real TLS endpoint (aiohttp with a throw-away CA)."""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from sampan.api import errors
from sampan.client.config import ConfigError
from sampan.client.kubeconfig import load_kubeconfig
from sampan.client.rest import ConnectionFailed, RESTClient
from tests.client.certs import Pair, make_ca, make_leaf


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class TLSServer:
    def __init__(self, tmp: Path) -> None:
        self.ca, key, cert = make_ca()
        self.server_pair = make_leaf(key, cert, "apiserver", server=True)
        self.client_pair = make_leaf(key, cert, "alice", server=False)
        self.other_ca = make_ca()[0]
        (tmp / "srv.crt").write_bytes(self.server_pair.cert_pem)
        (tmp / "srv.key").write_bytes(self.server_pair.key_pem)
        (tmp / "ca.crt").write_bytes(self.ca.cert_pem)
        self.ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl.load_cert_chain(tmp / "srv.crt", tmp / "srv.key")
        self.ssl.load_verify_locations(tmp / "ca.crt")
        self.ssl.verify_mode = ssl.CERT_OPTIONAL
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        cn = ""
        for rdn in (peer or {}).get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    cn = v
        auth = request.headers.get("Authorization", "")
        if not cn and auth != "Bearer s3cret":
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "Unauthorized",
                      "reason": "Unauthorized", "code": 401}
            return web.json_response(status, status=401)
        return web.json_response({"user": cn or "token-user", "major": "1"})


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[TLSServer]:
    srv = TLSServer(tmp_path)
    app = web.Application()
    app.router.add_get("/version", srv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=srv.ssl)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    srv.url = f"https://127.0.0.1:{port}"
    try:
        yield srv
    finally:
        await runner.cleanup()


def kubeconfig(tmp: Path, server: str, ca: bytes, user: dict[str, Any]) -> str:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "k", "cluster": {"server": server, "certificate-authority-data": b64(ca)}}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}
    path = tmp / "kc"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def write_insecure(tmp: Path, server: str) -> str:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "k", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
           "users": [{"name": "u", "user": {"token": "s3cret"}}],
           "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}
    (tmp / "insecure").write_text(yaml.safe_dump(doc))
    return str(tmp / "insecure")


def cert_user(pair: Pair) -> dict[str, str]:
    return {"client-certificate-data": b64(pair.cert_pem), "client-key-data": b64(pair.key_pem)}


async def test_client_certificate(tls_server: TLSServer, tmp_path: Path) -> None:
    user = cert_user(tls_server.client_pair)
    cfg = load_kubeconfig(kubeconfig(tmp_path, tls_server.url, tls_server.ca.cert_pem, user))
    async with RESTClient(cfg) as rest:
        assert (await rest.request("GET", "/version"))["user"] == "alice"


async def test_bearer_token_and_its_absence(tls_server: TLSServer, tmp_path: Path) -> None:
    good = load_kubeconfig(kubeconfig(tmp_path, tls_server.url, tls_server.ca.cert_pem, {"token": "s3cret"}))
    async with RESTClient(good) as rest:
        assert (await rest.request("GET", "/version"))["user"] == "token-user"
    bad = load_kubeconfig(kubeconfig(tmp_path, tls_server.url, tls_server.ca.cert_pem, {"token": "wrong"}))
    async with RESTClient(bad) as rest:
        with pytest.raises(errors.Unauthorized):
            await rest.request("GET", "/version")


async def test_untrusted_server_is_refused_unless_insecure(tls_server: TLSServer, tmp_path: Path) -> None:
    cfg = load_kubeconfig(kubeconfig(tmp_path, tls_server.url, tls_server.other_ca.cert_pem, {"token": "s3cret"}))
    async with RESTClient(cfg) as rest:
        with pytest.raises(ConnectionFailed, match="TLS handshake"):
            await rest.request("GET", "/version")
    insecure = load_kubeconfig(write_insecure(tmp_path, tls_server.url))
    async with RESTClient(insecure) as rest:
        assert (await rest.request("GET", "/version"))["user"] == "token-user"


def test_missing_key_for_client_cert(tls_server: TLSServer, tmp_path: Path) -> None:
    user = {"client-certificate-data": b64(tls_server.client_pair.cert_pem)}
    cfg = load_kubeconfig(kubeconfig(tmp_path, "https://127.0.0.1:1", tls_server.ca.cert_pem, user))
    with pytest.raises(ConfigError, match="without a client key"):
        cfg.ssl_context()
