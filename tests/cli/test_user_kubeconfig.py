from __future__ import annotations

from pathlib import Path

import yaml

from sampan.cli.kubeconfig import kubeconfig
from sampan.cli.user_kubeconfig import merge_context, remove_context


def test_merge_keeps_other_clusters_and_remove_takes_only_ours(tmp_path: Path) -> None:
    path = tmp_path / "config"
    other = {
        "apiVersion": "v1", "kind": "Config", "current-context": "prod",
        "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example:6443"}}],
        "users": [{"name": "prod", "user": {"token": "t"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod"}}],
    }
    path.write_text(yaml.safe_dump(other))
    merge_context(kubeconfig("http://127.0.0.1:1234"), path)
    merge_context(kubeconfig("http://127.0.0.1:5678"), path)  # replaces, never duplicates
    merged = yaml.safe_load(path.read_text())
    assert merged["current-context"] == "sampan"
    assert [c["name"] for c in merged["clusters"]] == ["prod", "sampan"]
    assert merged["clusters"][1]["cluster"]["server"] == "http://127.0.0.1:5678"

    assert remove_context("sampan", path)
    left = yaml.safe_load(path.read_text())
    assert [c["name"] for c in left["contexts"]] == ["prod"]
    assert left["users"] == other["users"]
    assert not remove_context("sampan", path)
