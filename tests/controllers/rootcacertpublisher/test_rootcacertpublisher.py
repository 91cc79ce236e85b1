"""The root-ca-cert-publisher against a real API server: ``kube-root-ca.crt`` in every namespace, put back
when deleted or modified, holding ``--root-ca-file`` (or an empty ``ca.crt`` on a plain-HTTP cluster)."""

from __future__ import annotations

import argparse
import datetime
import functools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sampan.api import errors
from sampan.cli.controller_manager import options_from_args, register
from sampan.client import Client
from sampan.controllers.rootcacertpublisher.controller import (
    CONFIG_MAP_NAME,
    DESCRIPTION,
    DESCRIPTION_ANNOTATION,
    read_root_ca,
)
from tests.controllers.clients import unthrottled_client
from tests.controllers.support import fast_options, running_manager, wait_for
from tests.controllers.support import unthrottled_client as client_for
from tests.support.apiserver import APIServerHandle, InProcessAPIServer

CONTROLLERS = ("root-ca-cert-publisher",)


def ca_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sampan-test-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


async def _get(client: Client, ns: str) -> dict[str, Any] | None:
    cms = await client.resource("v1", "configmaps")
    try:
        return await cms.get(CONFIG_MAP_NAME, namespace=ns)
    except errors.NotFound:
        return None


async def _published(client: Client, ns: str, ca: str) -> dict[str, Any] | None:
    cm = await _get(client, ns)
    if cm is None or cm.get("data") != {"ca.crt": ca}:
        return None
    return cm if (cm["metadata"].get("annotations") or {}).get(DESCRIPTION_ANNOTATION) == DESCRIPTION else None


async def test_every_namespace_gets_the_configmap_and_it_is_restored(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        nss = await client.resource("v1", "namespaces")
        cms = await client.resource("v1", "configmaps")
        await nss.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "before"}})
        async with running_manager(client, fast_options(CONTROLLERS)):
            await nss.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "after"}})
            for ns in ("default", "kube-system", "kube-public", "kube-node-lease", "before", "after"):
                # plain HTTP, no --root-ca-file, no CA in the kubeconfig: the object exists, ca.crt is empty
                await wait_for(functools.partial(_published, client, ns, ""), message=f"kube-root-ca.crt in {ns}")

            first = await _get(client, "after")
            assert first is not None
            await cms.delete(CONFIG_MAP_NAME, namespace="after")

            async def recreated() -> bool:
                cm = await _published(client, "after", "")
                return cm is not None and cm["metadata"]["uid"] != first["metadata"]["uid"]

            await wait_for(recreated, message="kube-root-ca.crt recreated after deletion")

            cm = await _get(client, "before")
            assert cm is not None
            cm["data"] = {"ca.crt": "tampered", "extra": "x"}
            cm["metadata"]["annotations"] = {"team": "a"}
            await cms.update(cm)

            async def restored() -> bool:
                got = await _published(client, "before", "")
                return got is not None and got["metadata"]["annotations"].get("team") == "a"

            await wait_for(restored, message="data and description restored, other annotations kept")

            # other ConfigMaps are none of its business
            await cms.create({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "mine", "namespace": "before"}, "data": {"ca.crt": "x"}})
            await wait_for(functools.partial(_published, client, "before", ""), message="still published")
            assert (await cms.get("mine", namespace="before"))["data"] == {"ca.crt": "x"}


async def test_root_ca_file_is_published(inproc_apiserver: InProcessAPIServer, tmp_path: Path) -> None:
    pem = ca_pem()
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text(pem)
    async with unthrottled_client(inproc_apiserver) as client:
        async with running_manager(client, fast_options(CONTROLLERS, root_ca_file=str(ca_file))):
            for ns in ("default", "kube-system"):
                await wait_for(functools.partial(_published, client, ns, pem), message=f"the CA in {ns}")
        cm = await _get(client, "default")
        assert cm is not None
        x509.load_pem_x509_certificate(cm["data"]["ca.crt"].encode())  # what a client would load


def test_root_ca_sources(tmp_path: Path) -> None:
    flag = tmp_path / "flag.crt"
    flag.write_text("FLAG")
    kubeconfig_file = tmp_path / "kc.crt"
    kubeconfig_file.write_text("FILE")
    assert read_root_ca(str(flag), kubeconfig_ca_data=b"DATA") == "FLAG"
    assert read_root_ca(None, kubeconfig_ca_data=b"DATA", kubeconfig_ca_file=str(kubeconfig_file)) == "DATA"
    assert read_root_ca(None, kubeconfig_ca_file=str(kubeconfig_file)) == "FILE"
    assert read_root_ca(None) == ""


def test_root_ca_file_flag(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    ca = tmp_path / "ca.crt"
    ca.write_text("PEM")
    args = parser.parse_args(["controller-manager", "--root-ca-file", str(ca)])
    assert options_from_args(args).root_ca_file == str(ca)
    assert options_from_args(parser.parse_args(["controller-manager"])).root_ca_file is None
    missing = parser.parse_args(["controller-manager", "--root-ca-file", str(tmp_path / "nope")])
    with pytest.raises(ValueError, match="--root-ca-file: cannot read"):
        options_from_args(missing)



@pytest.fixture
def ca_text() -> str:
    return ca_pem()


@pytest.fixture
def ca_file(tmp_path: Path, ca_text: str) -> Path:
    path = tmp_path / "ca.crt"
    path.write_text(ca_text)
    return path


@pytest.fixture
def publisher_process(apiserver: APIServerHandle, ca_file: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``sampan controller-manager --root-ca-file`` as a real process, running only this controller."""
    with open(tmp_path / "cm.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sampan.cli.main", "controller-manager", "--kubeconfig", str(apiserver.kubeconfig),
             "--controllers=root-ca-cert-publisher", "--leader-elect=false", "--root-ca-file", str(ca_file)],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def test_controller_manager_process_publishes_root_ca_file(
        apiserver: APIServerHandle, ca_text: str, publisher_process: subprocess.Popen[bytes]) -> None:
    """From the flag to the ConfigMap, through the real command."""
    async with client_for(apiserver.kubeconfig) as client:
        await wait_for(functools.partial(_published, client, "kube-public", ca_text), timeout=30,
                       message="kube-root-ca.crt from the controller-manager process")
    assert publisher_process.poll() is None
