"""Secrets encrypted at rest: the raw SQLite file holds no plaintext, reads return it intact, keys rotate by
rewriting (upstream's `kubectl get secrets -A -o json | kubectl replace -f -` recipe, with the real kubectl),
and bad configurations or unreadable values give clear errors, never garbage."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from sampan.apiserver.encryption.config import EncryptionConfigError, generate, load, parse
from sampan.apiserver.encryption.providers import (
    AESCBCTransformer,
    AESGCMTransformer,
    DecryptError,
    SecretboxTransformer,
)
from sampan.storage.factory import StorageOptions, open_storage
from tests.support.apiserver import run_apiserver_inprocess

PLAINTEXT = "correct-horse-battery-staple"
KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()


def config(*providers: dict[str, Any], resources: tuple[str, ...] = ("secrets",)) -> dict[str, Any]:
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": list(resources), "providers": list(providers)}]}


def aesgcm(name: str, secret: str) -> dict[str, Any]:
    return {"aesgcm": {"keys": [{"name": name, "secret": secret}]}}


@pytest.mark.parametrize("transformer", [AESGCMTransformer("k", b"k" * 32), AESCBCTransformer("k", b"k" * 16),
                                         SecretboxTransformer("k", b"k" * 32)])
def test_providers_round_trip_with_upstreams_prefix(transformer: Any) -> None:
    stored = transformer.encrypt(b"hello", "/registry/secrets/ns/s")
    assert stored.startswith(transformer.prefix)
    assert transformer.prefix.startswith(b"k8s:enc:")
    assert transformer.prefix.endswith(b":v1:k:")
    assert b"hello" not in stored
    assert transformer.decrypt(stored[len(transformer.prefix):], "/registry/secrets/ns/s") == b"hello"


def test_aesgcm_binds_the_value_to_its_key_and_key() -> None:
    t = AESGCMTransformer("k", b"k" * 32)
    stored = t.encrypt(b"hello", "/registry/secrets/ns/a")[len(t.prefix):]
    with pytest.raises(DecryptError):
        t.decrypt(stored, "/registry/secrets/ns/b")  # copied to another key
    with pytest.raises(DecryptError):
        AESGCMTransformer("k", b"x" * 32).decrypt(stored, "/registry/secrets/ns/a")  # another secret


@pytest.mark.parametrize(("doc", "message"), [
    ({"kind": "Nope"}, "not an EncryptionConfiguration"),
    (config({"kms": {"name": "x"}}), "provider 'kms' is not supported"),
    (config({"aesgcm": {"keys": [{"name": "k", "secret": "not base64!"}]}}), "not valid base64"),
    (config({"aesgcm": {"keys": [{"name": "k", "secret": base64.b64encode(b"short").decode()}]}}),
     "must be 16, 24 or 32 bytes"),
    (config({"identity": {}}, resources=("*.*", "secrets")), "'*.*' must be the last resource"),
    (config(), "at least one provider"),
])
def test_bad_configurations_are_one_line_errors(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(EncryptionConfigError) as err:
        parse(doc, source="enc.yaml")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def raw_values(db: Path) -> bytes:
    """Every byte of the SQLite store (data file and WAL), as an attacker with the disk would read it."""
    blob = b""
    for path in sorted(db.parent.glob(db.name + "*")):
        blob += path.read_bytes()
    with sqlite3.connect(db) as conn:  # and the values through SQL, in case the WAL was checkpointed
        for table, in conn.execute("select name from sqlite_master where type='table'"):
            for row in conn.execute(f"select * from {table}"):
                blob += b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    return blob


async def kubectl(kubeconfig: Path, *args: str, stdin: bytes | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(kubeconfig), *args, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_secrets_at_rest_hold_no_plaintext_and_keys_rotate(tmp_path: Path) -> None:
    enc = tmp_path / "enc.yaml"
    enc.write_text(yaml.safe_dump(config(aesgcm("key1", KEY_A), {"identity": {}})))
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
              "stringData": {"password": PLAINTEXT}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"}, "data": {"note": "visible-note"}}
    db = tmp_path / "data" / "state.db"
    async with run_apiserver_inprocess(tmp_path, storage="sqlite", encryption_provider_config=str(enc)) as srv:
        await kubectl(srv.kubeconfig, "create", "-f", "-", stdin=json.dumps(secret).encode())
        await kubectl(srv.kubeconfig, "create", "-f", "-", stdin=json.dumps(cm).encode())
        got = json.loads(await kubectl(srv.kubeconfig, "get", "secret", "db", "-o", "json"))
        assert base64.b64decode(got["data"]["password"]).decode() == PLAINTEXT
    assert db.exists()
    blob = raw_values(db)
    assert PLAINTEXT.encode() not in blob
    assert base64.b64encode(PLAINTEXT.encode()) not in blob
    assert b"k8s:enc:aesgcm:v1:key1:" in blob
    assert b"visible-note" in blob  # configmaps were not asked for

    # rotation: the new key first, the old one still listed; rewrite every secret; then drop the old key
    enc.write_text(yaml.safe_dump(config(aesgcm("key2", KEY_B), aesgcm("key1", KEY_A), {"identity": {}})))
    async with run_apiserver_inprocess(tmp_path, storage="sqlite", encryption_provider_config=str(enc)) as srv:
        listed = await kubectl(srv.kubeconfig, "get", "secrets", "-A", "-o", "json")
        await kubectl(srv.kubeconfig, "replace", "-f", "-", stdin=listed.encode())
    latest = await _stored_value(db.parent, "/registry/secrets/default/db")
    assert latest.startswith(b"k8s:enc:aesgcm:v1:key2:")
    enc.write_text(yaml.safe_dump(config(aesgcm("key2", KEY_B))))
    async with run_apiserver_inprocess(tmp_path, storage="sqlite", encryption_provider_config=str(enc)) as srv:
        got = json.loads(await kubectl(srv.kubeconfig, "get", "secret", "db", "-o", "json"))
        assert base64.b64decode(got["data"]["password"]).decode() == PLAINTEXT


async def _stored_value(data_dir: Path, key: str) -> bytes:
    """The value as the store holds it (read with the store alone: no API server, no decryption)."""
    storage = await open_storage(StorageOptions(backend="sqlite", data_dir=data_dir))
    try:
        return (await storage.get(key)).value
    finally:
        await storage.close()


def test_generated_config_encrypts_with_a_fresh_key_and_reads_old_plaintext(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text(generate(["secrets"]))
    [rule] = load(path)
    assert rule.resource == "secrets"
    assert [type(p).__name__ for p in rule.providers] == ["AESGCMTransformer", "Identity"]
    assert os.stat(path).st_size > 0


def test_sampan_up_encrypts_secrets_with_a_key_kept_across_restarts(tmp_path: Path) -> None:
    from sampan.cli.up import UpOptions, component_specs

    specs, _ = component_specs(UpOptions(data_dir=tmp_path, nodes=1), {"apiserver"})
    [api] = [s for s in specs if s.name == "apiserver"]
    path = Path(api.argv[api.argv.index("--encryption-provider-config") + 1])
    assert path == tmp_path / "encryption-config.yaml"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    first = path.read_text()
    component_specs(UpOptions(data_dir=tmp_path, nodes=1), {"apiserver"})
    assert path.read_text() == first  # the same key on the next start
    [rule] = load(path)
    assert rule.resource == "secrets"
