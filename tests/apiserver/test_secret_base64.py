"""``[]byte`` fields are decoded as Go's base64 decoder does: line breaks skipped (what a YAML ``|``
block produces), stored and returned canonically, anything else malformed a 400 naming the byte."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampan.api import gobase64
from tests.apiserver.test_kubectl import Kubectl
from tests.support.apiserver import APIServerHandle
from tests.support.pyclient import official_client

kubernetes = pytest.importorskip("kubernetes")

from kubernetes import client as kclient  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


@pytest.mark.parametrize(("text", "decoded"), [
    ("aGVs\nbG8=\n", b"hello"), ("aGVsbG8=", b"hello"), ("\r\naGVs\r\nbG8=", b"hello"), ("ab==", b"i"),
    ("ab=\n=", b"i"), ("", b""), ("aGVsbA==", b"hell"),
])
def test_go_decoder_accepts(text: str, decoded: bytes) -> None:
    assert gobase64.decode(text) == decoded
    assert gobase64.canonical(text) == base64.b64encode(decoded).decode()


@pytest.mark.parametrize(("text", "offset"), [
    ("aGVsbG8", 4), ("aGVsbG8==", 8), ("a", 0), ("ab=", 3), ("aGVsbG8=x", 8), ("a$bc", 1), ("====", 0),
    ("aGVs bG8=", 4), ("aé==", 1),
])
def test_go_decoder_rejects_with_offset(text: str, offset: int) -> None:
    with pytest.raises(gobase64.CorruptInput) as err:
        gobase64.decode(text)
    assert err.value.offset == offset
    assert str(err.value) == f"illegal base64 data at input byte {offset}"


def _outcome(fn: Any, text: str) -> Any:
    try:
        return fn(text.encode())
    except gobase64.CorruptInput as exc:
        return ("error", exc.offset)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n\r$ é", max_size=24))
def test_fast_path_agrees_with_the_port_of_gos_decoder(text: str) -> None:
    assert _outcome(gobase64.decode, text) == _outcome(gobase64._decode_slowly, text)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, APIServerHandle]]:
    with official_client(tmp_path_factory.mktemp("base64")) as pair:
        yield pair


def test_secret_data_with_line_breaks_is_accepted_and_canonical(server: tuple[Any, APIServerHandle]) -> None:
    core = kclient.CoreV1Api(server[0])
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "wrapped"}, "data": {"k": "aGVs\nbG8=\n"}}
    created = core.create_namespaced_secret("default", body)
    assert created.data == {"k": "aGVsbG8="}
    assert core.read_namespaced_secret("wrapped", "default").data == {"k": "aGVsbG8="}
    patched = core.patch_namespaced_secret("wrapped", "default", {"data": {"j": "d29y\nbGQ=\n"}})
    assert patched.data == {"k": "aGVsbG8=", "j": "d29ybGQ="}
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "bin"},
                                                       "binaryData": {"b": "AAEC\nAw==\n"}})
    assert cm.binary_data == {"b": "AAECAw=="}


def test_malformed_base64_is_upstreams_400(server: tuple[Any, APIServerHandle]) -> None:
    core = kclient.CoreV1Api(server[0])
    with pytest.raises(ApiException) as err:
        core.create_namespaced_secret("default", {"metadata": {"name": "bad"}, "data": {"k": "aGVsbG8"}})
    assert err.value.status == 400
    status = json.loads(err.value.body)
    assert status["reason"] == "BadRequest"
    assert status["message"] == ('Secret in version "v1" cannot be handled as a Secret: '
                                 "illegal base64 data at input byte 4")


def test_string_data_is_folded_canonically(server: tuple[Any, APIServerHandle]) -> None:
    core = kclient.CoreV1Api(server[0])
    created = core.create_namespaced_secret("default", {"metadata": {"name": "strs"},
                                                        "stringData": {"s": "line1\nline2\n"}})
    assert created.data == {"s": base64.b64encode(b"line1\nline2\n").decode()}
    assert created.string_data is None


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_apply_of_a_yaml_block(server: tuple[Any, APIServerHandle], tmp_path: Path) -> None:
    kubectl = Kubectl("kubectl", server[1], tmp_path / "cache")
    manifest = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: block\ntype: Opaque\ndata:\n"
                "  k: |\n    aGVs\n    bG8=\n")
    assert "secret/block created" in kubectl.out("apply", "-f", "-", stdin=manifest)
    got = json.loads(kubectl.out("get", "secret", "block", "-o", "json"))
    assert got["data"] == {"k": "aGVsbG8="}
