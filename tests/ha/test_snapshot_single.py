"""``sampan etcd snapshot`` for a one-control-plane-node cluster, whose etcd is the stacked static pod: save
finds the member from the pod's manifest, restore fills ``<data-dir>/etcd`` for that pod."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sampan.cli.backup import cluster_etcd_endpoints
from sampan.cli.control_plane import MANIFEST_PREFIX, etcd_pod, write_manifests
from sampan.cli.up import node_names
from tests.ha.support import apiserver_argv, processes, ready, request, sampan, wait_until
from tests.support.apiserver import free_port

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("etcdctl") is None, reason="needs etcdctl")]


def _stacked(data_dir: Path) -> list[str]:
    """The stacked etcd pod's command for ``data_dir``, its manifest written as ``sampan up`` does."""
    pod = etcd_pod(node=node_names(1)[0], data_dir=data_dir / "etcd", client_port=free_port(), peer_port=free_port(),
                   etcd=str(shutil.which("etcd")))
    write_manifests(data_dir / "manifests", {f"{MANIFEST_PREFIX}etcd.yaml": pod})
    return list(pod["spec"]["containers"][0]["command"])


def test_save_and_restore_the_stacked_etcd(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with processes([_stacked(old)], tmp_path / "logs-etcd"):
        endpoints = cluster_etcd_endpoints(old)
        assert len(endpoints) == 1
        with processes([apiserver_argv(data_dir=old, port=port, etcd_servers=endpoints[0])], tmp_path / "logs"):
            wait_until(lambda: ready(url), 60, "the API server")
            request("POST", f"{url}/api/v1/namespaces", {"metadata": {"name": "kept"}})
            saved = sampan("etcd", "snapshot", "save", str(tmp_path / "snap.db"), "--data-dir", str(old))
            assert saved.returncode == 0, saved.stderr
    restored = sampan("etcd", "snapshot", "restore", str(tmp_path / "snap.db"), "--data-dir", str(new))
    assert restored.returncode == 0, restored.stderr
    assert (new / "etcd" / "member").is_dir()
    etcd = _stacked(new)
    server = apiserver_argv(data_dir=new, port=port, etcd_servers=cluster_etcd_endpoints(new)[0])
    with processes([etcd, server], tmp_path / "logs2"):
        wait_until(lambda: ready(url), 60, "the API server over the restored etcd")
        assert request("GET", f"{url}/api/v1/namespaces/kept")["metadata"]["name"] == "kept"


def test_save_without_an_etcd_is_a_one_line_error(tmp_path: Path) -> None:
    result = sampan("etcd", "snapshot", "save", str(tmp_path / "s.db"), "--data-dir", str(tmp_path))
    assert result.returncode != 0
    assert "no etcd endpoint" in result.stderr
    assert "Traceback" not in result.stderr
