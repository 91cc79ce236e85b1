"""Merge a cluster's context into the user's kubeconfig, and take it out again, as kind does.

The target is the first file named by ``$KUBECONFIG``, else ``~/.kube/config``. Entries of other clusters
are never touched; only the ``clusters``, ``users`` and ``contexts`` entries named ``name`` are replaced.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


def user_kubeconfig_path() -> Path:
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return Path(first) if first else Path.home() / ".kube" / "config"


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a kubeconfig (top level is not a mapping)")
    return data


def _replace(entries: list[dict[str, Any]] | None, entry: dict[str, Any]) -> list[dict[str, Any]]:
    kept = [e for e in (entries or []) if isinstance(e, dict) and e.get("name") != entry["name"]]
    return [*kept, entry]


def merge_context(ours: dict[str, Any], path: Path | None = None) -> Path:
    """Add (or replace) ``ours``' single cluster, user and context in the user's kubeconfig and make it
    current. Returns the file written."""
    target = path or user_kubeconfig_path()
    config = _load(target)
    for section in ("clusters", "users", "contexts"):
        for entry in ours[section]:
            config[section] = _replace(config.get(section), entry)
    config["current-context"] = ours["current-context"]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".sampan-tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.replace(target)
    return target


def remove_context(name: str, path: Path | None = None) -> bool:
    """Remove the cluster, user and context called ``name``; True when something was removed."""
    target = path or user_kubeconfig_path()
    if not target.exists():
        return False
    config = _load(target)
    removed = False
    for section in ("clusters", "users", "contexts"):
        entries = config.get(section) or []
        kept = [e for e in entries if not (isinstance(e, dict) and e.get("name") == name)]
        removed |= len(kept) != len(entries)
        config[section] = kept
    if config.get("current-context") == name:
        config["current-context"] = ""
        removed = True
    if removed:
        target.write_text(yaml.safe_dump(config, sort_keys=False))
    return removed
