"""The kubelet server over TLS: its serving certificate from the cluster CA, client certificates required."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest

from sampan._lib.clock import RealClock
from sampan._lib.pki import (
    CertificateAuthority,
    CertSpec,
    cert_pem,
    client_ssl_context,
    key_pem,
    server_ssl_context,
    write_atomic,
)
from sampan.kubelet.log_server import LogServer
from sampan.kubelet.runtime.interface import ContainerStatus


async def _no_containers(namespace: str, pod: str, container: str) -> list[ContainerStatus] | None:
    return None


async def _status(container_id: str) -> ContainerStatus:
    raise AssertionError("not called")


def _files(ca: CertificateAuthority, directory: Path, name: str, spec: CertSpec) -> tuple[Path, Path]:
    cert, key = ca.issue(spec)
    write_atomic(directory / f"{name}.crt", cert_pem(cert))
    write_atomic(directory / f"{name}.key", key_pem(key), private=True)
    return directory / f"{name}.crt", directory / f"{name}.key"


async def test_kubelet_server_requires_a_client_certificate_from_the_ca(tmp_path: Path) -> None:
    ca = CertificateAuthority.create()
    write_atomic(tmp_path / "ca.crt", ca.pem)
    serving = _files(ca, tmp_path, "kubelet", CertSpec("system:node:n1", organizations=("system:nodes",),
                                                       ip_addresses=("127.0.0.1",), server=True, client=False))
    client = _files(ca, tmp_path, "apiserver-kubelet-client", CertSpec("kube-apiserver-kubelet-client"))
    stranger = _files(CertificateAuthority.create("other"), tmp_path, "stranger", CertSpec("stranger"))
    tls = server_ssl_context(*serving, client_ca_file=tmp_path / "ca.crt", require_client_certificate=True)
    server = LogServer(_no_containers, status=_status, clock=RealClock(), port=0, ssl_context=tls)
    await server.start()
    try:
        url = f"https://127.0.0.1:{server.port}/healthz"
        ok = client_ssl_context(ca_file=tmp_path / "ca.crt", cert_file=client[0], key_file=client[1])
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ok)) as session, \
                session.get(url) as resp:
            assert resp.status == 200
        for refused in (client_ssl_context(ca_file=tmp_path / "ca.crt"),
                        client_ssl_context(ca_file=tmp_path / "ca.crt", cert_file=stranger[0], key_file=stranger[1])):
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=refused)) as session:
                with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
                    async with session.get(url) as resp:
                        await resp.read()
    finally:
        await server.stop()
