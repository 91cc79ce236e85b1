from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from sampan.client.config import ConfigError, RESTConfig
from sampan.client.kubeconfig import KubeconfigError, in_cluster_config, load_config, load_kubeconfig
from tests.client.certs import make_ca, make_leaf


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write(path: Path, data: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def doc(*, current: str = "dev", clusters: Any = None, users: Any = None, contexts: Any = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": clusters if clusters is not None else [{"name": "c1", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": users if users is not None else [{"name": "u1", "user": {"token": "abc"}}],
        "contexts": contexts if contexts is not None else [
            {"name": "dev", "context": {"cluster": "c1", "user": "u1", "namespace": "team"}},
            {"name": "other", "context": {"cluster": "c1", "user": "u1"}},
        ],
    }


def test_current_context_token_and_namespace(tmp_path: Path) -> None:
    cfg = load_kubeconfig(write(tmp_path / "kc", doc()))
    assert cfg.host == "https://127.0.0.1:6443"
    assert cfg.token() == "abc"
    assert cfg.namespace == "team"
    assert load_kubeconfig(str(tmp_path / "kc"), context="other").namespace == "default"


def test_kubeconfig_env_merges_first_wins(tmp_path: Path) -> None:
    a = write(tmp_path / "a", doc(current="", clusters=[{"name": "c1", "cluster": {"server": "https://a:1"}}],
                                  users=[], contexts=[]))
    b = write(tmp_path / "b", doc(clusters=[{"name": "c1", "cluster": {"server": "https://b:2"}}]))
    env = {"KUBECONFIG": os.pathsep.join([a, str(tmp_path / "missing"), b]), "HOME": str(tmp_path)}
    cfg = load_kubeconfig(env=env)
    assert cfg.host == "https://a:1"
    assert cfg.token() == "abc"


def test_relative_paths_and_token_file(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("from-file\n")
    users = [{"name": "u1", "user": {"tokenFile": "tok"}}]
    clusters = [{"name": "c1", "cluster": {"server": "https://x:1", "certificate-authority": "ca.crt"}}]
    cfg = load_kubeconfig(write(tmp_path / "kc", doc(users=users, clusters=clusters)))
    assert cfg.token() == "from-file"
    assert cfg.ca_file == str(tmp_path / "ca.crt")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (doc(current=""), "no current-context"),
        (doc(current="nope"), "context 'nope' not found"),
        (doc(contexts=[{"name": "dev", "context": {"cluster": "zz", "user": "u1"}}]), "cluster 'zz'"),
        (doc(contexts=[{"name": "dev", "context": {"cluster": "c1", "user": "zz"}}]), "user 'zz'"),
        (doc(users=[{"name": "u1", "user": {"exec": {"command": "x"}}}]), "exec credential plugin"),
        (doc(users=[{"name": "u1", "user": {"client-certificate-data": "!!"}}]), "not valid base64"),
        (doc(clusters="nope"), "clusters must be a list"),
        (doc(clusters=[{"name": "c1", "cluster": {}}]), "no server address"),
    ],
)
def test_bad_kubeconfigs_give_clear_errors(tmp_path: Path, data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_kubeconfig(write(tmp_path / "kc", data))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="does not exist"):
        load_kubeconfig(str(tmp_path / "nope"))
    (tmp_path / "bad").write_text("a: [")
    with pytest.raises(KubeconfigError, match="not valid YAML"):
        load_kubeconfig(str(tmp_path / "bad"))
    (tmp_path / "list").write_text("- 1\n")
    with pytest.raises(KubeconfigError, match="not a mapping"):
        load_kubeconfig(str(tmp_path / "list"))
    with pytest.raises(KubeconfigError, match="no kubeconfig found"):
        load_kubeconfig(env={"HOME": str(tmp_path / "empty")})


def test_in_cluster(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "namespace").write_text("kube-system")
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    cfg = in_cluster_config(env=env, sa_dir=str(tmp_path))
    assert cfg.host == "https://10.0.0.1:443"
    assert cfg.token() == "sa-token"
    assert cfg.namespace == "kube-system"
    with pytest.raises(ConfigError, match="not running in a cluster"):
        in_cluster_config(env={}, sa_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="not running in a cluster"):
        load_config(env={"HOME": str(tmp_path)})


def test_tls_material_from_data_fields(tmp_path: Path) -> None:
    ca, ca_key, ca_cert = make_ca()
    client = make_leaf(ca_key, ca_cert, "alice", server=False)
    users = [{"name": "u1", "user": {"client-certificate-data": b64(client.cert_pem),
                                     "client-key-data": b64(client.key_pem)}}]
    clusters = [{"name": "c1", "cluster": {"server": "https://127.0.0.1:1",
                                           "certificate-authority-data": b64(ca.cert_pem)}}]
    cfg = load_kubeconfig(write(tmp_path / "kc", doc(users=users, clusters=clusters)))
    assert cfg.ca_data == ca.cert_pem
    ctx = cfg.ssl_context()
    assert ctx is not None
    assert ctx.cert_store_stats()["x509_ca"] == 1
    assert RESTConfig(host="http://x").ssl_context() is None
    with pytest.raises(ConfigError, match="cannot load TLS material"):
        RESTConfig(host="https://x", ca_data=b"garbage").ssl_context()
