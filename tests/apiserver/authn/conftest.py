"""A real API server serving HTTPS with the whole authentication chain, and the PKI around it.

``secure`` (async fixture): an in-process server (memory storage) on a free port with a fresh cluster CA,
a serving certificate for 127.0.0.1/localhost, ``--client-ca-file``, a static token file (``alice``),
and an insecure port. :class:`SecureServer` hands out clients (``sampan.client`` over TLS) and
kubeconfigs for any certificate identity, and a second CA for certificates the server must refuse.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from sampan._lib.pki import CertificateAuthority, CertSpec, cert_pem, key_pem, write_atomic
from sampan.apiserver.app import APIServer
from sampan.apiserver.authn.options import AuthenticationOptions
from sampan.apiserver.config import SecureServing
from sampan.client.config import RESTConfig
from sampan.client.rest import RESTClient
from tests.support.apiserver import run_apiserver_inprocess

STATIC_TOKEN = "s3cr3t-static-token"
TOKEN_FILE = f'{STATIC_TOKEN},alice,1001,"developers,qa"\n\nother-token,bob,1002\n'


@dataclass
class SecureServer:
    url: str
    server: APIServer
    ca: CertificateAuthority
    other_ca: CertificateAuthority
    workdir: Path

    @property
    def insecure_url(self) -> str:
        return self.server.insecure_url

    def credentials(self, common_name: str, *groups: str, ca: CertificateAuthority | None = None,
                    client: bool = True) -> tuple[bytes, bytes]:
        cert, key = (ca or self.ca).issue(CertSpec(common_name, organizations=groups, client=client,
                                                   server=not client))
        return cert_pem(cert), key_pem(key)

    def client(self, common_name: str | None = None, *groups: str, token: str | None = None,
               ca: CertificateAuthority | None = None) -> RESTClient:
        """A ``sampan.client`` over TLS trusting the cluster CA, with a client certificate and/or a token."""
        cert = key = None
        if common_name is not None:
            cert, key = self.credentials(common_name, *groups, ca=ca)
        return RESTClient(RESTConfig(host=self.url, ca_data=self.ca.pem, cert_data=cert, key_data=key,
                                     bearer_token=token, qps=0))

    def kubeconfig(self, name: str, *, common_name: str | None = None, groups: tuple[str, ...] = (),
                   token: str | None = None) -> Path:
        user: dict[str, Any] = {}
        if common_name is not None:
            cert, key = self.credentials(common_name, *groups)
            user = {"client-certificate-data": base64.b64encode(cert).decode(),
                    "client-key-data": base64.b64encode(key).decode()}
        if token is not None:
            user["token"] = token
        ca_data = base64.b64encode(self.ca.pem).decode()
        doc = {"apiVersion": "v1", "kind": "Config",
               "clusters": [{"name": "c", "cluster": {"server": self.url, "certificate-authority-data": ca_data}}],
               "users": [{"name": "u", "user": user}],
               "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}], "current-context": "c"}
        path = self.workdir / f"{name}.kubeconfig"
        path.write_text(yaml.safe_dump(doc))
        return path

    async def raw(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                  json: Any = None) -> tuple[int, Any]:
        """One request without client credentials (the CA trusted), answering (status, decoded JSON)."""
        import ssl

        ctx = ssl.create_default_context(cadata=self.ca.pem.decode())
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session, \
                session.request(method, self.url + path, headers=headers, json=json) as resp:
            body = await resp.read()
            try:
                return resp.status, await resp.json(content_type=None) if body else None
            except ValueError:
                return resp.status, body.decode()


def serving_files(ca: CertificateAuthority, directory: Path) -> tuple[Path, Path]:
    cert, key = ca.issue(CertSpec("kube-apiserver", dns_names=("localhost",), ip_addresses=("127.0.0.1",),
                                  server=True, client=False))
    write_atomic(directory / "apiserver.crt", cert_pem(cert))
    write_atomic(directory / "apiserver.key", key_pem(key), private=True)
    return directory / "apiserver.crt", directory / "apiserver.key"


@pytest.fixture
async def secure(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SecureServer]:
    marker = request.node.get_closest_marker("authn_options")
    overrides: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    pki = tmp_path / "pki"
    ca = CertificateAuthority.create()
    write_atomic(pki / "ca.crt", ca.pem)
    cert, key = serving_files(ca, pki)
    (tmp_path / "tokens.csv").write_text(TOKEN_FILE)
    authn = AuthenticationOptions(client_ca_file=pki / "ca.crt", token_auth_file=tmp_path / "tokens.csv",
                                  **overrides)
    async with run_apiserver_inprocess(tmp_path / "apiserver", tls=SecureServing(cert, key, pki / "ca.crt"),
                                       authentication=authn, insecure_port=0) as s:
        yield SecureServer(s.url, s.server, ca, CertificateAuthority.create("another-ca"), tmp_path)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "authn_options(**fields): AuthenticationOptions overrides for `secure`")
